"""Where designs are scored: this process, a local process pool, or Ray (local or a cluster).

A pool has one method, `submit(chunks) -> Pending`; `Pending.get()` returns the scored
chunks in the order given. Scoring is pure (explore.score), so every pool gives the same
results for the same designs.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from tigris import physical
from tigris.errors import SpecError
from tigris.explore.score import Scored, score_many
from tigris.explore.space import Space
from tigris.spec.chip import Chip

Chunk = list[dict[str, Any]]
Pending = Callable[[], list[list[Scored]]]

BACKENDS = ("auto", "ray", "processes", "serial")


class Pool(Protocol):
    name: str
    workers: int

    def submit(self, chunks: list[Chunk]) -> Pending: ...

    def close(self) -> None: ...


class Serial:
    name, workers = "serial", 1

    def __init__(self, space: Space, base: Chip, tech: physical.Tech) -> None:
        self.args = (space, base, tech)

    def submit(self, chunks: list[Chunk]) -> Pending:
        done = [score_many(*self.args, c) for c in chunks]
        return lambda: done

    def close(self) -> None:
        pass


_WORKER: tuple[Space, Chip, physical.Tech] | None = None


def _init(space: Space, base: Chip, tech: physical.Tech) -> None:
    global _WORKER
    _WORKER = (space, base, tech)


def _score(chunk: Chunk) -> list[Scored]:
    assert _WORKER is not None
    return score_many(*_WORKER, chunk)


class Processes:
    name = "processes"

    def __init__(self, space: Space, base: Chip, tech: physical.Tech, workers: int) -> None:
        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, initializer=_init, initargs=(space, base, tech))

    def submit(self, chunks: list[Chunk]) -> Pending:
        futures = [self.pool.submit(_score, c) for c in chunks]
        return lambda: [f.result() for f in futures]

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class Ray:
    name = "ray"

    def __init__(
        self, space: Space, base: Chip, tech: physical.Tech, workers: int, address: str | None
    ) -> None:
        import ray

        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
            }
            if address is None:
                kwargs["num_cpus"] = workers
            ray.init(address=address, **kwargs)
        self.workers = workers if address is None else int(ray.cluster_resources()["CPU"])
        self.args = [ray.put(x) for x in (space, base, tech)]
        self.remote = ray.remote(num_cpus=1)(score_many)

    def submit(self, chunks: list[Chunk]) -> Pending:
        refs = [self.remote.remote(*self.args, c) for c in chunks]
        return lambda: self.ray.get(refs)

    def close(self) -> None:
        self.ray.shutdown()


def has_ray() -> bool:
    return importlib.util.find_spec("ray") is not None


def make(
    backend: str,
    space: Space,
    base: Chip,
    tech: physical.Tech,
    workers: int,
    address: str | None = None,
) -> Pool:
    """`auto`: Ray where it is installed, else a process pool; one worker runs here."""
    if backend not in BACKENDS:
        raise SpecError("--backend", "", backend, f"expected one of {', '.join(BACKENDS)}")
    if backend == "ray" or address is not None:
        if not has_ray():
            raise SpecError("--backend", "", "ray", "Ray is not installed (pip install ray)")
        return Ray(space, base, tech, workers, address)
    if backend == "serial" or (backend == "auto" and workers <= 1):
        return Serial(space, base, tech)
    if backend == "auto" and has_ray():
        return Ray(space, base, tech, workers, None)
    return Processes(space, base, tech, workers)
