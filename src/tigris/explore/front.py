"""A study as a table, one row per trial, and its Pareto front.

Columns: `trial`, `state`, `feasible`, `pareto`, `error`, each knob (`p_<knob>`), each
metric of `score.Metrics` (under its own name) and each constraint's excess (`v_<name>`:
value / limit - 1, met where at most 0). The front is the feasible trials no other feasible
trial beats on every objective; a design the sampler proposed again is on it once, as its
first trial.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from tigris.explore.score import Scored
from tigris.explore.space import Space


def table(study: optuna.Study, space: Space) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
        row.update({f"p_{k}": v for k, v in t.params.items()})
        row.update(t.user_attrs.get("metrics", {}))
        row.update({f"v_{k}": v for k, v in t.user_attrs.get("violations", {}).items()})
        row["error"] = t.user_attrs.get("error")
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    excess = df[[c for c in df.columns if c.startswith("v_")]]
    df["feasible"] = (df["state"] == "COMPLETE") & (excess.fillna(np.inf) <= 0).all(axis=1)
    knobs = [c for c in df.columns if c.startswith("p_")]
    repeat = df.duplicated(subset=knobs) if knobs else np.zeros(len(df), dtype=bool)
    df["pareto"] = pareto(df, space) & ~np.asarray(repeat)  # a design asked again counts once
    return df


def pareto(df: pd.DataFrame, space: Space) -> np.ndarray:
    """Mask of the non-dominated feasible rows."""
    mask = np.zeros(len(df), dtype=bool)
    if df.empty or "feasible" not in df:
        return mask
    keep = np.flatnonzero(df["feasible"].to_numpy())
    if keep.size == 0:
        return mask
    signs = np.array(
        [1.0 if d == "maximize" else -1.0 for d in space.objective_directions.values()]
    )
    pts = df.iloc[keep][list(space.objective_directions)].to_numpy(float) * signs  # larger wins
    dominated = np.zeros(len(pts), dtype=bool)
    for i in range(0, len(pts), 512):  # row j beats row i: >= everywhere, > somewhere
        mine = pts[i : i + 512]
        ge = (pts[:, None, :] >= mine[None, :, :]).all(axis=2)
        gt = (pts[:, None, :] > mine[None, :, :]).any(axis=2)
        dominated[i : i + 512] = (ge & gt).any(axis=0)
    mask[keep[~dominated]] = True
    return mask


def reference_table(refs: list[Scored]) -> pd.DataFrame:
    rows = []
    for r in refs:
        row: dict[str, Any] = {**r.params, **(r.metrics or {})}
        row.update({f"v_{k}": v for k, v in (r.violations or {}).items()})
        row["feasible"] = r.feasible
        row["error"] = r.error
        rows.append(row)
    return pd.DataFrame(rows)


def best(df: pd.DataFrame, space: Space) -> pd.Series | None:
    """The feasible trial with the best first objective."""
    ok = df[df["feasible"]] if not df.empty else df
    if ok.empty:
        return None
    first, direction = next(iter(space.objective_directions.items()))
    idx = ok[first].idxmax() if direction == "maximize" else ok[first].idxmin()
    return ok.loc[idx]
