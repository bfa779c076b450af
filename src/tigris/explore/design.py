"""A point of a design space made concrete: the base chip with its knobs turned.

`realise(space, base, values)` is pure: the same values give the same Chip. Scaling rules
(what a knob drags along with it) are stated where they are applied:
- the clock scales every on-chip bandwidth (they are so many bytes per cycle) and the NoC;
- per-core memory keeps its bandwidth per core; chip-wide SRAM keeps its bandwidth;
- off-chip memory is `stacks` x the chosen kind's per-stack capacity and bandwidth;
- scale-up bandwidth is `scaleup_links` x the base chip's bandwidth per link;
- every core on the die is enabled (no spares), and the design is a `proposal`, so it is
  costed at the area the model predicts for it.
"""

from __future__ import annotations

from typing import Any

from tigris.errors import SpecError
from tigris.explore.space import KNOBS, Scenario, Space
from tigris.spec.chip import Chip, MemoryLevel

MiB = 2**20


def values_of(space: Space, params: dict[str, Any]) -> dict[str, Any]:
    """The knobs of one design: sampled `params` over the space's `fixed` ones, typed."""
    out = {**space.fixed, **params}
    for name, value in out.items():
        kind = KNOBS[name][0]
        out[name] = kind(value) if kind is not int else round(value)
    return out


def scenarios(space: Space, values: dict[str, Any]) -> tuple[Scenario, ...]:
    """The workload with the workload knobs (batch, tp) applied to every scenario."""
    knobs = {k: values[k] for k in ("batch", "tp") if k in values}
    return tuple(s.model_copy(update=knobs) for s in space.workload) if knobs else space.workload


def realise(space: Space, base: Chip, values: dict[str, Any]) -> Chip:
    v = values
    clock = v.get("clock_GHz", base.clock_Hz / 1e9) * 1e9
    speed = clock / base.clock_Hz
    cores = base.cores
    if "cores" in v:
        cores = cores.model_copy(update={"count": v["cores"]})
    matrix = []
    for e in cores.matrix:
        update: dict[str, Any] = {}
        if "matrix_dim" in v:
            if e.kind != "systolic":
                raise SpecError(
                    space.name,
                    "params.matrix_dim",
                    v["matrix_dim"],
                    f"the base chip {base.name}'s matrix engines are not systolic arrays",
                )
            update["shape"] = (v["matrix_dim"], v["matrix_dim"])
        if "matrix_engines" in v:
            update["count"] = v["matrix_engines"]
        matrix.append(e.model_copy(update=update))
    vector = [
        e.model_copy(update={"lanes": v["vector_lanes"]}) if "vector_lanes" in v else e
        for e in cores.vector
    ]
    cores = cores.model_copy(update={"matrix": tuple(matrix), "vector": tuple(vector)})

    levels: list[MemoryLevel] = []
    core_mem_done = sram_done = False
    for level in base.memory:
        update = {}
        if level.bandwidth_Bps and not level.off_chip:
            update["bandwidth_Bps"] = level.bandwidth_Bps * speed
        if (
            "core_memory_MiB" in v
            and not core_mem_done
            and level.scope == "core"
            and level.kind in ("scratchpad", "shared")
        ):
            update["capacity_B"] = v["core_memory_MiB"] * MiB
            update["physical_capacity_B"] = None
            core_mem_done = True
        if "sram_MiB" in v and level.scope == "chip" and level.kind in ("sram", "cache"):
            sram_done = True
            if v["sram_MiB"] <= 0:
                continue
            update["capacity_B"] = v["sram_MiB"] * MiB
            update["physical_capacity_B"] = None
        if level.off_chip and ("memory" in v or "stacks" in v):
            update.update(_off_chip(space, level, v))
        levels.append(level.model_copy(update=update))
    if "core_memory_MiB" in v and not core_mem_done:
        raise SpecError(
            space.name,
            "params.core_memory_MiB",
            v["core_memory_MiB"],
            f"the base chip {base.name} has no per-core scratchpad or shared memory",
        )
    if "sram_MiB" in v and not sram_done:
        raise SpecError(
            space.name,
            "params.sram_MiB",
            v["sram_MiB"],
            f"the base chip {base.name} has no chip-wide SRAM or cache level",
        )

    scaleup = base.scaleup
    if scaleup is not None and "scaleup_links" in v:
        per_link = scaleup.link_bandwidth_Bps or scaleup.bandwidth_Bps
        scaleup = scaleup.model_copy(
            update={"links": v["scaleup_links"], "bandwidth_Bps": per_link * v["scaleup_links"]}
        )
    process = base.process
    if process is not None:
        update = {"cores": None, "die_area_mm2": None, "transistors": None}
        if "node" in v:
            update["node"] = v["node"]
        process = process.model_copy(update=update)
    return base.model_copy(
        update={
            "name": f"{space.name}-design",
            "kind": "proposal",
            "aliases": (),
            "clock_Hz": clock,
            "cores": cores,
            "memory": tuple(levels),
            "noc_bandwidth_Bps": base.noc_bandwidth_Bps and base.noc_bandwidth_Bps * speed,
            "scaleup": scaleup,
            "process": process,
            "tdp_W": None,
            "price": None,
            "datasheet_flops": {},
            "provenance": {},
        }
    )


def _off_chip(space: Space, level: MemoryLevel, v: dict[str, Any]) -> dict[str, Any]:
    stacks = v.get("stacks", level.interfaces)
    if stacks is None:
        raise SpecError(
            space.name,
            "params.memory",
            v.get("memory"),
            "give `stacks` too: the base chip does not count its memory interfaces",
        )
    if "memory" not in v:  # same kind, more or fewer stacks
        per_B = level.capacity_B / (level.interfaces or stacks)
        per_Bps = (level.bandwidth_Bps or 0.0) / (level.interfaces or stacks)
        return {
            "capacity_B": per_B * stacks,
            "bandwidth_Bps": per_Bps * stacks,
            "interfaces": stacks,
            "physical_capacity_B": None,
        }
    mem = space.memory(v["memory"])
    return {
        "kind": mem.kind,
        "technology": f"{mem.technology} ({stacks} stacks)",
        "capacity_B": mem.stack_capacity_B * stacks,
        "bandwidth_Bps": mem.stack_bandwidth_Bps * stacks,
        "energy_J_per_B": mem.energy_J_per_B or level.energy_J_per_B,
        "interfaces": stacks,
        "physical_capacity_B": None,
    }
