"""All-reduce and all-gather across the visible GPUs (NCCL), or CPU processes (gloo, for tests).

One process per rank, started by torch.multiprocessing; every rank runs the same sequence of
calls (a collective that one rank skipped would hang the others). `message_size` follows
nccl-tests and ../shared/measured: the number of elements of the whole buffer (for all-gather,
of the gathered output). Rank 0 times each size with CUDA events (wall clock on the CPU) over
`ITERS` calls after `WARMUP`, between barriers, and writes the results as JSON.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

WARMUP, ITERS = 5, 20
OPS = ("all_reduce", "all_gather")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(
    rank: int, world: int, backend: str, sizes: list[int], port: int, result: str
) -> None:  # pragma: no cover - runs in child processes
    import torch
    import torch.distributed as dist

    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    cuda = backend == "nccl"
    if cuda:
        torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank) if cuda else torch.device("cpu")
    dtype = torch.float16 if cuda else torch.float32
    rows = []
    for op in OPS:
        for size in sizes:
            if size % world:
                continue
            if op == "all_reduce":
                buf = torch.ones(size, device=dev, dtype=dtype)

                def call(buf=buf):
                    dist.all_reduce(buf)

            else:
                out = torch.empty(size, device=dev, dtype=dtype)
                inp = torch.ones(size // world, device=dev, dtype=dtype)
                parts = list(out.chunk(world))

                def call(out=out, inp=inp, parts=parts):
                    if cuda:
                        dist.all_gather_into_tensor(out, inp)
                    else:
                        dist.all_gather(parts, inp)

            for _ in range(WARMUP):
                call()
            dist.barrier()
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(True)
                start.record()
                for _ in range(ITERS):
                    call()
                end.record()
                torch.cuda.synchronize()
                ms = start.elapsed_time(end) / ITERS
            else:
                t = time.perf_counter()
                for _ in range(ITERS):
                    call()
                ms = (time.perf_counter() - t) * 1e3 / ITERS
            rows.append({"op": op, "size": size, "ms": ms})
    if rank == 0:
        Path(result).write_text(json.dumps(rows))
    dist.barrier()
    dist.destroy_process_group()


def run(world: int, backend: str, sizes: list[int], result: Path) -> list[dict]:
    """Time every (op, size) on `world` ranks; the rows rank 0 saw."""
    import torch.multiprocessing as mp

    mp.spawn(
        _worker, args=(world, backend, sizes, free_port(), str(result)), nprocs=world, join=True
    )
    return json.loads(result.read_text())
