"""What a chip costs to build: dies per wafer, yield with harvesting, die, memory, package,
assembly and one-time costs over a production volume.

Formulas (hw-data.md 3.3; de Vries, "Investigation of gross die per wafer formulas", 2005;
Stapper's negative binomial yield; ttm-cas): gross dies per wafer
`pi d^2 / 4A - pi d / sqrt(2A)` with d the usable diameter and A the die area with its
scribe line; yield Poisson `exp(-AD)`, Murphy `((1 - exp(-AD)) / AD)^2`, Seeds `1/(1+AD)`,
negative binomial `(1 + AD/alpha)^-alpha`. Each is Poisson yield averaged over a defect
density D drawn from a distribution (a point, a triangle on [0, 2 D0], an exponential, a
gamma of shape alpha), and harvesting is computed over that same distribution: a die is
sellable when its non-core logic is clean and at least the enabled number of its cores are.
All money in USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special

from tigris.errors import SpecError
from tigris.physical.area import Area, interfaces
from tigris.physical.tech import Tech
from tigris.spec.chip import Chip

MODELS = ("poisson", "murphy", "seeds", "negative_binomial")


def dies_per_wafer(
    die_mm2: float, diameter_mm: float = 300.0, edge_mm: float = 3.0, scribe_mm: float = 0.1
) -> float:
    """Gross (whole) square dies on a wafer, edge exclusion and scribe lines included."""
    side = math.sqrt(die_mm2) + scribe_mm
    a = side * side
    d = diameter_mm - 2 * edge_mm
    return max(math.pi * d * d / (4 * a) - math.pi * d / math.sqrt(2 * a), 0.0)


def die_yield(area_cm2: float, d0_per_cm2: float, model: str, alpha: float = 3.0) -> float:
    """Fraction of dies with no killer defect, closed forms."""
    ad = area_cm2 * d0_per_cm2
    if ad <= 0:
        return 1.0
    if model == "poisson":
        return math.exp(-ad)
    if model == "murphy":
        return ((1 - math.exp(-ad)) / ad) ** 2
    if model == "seeds":
        return 1 / (1 + ad)
    if model == "negative_binomial":
        return (1 + ad / alpha) ** -alpha
    raise SpecError("tech", "yield_model", model, f"unknown (known: {', '.join(MODELS)})")


@cache
def _densities(model: str, alpha: float, points: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of E[f(D/D0)] for each model's defect-density distribution."""
    if model == "poisson":
        return np.ones(1), np.ones(1)
    if model == "murphy":  # triangle on [0, 2]: Gauss-Legendre on each half
        x, w = np.polynomial.legendre.leggauss(points // 2)
        left, right = (x + 1) / 2, 1 + (x + 1) / 2
        nodes = np.concatenate([left, right])
        weights = np.concatenate([w / 2 * left, w / 2 * (2 - right)])
        return nodes, weights
    shape = 1.0 if model == "seeds" else alpha
    x, w = special.roots_genlaguerre(points, shape - 1)  # gamma(shape, scale 1/shape)
    return x / shape, w / special.gamma(shape)


def harvest_yield(
    core_cm2: float,
    rest_cm2: float,
    cores: int,
    needed: int,
    d0_per_cm2: float,
    model: str,
    alpha: float = 3.0,
) -> float:
    """Fraction of dies sellable with `needed` of `cores` cores enabled; with no spares it
    equals `die_yield` of the whole area."""
    if model not in MODELS:
        raise SpecError("tech", "yield_model", model, f"unknown (known: {', '.join(MODELS)})")
    nodes, weights = _densities(model, alpha)
    d = nodes * d0_per_cm2
    good_core = np.exp(-core_cm2 * d)
    enough = special.bdtrc(needed - 1, cores, good_core)  # P(at least `needed` good)
    return float(np.sum(weights * np.exp(-rest_cm2 * d) * enough))


@dataclass(frozen=True, slots=True)
class Build:
    """The unit cost of one package and how it adds up (USD), with the wafer figures."""

    breakdown: dict[str, float]
    die_mm2: float
    dies: int
    gross_dies_per_wafer: float
    yield_: float
    good_dies_per_wafer: float
    interposer_mm2: float
    node: str
    package_yield: float

    @property
    def unit_cost_usd(self) -> float:
        return sum(self.breakdown.values())

    @property
    def wafers_per_chip(self) -> float:
        """Logic wafers per sellable package (die yield and package yield)."""
        return self.dies / self.good_dies_per_wafer / self.package_yield

    @property
    def interposers_per_wafer(self) -> float:
        """Silicon interposers cut from one 300 mm wafer (0 for an organic package)."""
        return dies_per_wafer(self.interposer_mm2) if self.interposer_mm2 else 0.0


def memory_price(chip: Chip, tech: Tech) -> float:
    main = chip.main_memory
    if not main.off_chip:
        return 0.0
    tech_name = (main.technology or main.kind).lower().replace(" ", "")
    prices = tech.memory_usd_per_GB
    key = next((k for k in sorted(prices, key=len, reverse=True) if tech_name.startswith(k)), None)
    per_GB = prices.get(key or main.kind, prices.get("ddr", 0.0))
    return main.capacity_B / 1e9 * per_GB


def build(chip: Chip, area: Area, tech: Tech, die_mm2: float | None = None) -> Build:
    """Unit cost of `chip` whose silicon is `area` (or `die_mm2` per die where known)."""
    node_name, node = tech.node(chip)
    dies = area.dies
    die = die_mm2 if die_mm2 is not None else area.die_mm2
    scale = die / area.die_mm2  # a datasheet area rescales every part alike
    gross = dies_per_wafer(die, tech.wafer_diameter_mm, tech.edge_exclusion_mm, tech.scribe_mm)
    if gross < 1:
        raise SpecError(chip.name, "die area", f"{die:.0f} mm2", "no whole die fits a wafer")
    enabled = chip.cores.count
    physical = chip.process.cores if chip.process and chip.process.cores else enabled
    core_parts = ("matrix engines", "vector engines", "core control", "core memory", "core other")
    core_cm2 = sum(area.parts[k] for k in core_parts) * scale / physical / 100
    rest_cm2 = die / 100 - core_cm2 * physical / dies
    y = harvest_yield(
        core_cm2,
        max(rest_cm2, 0.0),
        math.ceil(physical / dies),
        math.ceil(enabled / dies),
        node.d0_per_cm2,
        tech.yield_model,
        tech.nb_alpha,
    )
    good = gross * y
    die_cost = dies * node.wafer_usd / good
    memory = memory_price(chip, tech)
    main = chip.main_memory
    stacks = interfaces(main) if main.off_chip and main.kind == "hbm" else 0
    interposer = (die * dies + stacks * tech.hbm_stack_mm2) * tech.interposer_spacing
    if stacks or dies > 1:
        package = interposer * tech.interposer_usd_per_mm2
    else:
        package, interposer = tech.organic_package_usd, 0.0
    materials = die_cost + memory + package
    assembly = materials * tech.assembly_test_fraction
    loss = (materials + assembly) * (1 / tech.package_yield - 1)
    one_time = (tech.design_nre_usd + node.mask_set_usd) / tech.volume
    breakdown = {
        "compute dies": die_cost,
        "memory": memory,
        "package": package,
        "assembly and test": assembly,
        "package yield loss": loss,
        "design and masks": one_time,
    }
    return Build(breakdown, die, dies, gross, y, good, interposer, node_name, tech.package_yield)
