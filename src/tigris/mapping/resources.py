"""What the mapper and the oracle need to know of a chip, read once from its spec.

`Resources` condenses a `Chip` into per-core compute rates, the capacity a core can tile
into, the chip-wide on-chip levels and main memory. It is derived data: every number
comes from the spec (or, where the spec leaves a figure out, from an assumption named here).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from tigris.dtypes import RATE_CLASSES
from tigris.spec.chip import Chip

# An on-chip level whose bandwidth the spec leaves out is assumed to deliver this many bytes
# per core per cycle (the GA100 L2 gives 5,120 B/clk to 108 SMs, ~47 B per SM; LLMCompass).
ASSUMED_ONCHIP_B_PER_CORE_CYCLE = 48.0
# A core draws at most this many bytes per cycle from the chip-wide levels (a GPU SM's L1
# fill path is 64 B/clk) unless its staging memory's bandwidth is given. A per-core figure:
# more cores bring more ports; the level's own bandwidth caps them all together.
PORT_B_PER_CYCLE = 64.0
# Element-wise rate of a chip whose spec lists no vector engine, as a fraction of matrix peak.
NO_VECTOR_FRACTION = 1.0 / 16.0
# MMA engines (tensor cores) are fed in fragments of this many rows and columns.
MMA_FRAGMENT = 16


@dataclass(frozen=True, slots=True)
class Level:
    """A memory level as the oracle sees it: chip-wide capacity and bandwidth."""

    name: str
    kind: str
    capacity_B: float  # chip-wide (core-scope levels: per core x cores)
    bandwidth_Bps: float  # chip-wide
    energy_J_per_B: float | None
    off_chip: bool
    bandwidth_assumed: bool


@dataclass(frozen=True, slots=True, eq=False)
class Resources:
    """Hashed and compared by `key`, the digest of the spec it was read from."""

    key: str
    name: str
    family: str | None
    cores: int
    clock_Hz: float
    systolic: bool
    fragment: tuple[int, int]  # rows x cols an engine pass covers (array shape or MMA fragment)
    macs_per_core_cycle: dict[str, float]  # per rate class, all matrix engines of a core
    vector_flops_per_core_s: dict[str, float]
    special_per_core_s: float
    stage_B: float  # per core: operand staging (shared memory / scratchpad)
    stage_Bps: float | None  # per core: bandwidth of the staging level, where the spec gives it
    accum_B: float  # per core: accumulator space (registers, else the staging level)
    onchip: tuple[Level, ...]  # chip-scope on-chip levels, inner first
    main: Level  # where weights and KV cache live
    multicast: int = 1  # cores one cache read reaches at once (operand tiles shared in a cluster)
    dependent_launch: bool = False  # a kernel's first wave may start as the one before ends

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resources) and other.key == self.key

    def matrix_flops(self, rate_class: str) -> float:
        """Chip peak FLOP/s of the matrix engines for a rate class."""
        return 2.0 * self.macs_per_core_cycle.get(rate_class, 0.0) * self.clock_Hz * self.cores

    def vector_flops(self, rate_class: str) -> float:
        """Chip FLOP/s of the vector engines (fp32 rate where the dtype has none listed).

        A chip whose spec lists no vector engine is assumed to do element-wise work at
        1/16 of its bf16 matrix peak (`NO_VECTOR_FRACTION`).
        """
        rates = self.vector_flops_per_core_s
        per_core = rates.get(rate_class) or rates.get("fp32", 0.0)
        if per_core == 0.0:
            best = max(self.macs_per_core_cycle.values(), default=0.0)
            per_core = 2.0 * best * self.clock_Hz * NO_VECTOR_FRACTION
        return per_core * self.cores

    def special_per_s(self) -> float:
        """Chip transcendental results per second (exp, rsqrt); vector FLOP rate / 4 if unlisted."""
        if self.special_per_core_s > 0:
            return self.special_per_core_s * self.cores
        return self.vector_flops("fp32") / 4.0

    @property
    def port_Bps(self) -> float:
        """Bytes per second one core can draw from the chip-wide levels."""
        return max(PORT_B_PER_CYCLE * self.clock_Hz, self.stage_Bps or 0.0)

    @property
    def cache(self) -> Level | None:
        """The chip-wide on-chip level operands are reused through (L2, global SRAM)."""
        return self.onchip[-1] if self.onchip else None


def _engine_clock(engine_clock: float | None, chip: Chip) -> float:
    return engine_clock or chip.clock_Hz


@lru_cache(maxsize=256)
def _resources(key: str) -> Resources:
    chip = Chip.model_validate_json(key)
    cores = chip.cores.count
    macs: dict[str, float] = {}
    for rc in RATE_CLASSES:
        total = 0.0
        for e in chip.cores.matrix:  # fold engine clocks into the chip clock
            total += e.count * e.macs(rc) * _engine_clock(e.clock_Hz, chip) / chip.clock_Hz
        if total > 0:
            macs[rc] = total
    systolic = any(e.kind == "systolic" for e in chip.cores.matrix)
    fragment = (MMA_FRAGMENT, MMA_FRAGMENT)
    for e in chip.cores.matrix:
        if e.kind == "systolic" and e.shape is not None:
            fragment = (e.shape[0], e.shape[1])
            break
    vec: dict[str, float] = {}
    special = 0.0
    for v in chip.cores.vector:
        clk = _engine_clock(v.clock_Hz, chip)
        for rc, f in v.flops_per_lane.items():
            vec[rc] = vec.get(rc, 0.0) + v.count * v.lanes * f * clk
        special += v.count * (v.special_per_cycle or 0.0) * clk
    core_levels = [m for m in chip.memory if m.scope == "core"]
    staging = [m for m in core_levels if m.kind != "registers"]
    regs = [m for m in core_levels if m.kind == "registers"]
    chip_levels = [m for m in chip.memory if m.scope == "chip"]
    if staging:
        stage_B = max(m.capacity_B for m in staging)
    elif chip_levels and not chip_levels[0].off_chip:
        stage_B = chip_levels[0].capacity_B / cores
    else:
        stage_B = 64 * 1024.0
    accum_B = regs[0].capacity_B if regs else stage_B
    stage_Bps = max((m.bandwidth_Bps or 0.0) for m in staging) if staging else 0.0
    assumed_bw = ASSUMED_ONCHIP_B_PER_CORE_CYCLE * cores * chip.clock_Hz
    levels = []
    for m in chip_levels:
        bw = m.bandwidth_Bps
        levels.append(
            Level(
                m.name,
                m.kind,
                m.capacity_B,
                bw if bw is not None else assumed_bw,
                m.energy_J_per_B,
                m.off_chip,
                bw is None,
            )
        )
    off = [lv for lv in levels if lv.off_chip]
    main = off[-1] if off else levels[-1]
    onchip = tuple(lv for lv in levels if not lv.off_chip and lv is not main)
    return Resources(
        key=hashlib.sha1(key.encode()).hexdigest()[:16],
        name=chip.name,
        family=chip.family,
        cores=cores,
        clock_Hz=chip.clock_Hz,
        systolic=systolic,
        fragment=fragment,
        macs_per_core_cycle=macs,
        vector_flops_per_core_s=vec,
        special_per_core_s=special,
        stage_B=stage_B,
        stage_Bps=stage_Bps or None,
        accum_B=accum_B,
        onchip=onchip,
        main=main,
        multicast=chip.cores.multicast or 1,
        dependent_launch=chip.cores.dependent_launch,
    )


_BY_ID: dict[int, tuple[Chip, Resources]] = {}


def resources(chip: Chip) -> Resources:
    """The chip's resources; cached per spec object and per distinct spec."""
    hit = _BY_ID.get(id(chip))
    if hit is not None and hit[0] is chip:
        return hit[1]
    res = _resources(chip.model_dump_json(exclude={"provenance", "notes", "aliases"}))
    if len(_BY_ID) > 4096:
        _BY_ID.clear()
    _BY_ID[id(chip)] = (chip, res)
    return res
