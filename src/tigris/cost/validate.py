"""Measured kernel tables (the schema of ../shared/measured) -> ops -> predicted vs measured.

A table is recognised by its columns: GEMM (`m, n, k, gemm_dtype`), context or generation
attention (`batch_size, isl, num_heads, ...`, told apart by `op_name`), or NCCL
(`message_size, num_gpus`). Each row becomes one op; rows that tigris cannot model on the
chip (a dtype it has no engine for, an unknown op) are skipped with a reason. Metrics are
absolute percentage error (|predicted / measured - 1|) and Spearman rank correlation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tigris.cost.oracle import evaluate
from tigris.cost.params import Calibration
from tigris.dtypes import DType
from tigris.errors import SpecError
from tigris.spec.chip import Chip
from tigris.spec.system import single
from tigris.workload.ops import Attention, Collective, Gemm, Op, Vector

MS = 1e-3
GEMM_DTYPES: dict[str, tuple[DType, DType]] = {
    "bfloat16": (DType.bf16, DType.bf16),
    "float16": (DType.fp16, DType.fp16),
    "fp8": (DType.fp8_e4m3, DType.fp8_e4m3),
    "fp8_block": (DType.fp8_e4m3, DType.fp8_e4m3),
    "int8_wo": (DType.bf16, DType.int8),
    "int4_wo": (DType.bf16, DType.int4),
    "sq": (DType.int8, DType.int8),
}
ATTN_DTYPES = {"bfloat16": DType.bf16, "float16": DType.fp16, "fp8": DType.fp8_e4m3}
NCCL_BYTES = {"half": 2, "float16": 2, "bfloat16": 2, "int8": 1, "float": 4, "float32": 4}
NCCL_KINDS = {
    "all_reduce": "all_reduce",
    "all_gather": "all_gather",
    "reduce_scatter": "reduce_scatter",
    "alltoall": "all_to_all",
    "all_to_all": "all_to_all",
}
COLUMNS = {
    "gemm": {"m", "n", "k", "gemm_dtype", "latency"},
    "attention": {
        "batch_size",
        "isl",
        "num_heads",
        "num_key_value_heads",
        "head_dim",
        "window_size",
        "attn_dtype",
        "kv_cache_dtype",
        "step",
        "latency",
        "op_name",
    },
    "nccl": {"op_name", "nccl_dtype", "num_gpus", "message_size", "latency"},
}


# GEMM flows whose activations arrive in bf16 and are quantised by kernels of their own on
# every call (TensorRT-LLM's fp8 per-tensor / per-block and SmoothQuant int8 paths). A
# per-block or per-token scale is found in the pass that quantises; a per-tensor scale needs
# the whole tensor's maximum before any element is quantised: a reduction pass first, into a
# scale cleared by a fill kernel of its own.
QUANTISED_INPUT = {"fp8": "per-tensor", "fp8_block": "per-block", "sq": "per-token"}
# Rows timed by TensorRT's layer profiler (`kernel_source` "trt_flow_<layer>"): the GEMM layer
# alone (its quantise layer is not in the time), in one cold run of an engine, each layer
# bracketed by timing events. That adds a fixed cost per timed layer that no chip figure
# explains, so these rows are predicted and reported but not used to calibrate.
LAYER_PROFILED = "trt_flow"
# Block-scaled flows: a scale per 128 of k (DeepSeek-V3-style 1x128 / 128x128 fp8 blocks).
BLOCK_SCALED_K = {"fp8_block": 128}


def quantise(m: int, k: int, to: DType) -> Vector:
    """Quantise a bf16 activation: read it, find the scale, write it narrow."""
    return Vector("quantise", "quantise", m * k, 3.0, m * k * 2.0, m * k * to.bytes)


def zero_scale() -> Vector:
    """Clear the one fp32 scale an atomic-max reduction then raises (a fill kernel)."""
    return Vector("zero scale", "fill", 1, 0.0, 0.0, 4.0)


def amax(m: int, k: int) -> Vector:
    """The maximum magnitude of a bf16 activation: read it, write one fp32 scale."""
    return Vector("amax", "reduce", m * k, 1.0, m * k * 2.0, 4.0)


def quantisation(m: int, k: int, to: DType, scale: str) -> tuple[Op, ...]:
    """The kernels a flow runs to quantise its activation before the GEMM."""
    if scale == "per-tensor":
        return (zero_scale(), amax(m, k), quantise(m, k, to))
    return (quantise(m, k, to),)


@dataclass(frozen=True, slots=True)
class Row:
    op: Op | None
    group: tuple[str, str]  # (op, dtype) for the per-group metrics
    measured_s: float
    skip: str | None = None
    pre: tuple[Op, ...] = ()  # kernels the measured flow runs before the op, timed with it


def read_table(path: str | Path):  # -> pandas.DataFrame
    import pandas as pd

    p = Path(path)
    try:
        if p.suffix == ".csv":
            return pd.read_csv(p)
        return pd.read_parquet(p)
    except FileNotFoundError:
        raise SpecError(str(p), "", None, "no such file") from None
    except Exception as exc:  # pyarrow / pandas parse errors
        raise SpecError(str(p), "", None, f"cannot read table ({type(exc).__name__})") from None


def fittable(df):  # -> pandas.DataFrame
    """The rows timed the way tigris predicts, which calibration may use."""
    if "kernel_source" not in df.columns:
        return df
    return df[~df.kernel_source.astype(str).str.startswith(LAYER_PROFILED)]


def table_kind(df, path: str) -> str:
    cols = set(df.columns)
    for kind, need in COLUMNS.items():
        if need <= cols:
            return kind
    raise SpecError(
        path,
        "columns",
        ",".join(sorted(cols))[:80],
        "not a GEMM, attention or NCCL table of the measured schema",
    )


def rows(df, kind: str, chip: Chip) -> Iterator[Row]:
    if kind == "gemm":
        sources = df.kernel_source if "kernel_source" in df.columns else [""] * len(df)
        cols = zip(df.m, df.n, df.k, df.gemm_dtype, df.latency, sources, strict=True)
        for m, n, k, dt, lat, source in cols:
            pair = GEMM_DTYPES.get(dt)
            if pair is None:
                yield Row(None, ("gemm", dt), lat * MS, f"unknown gemm_dtype {dt!r}")
                continue
            a, b = pair
            block = BLOCK_SCALED_K.get(dt, 0)
            gemm = Gemm("gemm", int(m), int(n), int(k), a, b, DType.bf16, scale_block_k=block)
            if str(source).startswith(LAYER_PROFILED):
                yield Row(gemm, ("gemm", dt), lat * MS)  # the GEMM layer alone
                continue
            scale = QUANTISED_INPUT.get(dt)
            pre = quantisation(int(m), int(k), a, scale) if scale else ()
            yield Row(gemm, ("gemm", dt), lat * MS, pre=pre)
    elif kind == "attention":
        cols = zip(
            df.op_name,
            df.batch_size,
            df.isl,
            df.num_heads,
            df.num_key_value_heads,
            df.head_dim,
            df.window_size,
            df.attn_dtype,
            df.kv_cache_dtype,
            df.step,
            df.latency,
            strict=True,
        )
        for name, b, isl, h, kvh, d, win, adt, kdt, step, lat in cols:
            q, kv = ATTN_DTYPES.get(adt), ATTN_DTYPES.get(kdt)
            group = (str(name), f"{adt}/{kdt}")
            if q is None or kv is None:
                yield Row(None, group, lat * MS, f"unknown dtype {adt!r}/{kdt!r}")
                continue
            if name == "context_attention":
                q_lens, past = (int(isl),) * int(b), (0,) * int(b)
            elif name == "generation_attention":
                q_lens, past = (1,) * int(b), (int(step),) * int(b)
            else:
                yield Row(None, group, lat * MS, f"unknown op_name {name!r}")
                continue
            op = Attention(
                str(name),
                q_lens,
                past,
                int(h),
                int(kvh),
                int(d),
                int(d),
                q,
                kv,
                window=int(win) or None,
            )
            yield Row(op, group, lat * MS)
    else:
        for name, dt, p, size, lat in zip(
            df.op_name, df.nccl_dtype, df.num_gpus, df.message_size, df.latency, strict=True
        ):
            kind_ = NCCL_KINDS.get(name)
            width = NCCL_BYTES.get(dt)
            group = (str(name), str(dt))
            if kind_ is None or width is None:
                yield Row(None, group, lat * MS, f"unknown collective {name!r} or dtype {dt!r}")
                continue
            limit = chip.scaleup.max_domain if chip.scaleup else 1
            if chip.scaleup is None or (limit is not None and p > limit):
                yield Row(None, group, lat * MS, f"{p} chips exceed {chip.name}'s scale-up domain")
                continue
            yield Row(Collective(str(name), kind_, float(size) * width, int(p)), group, lat * MS)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def metrics(pred: np.ndarray, meas: np.ndarray) -> dict[str, float]:
    err = np.abs(pred / meas - 1.0) * 100.0
    return {
        "rows": len(err),
        "median_abs_pct_err": float(np.median(err)) if len(err) else float("nan"),
        "p90_abs_pct_err": float(np.percentile(err, 90)) if len(err) else float("nan"),
        "spearman": _spearman(pred, meas),
    }


def predict(
    df, kind: str, chip: Chip, cal: Calibration | None = None
) -> tuple[list[Row], np.ndarray]:
    """Each row and its predicted seconds (NaN where skipped)."""
    out_rows = list(rows(df, kind, chip))
    pred = np.full(len(out_rows), np.nan)
    for i, r in enumerate(out_rows):
        if r.op is None:
            continue
        target = single(chip, r.op.group) if isinstance(r.op, Collective) else chip
        pred[i] = evaluate(r.op, target, cal).time_s
        pred[i] += sum(evaluate(op, target, cal).time_s for op in r.pre)
    return out_rows, pred


def report(out_rows: list[Row], pred: np.ndarray) -> dict:
    meas = np.array([r.measured_s for r in out_rows])
    ok = ~np.isnan(pred)
    skipped: dict[str, int] = {}
    for r in out_rows:
        if r.skip:
            skipped[r.skip] = skipped.get(r.skip, 0) + 1
    result: dict = {**metrics(pred[ok], meas[ok]), "skipped": sum(skipped.values())}
    result["skipped_reasons"] = skipped
    groups = []
    keys = sorted({r.group for r in out_rows})
    labels = np.array([f"{r.group[0]}\0{r.group[1]}" for r in out_rows])
    for op_name, dt in keys:
        sel = ok & (labels == f"{op_name}\0{dt}")
        if sel.any():
            groups.append({"op": op_name, "dtype": dt, **metrics(pred[sel], meas[sel])})
    result["groups"] = groups
    return result


def validate(path: str | Path, chip: Chip, cal: Calibration | None = None) -> dict:
    df = read_table(path)
    kind = table_kind(df, str(path))
    out_rows, pred = predict(df, kind, chip, cal)
    return {"table": str(path), "chip": chip.name, "kind": kind, **report(out_rows, pred)}
