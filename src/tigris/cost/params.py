"""Calibration: the few efficiency figures a chip family shows on real kernels.

Each parameter is named after a physical effect a datasheet reader knows. They are fitted on
../shared/measured only (H100 and A100 tables, `tigris calibrate`), stored with provenance in
`cost/calibration/<family>.yaml`, apart from the chip spec. A chip whose family has no
measurements takes `default.yaml` (the newest fitted family's figures, rounded) and the
result says so.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources as pkg
from pathlib import Path

from pydantic import Field

from tigris.spec.base import Spec, read_yaml, validate
from tigris.spec.chip import Chip

DIR = Path(str(pkg.files("tigris.cost") / "calibration"))


# On-chip cache / SRAM bandwidth that streaming kernels sustain, as a fraction of the spec's
# figure. Not fitted (the spec's L2 figures are themselves estimates); fixed so that the
# fitted parameters stay ten.
CACHE_EFFICIENCY = 0.8


class Calibration(Spec):
    """Ten parameters, each a physical effect (fractions are of the spec's figure)."""

    matrix_efficiency: float = Field(
        0.85, gt=0, le=1, description="sustained fraction of matrix-engine peak (clock under load)"
    )
    memory_efficiency: float = Field(
        0.85, gt=0, le=1, description="achievable fraction of main-memory bandwidth"
    )
    overlap: float = Field(
        0.8, ge=0, le=1, description="share of the shorter of compute and transfer hidden"
    )
    kernel_overhead_s: float = Field(
        3e-6, ge=0, description="launch, prologue and epilogue per kernel, seconds"
    )
    step_latency_s: float = Field(
        0.1e-6,
        ge=0,
        description="shortest time of one k-step (or KV block) of a work unit: load, wait, "
        "multiply; a unit of n steps holds its core at least n of these, s",
    )
    unit_latency_s: float = Field(
        1e-6, ge=0, description="shortest time a work unit holds a core (dependent loads), s"
    )
    attention_overhead_s: float = Field(
        8e-6, ge=0, description="setup of a fused attention call (KV-cache bookkeeping), s"
    )
    vector_efficiency: float = Field(
        0.5, gt=0, le=1, description="achieved fraction of vector / special-function rate"
    )
    link_efficiency: float = Field(
        0.8, gt=0, le=1, description="achievable fraction of scale-up link bandwidth"
    )
    link_latency_s: float = Field(
        3e-6, ge=0, description="latency of one collective step between chips, seconds"
    )


class CalibrationFile(Spec):
    family: str
    params: Calibration
    fitted_on: tuple[str, ...] = ()
    method: str | None = None
    date: str | None = None
    command: str | None = None
    rows: int | None = None
    note: str | None = None


@lru_cache(maxsize=64)
def load(family: str) -> CalibrationFile:
    path = DIR / f"{family}.yaml"
    return validate(CalibrationFile, read_yaml(path), str(path))


def families() -> list[str]:
    return sorted(p.stem for p in DIR.glob("*.yaml") if p.stem != "default")


def for_chip(chip: Chip) -> tuple[Calibration, str]:
    """The chip family's calibration and where it came from (a one-line description)."""
    fam = chip.family
    if fam and (DIR / f"{fam}.yaml").exists():
        f = load(fam)
        where = sorted({s.split("/")[0] for s in f.fitted_on})
        return f.params, f"{fam}, fitted on {', '.join(where) or 'nothing'}"
    f = load("default")
    why = f"no measurements for family {fam!r}" if fam else "chip names no family"
    return f.params, f"defaults ({why})"
