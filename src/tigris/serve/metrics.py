"""What a serving run measured: latency percentiles, throughput, goodput under an SLO.

TTFT is arrival to first token (queueing included); TPOT is (finish - first token) /
(output tokens - 1) per request; inter-token latency (ITL) is the distribution of step
times seen by each emitted decode token; end-to-end is arrival to finish. A request meets
the SLO when its TTFT and its TPOT are within the bounds; goodput is such requests per
second. A run *meets* the SLO when the SLO's percentile (MLPerf: P99) of TTFT and of TPOT
are within the bounds. Throughput is over the makespan (first arrival to last finish).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tigris.errors import SpecError
from tigris.serve.sim import Sim


@dataclass(frozen=True, slots=True)
class SLO:
    name: str
    ttft_s: float
    tpot_s: float
    percentile: float = 99.0


# MLPerf Inference v5.0 Llama-2-70B: interactive 450 ms / 40 ms; server 2 s / 200 ms (P99).
SLOS = {
    "interactive": SLO("interactive", 0.450, 0.040),
    "server": SLO("server", 2.0, 0.200),
}


def slo(text: str) -> SLO:
    """A named SLO, or `ttft=MS,tpot=MS[,p=99]` in milliseconds."""
    if text in SLOS:
        return SLOS[text]
    try:
        parts = dict(kv.split("=") for kv in text.split(","))
        return SLO(
            text, float(parts["ttft"]) / 1e3, float(parts["tpot"]) / 1e3, float(parts.get("p", 99))
        )
    except (ValueError, KeyError):
        raise SpecError(
            "--slo", "", text, f"expected {', '.join(SLOS)} or ttft=MS,tpot=MS[,p=99]"
        ) from None


def _pct(x: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    if len(x) == 0:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "mean": float("nan")}
    if weights is None:
        p50, p90, p99 = np.percentile(x, [50, 90, 99])
        return {"p50": p50, "p90": p90, "p99": p99, "mean": float(x.mean())}
    order = np.argsort(x)
    xs, cum = x[order], np.cumsum(weights[order])
    at = [xs[min(np.searchsorted(cum, q * cum[-1]), len(xs) - 1)] for q in (0.5, 0.9, 0.99)]
    mean = float(np.average(x, weights=weights))
    return {"p50": at[0], "p90": at[1], "p99": at[2], "mean": mean}


def _ms(d: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v) * 1e3, 6) for k, v in d.items()}


def report(
    sim: Sim, chips: int, target: SLO, series_points: int = 400, warmup: int = 0
) -> dict[str, Any]:
    """`warmup`: requests with a smaller id are left out of the latency figures."""
    done = sorted((s for s in sim.done if s.req.id >= warmup), key=lambda s: s.req.id)
    arrive = np.array([s.req.arrival_s for s in done])
    first = np.array([s.first_token_s for s in done], dtype=float)
    fin = np.array([s.finish_s for s in done], dtype=float)
    outs = np.array([s.req.output_tokens for s in done])
    ins = np.array([s.req.input_tokens for s in done])
    ttft = first - arrive
    multi = outs > 1
    tpot = (fin[multi] - first[multi]) / (outs[multi] - 1)
    tpot_all = np.zeros(len(done))
    tpot_all[multi] = tpot
    e2e = fin - arrive
    span = float(fin.max() - arrive.min()) if len(done) else 0.0
    good = (ttft <= target.ttft_s) & (tpot_all <= target.tpot_s)
    itl_t = np.array([t for t, _ in sim.stats.itl])
    itl_w = np.array([w for _, w in sim.stats.itl], dtype=float)
    ttft_p = np.percentile(ttft, target.percentile) if len(done) else float("inf")
    tpot_p = np.percentile(tpot, target.percentile) if len(tpot) else 0.0
    series = sim.stats.series
    stride = max(1, len(series) // series_points)
    return {
        "requests": len(done) + len(sim.dropped),
        "finished": len(done),
        "dropped": len(sim.dropped),
        "dropped_reasons": _reasons(sim),
        "ttft_ms": _ms(_pct(ttft)),
        "tpot_ms": _ms(_pct(tpot)),
        "itl_ms": _ms(_pct(itl_t, itl_w)),
        "e2e_ms": _ms(_pct(e2e)),
        "output_tokens": int(outs.sum()),
        "input_tokens": int(ins.sum()),
        "makespan_s": round(span, 9),
        "output_tokens_per_s": float(outs.sum() / span) if span else 0.0,
        "total_tokens_per_s": float((outs.sum() + ins.sum()) / span) if span else 0.0,
        "output_tokens_per_s_per_chip": float(outs.sum() / span / chips) if span else 0.0,
        "chips": chips,
        "slo": {
            "name": target.name,
            "ttft_ms": target.ttft_s * 1e3,
            "tpot_ms": target.tpot_s * 1e3,
            "percentile": target.percentile,
            "met": bool(ttft_p <= target.ttft_s and tpot_p <= target.tpot_s),
            "good_fraction": float(good.mean()) if len(done) else 0.0,
            "goodput_requests_per_s": float(good.sum() / span) if span else 0.0,
        },
        "preemptions": sim.stats.preemptions,
        "steps": sim.stats.steps,
        "kv_capacity_tokens": sim.kv.blocks * sim.cfg.block_tokens,
        "series": {
            "t_s": [round(t, 6) for t, _, _ in series[::stride]],
            "queue": [q for _, q, _ in series[::stride]],
            "kv_used": [round(u, 6) for _, _, u in series[::stride]],
        },
    }


def _reasons(sim: Sim) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, why in sim.dropped:
        out[why] = out.get(why, 0) + 1
    return dict(sorted(out.items()))
