"""Serving simulator speed: one Llama-3.1-70B replica on 8 x H100 (tp 8).

    python benchmarks/bench_serve.py [--requests N]

Prints the wall time of (1) one hour of Poisson traffic at 5 requests/s with chat-like
lengths and (2) 100,000 requests at the same rate, each including building the step timer
from the oracle. Run on one core (the simulator is single-threaded).
"""

from __future__ import annotations

import argparse
import time

from tigris.cost.step import Parallel
from tigris.serve import Deployment, run
from tigris.serve.trace import lengths, synthetic
from tigris.spec.catalog import chip
from tigris.spec.system import single
from tigris.workload.models import model


def once(requests: int | None, duration: float | None) -> tuple[float, dict]:
    dep = Deployment(single(chip("h100-sxm"), 8), model("llama-3.1-70b"), Parallel(8))
    reqs = synthetic(
        "poisson",
        5.0,
        duration,
        requests,
        lengths("chat", "input"),
        lengths("chat", "output", "--osl"),
        seed=0,
    )
    t = time.perf_counter()
    doc = run(dep, reqs)
    return time.perf_counter() - t, doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args()
    wall, doc = once(None, 3600.0)
    print(
        f"1 h Poisson at 5 req/s: {doc['requests']:,} requests, {doc['steps']:,} steps "
        f"simulated in {wall:.2f} s (TTFT p50 {doc['ttft_ms']['p50']:.0f} ms, "
        f"TPOT p50 {doc['tpot_ms']['p50']:.1f} ms)"
    )
    wall, doc = once(args.requests, None)
    print(f"{doc['requests']:,} requests simulated in {wall:.2f} s ({doc['steps']:,} steps)")


if __name__ == "__main__":
    main()
