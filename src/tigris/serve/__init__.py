"""Serving simulation: traces, batching policies, a paged KV cache, replicas and metrics.

    run(deployment, requests_or_closed_loop, slo) -> report (a JSON-ready dict)
    run_steady(deployment, closed_loop, slo) -> (report, round trip s)

`trace` makes requests, `steptime` prices steps with `cost/`, `sim` runs the events,
`policy` holds the batching policies, `metrics` turns the run into percentiles and goodput.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tigris.serve.metrics import SLO, SLOS, report
from tigris.serve.sim import Deployment, KVCache, kv_cache, simulate
from tigris.serve.steptime import StepTimer
from tigris.serve.trace import ClosedLoop, Request

__all__ = [
    "SLO",
    "SLOS",
    "ClosedLoop",
    "Deployment",
    "Request",
    "run",
    "run_steady",
    "timer_for",
]
SPREAD_PASSES = 5  # runs of `run_steady`, at most, to find the clients' round trip
SPREAD_TOLERANCE = 0.02


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
        longest = _longest(requests)
    else:
        longest = max((r.input_tokens + r.output_tokens for r in requests), default=1)
    step_timer, kv = timer or timer_for(cfg, longest)
    sim = simulate(cfg, step_timer, kv, requests, seed, progress)
    doc = report(sim, cfg.replicas * cfg.chips_per_replica, target, warmup=warmup)
    doc["calibration"] = step_timer.calibration
    return doc


def _longest(loop: ClosedLoop) -> int:
    """The longest sequence a closed loop's step timer is sized for."""
    if loop.isl.kind == "fixed" and loop.osl.kind == "fixed":
        return int(loop.isl.a + loop.osl.a)
    return int(loop.isl.mean * 4 + loop.osl.mean * 4)


def run_steady(
    cfg: Deployment,
    loop: ClosedLoop,
    target: SLO = SLOS["interactive"],
    timer: tuple[StepTimer, KVCache] | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], float]:
    """`loop`'s clients in their steady state, not all starting at once: each sends its
    first request at a random time over one round trip (a request's time from sending to its
    last token; `loop.spread_s` is replaced). The round trip is the run's own. The first
    guess, one prefill and OSL - 1 decode steps of all the clients (mean lengths), leaves
    out the prefills that stall the decodes and can be less than half the real one (then the
    clients come back too fast and queue behind each other's prompts), so the run is
    repeated over the mean TTFT + (OSL - 1) x TPOT it gave until that holds within
    `SPREAD_TOLERANCE` (`SPREAD_PASSES` runs at most). Returns the report and the round trip
    (seconds) the clients were spread over."""
    timer = timer or timer_for(cfg, _longest(loop))
    isl, osl = loop.isl.mean, loop.osl.mean

    def once(spread: float) -> tuple[dict[str, Any], float]:
        doc = run(cfg, replace(loop, spread_s=spread), target, seed, progress, timer)
        return doc, (doc["ttft_ms"]["mean"] + (osl - 1) * doc["tpot_ms"]["mean"]) / 1e3

    n = min(loop.clients, cfg.max_seqs)
    steps = timer[0]
    decode = steps.step(n, n * (isl + osl / 2))
    spread = steps.step(0, 0, [(round(isl), 0)]) + (osl - 1) * decode
    for _ in range(SPREAD_PASSES - 1):
        doc, trip = once(spread)
        if abs(trip / spread - 1) <= SPREAD_TOLERANCE:
            return doc, spread
        spread = trip
    return once(spread)[0], spread
