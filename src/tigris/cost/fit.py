"""Fit a family's calibration on measured tables (`tigris calibrate`).

Coordinate descent on a fixed random sample of each table, one group of parameters per kind
of table: GEMM tables set the engine, memory and overhead figures; attention tables then
set the attention setup and vector efficiency; NCCL tables the link figures. The objective
is the median absolute log error plus half its 90th percentile, so a fit cannot buy a good
median with a bad tail. Rows not timed the way tigris predicts (`validate.fittable`) are left
out.
Deterministic for a seed.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tigris.cost.params import Calibration, CalibrationFile
from tigris.cost.validate import fittable, predict, read_table, table_kind
from tigris.spec.chip import Chip

GROUPS = {
    "gemm": (
        "matrix_efficiency",
        "memory_efficiency",
        "overlap",
        "kernel_overhead_s",
        "step_latency_s",
    ),
    "attention": ("attention_overhead_s", "vector_efficiency", "unit_latency_s"),
    "nccl": ("link_efficiency", "link_latency_s"),
}
BOUNDS = {
    "matrix_efficiency": (0.3, 1.0),
    "memory_efficiency": (0.3, 1.0),
    "overlap": (0.0, 1.0),
    "kernel_overhead_s": (0.0, 20e-6),
    "step_latency_s": (0.0, 2e-6),
    "unit_latency_s": (0.0, 10e-6),
    "attention_overhead_s": (0.0, 40e-6),
    "vector_efficiency": (0.05, 1.0),
    "link_efficiency": (0.2, 1.0),
    "link_latency_s": (0.0, 5e-6),
}


def _loss(pred: np.ndarray, meas: np.ndarray) -> float:
    ok = ~np.isnan(pred)
    e = np.abs(np.log(pred[ok] / meas[ok]))
    return float(np.median(e) + 0.5 * np.percentile(e, 90))


def fit(
    chip: Chip,
    tables: list[Path],
    sample: int = 800,
    seed: int = 0,
    rounds: int = 5,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[Calibration, dict[str, float]]:
    rng = np.random.default_rng(seed)
    by_kind: dict[str, list] = {}
    for path in tables:
        df = read_table(path)
        kind = table_kind(df, str(path))
        df = fittable(df)
        if len(df) > sample:
            df = df.iloc[np.sort(rng.choice(len(df), sample, replace=False))]
        by_kind.setdefault(kind, []).append(df)
    cal = Calibration()

    def loss(c: Calibration, kind: str) -> float:
        parts = []
        for df in by_kind[kind]:
            out_rows, pred = predict(df, kind, chip, c)
            parts.append(_loss(pred, np.array([r.measured_s for r in out_rows])))
        return float(np.mean(parts))

    losses: dict[str, float] = {}
    for kind in ("gemm", "attention", "nccl"):
        if kind not in by_kind:
            continue
        best = loss(cal, kind)
        for r in range(rounds):
            scale = 0.5 / (r + 1)
            for name in GROUPS[kind]:
                lo, hi = BOUNDS[name]
                x0 = getattr(cal, name)
                span = (hi - lo) * scale
                for x in np.linspace(max(lo, x0 - span), min(hi, x0 + span), 7):
                    x = float(x)
                    if math.isclose(x, x0):
                        continue
                    trial = cal.model_copy(update={name: x})
                    val = loss(trial, kind)
                    if val < best:
                        best, cal = val, trial
                progress(
                    f"{kind} round {r + 1}: {name} = {getattr(cal, name):.4g}, loss {best:.4f}"
                )
        losses[kind] = best
    return cal, losses


def write(path: Path, family: str, cal: Calibration, tables: list[Path], command: str) -> None:
    import yaml

    doc = CalibrationFile(
        family=family,
        params=cal,
        fitted_on=tuple(str(Path(t).parent.name + "/" + Path(t).name) for t in tables),
        method="coordinate descent on a seeded sample of each table "
        "(median + 0.5 x P90 of |log error|), tigris.cost.fit",
        date=datetime.date.today().isoformat(),
        command=command,
    )
    data = doc.model_dump(mode="json", exclude_none=True)
    data["params"] = {k: float(f"{v:.4g}") for k, v in data["params"].items()}
    path.write_text(
        "# Fitted calibration: do not edit by hand; rerun the command below.\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
