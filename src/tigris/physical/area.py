"""Die area from a chip's parts at its process node.

The method is LLMCompass's (Zhang et al., ISCA 2024, `cost_model/cost_model.py`): logic as
transistor counts over the node's logic density, SRAM as bits over an effective bit area
divided by the CACTI array efficiency of its macro size, PHYs at fixed area (they do not
shrink), controllers as transistors. Parts of a core: matrix engines (MACs of the costliest
format), vector lanes with their control, registers and core-scope memories, plus a fitted
share for what the spec does not name (load/store, FP64, tags). Then the on-chip network,
chip-scope SRAM, memory PHYs and controllers, scale-up links, host I/O and an uncore share.
Figures and sources: `tech.yaml`. Counts are of what is on the silicon, spares included
(`process.cores`, `physical_capacity`, `interfaces`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tigris.physical.tech import Node, Tech
from tigris.spec.chip import Chip, MatrixEngine, MemoryLevel

# Bandwidth of one memory interface by technology, for specs that do not count them.
# Estimates: typical JEDEC pin rates x widths (HBM2 2.4, HBM2e 3.6, HBM3 6.4, HBM3e 9.6 Gb/s
# x 1,024 bits; HBM4 8 Gb/s x 2,048; 32-bit LPDDR5X-8533, GDDR6 20 Gb/s, DDR5-6400 channels).
INTERFACE_BPS = {
    "hbm4": 2.0e12,
    "hbm3e": 1.2e12,
    "hbm3": 0.82e12,
    "hbm2e": 0.46e12,
    "hbm2": 0.31e12,
    "hbm": 0.82e12,
    "lpddr": 34e9,
    "gddr": 80e9,
    "ddr": 26e9,
}


@dataclass(frozen=True, slots=True)
class Area:
    """Silicon of one package: parts in mm2 (all dies together) and how it is split."""

    parts: dict[str, float]
    dies: int
    reticle_mm2: float

    @property
    def total_mm2(self) -> float:
        return sum(self.parts.values())

    @property
    def die_mm2(self) -> float:
        return self.total_mm2 / self.dies

    @property
    def fits_reticle(self) -> bool:
        return self.die_mm2 <= self.reticle_mm2


SOFTWARE_MANAGED = frozenset({"scratchpad", "sram"})


def sram_mm2(level: MemoryLevel, node: Node, tech: Tech) -> float:
    """Area of one instance of an on-chip level, spares included. Caches, shared memory and
    register files: effective bit area over the array efficiency of their macro size (banks
    of at most `sram_macro_max_B`); software-managed SRAM: macro density x overhead."""
    capacity_B = level.physical_capacity_B or level.capacity_B
    if level.kind in SOFTWARE_MANAGED:
        return capacity_B / 2**20 * node.sram_macro_mm2_per_MiB * tech.scratchpad_overhead
    bit_mm2 = node.sram_bit_mm2
    ports = tech.register_port_factor if level.kind == "registers" else 1.0
    macro = min(capacity_B, tech.sram_macro_max_B)
    eff = tech.sram_efficiency
    index = min(max(math.ceil(math.log2(max(macro, 4096))) - 12, 0), len(eff) - 1)
    return ports * capacity_B * 8 * bit_mm2 / eff[index]


def _engine_transistors(e: MatrixEngine, tech: Tech) -> float:
    """One engine: sized by its costliest format (MACs per cycle x area per MAC)."""
    rates = e.macs_per_pe if e.kind == "systolic" else e.macs_per_cycle
    pes = e.shape[0] * e.shape[1] if e.kind == "systolic" and e.shape else 1
    base = tech.mac_width_bits["fp16"]
    costliest = max(
        pes * rate * (0.3 + 0.7 * (tech.mac_width_bits.get(fmt, base) / base) ** 2)
        for fmt, rate in rates.items()
    )
    return costliest * tech.fp16_mac_transistors * (1 + tech.format_overhead * (len(rates) - 1))


def interfaces(level: MemoryLevel) -> int:
    """Memory interfaces on the silicon: given, else the fewest that carry the bandwidth."""
    if level.interfaces is not None:
        return level.interfaces
    tech = (level.technology or level.kind).lower().replace(" ", "")
    per = next((bw for key, bw in INTERFACE_BPS.items() if tech.startswith(key)), None)
    per = per or INTERFACE_BPS[level.kind if level.kind in INTERFACE_BPS else "ddr"]
    return max(1, math.ceil((level.bandwidth_Bps or per) / per))


def area(chip: Chip, tech: Tech, chiplets: int | None = None) -> Area:
    """Predicted silicon of `chip`, split over `chiplets` dies (default: the spec's dies)."""
    _, node = tech.node(chip)
    mtr = node.logic_mtr_per_mm2 * 1e6  # transistors per mm2
    cores = chip.process.cores if chip.process and chip.process.cores else chip.cores.count
    lanes = sum(v.count * v.lanes for v in chip.cores.vector)
    matrix = sum(e.count * _engine_transistors(e, tech) for e in chip.cores.matrix) / mtr
    vector = lanes * tech.fp32_lane_transistors / mtr
    control = lanes * tech.lane_control_transistors / mtr
    core_sram = sum(sram_mm2(lv, node, tech) for lv in chip.memory if lv.scope == "core")
    logic = matrix + vector + control
    parts = {
        "matrix engines": cores * matrix,
        "vector engines": cores * vector,
        "core control": cores * control,
        "core memory": cores * core_sram,
        "core other": cores * tech.core_overhead * (logic + core_sram),
        "on-chip network": cores * tech.noc_transistors_per_core / mtr,
    }
    for lv in chip.memory:
        if lv.scope == "chip" and not lv.off_chip:
            parts[lv.name] = sram_mm2(lv, node, tech)
    main = chip.main_memory
    if main.off_chip:
        n = interfaces(main)
        hbm = main.kind == "hbm"
        parts["memory phy"] = n * (tech.hbm_phy_mm2 if hbm else tech.dram_phy_mm2)
        ctrl = tech.hbm_controller_transistors if hbm else tech.dram_controller_transistors
        parts["memory controllers"] = n * ctrl / mtr
    if chip.scaleup:
        gbps = chip.scaleup.bandwidth_Bps / 1e9
        parts["scale-up links"] = gbps * (
            tech.link_phy_mm2_per_GBps + tech.link_controller_transistors_per_GBps / mtr
        )
    parts["host I/O"] = tech.host_io_mm2
    dies = chiplets or (chip.process.dies if chip.process else 1)
    if dies > 1:
        parts["die-to-die"] = sum(parts.values()) * tech.chiplet_interface_fraction
    parts["uncore"] = sum(parts.values()) * tech.uncore_fraction / (1 - tech.uncore_fraction)
    return Area(parts, dies, tech.reticle_mm2)
