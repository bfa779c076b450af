"""How long building the ops of a step takes (the oracle's target for a whole step, ops and
costs, is 100 ms cold and 5 ms warm for Llama-3.1-70B prefill 8 x 2048 + decode 64 x 2048).

    python benchmarks/bench_workload.py
"""

import time

from tigris.workload.models import model
from tigris.workload.step import Decode, Prefill, ops


def main() -> None:
    t0 = time.perf_counter()
    llm = model("llama-3.1-70b")
    t1 = time.perf_counter()
    prefill, decode = Prefill(8, 2048), Decode.uniform(64, 2048)
    ops(llm, prefill), ops(llm, decode)
    t2 = time.perf_counter()
    runs = 50
    for _ in range(runs):
        ops(llm, prefill), ops(llm, decode)
    t3 = time.perf_counter()
    print(f"load llama-3.1-70b config: {(t1 - t0) * 1e3:.1f} ms")
    print(f"ops of prefill 8x2048 + decode 64x2048, first call: {(t2 - t1) * 1e3:.1f} ms")
    print(f"ops of prefill 8x2048 + decode 64x2048, repeated: {(t3 - t2) / runs * 1e3:.2f} ms")
    for name in ("deepseek-v3", "glm-5"):
        other = model(name)
        t4 = time.perf_counter()
        ops(other, prefill), ops(other, decode)
        print(f"ops of the same two steps for {name}: {(time.perf_counter() - t4) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
