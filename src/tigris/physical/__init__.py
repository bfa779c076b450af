"""physical/: what a chip costs to BUILD and to OWN: area, yield, die/memory/package cost,
power at a workload, cost of ownership and fleets. Imports spec/ and the parameter tables
of `tech.yaml`; never computes a latency (power takes energy and time from cost/).

    silicon(chip, tech) -> Silicon(area, build)   # mm2 by part; $ by part, wafers
    price(chip, silicon, tech) -> (USD, basis)   # what a buyer pays for it
    economics(chip, energy_J, time_s, tokens, tech) -> Economics  # power, TCO, $/M tokens
"""

from __future__ import annotations

from tigris.physical.area import Area
from tigris.physical.economics import Economics, economics
from tigris.physical.fab import Build
from tigris.physical.silicon import Silicon, price, silicon
from tigris.physical.tech import Tech, default, load

__all__ = [
    "Area",
    "Build",
    "Economics",
    "Silicon",
    "Tech",
    "default",
    "economics",
    "load",
    "price",
    "silicon",
]
