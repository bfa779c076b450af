"""Watts at a workload: the energy `cost/` reports for the work, over its time, plus static
(leakage) power of the silicon. Energy per op and per byte come from `cost/energy.py`
(sourced estimates); leakage density from `tech.yaml` (an estimate)."""

from __future__ import annotations

from dataclasses import dataclass

from tigris.physical.tech import Tech


@dataclass(frozen=True, slots=True)
class Power:
    dynamic_W: float
    static_W: float

    @property
    def total_W(self) -> float:
        return self.dynamic_W + self.static_W


def power(energy_J: float, time_s: float, silicon_mm2: float, tech: Tech) -> Power:
    """Mean power of a chip that spends `energy_J` of switching energy over `time_s`."""
    dynamic = energy_J / time_s if time_s > 0 else 0.0
    return Power(dynamic, silicon_mm2 * tech.leakage_W_per_mm2)


def tokens_per_J(tokens: float, energy_J: float, time_s: float, p: Power) -> float:
    """Tokens per joule of chip energy, static energy over the same time included."""
    total = energy_J + p.static_W * time_s
    return tokens / total if total > 0 else 0.0
