"""Oracle speed: a Llama-3.1-70B prefill (8 x 2048) and decode (64 x 2048) step on a chip never
seen before, cold and warm; and the H100 bf16 GEMM rows of ../shared/measured predicted.

    python benchmarks/bench_oracle.py [--rows N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import tigris
from tigris.cost import oracle
from tigris.cost.step import step_cost
from tigris.spec.system import single
from tigris.workload.step import Decode, Prefill

SHARED = Path(__file__).resolve().parents[2] / "shared" / "measured"


def fresh_chip(i: int) -> tigris.Chip:
    """A catalog chip with a clock no one has costed before."""
    base = tigris.chip("tigris-t1")
    return base.model_copy(update={"clock_Hz": base.clock_Hz * (1 + 1e-6 * (i + 1))})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=None, help="limit the GEMM rows")
    args = ap.parse_args()
    llm = tigris.model("llama-3.1-70b")
    steps = [Prefill(8, 2048), Decode.uniform(64, 2048)]
    cold = []
    for i in range(3):
        system = single(fresh_chip(i), 1)
        t = time.perf_counter()
        for s in steps:
            step_cost(system, llm, s)
        cold.append(time.perf_counter() - t)
    t = time.perf_counter()
    reps = 20
    for _ in range(reps):
        for s in steps:
            step_cost(system, llm, s)
    warm = (time.perf_counter() - t) / reps
    print(
        f"llama-3.1-70b prefill 8x2048 + decode 64x2048 on an unseen chip: "
        f"cold {min(cold) * 1e3:.1f} ms (best of 3), warm {warm * 1e3:.2f} ms"
    )

    table = SHARED / "h100_sxm" / "gemm_perf.parquet"
    if not table.exists():
        print(f"skipped the GEMM table: {table} not found")
        return
    from tigris.cost.validate import predict, read_table, table_kind

    df = read_table(table)
    df = df[df.gemm_dtype == "bfloat16"]
    if args.rows:
        df = df.iloc[: args.rows]
    oracle.clear()
    t = time.perf_counter()
    predict(df, table_kind(df, str(table)), tigris.chip("h100-sxm"))
    dt = time.perf_counter() - t
    per_row = dt / len(df) * 1e3
    print(f"H100 bf16 GEMM rows predicted: {len(df):,} in {dt:.1f} s ({per_row:.2f} ms/row)")


if __name__ == "__main__":
    main()
