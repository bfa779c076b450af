"""Replay measured serving runs (the schema of `silicon_sample.csv`) and score TTFT and TPOT.

Each row is one benchmark: a model (Hugging Face id), a system (`h100_sxm` -> the catalog's
h100-sxm), a precision, TP / PP / EP, an ISL and OSL, and `batch_size` concurrent clients in
a closed loop (disaggregated rows name their concurrency in `silicon_data_source` and give
the prefill and decode pools). Each client sends `ROUNDS` requests (aiconfigurator's own
model assumes ten times the concurrency, first round included). Each engine runs its
default scheduler (`ENGINE_POLICY`): vLLM v1 chunks prompts into the decode steps
(`chunked`); TensorRT-LLM's in-flight batching adds whole prompts to the decode steps while
they fit in its token budget (`inflight`: its `enable_chunked_prefill` is off by default,
per its LLM API reference); SGLang runs a waiting prompt in a prefill batch of its own
before it decodes again (mixed chunks are off unless `--enable-mixed-chunk`: `continuous`).
The first round is a burst, every client at once, so prompts queue behind each other. What
follows depends on the scheduler. Where prefills ride inside decode steps, prompts
prefilled later finish later and the clients drift apart: we replay the later rounds as a
closed loop whose clients start at random times over one request's round trip, and weight
the two regimes by rounds. That round trip is the replay's own (`serve.run_steady`; a guess
that leaves out the prefills stalling the decodes can be half the real one). Where prefill
steps stall decoding, every prompt that arrives during the prefills joins the decodes at
the same step, so the round finishes together and the clients come back together: the
burst repeats, and we replay all the rounds as one closed loop from it. The mean TTFT and
mean TPOT over all requests are compared with the measured ones.

Precision: `gemm_quant_mode` fp8 / fp8_block / nvfp4 stores the weights so and, where the
chip has engines for the format, quantises the GEMM inputs too (W8A8, W4A4); elsewhere the
weights are widened (weight-only). Per-tensor fp8 is ModelOpt's recipe, whose checkpoints
can quantise the KV cache too (the file does not record it); TensorRT-LLM takes the cache's
format from the checkpoint (its KV cache dtype "auto"), vLLM and SGLang keep the model's
dtype unless told otherwise (`KV_FROM_CHECKPOINT`). The file implies it: TensorRT-LLM
serves 128 clients of Qwen3-32B at 2048 + 128 tokens on one H100 with a 1.6 s TTFT, which a
bf16 cache (room for 63 of them) would turn into tens of seconds of waiting. Besides the
scheduler and the cache's format, the only engine-specific input is the engine's host
overhead, two figures per engine fitted on this file by `fit_overheads`:
`ENGINE_TOKEN_OVERHEAD_S`, host time per token a step emits that the engine does not hide
under the GPU step (sampler bookkeeping, detokenising, streaming; each step takes that much
longer per sequence in it), fitted to the median TPOT error; and
`ENGINE_REQUEST_OVERHEAD_S`, the time from a request's arrival to the engine's scheduler
queue (HTTP server, tokeniser, scheduling latency), fitted to the median TTFT error. No row
or model is tuned. Rows that cannot be modelled are skipped with their reason: a model we
do not package, a chip not in the catalog, attention data parallelism, prefill and decode
pools of different parallelism, or disaggregated pools whose worker counts the row leaves
blank (how many GPUs served it is then unknown; aiconfigurator's own estimator, whose
schema this is, refuses such rows too: its `REQUIRED_DISAGG_FIELDS`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tigris.cost.step import Parallel
from tigris.cost.validate import metrics, read_table
from tigris.dtypes import DType
from tigris.errors import SpecError
from tigris.serve import run, run_steady, timer_for
from tigris.serve.policy import STALLS_DECODE
from tigris.serve.sim import Deployment
from tigris.serve.trace import ClosedLoop, Lengths
from tigris.spec import catalog
from tigris.spec.system import ScaleOutNetwork, ScaleUpDomain, System
from tigris.workload.models import model as find_model

ROUNDS = 10
MAX_BATCHED_TOKENS = 8192
# Arrival to the scheduler's queue, per engine (see the module docstring).
ENGINE_REQUEST_OVERHEAD_S = {"trtllm": 0.165, "vllm": 0.06, "sglang": 0.09}
ENGINE_TOKEN_OVERHEAD_S = {"trtllm": 85e-6, "vllm": 55e-6, "sglang": 20e-6}
PROBE_TOKEN_S = 50e-6  # the second replay of `fit_overheads`
REQUEST_REFINE = (0.5, 0.75, 1.0, 1.25)  # its last replays, around the additive estimate
# Each engine's default batching (see the module docstring); unknown engines chunk.
ENGINE_POLICY = {"trtllm": "inflight", "vllm": "chunked", "sglang": "continuous"}
COLUMNS = {"model_path", "system", "isl", "osl", "silicon_ttft_ms", "silicon_tpot_ms"}
PRECISION = {"fp8": DType.fp8_e4m3, "fp8_block": DType.fp8_e4m3, "nvfp4": DType.fp4}
# Per-tensor FP8 checkpoints (ModelOpt's) can quantise the KV cache too
# (`kv_cache_quant_algo` FP8), as the capacity the rows need implies; an engine that takes
# the cache's format from the checkpoint stores it so: TensorRT-LLM (KV cache dtype "auto").
# vLLM's and SGLang's "auto" is the model's dtype.
CHECKPOINT_KV = {"fp8": DType.fp8_e4m3}
KV_FROM_CHECKPOINT = {"trtllm"}
# Assumption for systems of several nodes: one 400 Gb/s NIC per GPU (the DGX H100 and HGX
# reference designs pair each GPU with a 400 Gb/s ConnectX-7); 5 us is an estimate.
SCALEOUT = {"bandwidth": "400 Gb/s", "latency": "5 us"}
POOLS = ("prefill", "decode")
SYSTEMS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "a100_sxm": "a100-sxm"}


@dataclass(frozen=True, slots=True)
class Case:
    deployment: Deployment
    clients: int
    isl: int
    osl: int
    ttft_s: float
    tpot_s: float
    backend: str


def _num(row: dict[str, Any], key: str, default: float = 1.0) -> float:
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return default
    return float(v)


def _concurrency(row: dict[str, Any]) -> int | None:
    m = re.search(r"silicon_concurrency=(\d+)", str(row.get("silicon_data_source", "")))
    if m:
        return int(m.group(1))
    c = _num(row, "batch_size", float("nan"))
    return None if math.isnan(c) else int(c)


def case(row: dict[str, Any]) -> Case | str:
    """The deployment a row describes, or why it cannot be modelled."""
    try:
        llm = find_model(str(row["model_path"]))
    except SpecError:
        return f"model {row['model_path']} is not packaged"
    name = SYSTEMS.get(str(row["system"]), str(row["system"]))
    try:
        chip = catalog.chip(name)
    except SpecError:
        return f"system {row['system']} is not a catalog chip"
    quant = row.get("gemm_quant_mode")
    fmt = PRECISION.get(str(quant)) if isinstance(quant, str) else None
    if fmt is not None:  # W8A8 / W4A4 where the chip has the engines, else weight-only
        native = chip.peak_flops(fmt) > 0
        llm = llm.with_precision(weights=fmt, experts=fmt, gemm_inputs=fmt if native else None)
    backend = str(row.get("backend", ""))
    kv = CHECKPOINT_KV.get(str(quant)) if backend in KV_FROM_CHECKPOINT else None
    if kv is not None:
        llm = llm.with_precision(kv=kv)
    disagg = str(row.get("mode")) == "disagg"
    p = "prefill_" if disagg else ""
    if disagg and any(math.isnan(_num(row, f"{k}_num_workers", math.nan)) for k in POOLS):
        return "disaggregated pools without their worker counts"
    if _num(row, f"{p}attention_dp_size") > 1 or (
        disagg and _num(row, "decode_attention_dp_size") > 1
    ):
        return "attention data parallelism is not modelled"
    tp, pp = int(_num(row, f"{p}tp_size")), int(_num(row, f"{p}pp_size"))
    ep = max(1, int(_num(row, f"{p}moe_ep_size")))
    if disagg and (tp, pp, ep) != (
        int(_num(row, "decode_tp_size")),
        int(_num(row, "decode_pp_size")),
        max(1, int(_num(row, "decode_moe_ep_size"))),
    ):
        return "prefill and decode pools of different parallelism"
    clients = _concurrency(row)
    if clients is None:
        return "no concurrency"
    par = Parallel(tp, pp, ep if llm.is_moe else 1)
    per = tp * pp * (par.ep if tp == 1 else 1)
    replicas = (
        int(_num(row, "prefill_num_workers")) + int(_num(row, "decode_num_workers"))
        if disagg
        else 1
    )
    domain = min(per * replicas, chip.scaleup.max_domain or 8) if chip.scaleup else 1
    while (per * replicas) % domain:
        domain -= 1
    system = System(
        chip=chip,
        count=per * replicas,
        scaleup=ScaleUpDomain(size=domain),
        scaleout=ScaleOutNetwork.model_validate(SCALEOUT),
    )
    dep = Deployment(
        system,
        llm,
        par,
        policy=ENGINE_POLICY.get(backend, "chunked"),
        max_seqs=max(clients, 1),
        max_batched_tokens=MAX_BATCHED_TOKENS,
        disaggregated=disagg,
        prefill_replicas=int(_num(row, "prefill_num_workers")) if disagg else 1,
        request_overhead_s=ENGINE_REQUEST_OVERHEAD_S.get(backend, 0.0),
        token_overhead_s=ENGINE_TOKEN_OVERHEAD_S.get(backend, 0.0),
    )
    return Case(
        dep,
        clients,
        int(row["isl"]),
        int(row["osl"]),
        float(row["silicon_ttft_ms"]) / 1e3,
        float(row["silicon_tpot_ms"]) / 1e3,
        backend,
    )


def predict(c: Case, overheads: tuple[float, float] | None = None) -> tuple[float, float]:
    """Mean TTFT and mean TPOT (seconds) of the simulated closed-loop benchmark, with the
    engine's overheads or the given (request, per token) ones."""
    dep = c.deployment
    if overheads is not None:
        dep = replace(dep, request_overhead_s=overheads[0], token_overhead_s=overheads[1])
    timer = _timer(c)
    isl, osl = Lengths("fixed", c.isl), Lengths("fixed", c.osl)
    if dep.policy in STALLS_DECODE:  # the burst stays in lockstep (module docstring)
        both = run(dep, ClosedLoop(c.clients, ROUNDS * c.clients, isl, osl), timer=timer)
        return both["ttft_ms"]["mean"] / 1e3, both["tpot_ms"]["mean"] / 1e3
    burst = run(dep, ClosedLoop(c.clients, c.clients, isl, osl), timer=timer)
    steady = ClosedLoop(c.clients, (ROUNDS - 1) * c.clients, isl, osl)
    rest, _ = run_steady(dep, steady, timer=timer)
    ttft = (burst["ttft_ms"]["mean"] + (ROUNDS - 1) * rest["ttft_ms"]["mean"]) / ROUNDS
    tpot = (burst["tpot_ms"]["mean"] + (ROUNDS - 1) * rest["tpot_ms"]["mean"]) / ROUNDS
    return ttft / 1e3, tpot / 1e3


_TIMERS: dict[tuple, Any] = {}


def _timer(c: Case):
    d = c.deployment
    key = (d.system.model_dump_json(), d.llm.name, d.llm.precision, d.par, d.max_seqs)
    key += (d.max_batched_tokens, c.isl + c.osl)
    if key not in _TIMERS:
        _TIMERS[key] = timer_for(d, c.isl + c.osl)
    return _TIMERS[key]


def validate_serving(
    path: str | Path,
    progress=None,
    overheads: dict[str, tuple[float, float]] | None = None,
    engines: set[str] | None = None,
) -> dict[str, Any]:
    """Replay every row (of `engines` only, if given); `overheads` (engine -> (request, per
    token) seconds, none where an engine is missing) replaces the fitted ones."""
    df = read_table(path)
    missing = COLUMNS - set(df.columns)
    if missing:
        raise SpecError(str(path), "columns", ",".join(sorted(missing)), "missing")
    pred_ttft, pred_tpot, meas_ttft, meas_tpot = [], [], [], []
    skipped: Counter[str] = Counter()
    backends: list[str] = []
    rows = df.to_dict("records")
    for i, row in enumerate(rows):
        c = case(row)
        if isinstance(c, str):
            skipped[c] += 1
            continue
        if c.deployment.replicas * c.deployment.chips_per_replica > c.deployment.system.count:
            skipped["system too small"] += 1
            continue
        kv = _timer(c)[1]
        if kv.blocks * c.deployment.block_tokens < c.isl + c.osl:
            skipped["model does not fit in memory at this parallelism"] += 1
            continue
        if engines is not None and c.backend not in engines:
            continue
        extra = None if overheads is None else overheads.get(c.backend, (0.0, 0.0))
        ttft, tpot = predict(c, extra)
        backends.append(c.backend)
        pred_ttft.append(ttft)
        pred_tpot.append(tpot)
        meas_ttft.append(c.ttft_s)
        meas_tpot.append(c.tpot_s)
        if progress:
            progress(i + 1, len(rows))
    out: dict[str, Any] = {
        "table": str(path),
        "rows": len(pred_ttft),
        "skipped": sum(skipped.values()),
    }
    out["skipped_reasons"] = dict(skipped.most_common())
    for name, p, m in (("ttft", pred_ttft, meas_ttft), ("tpot", pred_tpot, meas_tpot)):
        out[name] = metrics(np.array(p), np.array(m)) if p else {}
    out["groups"] = []
    for engine in sorted(set(backends)):
        mine = [i for i, b in enumerate(backends) if b == engine]
        group: dict[str, Any] = {"engine": engine}
        for name, p, m in (("ttft", pred_ttft, meas_ttft), ("tpot", pred_tpot, meas_tpot)):
            group[name] = metrics(np.array(p)[mine], np.array(m)[mine])
        if overheads is None:
            group["request_overhead_s"] = ENGINE_REQUEST_OVERHEAD_S.get(engine, 0.0)
            group["token_overhead_s"] = ENGINE_TOKEN_OVERHEAD_S.get(engine, 0.0)
        out["groups"].append(group)
    out["_rows"] = list(zip(backends, pred_ttft, meas_ttft, pred_tpot, meas_tpot, strict=True))
    return out


def _column(res: dict[str, Any], engine: str, i: int) -> np.ndarray:
    """Column i of `res["_rows"]` (1 predicted TTFT, 2 measured TTFT, 3 predicted TPOT,
    4 measured TPOT) over one engine's rows."""
    return np.array([r[i] for r in res["_rows"] if r[0] == engine])


def fit_overheads(path: str | Path, progress=None) -> dict[str, tuple[float, float]]:
    """Per engine, (request overhead, host time per token) in seconds. The token time first:
    each row's TPOT is nearly a straight line in it, so a replay with none and one with
    `PROBE_TOKEN_S` give the line, and the value on a grid that minimises the engine's median
    |TPOT error| wins. Then, replayed with that, the request overhead that minimises the
    median |TTFT error| if it added to TTFT as it is; but each request draws its own, and
    that jitter moves the clients (it spreads a burst out), so the engine's rows are
    replayed at `REQUEST_REFINE` times that estimate and the best replay wins."""
    none = validate_serving(path, progress, overheads={})
    engines = sorted({r[0] for r in none["_rows"]})
    probe = validate_serving(path, progress, {e: (0.0, PROBE_TOKEN_S) for e in engines})
    token = {}
    for engine in engines:
        at0, meas = _column(none, engine, 3), _column(none, engine, 4)
        slope = (_column(probe, engine, 3) - at0) / PROBE_TOKEN_S
        grid = np.arange(0.0, 300e-6, 5e-6)
        errs = [np.median(np.abs((at0 + t * slope) / meas - 1)) for t in grid]
        token[engine] = round(float(grid[int(np.argmin(errs))]), 6)
    res = validate_serving(path, progress, {e: (0.0, token[e]) for e in engines})
    out = {}
    for engine in engines:
        pred, meas = _column(res, engine, 1), _column(res, engine, 2)
        grid = np.arange(0.0, 1.0, 0.005)
        errs = [np.median(np.abs((pred + o) / meas - 1)) for o in grid]
        first = round(float(grid[int(np.argmin(errs))]), 3)
        # the overhead's jitter moves the clients too: replay around the first estimate
        tried = {}
        for o in sorted({round(first * f, 3) for f in REQUEST_REFINE}):
            r = validate_serving(path, progress, {engine: (o, token[engine])}, {engine})
            tried[o] = r["ttft"]["median_abs_pct_err"]
        out[engine] = (min(tried, key=tried.__getitem__), token[engine])
    return out
