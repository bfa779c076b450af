"""Serving simulation: traces, batching policies, a paged KV cache, replicas and metrics.

    run(deployment, requests_or_closed_loop, slo) -> report (a JSON-ready dict)

`trace` makes requests, `steptime` prices steps with `cost/`, `sim` runs the events,
`policy` holds the batching policies, `metrics` turns the run into percentiles and goodput.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tigris.serve.metrics import SLO, SLOS, report
from tigris.serve.sim import Deployment, KVCache, kv_cache, simulate
from tigris.serve.steptime import StepTimer
from tigris.serve.trace import ClosedLoop, Request

__all__ = ["SLO", "SLOS", "ClosedLoop", "Deployment", "Request", "run", "timer_for"]


def timer_for(cfg: Deployment, longest: int) -> tuple[StepTimer, KVCache]:
    """A step timer sized for the deployment and the longest sequence, and its KV cache."""
    tokens = (
        cfg.max_batched_tokens if cfg.policy == "chunked" else max(cfg.max_batched_tokens, longest)
    )
    timer = StepTimer(
        cfg.system,
        cfg.llm,
        cfg.par,
        max_tokens=tokens,
        max_seqs=cfg.max_seqs,
        max_context=max(longest, 256),
    )
    return timer, kv_cache(cfg)


def run(
    cfg: Deployment,
    requests: list[Request] | ClosedLoop,
    target: SLO = SLOS["interactive"],
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    timer: tuple[StepTimer, KVCache] | None = None,
    warmup: int = 0,
) -> dict[str, Any]:
    if isinstance(requests, ClosedLoop):
        longest = int(requests.isl.mean * 4 + requests.osl.mean * 4)
        if requests.isl.kind == "fixed" and requests.osl.kind == "fixed":
            longest = int(requests.isl.a + requests.osl.a)
    else:
        longest = max((r.input_tokens + r.output_tokens for r in requests), default=1)
    step_timer, kv = timer or timer_for(cfg, longest)
    sim = simulate(cfg, step_timer, kv, requests, seed, progress)
    doc = report(sim, cfg.replicas * cfg.chips_per_replica, target, warmup=warmup)
    doc["calibration"] = step_timer.calibration
    return doc
