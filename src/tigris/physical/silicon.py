"""Area and unit cost of a chip, and what its owner pays for it."""

from __future__ import annotations

from dataclasses import dataclass

from tigris.physical.area import Area, area
from tigris.physical.fab import Build, build
from tigris.physical.tech import Tech, default
from tigris.spec.chip import Chip


@dataclass(frozen=True, slots=True)
class Silicon:
    area: Area  # the model's prediction, part by part
    build: Build
    area_source: str  # "datasheet" (a catalog chip's published die area) or "model"


def silicon(chip: Chip, tech: Tech | None = None, chiplets: int | None = None) -> Silicon:
    """Area and unit cost. A catalog chip is costed at its published die area (the model's
    prediction is reported beside it); proposals and user chips at the predicted area."""
    tech = tech or default()
    predicted = area(chip, tech, chiplets)
    proc = chip.process
    die = None
    if chip.kind == "catalog" and proc and proc.die_area_mm2 and not chiplets:
        die = proc.die_area_mm2 / proc.dies
    source = "model" if die is None else "datasheet"
    return Silicon(predicted, build(chip, predicted, tech, die), source)


def price(chip: Chip, si: Silicon, tech: Tech) -> tuple[float, str]:
    """What one chip costs its owner: a catalog chip's purchase price where known, else
    the unit cost to build it plus `tco.chip_margin`."""
    if chip.kind == "catalog" and chip.price and chip.price.purchase_usd:
        return chip.price.purchase_usd, "purchase price"
    margin = tech.tco.chip_margin
    basis = "unit cost" if margin == 0 else f"unit cost + {margin:.0%} margin"
    return si.build.unit_cost_usd * (1 + margin), basis
