"""Design-space exploration speed: full design evaluations per minute, each one area + unit
cost + a Llama-3.1-70B prefill and decode step (plus the one-request prefill for TTFT) on a
design never seen before, drawn at random from the packaged tigris-t1 space (its clock is
continuous, so no two designs share a chip and every op is costed cold). The workload's ops
are built once per process, as in a real search.

Prints: one worker in this process; a process pool of 1 and 2 workers; Ray with 1 and 2
local workers (where Ray is installed); and a whole stored study (Optuna NSGA-II, SQLite) on
2 workers. Targets (issue 7): >= 1,000 evaluations/min on 2 cores; Ray 2 workers >= 1.7x 1.

    python benchmarks/bench_explore.py [--designs N]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

from tigris import physical
from tigris.explore import pool, search
from tigris.explore import space as spaces
from tigris.spec.catalog import chip


def designs(sp: spaces.Space, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        d = {}
        for name, p in sp.params.items():
            d[name] = rng.choice(p.choices) if p.choices is not None else rng.uniform(p.low, p.high)
        out.append(d)
    return out


def rate(p: pool.Pool, batch: list[dict], warmup: list[dict]) -> float:
    """Designs per minute through pool `p`, after one warm-up design per worker."""
    p.submit([warmup] * p.workers)()  # start the workers, build the workload's ops
    chunks = [batch[i : i + 16] for i in range(0, len(batch), 16)]
    t = time.perf_counter()
    scored = [s for chunk in p.submit(chunks)() for s in chunk]
    dt = time.perf_counter() - t
    assert len(scored) == len(batch) and all(s.metrics is not None for s in scored)
    return len(batch) / dt * 60


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", type=int, default=600)
    args = ap.parse_args()
    sp = spaces.load("tigris-t1")
    base, tech = chip(sp.base), physical.default()
    print(f"{os.cpu_count()} CPUs; {args.designs} random tigris-t1 designs per measurement")
    results = {}
    kinds = [("serial", 1), ("processes", 1), ("processes", 2)]
    if pool.has_ray():
        kinds += [("ray", 1), ("ray", 2)]
    # the serial run fills this process's caches, so it gets designs of its own; the pools all
    # get the same others (each pool's workers start cold: a fair 1-vs-2 comparison)
    warmup = designs(sp, 1, 0)
    for kind, workers in kinds:
        batch = designs(sp, args.designs, 1 if kind == "serial" else 2)
        p = pool.make(kind, sp, base, tech, workers)
        try:
            results[kind, workers] = rate(p, batch, warmup)
        finally:
            p.close()
        print(f"  {kind:9s} x{workers}: {results[kind, workers]:8,.0f} designs/min")
    for kind in ("processes", "ray"):
        if (kind, 2) in results:
            print(f"  {kind}: 2 workers give {results[kind, 2] / results[kind, 1]:.2f}x one worker")

    trials = args.designs
    p = pool.make("auto", sp, base, tech, 2)
    with tempfile.TemporaryDirectory() as tmp:
        study_sp = sp.model_copy(update={"name": "bench"})
        t = time.perf_counter()
        out = search.run(study_sp, f"sqlite:///{tmp}/study.db", p, trials=trials)
        dt = time.perf_counter() - t
    p.close()
    print(
        f"  whole study ({sp.search.sampler}, SQLite, {out.pool} x{out.workers}): "
        f"{out.ran} trials in {dt:.1f} s = {out.ran / dt * 60:,.0f} trials/min "
        "(pool start included)"
    )


if __name__ == "__main__":
    main()
