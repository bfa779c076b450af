"""The search: Optuna proposes designs, a pool scores them, the study stores every one.

The sampler works on an in-memory copy of the study; each scored trial is then added to the
stored study (SQLite by default, any SQLAlchemy URL such as PostgreSQL) in one transaction.
A run killed at any moment keeps every trial it stored; run again with the same storage, it
loads them, reseeds the sampler past them, and goes on to the requested number of trials.

Designs are asked for `search.batch` at a time, scored in parallel, and told back in the
order asked, so a seed gives the same study whatever the pool or its number of workers.
While one batch is scored the previous one is written.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from tigris import physical
from tigris.errors import SpecError
from tigris.explore.pool import Pending, Pool
from tigris.explore.score import Scored
from tigris.explore.space import KNOBS, Space

optuna.logging.set_verbosity(optuna.logging.WARNING)

Progress = Callable[[int, int], None]


def distributions(space: Space) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for name, p in space.params.items():
        if p.choices is not None:
            out[name] = CategoricalDistribution(p.choices)
        elif KNOBS[name][0] is int:
            out[name] = IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))  # type: ignore[arg-type]
        else:
            out[name] = FloatDistribution(p.low, p.high, log=p.log, step=p.step)  # type: ignore[arg-type]
    return out


def grid(space: Space) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, p in space.params.items():
        if p.choices is not None:
            out[name] = list(p.choices)
        else:
            assert p.low is not None and p.high is not None and p.step
            n = math.floor((p.high - p.low) / p.step + 1e-9) + 1
            vals = [p.low + i * p.step for i in range(n)]
            out[name] = [int(v) for v in vals] if KNOBS[name][0] is int else vals
    return out


def sampler(space: Space, seed: int) -> optuna.samplers.BaseSampler:
    s = space.search
    if s.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=s.population, seed=seed)
    if s.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if s.sampler == "grid":
        return optuna.samplers.GridSampler(grid(space), seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def space_key(space: Space) -> str:
    """What a stored study must have been made for to be resumed: knobs, workload, goals,
    and the base chip as it is now (a catalog chip may change between runs)."""
    from tigris.spec.catalog import chip as find_chip

    keep = space.model_dump(mode="json", exclude={"search": {"trials", "batch"}})
    base = find_chip(space.base).model_dump(mode="json", exclude={"provenance", "notes"})
    return json.dumps({"space": keep, "base": base}, sort_keys=True)


def open_study(space: Space, storage: str) -> optuna.Study:
    """The stored study for this space, created or loaded; a clash is a one-line error."""
    directions = list(space.objective_directions.values())
    try:
        study = optuna.create_study(
            storage=storage, study_name=space.name, directions=directions, load_if_exists=True
        )
    except (ValueError, ImportError, optuna.exceptions.OptunaError) as exc:
        raise SpecError("--storage", "", storage, f"cannot open the study: {exc}") from None
    key = space_key(space)
    stored = study.user_attrs.get("space")
    if stored is None:
        study.set_user_attr("space", key)
    elif stored != key:
        raise SpecError(
            "--storage",
            "",
            storage,
            f"holds a study {space.name!r} made for a different space (knobs, workload, "
            "objectives or the base chip changed); use another --out folder or rename the space",
        )
    return study


def finished(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))


@dataclass(frozen=True, slots=True)
class Outcome:
    study: optuna.Study
    stored_before: int  # trials found in storage when the run started
    ran: int
    pool: str
    workers: int
    interrupted: bool = False


def run(
    space: Space,
    storage: str,
    pool: Pool,
    trials: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Run the space's search until the stored study holds `trials` finished trials."""
    target = trials or space.search.trials
    if space.search.sampler == "grid":
        target = min(target, int(np.prod([len(v) for v in grid(space).values()])))
    stored = open_study(space, storage)
    before = finished(stored)
    directions = list(space.objective_directions.values())
    mem = optuna.create_study(
        directions=directions, sampler=sampler(space, space.search.seed + len(before))
    )
    mem.add_trials(before)
    dists = distributions(space)
    done, ran = len(before), 0
    if progress:
        progress(done, target)

    asked_n = 0

    def ask() -> tuple[list[optuna.Trial], Pending] | None:
        nonlocal asked_n
        k = min(space.search.batch, target - done - asked_n)
        if k <= 0:
            return None
        asked = [mem.ask(dists) for _ in range(k)]
        per = max(1, math.ceil(k / (2 * pool.workers)))
        chunks = [[t.params for t in asked[i : i + per]] for i in range(0, k, per)]
        asked_n += k
        return asked, pool.submit(chunks)

    nxt = ask()
    try:
        while nxt is not None:
            asked, pending = nxt
            scored = [s for chunk in pending() for s in chunk]
            frozen = [_tell(mem, space, t, s) for t, s in zip(asked, scored, strict=True)]
            nxt = ask()
            for f in frozen:
                stored.add_trial(f)
                ran += 1
                if progress:
                    progress(done + ran, target)
    except KeyboardInterrupt:
        return Outcome(stored, len(before), ran, pool.name, pool.workers, interrupted=True)
    return Outcome(stored, len(before), ran, pool.name, pool.workers)


def _tell(mem: optuna.Study, space: Space, trial: optuna.Trial, s: Scored) -> FrozenTrial:
    if s.metrics is None or s.violations is None:
        trial.set_user_attr("error", s.error)
        return mem.tell(trial, state=TrialState.FAIL)
    values = [s.metrics[name] for name in space.objective_directions]
    if not all(math.isfinite(v) for v in values):
        trial.set_user_attr("error", "an objective is not finite (the design makes no tokens)")
        return mem.tell(trial, state=TrialState.FAIL)
    trial.set_user_attr("metrics", s.metrics)
    trial.set_user_attr("violations", s.violations)
    for key, excess in s.violations.items():
        trial.set_constraint(key, excess)  # feasible where every one is <= 0
    return mem.tell(trial, values)


def references(space: Space, names: list[str], tech: physical.Tech) -> list[Scored]:
    """Catalog chips judged on the space's workload by the same code. Where the space
    searches the workload knobs (batch, tp), each chip gets the best of their values: the
    feasible one with the best first objective (the best infeasible one if none is)."""
    from tigris.explore.score import judge, violations
    from tigris.spec.catalog import chip as find_chip

    first, direction = next(iter(space.objective_directions.items()))
    sign = 1.0 if direction == "maximize" else -1.0
    options = [
        dict(zip(workload_knobs(space), combo, strict=True))
        for combo in itertools.product(*workload_knobs(space).values())
    ]
    out = []
    for name in names:
        c = find_chip(name)
        best: tuple[tuple[bool, float], Scored] | None = None
        for knobs in options:
            try:
                m = judge(space, c, tech, knobs)
            except SpecError as exc:
                s = Scored({"chip": c.name, **knobs}, None, None, exc.message)
                rank = (False, -math.inf)
            else:
                s = Scored({"chip": c.name, **knobs}, m.as_dict(), violations(space, m, tech))
                rank = (s.feasible, sign * m.as_dict()[first])
            if best is None or rank > best[0]:
                best = (rank, s)
        assert best is not None
        out.append(best[1])
    return out


def workload_knobs(space: Space) -> dict[str, list[int]]:
    """Values of the searched workload knobs to try on a reference chip: the choices, or
    powers of two within the range."""
    out: dict[str, list[int]] = {}
    for name in ("batch", "tp"):
        p = space.params.get(name)
        if p is None:
            continue
        if p.choices is not None:
            out[name] = [int(v) for v in p.choices]
        else:
            assert p.low is not None and p.high is not None
            vals = [2**i for i in range(20) if p.low <= 2**i <= p.high]
            out[name] = vals or [int(p.low)]
    return out
