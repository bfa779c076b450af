"""`tigris measure`, top to bottom: open the device, pick the grid, time each table's rows,
write the tables and their metadata.

    device -> grid(size) -> for each table: jobs not yet done -> time -> journal -> parquet

A job is one row of a table: the columns that name it and a function that builds the kernel.
Rows already in a table's journal (an earlier, interrupted run into the same folder) are not
measured again. A row whose kernel fails (out of memory, a dtype the device lacks) is left out
and listed in the metadata with its reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tigris.errors import SpecError
from tigris.measure import harness
from tigris.measure.grid import Grid, grid
from tigris.measure.harness import POWER_WINDOW_S, Device, PowerMeter
from tigris.measure.tables import Table, key, write_power

OPS = ("gemm", "attention", "vector", "layer", "nccl")
TABLES = {
    "gemm": ("gemm_perf",),
    "attention": ("context_attention_perf", "generation_attention_perf"),
    "vector": ("vector_perf",),
    "layer": ("layer_perf",),
    "nccl": ("nccl_perf",),
}
Kernel = Callable[[], tuple[Callable[[], Any], float]]
Progress = Callable[[str, int, int], None]  # (table, rows done, rows in table)


@dataclass(frozen=True, slots=True)
class Job:
    row: dict[str, Any]  # the columns that name this measurement
    kernel: Kernel
    power: bool = False  # sample board power over this row's window


def parse_ops(text: str) -> tuple[str, ...]:
    ops = tuple(o.strip() for o in text.split(",") if o.strip())
    bad = [o for o in ops if o not in OPS]
    if bad or not ops:
        raise SpecError("tigris measure", "--ops", text, f"choose from {','.join(OPS)}")
    return ops


def _attn_row(name: str, a, isl: int, step: int) -> dict[str, Any]:
    return {
        "op_name": name,
        "kernel_source": "torch_sdpa",
        "batch_size": a.batch,
        "isl": isl,
        "num_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "head_dim": a.head_dim,
        "window_size": 0,
        "beam_width": 1,
        "attn_dtype": "bfloat16",
        "kv_cache_dtype": "bfloat16",
        "step": step,
    }


def jobs(table: str, g: Grid, dev: Device, model: str) -> Iterator[Job]:
    """Every row of one table, in the order they are measured."""
    if table == "gemm_perf":
        dtypes = ["bfloat16"] + (["fp8"] if harness.fp8_supported(dev) else [])
        for dt in dtypes:
            for m, n, k in g.gemm:
                row = {"op_name": "gemm", "kernel_source": "torch", "gemm_dtype": dt}
                row |= {"m": m, "n": n, "k": k}
                yield Job(row, lambda m=m, n=n, k=k, dt=dt: harness.gemm(dev, m, n, k, dt), True)
    elif table == "context_attention_perf":
        for a in g.context:
            yield Job(
                _attn_row("context_attention", a, a.tokens, 0),
                lambda a=a: harness.attention(
                    dev, a.batch, a.tokens, a.tokens, a.heads, a.kv_heads, a.head_dim
                ),
            )
    elif table == "generation_attention_perf":
        for a in g.generation:
            yield Job(
                _attn_row("generation_attention", a, 1, a.tokens),
                lambda a=a: harness.attention(
                    dev, a.batch, 1, a.tokens, a.heads, a.kv_heads, a.head_dim
                ),
                True,
            )
    elif table == "vector_perf":
        for name, make in (("rmsnorm", harness.rmsnorm), ("silu_mul", harness.silu_mul)):
            for t, h in g.vector:
                row = {"op_name": name, "kernel_source": "torch", "dtype": "bfloat16"}
                yield Job(row | {"tokens": t, "hidden": h}, lambda t=t, h=h, f=make: f(dev, t, h))
    elif table == "layer_perf":
        yield from _layer_jobs(g, dev, model)


def _layer_jobs(g: Grid, dev: Device, model: str) -> Iterator[Job]:
    from tigris.measure.layer import TorchLayer
    from tigris.workload.models import model as load

    llm = load(model)
    layer: list[TorchLayer] = []  # built on first use, once

    def get() -> TorchLayer:
        if not layer:
            layer.append(TorchLayer(dev, llm))
        return layer[0]

    base = {"op_name": "decoder_layer", "kernel_source": "torch", "model": llm.name}
    for b, s in g.layer_prefill:
        row = base | {"phase": "prefill", "batch_size": b, "isl": s, "step": 0}
        yield Job(row | {"dtype": "bfloat16"}, lambda b=b, s=s: get().prefill(b, s))
    for b, s in g.layer_decode:
        row = base | {"phase": "decode", "batch_size": b, "isl": 1, "step": s}
        yield Job(row | {"dtype": "bfloat16"}, lambda b=b, s=s: get().decode(b, s), True)


@dataclass
class Summary:
    out: Path
    rows: dict[str, int]
    measured: int
    failed: list[dict[str, Any]]
    power: bool


def measure(
    out: Path,
    ops: tuple[str, ...] = OPS,
    quick: bool = False,
    device: str = "auto",
    model: str | None = None,
    ranks: int | None = None,
    progress: Progress | None = None,
) -> Summary:
    dev = harness.open_device(device)
    size = "cpu" if dev.kind == "cpu" else ("quick" if quick else "full")
    g = grid(size, dev.memory_B)
    model = model or ("gpt-2" if dev.kind == "cpu" else "llama-3.1-8b")
    out.mkdir(parents=True, exist_ok=True)
    meter = PowerMeter() if dev.kind == "cuda" else None
    header = {"framework": "torch", "version": dev.torch.__version__, "device": dev.name}
    done: list[Table] = []
    failed: list[dict[str, Any]] = []
    measured = 0
    try:
        for op in ops:
            for name in TABLES[op]:
                table = Table(out, name)
                if table.complete:
                    continue
                if op == "nccl":
                    if not _nccl(table, dev, g, ranks, header):
                        continue
                else:
                    todo = [
                        j for j in jobs(name, g, dev, model) if key(name, j.row) not in table.done
                    ]
                    total = len(table.rows) + len(todo)
                    for job in todo:
                        measured += _one(table, job, dev, meter, header, failed)
                        if progress:
                            progress(name, len(table.rows), total)
                table.finish()
                done.append(table)
    finally:
        if meter is not None:
            meter.close()
        write_power(out, done)
        _write_meta(out, dev, size, ops, model, failed)
    rows = {t.name: len(t.rows) for t in done}
    return Summary(out, rows, measured, failed, bool(meter and meter.available))


def _one(
    table: Table,
    job: Job,
    dev: Device,
    meter: PowerMeter | None,
    header: dict[str, Any],
    failed: list[dict[str, Any]],
) -> int:
    sample = job.power and meter is not None and meter.available
    try:
        fn, operand_B = job.kernel()
        timing = harness.time_op(dev, fn, operand_B, POWER_WINDOW_S if sample else 0.02)
    except (RuntimeError, ValueError, TypeError) as exc:  # OOM, unsupported dtype or shape
        failed.append({"table": table.name, **job.row, "error": str(exc).splitlines()[0][:200]})
        return 0
    finally:
        if dev.kind == "cuda":
            dev.torch.cuda.empty_cache()
    watts, n = meter.mean(timing.t0, timing.t1) if sample and meter else (None, 0)
    table.add({**header, **job.row, "latency": timing.ms}, watts, n)
    return 1


def _nccl(table: Table, dev: Device, g: Grid, ranks: int | None, header: dict) -> bool:
    from tigris.measure import collective

    torch = dev.torch
    world = ranks if ranks is not None else (torch.cuda.device_count() if dev.kind == "cuda" else 1)
    if world < 2:
        return False
    cuda = dev.kind == "cuda"
    backend = "nccl" if cuda else "gloo"
    version = ".".join(map(str, torch.cuda.nccl.version())) if cuda else torch.__version__
    sizes = [s for s in g.nccl_elements if s % world == 0]
    result = table.out / "nccl_perf.result.json"
    for r in collective.run(world, backend, sizes, result):
        table.add(
            header
            | {
                "version": version,
                "op_name": r["op"],
                "kernel_source": "NCCL" if cuda else "gloo",
                "nccl_dtype": "half" if cuda else "float",
                "num_gpus": world,
                "message_size": r["size"],
                "latency": r["ms"],
            }
        )
    result.unlink(missing_ok=True)
    return True


def _write_meta(
    out: Path, dev: Device, size: str, ops: tuple[str, ...], model: str, failed: list
) -> None:
    path = out / "metadata.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    runs = [
        *old.get("runs", []),
        {"date_utc": dev.meta["date_utc"], "command": dev.meta["command"]},
    ]
    meta = {
        **dev.meta,
        "grid": size,
        "ops": list(ops),
        "layer_model": model,
        "timing": {
            "warmup_iterations": 3,
            "window_s": 0.02,
            "power_window_s": POWER_WINDOW_S,
            "l2_flush": f"before each iteration when operands < {harness.FLUSH_BELOW_L2} x L2",
            "latency_unit": "ms",
        },
        "failed": [*old.get("failed", []), *failed],
        "runs": runs,
    }
    tmp = path.with_name("metadata.json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, path)
