"""`Cost`: what an op takes on a chip, and why.

Every latency in tigris is a `Cost` made here. Time combines compute and the transfer at each
memory level: the longer one binds, the calibrated `overlap` share of the shorter one is
hidden under it, and a fixed per-kernel overhead is added. Energy is the sum of its parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Cost:
    time_s: float
    compute_s: float  # engines busy, at the sustained rate
    memory_s: dict[str, float]  # per memory level (and "link" for collectives)
    bytes: dict[str, float]  # per memory level: bytes moved to / from it
    overhead_s: float
    flops: float
    peak_flops: float  # of the engines this op runs on (for utilisation)
    energy: dict[str, float] = field(default_factory=dict)  # J per part: compute, level, ...
    floor_s: float = 0.0  # physics floor: peak compute, unique bytes at their level's bandwidth
    latency_s: float = 0.0  # waves of work units, each at least the unit latency
    notes: tuple[str, ...] = ()

    @property
    def energy_J(self) -> float:
        return sum(self.energy.values())

    @property
    def bound(self) -> str:
        """What limits the op: 'compute', a memory level's name, 'link' or 'overhead'."""
        parts = {"compute": self.compute_s, **self.memory_s, "latency": self.latency_s}
        name, longest = max(parts.items(), key=lambda kv: kv[1])
        return "overhead" if self.overhead_s > longest else name

    @property
    def utilisation(self) -> float:
        """Achieved FLOP/s over peak."""
        if self.time_s <= 0 or self.peak_flops <= 0:
            return 0.0
        return self.flops / self.time_s / self.peak_flops

    def scaled(self, times: float) -> Cost:
        """This op run `times` times in a row."""
        return Cost(
            time_s=self.time_s * times,
            compute_s=self.compute_s * times,
            memory_s={k: v * times for k, v in self.memory_s.items()},
            bytes={k: v * times for k, v in self.bytes.items()},
            overhead_s=self.overhead_s * times,
            flops=self.flops * times,
            peak_flops=self.peak_flops,
            energy={k: v * times for k, v in self.energy.items()},
            floor_s=self.floor_s * times,
            latency_s=self.latency_s * times,
            notes=self.notes,
        )


def combine(
    compute_s: float, memory_s: dict[str, float], overlap: float, latency_s: float = 0.0
) -> float:
    """Busy time: the longest of compute, each level's transfer and the units' latency, plus
    the part of the next longest that is not hidden (an `overlap` share of it is)."""
    parts = sorted([compute_s, *memory_s.values(), latency_s], reverse=True)
    if len(parts) == 1:
        return parts[0]
    return parts[0] + (1.0 - overlap) * parts[1]


def total(costs: list[Cost]) -> Cost:
    """Ops run one after another."""
    keys_m = {k for c in costs for k in c.memory_s}
    keys_b = {k for c in costs for k in c.bytes}
    keys_e = {k for c in costs for k in c.energy}
    time_s = sum(c.time_s for c in costs)
    return Cost(
        time_s=time_s,
        compute_s=sum(c.compute_s for c in costs),
        memory_s={k: sum(c.memory_s.get(k, 0.0) for c in costs) for k in sorted(keys_m)},
        bytes={k: sum(c.bytes.get(k, 0.0) for c in costs) for k in sorted(keys_b)},
        overhead_s=sum(c.overhead_s for c in costs),
        flops=sum(c.flops for c in costs),
        peak_flops=max((c.peak_flops for c in costs), default=0.0),
        energy={k: sum(c.energy.get(k, 0.0) for c in costs) for k in sorted(keys_e)},
        floor_s=sum(c.floor_s for c in costs),
        latency_s=sum(c.latency_s for c in costs),
    )
