"""A chip as a datasheet describes it: cores, engines, memory levels, links, silicon.

GPUs and tigris chips use one vocabulary. An SM or a CU is a *core*; its tensor cores are
*matrix engines* (MMA units: MACs per cycle per dtype); a TPU MXU or a tigris array is a
*systolic* matrix engine (rows x cols PEs, MACs per PE per cycle per dtype). Register
files, shared memory and scratchpads are per-core memory levels; L2, LLC and global SRAM
are chip-wide levels; HBM / LPDDR / GDDR is the off-chip level. Peak FLOP/s per dtype is
derived, never stored: cores x engines x MACs per cycle x 2 x clock.

Every quantity is SI with its unit in the name. Only what a datasheet could say lives here;
measured efficiencies are calibration data and belong to `cost/`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tigris import units
from tigris.dtypes import RATE_CLASSES, DType
from tigris.spec.base import (
    Bytes,
    BytesPerS,
    Count,
    Hertz,
    JoulesPerByte,
    Mm2,
    Positive,
    Provenance,
    Seconds,
    Spec,
    Watts,
)


def _check_rates(rates: dict[str, float]) -> dict[str, float]:
    for key in rates:
        if key not in RATE_CLASSES:
            raise ValueError(f"unknown dtype {key!r} (known: {', '.join(RATE_CLASSES)})")
    return rates


class MatrixEngine(Spec):
    """A matrix unit inside a core: a tensor core (`mma`) or a systolic array (`systolic`)."""

    kind: Literal["mma", "systolic"]
    count: Count = Field(description="engines per core")
    shape: tuple[Count, Count] | None = Field(None, description="systolic rows x cols PEs")
    macs_per_pe: dict[str, Positive] = Field(
        default_factory=dict, description="systolic: MACs per PE per cycle, per dtype"
    )
    macs_per_cycle: dict[str, Positive] = Field(
        default_factory=dict, description="mma: MACs per engine per cycle, per dtype"
    )
    clock_Hz: Hertz | None = Field(None, alias="clock", description="overrides the chip clock")

    @field_validator("macs_per_pe", "macs_per_cycle")
    @classmethod
    def _known_dtypes(cls, rates: dict[str, float]) -> dict[str, float]:
        return _check_rates(rates)

    @model_validator(mode="after")
    def _shape_matches_kind(self) -> MatrixEngine:
        if self.kind == "systolic" and (self.shape is None or not self.macs_per_pe):
            raise ValueError("a systolic engine needs `shape` and `macs_per_pe`")
        if self.kind == "mma" and not self.macs_per_cycle:
            raise ValueError("an mma engine needs `macs_per_cycle`")
        if self.kind == "mma" and (self.shape or self.macs_per_pe):
            raise ValueError("an mma engine takes `macs_per_cycle`, not `shape`/`macs_per_pe`")
        return self

    def macs(self, rate_class: str) -> float:
        """MACs per cycle of one engine for a dtype's rate class (0 where unsupported)."""
        if self.kind == "systolic":
            assert self.shape is not None
            return self.shape[0] * self.shape[1] * self.macs_per_pe.get(rate_class, 0.0)
        return self.macs_per_cycle.get(rate_class, 0.0)


class VectorEngine(Spec):
    """SIMD / SIMT lanes for element-wise work, norms, softmax; optional special functions."""

    count: Count = Field(1, description="engines per core")
    lanes: Count
    flops_per_lane: dict[str, Positive] = Field(
        description="FLOP per lane per cycle, per dtype (an FMA is 2)"
    )
    special_per_cycle: Positive | None = Field(
        None, description="transcendental results (exp, rsqrt) per engine per cycle"
    )
    clock_Hz: Hertz | None = Field(None, alias="clock", description="overrides the chip clock")

    @field_validator("flops_per_lane")
    @classmethod
    def _known_dtypes(cls, rates: dict[str, float]) -> dict[str, float]:
        return _check_rates(rates)


class Core(Spec):
    """The repeated compute unit (SM, CU, Tensix, NeuronCore, TensorCore) and its engines."""

    count: Count
    name: str = "core"
    matrix: tuple[MatrixEngine, ...] = ()
    vector: tuple[VectorEngine, ...] = ()
    multicast: Count | None = Field(
        None,
        description="cores one read from the chip-wide cache is delivered to at once (a "
        "cluster sharing an operand tile, e.g. Hopper's TMA multicast); none: 1",
    )
    dependent_launch: bool = Field(
        False,
        description="a kernel may launch, and its first cores start, while the kernel before "
        "it in the stream finishes (NVIDIA's programmatic dependent launch)",
    )


MemoryKind = Literal[
    "registers", "scratchpad", "shared", "cache", "sram", "hbm", "lpddr", "gddr", "ddr"
]
OFF_CHIP: frozenset[str] = frozenset({"hbm", "lpddr", "gddr", "ddr"})


class MemoryLevel(Spec):
    """One level of the hierarchy. `scope: core` levels exist once per core, sizes per core."""

    name: str
    kind: MemoryKind
    scope: Literal["core", "chip"]
    capacity_B: Bytes = Field(alias="capacity")
    bandwidth_Bps: BytesPerS | None = Field(
        None, alias="bandwidth", description="per instance (per core if scope core)"
    )
    latency_s: Seconds | None = Field(None, alias="latency")
    energy_J_per_B: JoulesPerByte | None = Field(None, alias="energy_per_byte")
    technology: str | None = None
    physical_capacity_B: Bytes | None = Field(
        None, alias="physical_capacity", description="built on the silicon, spares included"
    )
    interfaces: Count | None = Field(
        None, description="off-chip: HBM stacks or DRAM channels the silicon can drive"
    )

    @model_validator(mode="after")
    def _physical_holds_enabled(self) -> MemoryLevel:
        if self.physical_capacity_B is not None and self.physical_capacity_B < self.capacity_B:
            raise ValueError("physical_capacity must be at least the enabled capacity")
        return self

    @property
    def off_chip(self) -> bool:
        return self.kind in OFF_CHIP


class ScaleUp(Spec):
    """Chip-to-chip links inside a scale-up domain (NVLink, xGMI, ICI, Ethernet)."""

    name: str
    links: Count | None = None
    bandwidth_Bps: BytesPerS = Field(alias="bandwidth", description="all links, per direction")
    latency_s: Seconds | None = Field(None, alias="latency")
    max_domain: Count | None = Field(None, description="largest scale-up domain sold")
    in_network_reduction: bool = Field(
        False,
        description="the switch adds and multicasts (NVLink SHARP): an all-reduce sends each "
        "byte once",
    )

    @property
    def link_bandwidth_Bps(self) -> float | None:
        return self.bandwidth_Bps / self.links if self.links else None


class ScaleOut(Spec):
    """Network to other scale-up domains: NICs per chip."""

    name: str
    bandwidth_Bps: BytesPerS = Field(alias="bandwidth", description="per chip, per direction")
    latency_s: Seconds | None = Field(None, alias="latency")


class Process(Spec):
    node: str = Field(description="foundry node as sold, e.g. 'TSMC N3'")
    dies: Count = 1
    die_area_mm2: Mm2 | None = Field(None, alias="die_area", description="all compute dies")
    transistors: Positive | None = None
    cores: Count | None = Field(
        None, description="cores on the silicon, spares for yield harvesting included"
    )


class Price(Spec):
    """What a buyer pays: street price per chip as sold, and a cloud rental rate."""

    purchase_usd: Positive | None = Field(None, alias="purchase")
    cloud_usd_per_hour: Positive | None = Field(None, alias="cloud_per_hour")


class Chip(Spec):
    """An accelerator package as sold (a B200 is two dies in one package)."""

    name: str
    vendor: str
    family: str | None = Field(
        None, description="architecture family; calibration parameters are kept per family"
    )
    kind: Literal["catalog", "proposal", "user"] = "user"
    full_name: str | None = None
    aliases: tuple[str, ...] = ()
    year: int | None = None
    clock_Hz: Hertz = Field(alias="clock", description="clock of the spec peaks")
    cores: Core
    memory: tuple[MemoryLevel, ...] = Field(description="nearest the engines first")
    noc_bandwidth_Bps: BytesPerS | None = Field(None, alias="noc_bandwidth")
    scaleup: ScaleUp | None = None
    scaleout: ScaleOut | None = None
    process: Process | None = None
    tdp_W: Watts | None = Field(None, alias="tdp")
    price: Price | None = None
    datasheet_flops: dict[str, Positive] = Field(
        default_factory=dict,
        alias="datasheet_peak",
        description="vendor-quoted dense peaks, FLOP/s per dtype: a check on the derivation",
    )
    notes: str | None = None
    provenance: dict[str, Provenance] = Field(default_factory=dict)

    @field_validator("datasheet_flops", mode="before")
    @classmethod
    def _parse_flops(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: units.parse(x, "FLOP/s") for k, x in _check_rates(value).items()}
        return value

    @model_validator(mode="after")
    def _hierarchy_is_ordered(self) -> Chip:
        if not self.memory:
            raise ValueError("memory: at least one level is needed")
        seen_chip, seen_off = False, False
        for level in self.memory:
            if level.scope == "core" and seen_chip:
                raise ValueError(f"memory: core level {level.name!r} after a chip-wide level")
            if not level.off_chip and seen_off:
                raise ValueError(f"memory: on-chip level {level.name!r} after off-chip memory")
            if level.off_chip and level.scope != "chip":
                raise ValueError(f"memory: off-chip level {level.name!r} must have scope chip")
            seen_chip |= level.scope == "chip"
            seen_off |= level.off_chip
        if (
            self.process
            and self.process.cores is not None
            and self.process.cores < self.cores.count
        ):
            raise ValueError("process.cores: fewer cores on the silicon than enabled")
        names = [level.name for level in self.memory]
        if len(set(names)) != len(names):
            raise ValueError("memory: level names must be unique")
        return self

    def peak_flops(self, dtype: DType | str) -> float:
        """Dense peak FLOP/s on the matrix engines for a dtype (0 where unsupported)."""
        key = dtype.rate_class if isinstance(dtype, DType) else dtype
        return sum(
            self.cores.count * e.count * e.macs(key) * 2 * (e.clock_Hz or self.clock_Hz)
            for e in self.cores.matrix
        )

    def vector_flops(self, dtype: DType | str) -> float:
        key = dtype.rate_class if isinstance(dtype, DType) else dtype
        return sum(
            self.cores.count
            * e.count
            * e.lanes
            * e.flops_per_lane.get(key, 0.0)
            * (e.clock_Hz or self.clock_Hz)
            for e in self.cores.vector
        )

    @property
    def peak_flops_by_dtype(self) -> dict[str, float]:
        return {k: v for k in RATE_CLASSES if (v := self.peak_flops(k)) > 0}

    @property
    def main_memory(self) -> MemoryLevel:
        """The outermost level: where weights and KV cache live."""
        return self.memory[-1]

    def sources(self) -> list[str]:
        """Every source key or citation behind this chip's figures, in first-seen order."""
        out: list[str] = []
        for prov in self.provenance.values():
            src = prov.source
            for key in [src] if isinstance(src, str) else (src or []):
                if key not in out:
                    out.append(key)
        return out
