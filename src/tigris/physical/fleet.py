"""The fleet a token demand takes: chips, racks, wafers, megawatts, capex and the cost of
owning it over its life. Pure arithmetic over one chip's throughput at the SLO (from the
serving simulator), its build (`fab`) and its ownership (`tco`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tigris.physical.fab import Build
from tigris.physical.tco import HOURS_PER_YEAR, Ownership
from tigris.physical.tech import TCO


@dataclass(frozen=True, slots=True)
class Fleet:
    chips: int
    racks: int
    chips_per_rack: int
    wafers_to_build: float  # logic wafers for the whole fleet
    wafers_per_year: float  # replacing it over its depreciation life
    packaging_wafers_per_year: float  # interposer wafers (0 for organic packages)
    facility_MW: float
    capex_usd: float
    ownership_usd: float  # over `years`, capital and operations


def fleet(
    tokens_per_day: float,
    tokens_per_s_per_chip: float,
    built: Build,
    own: Ownership,
    tco: TCO,
) -> Fleet:
    """Size a fleet that serves `tokens_per_day` at `tco.utilisation`."""
    per_chip_day = tokens_per_s_per_chip * 86400 * tco.utilisation
    chips = math.ceil(tokens_per_day / per_chip_day) if per_chip_day > 0 else 0
    per_rack = max(1, math.floor(tco.rack_kw * 1e3 / own.provisioned_W))
    wafers = chips * built.wafers_per_chip
    packaging = (
        chips / built.package_yield / built.interposers_per_wafer
        if built.interposers_per_wafer
        else 0.0
    )
    return Fleet(
        chips=chips,
        racks=math.ceil(chips / per_rack),
        chips_per_rack=per_rack,
        wafers_to_build=wafers,
        wafers_per_year=wafers / tco.years,
        packaging_wafers_per_year=packaging / tco.years,
        facility_MW=chips * own.node_W * tco.pue / 1e6,
        capex_usd=chips * own.capex_total_usd,
        ownership_usd=chips * own.per_hour_usd * HOURS_PER_YEAR * tco.years,
    )
