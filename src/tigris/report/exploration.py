"""An exploration's folder: every trial as parquet, the Pareto front and the reference chips
as CSV, the plots, and a summary. Each file is written whole or not at all (a temporary
file renamed into place), so an interrupted write never leaves a partial output.

    OUT/study.db          the Optuna study (written by explore/, the source of truth)
    OUT/trials.parquet    one row per finished trial (explore.front.table)
    OUT/front.csv         the Pareto front, best first objective first
    OUT/references.csv    H100, H200, B200 ... on the same workload
    OUT/front.png         objectives with the front and the references
    OUT/knobs.png         the front designs' knobs within their ranges
    OUT/summary.json      counts, the best design, the references
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from tigris.explore.space import Space
from tigris.report import plots
from tigris.report.files import atomic


def ranges(space: Space) -> dict[str, tuple[float, float]]:
    out = {}
    for name, p in space.params.items():
        if p.choices is None:
            out[name] = (float(p.low or 0), float(p.high or 0))
        elif all(isinstance(c, int | float) for c in p.choices):
            out[name] = (float(min(p.choices)), float(max(p.choices)))
    return out


def front_rows(df: pd.DataFrame, space: Space) -> pd.DataFrame:
    if df.empty:
        return df
    first, direction = next(iter(space.objective_directions.items()))
    fr = df[df["pareto"]]
    return fr.sort_values(first, ascending=direction == "minimize")


def write(
    folder: Path, space: Space, df: pd.DataFrame, refs: pd.DataFrame, summary: dict[str, Any]
) -> dict[str, Path]:
    fr = front_rows(df, space)
    files = {
        "trials": atomic(folder / "trials.parquet", lambda p: df.to_parquet(p, index=False)),
        "front": atomic(folder / "front.csv", lambda p: fr.to_csv(p, index=False)),
        "references": atomic(folder / "references.csv", lambda p: refs.to_csv(p, index=False)),
    }
    if not df.empty:
        title = f"{space.name}: {len(df)} designs"
        fig = plots.front(df, refs, space.objective_directions, title)
        files["front_plot"] = plots.save(fig, folder / "front.png")
        knob_fig = plots.knobs(fr, ranges(space))
        files["knobs_plot"] = plots.save(knob_fig, folder / "knobs.png")
    text = json.dumps(summary, indent=2, default=str)
    files["summary"] = atomic(folder / "summary.json", lambda p: Path(p).write_text(text))
    return files
