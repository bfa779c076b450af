"""The single oracle: (op, chip) -> Cost. Everything that needs a latency asks here.

`evaluate` picks the op's model (GEMM via the mapping search, fused attention, vector work,
collectives over a system's links), with the chip family's calibration unless one is given,
and memoises by (op, chip spec, calibration): identical ops on identical chips are costed once.
"""

from __future__ import annotations

from functools import lru_cache

from tigris.cost.attention import attention_cost
from tigris.cost.collective import collective_cost
from tigris.cost.gemm import gemm_cost
from tigris.cost.model import Cost
from tigris.cost.params import Calibration, for_chip
from tigris.cost.vector import vector_cost
from tigris.mapping.resources import Resources, resources
from tigris.spec.chip import Chip
from tigris.spec.system import System, single
from tigris.workload.ops import Attention, Collective, Gemm, Op, Vector

_CAL: dict[str, Calibration] = {}


@lru_cache(maxsize=200_000)
def _cost(op: Op, res: Resources, cal: Calibration, fused: bool) -> Cost:
    if isinstance(op, Gemm):
        return gemm_cost(op, res, cal)
    if isinstance(op, Attention):
        return attention_cost(op, res, cal)
    if isinstance(op, Vector):
        return vector_cost(op, res, cal, fused)
    raise TypeError(f"not a single-chip op: {op!r}")


def calibration(chip: Chip) -> Calibration:
    return for_chip(chip)[0]


def evaluate(
    op: Op,
    target: Chip | System,
    cal: Calibration | None = None,
    fused: bool = False,
) -> Cost:
    """Cost of one run of `op` (multiply by `op.count` for all of them) on a chip, or on a
    system for collectives."""
    system = target if isinstance(target, System) else None
    chip = target.chip if isinstance(target, System) else target
    cal = cal if cal is not None else calibration(chip)
    if isinstance(op, Collective):
        return collective_cost(op, system or single(chip, max(op.group, 1)), cal)
    return _cost(op, resources(chip), cal, fused)


def clear() -> None:
    """Forget memoised costs (for benchmarks that time a cold start)."""
    _cost.cache_clear()
