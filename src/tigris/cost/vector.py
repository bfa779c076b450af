"""Element-wise and row-wise work (norms, activations, rotary, top-k) on the vector engines."""

from __future__ import annotations

from tigris.cost import energy
from tigris.cost.model import Cost, combine
from tigris.cost.params import CACHE_EFFICIENCY, Calibration
from tigris.mapping.resources import Resources
from tigris.workload.ops import Vector


def vector_cost(op: Vector, res: Resources, cal: Calibration, fused: bool = False) -> Cost:
    """One run of a vector op. Activations no bigger than half the cache can be read from and
    written to the cache (their producer just wrote them there), where that is faster than
    main memory; weights come from main memory. A `fused` op runs in its producer's epilogue:
    no launch, no activation traffic."""
    act_in = op.read_bytes - op.weight_bytes
    main, cache = res.main, res.cache
    flops_s = op.flops / (res.vector_flops("fp32") * cal.vector_efficiency)
    special_s = op.elements * op.special_per_element / (res.special_per_s() * cal.vector_efficiency)
    compute_s = flops_s + special_s
    act_B = 0.0 if fused else act_in + op.write_bytes
    overhead = 0.0 if fused else cal.kernel_overhead_s
    main_bw = main.bandwidth_Bps * cal.memory_efficiency
    options = [
        ({main.name: op.weight_bytes + act_B}, {main.name: (op.weight_bytes + act_B) / main_bw})
    ]
    if cache is not None and act_B <= cache.capacity_B / 2:
        via = act_B / (cache.bandwidth_Bps * CACHE_EFFICIENCY)
        options.append(
            (
                {cache.name: act_B, main.name: op.weight_bytes},
                {cache.name: via, main.name: op.weight_bytes / main_bw},
            )
        )
    moved, memory_s = min(options, key=lambda o: combine(compute_s, o[1], cal.overlap))
    time_s = overhead + combine(compute_s, memory_s, cal.overlap)
    floor = max(
        op.flops / res.vector_flops("fp32"),
        *(moved.get(lv.name, 0.0) / lv.bandwidth_Bps for lv in (cache, main) if lv),
    )
    parts = energy.parts(op.flops, "fp32", moved, [cache, main])
    return Cost(
        time_s=time_s,
        compute_s=compute_s,
        memory_s=memory_s,
        bytes=moved,
        overhead_s=overhead,
        flops=op.flops,
        peak_flops=res.vector_flops("fp32"),
        energy=parts,
        floor_s=floor,
        notes=("fused into its producer",) if fused else (),
    )
