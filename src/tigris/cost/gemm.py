"""Cost of a GEMM from its plan: engine cycles, waves, and bytes at each level."""

from __future__ import annotations

import math

import numpy as np

from tigris.cost import energy
from tigris.cost.model import Cost, combine
from tigris.cost.params import CACHE_EFFICIENCY, Calibration
from tigris.mapping.gemm import (
    Floors,
    GemmPlan,
    GemmShape,
    rate_class,
    reads_busiest,
    search,
    shared_reads,
)
from tigris.mapping.resources import Resources
from tigris.workload.ops import Gemm


def launches(p: GemmPlan) -> int:
    """Kernels a plan runs: split-k adds one that reduces the partial sums."""
    return 2 if p.mapping.split_k > 1 else 1


def serial_s(p: GemmPlan, res: Resources, cal: Calibration) -> float:
    """What a block-scaled kernel does not hide. It promotes the engines' partial sums after
    every k-step, so it holds one tile per core (the accumulators twice over) and waits for
    the engines to drain before each promotion; each wave's cores load their first k-step
    together before any engine starts; a tile's output leaves after its main loop.
    (TensorRT-LLM's Hopper kernel, `cooperative_1x128_by_128x128_fp8_gemm_kernel`: one block
    per SM, `warpgroup_wait<0>` before each promotion, the store after the loop.)"""
    first_B = p.cores_used * p.unit_read_B / max(p.unit_steps, 1)
    main_bw = res.main.bandwidth_Bps * cal.memory_efficiency
    bw = res.cache.bandwidth_Bps * CACHE_EFFICIENCY if res.cache is not None else main_bw
    per_wave = p.unit_steps * cal.step_latency_s + first_B / bw
    return p.waves * per_wave + p.dram_write_B / main_bw


def plan_time(
    p: GemmPlan, res: Resources, cal: Calibration, promotion: float = 0.0, serial: bool = False
) -> float:
    """`plan_cost(...).time_s`, without building the Cost (the mapping search's objective);
    `promotion` is the op's `promotion_s`, `serial` whether it is block-scaled."""
    cores = res.cores
    compute_s = p.engine_cycles / cores / (res.clock_Hz * cal.matrix_efficiency) + promotion
    dram_B = p.dram_read_B + p.dram_write_B
    if serial:
        parts = [compute_s + serial_s(p, res, cal)]
    else:
        parts = [compute_s, p.waves * p.unit_steps * cal.step_latency_s]
    cache = res.cache
    if cache is not None:
        bw = cache.bandwidth_Bps * CACHE_EFFICIENCY
        cache_B = p.cache_read_B + p.dram_write_B + p.partial_B
        busiest = p.cache_read_busiest_B + p.partial_B / max(p.cores_used, 1)
        parts.append(max(cache_B / bw, busiest / res.port_Bps))
    else:
        dram_B += p.partial_B
    parts.append(dram_B / (res.main.bandwidth_Bps * cal.memory_efficiency))
    if res.stage_Bps:
        parts.append(p.cache_read_busiest_B * 2 / res.stage_Bps)
    parts.sort(reverse=True)
    return launches(p) * cal.kernel_overhead_s + parts[0] + (1.0 - cal.overlap) * parts[1]


def search_bound(shape: GemmShape, res: Resources, cal: Calibration, promotion: float = 0.0):
    """`plan_time`'s lower bound for each placement, from the `Floors` of its counts: main
    memory also supplies each operand at least once and takes the output once, whatever
    the placement."""
    out_B = shape.m * shape.n * shape.out_B
    unique_B = shape.m * shape.k * shape.a_B + shape.groups * shape.k * shape.n * shape.b_B + out_B
    main_bw = res.main.bandwidth_Bps * cal.memory_efficiency
    per_cycle = 1.0 / (res.cores * res.clock_Hz * cal.matrix_efficiency)
    cache = res.cache

    def lower(f: Floors) -> np.ndarray:
        parts = [f.engine_cycles * per_cycle + promotion, f.k_steps * cal.step_latency_s]
        if cache is not None:
            via = (f.cache_read_B + out_B + f.partial_B) / (cache.bandwidth_Bps * CACHE_EFFICIENCY)
            parts.append(np.maximum(via, f.cache_read_busiest_B / res.port_Bps))
            parts.append(np.full_like(via, unique_B / main_bw))
        else:
            parts.append((np.maximum(unique_B, f.cache_read_B + out_B) + f.partial_B) / main_bw)
        if res.stage_Bps:
            parts.append(f.cache_read_busiest_B * 2 / res.stage_Bps)
        ranked = np.sort(np.stack(parts), axis=0)
        launches = np.where(f.split_k > 1, 2, 1)
        return launches * cal.kernel_overhead_s + ranked[-1] + (1.0 - cal.overlap) * ranked[-2]

    return lower


def waves_floor(
    p: GemmPlan,
    waves: int,
    best_s: float,
    shape: GemmShape,
    res: Resources,
    cal: Calibration,
    promotion: float = 0.0,
    serial: bool = False,
) -> tuple[float, float]:
    """Lower bounds of `plan_time` (`serial`: block-scaled) for p's work units spread over
    fewer cores: in exactly `waves` waves, and in `waves` or more. Each wave costs one unit's
    engine cycles and k-step latency (a block-scaled unit's serial waits add to them); the
    busiest core's reads follow from the waves alone (`reads_busiest`), and all cores' reads
    per unit fall as the waves grow, no lower than the longest run of units that keep a
    panel allows (placements slower than `best_s` on their waves alone do not count); main
    memory supplies no less, or p's own raster if that is less."""
    per_wave = (
        p.engine_cycles / res.cores / p.waves / (res.clock_Hz * cal.matrix_efficiency),
        p.unit_steps * cal.step_latency_s,
    )
    compute, latency = waves * per_wave[0] + promotion, waves * per_wave[1]
    cache, dram_bw = res.cache, res.main.bandwidth_Bps * cal.memory_efficiency
    if serial:  # `serial_s` adds to the engines' time; every unit's first k-step loads once
        bw = cache.bandwidth_Bps * CACHE_EFFICIENCY if cache is not None else dram_bw
        first_B = p.tiles * p.unit_read_B / max(p.unit_steps, 1)
        compute, latency = compute + latency + first_B / bw + p.dram_write_B / dram_bw, 0.0
    busiest = reads_busiest(waves, p.unit_read_B, p.keeps)
    # no placement of more waves than `most` can reach `best_s` on its waves' time alone
    spare = best_s - cal.kernel_overhead_s
    most = max(waves, spare / max(per_wave)) if max(per_wave) > 0 else math.inf
    saved = max((k * (1 - 1 / min(r, most)) for k, r in p.keeps), default=0.0)
    stage = busiest * 2 / res.stage_Bps if res.stage_Bps else 0.0
    out = []
    for reads in (p.tiles * busiest / waves, p.tiles * (p.unit_read_B - saved)):
        reads = shared_reads(reads, p.tiles * p.multicast_B, shape)
        dram_B = min(p.dram_read_B, reads) + p.dram_write_B
        if cache is not None:
            cache_B = reads + p.dram_write_B + p.partial_B
            via = max(cache_B / (cache.bandwidth_Bps * CACHE_EFFICIENCY), busiest / res.port_Bps)
        else:
            dram_B, via = dram_B + p.partial_B, 0.0
        first = second = 0.0
        for x in (compute, latency, stage, via, dram_B / dram_bw):
            if x > first:
                first, second = x, first
            elif x > second:
                second = x
        out.append(launches(p) * cal.kernel_overhead_s + first + (1.0 - cal.overlap) * second)
    return out[0], out[1]


def promotion_s(op: Gemm, res: Resources, cal: Calibration) -> float:
    """Block-scaled formats (fp8 with a scale per 128 of k): every `scale_block_k` of k the
    engines' partial sums are scaled and added into fp32 accumulators on the vector units,
    one multiply-add per output element, in the main loop between the matrix steps."""
    if not op.scale_block_k:
        return 0.0
    fmas = op.m * op.n * math.ceil(op.k / op.scale_block_k)
    rate = res.vector_flops("fp32") * cal.vector_efficiency
    return 2.0 * fmas / rate if rate > 0 else 0.0


def plan_cost(op: Gemm, p: GemmPlan, res: Resources, cal: Calibration, rc: str) -> Cost:
    cores = res.cores
    compute_s = p.engine_cycles / cores / (res.clock_Hz * cal.matrix_efficiency)
    compute_s += promotion_s(op, res, cal)
    serial = bool(op.scale_block_k)
    if serial:
        compute_s += serial_s(p, res, cal)
    main, cache = res.main, res.cache
    memory_s: dict[str, float] = {}
    moved: dict[str, float] = {}
    dram_B = p.dram_read_B + p.dram_write_B
    if cache is not None:
        cache_B = p.cache_read_B + p.dram_write_B + p.partial_B
        memory_s[cache.name] = max(
            cache_B / (cache.bandwidth_Bps * CACHE_EFFICIENCY),
            (p.cache_read_busiest_B + p.partial_B / max(p.cores_used, 1)) / res.port_Bps,
        )
        moved[cache.name] = cache_B
    else:
        dram_B += p.partial_B
    memory_s[main.name] = dram_B / (main.bandwidth_Bps * cal.memory_efficiency)
    moved[main.name] = dram_B
    if res.stage_Bps:  # operands into the engines from the core's staging memory
        stage_B = p.cache_read_busiest_B * 2
        memory_s["core"] = stage_B / res.stage_Bps
    overhead = launches(p) * cal.kernel_overhead_s
    latency = p.waves * p.unit_steps * cal.step_latency_s
    time_s = overhead + combine(compute_s, memory_s, cal.overlap, 0.0 if serial else latency)
    peak = res.matrix_flops(rc)
    unique = op.a_bytes + op.b_bytes + op.out_bytes
    floor = max(op.flops / peak, unique / main.bandwidth_Bps)
    accum_B = 0.0 if res.systolic else op.flops / 2 * energy.MMA_ACCUM_B_PER_MAC
    parts = energy.parts(op.flops, rc, moved, [cache, main], accum_B)
    return Cost(
        time_s=time_s,
        compute_s=compute_s,
        memory_s=memory_s,
        bytes=moved,
        overhead_s=overhead,
        flops=op.flops,
        peak_flops=peak,
        energy=parts,
        floor_s=floor,
        latency_s=latency,
    )


def gemm_cost(op: Gemm, res: Resources, cal: Calibration, exhaustive: bool = False) -> Cost:
    """The best mapping's cost for one run of `op` (its `count` is the caller's)."""
    rc = rate_class(op, res)
    if op.m == 0 or op.n == 0 or op.k == 0:
        return Cost(0.0, 0.0, {}, {}, 0.0, 0.0, res.matrix_flops(rc))
    promotion = promotion_s(op, res, cal)
    shape = GemmShape.of(op)
    best = search(
        op,
        res,
        lambda p: plan_time(p, res, cal, promotion, bool(op.scale_block_k)),
        exhaustive,
        lambda p, w, b: waves_floor(p, w, b, shape, res, cal, promotion, bool(op.scale_block_k)),
        search_bound(shape, res, cal, promotion),
    )
    cost = plan_cost(op, best, res, cal, rc)
    m = best.mapping
    split = "stream-K" if m.stream_k else f"split-k {m.split_k}"
    waves = f"{best.waves} k-steps" if m.stream_k else f"{best.waves} waves"
    note = f"tile {m.tile_m}x{m.tile_n}x{m.tile_k}, {split}, {waves}, {m.dataflow}-stationary"
    return Cost(**{**_fields(cost), "notes": (note,)})


def _fields(c: Cost) -> dict:
    return {f: getattr(c, f) for f in c.__dataclass_fields__}


__all__ = ["GemmShape", "gemm_cost", "plan_cost"]
