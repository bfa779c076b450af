"""One design, judged: area and unit cost (physical/), the workload's steps (serve.estimate,
which asks cost/), power, ownership and the constraints. A pure function of its inputs, so
it runs the same in this process, a process pool or a Ray worker.

A mix of scenarios is weighted by its share of tokens: time, energy and money per token add
up over the mix (so tokens/s, tokens/J and tokens/$ are weighted harmonic means); TTFT and
TPOT are the worst scenario's, since each must meet the SLO.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tigris import physical
from tigris.cost.step import Parallel
from tigris.errors import SpecError
from tigris.explore.design import realise, scenarios, values_of
from tigris.explore.space import Space
from tigris.physical.power import power
from tigris.serve.estimate import estimate
from tigris.serve.metrics import SLOS
from tigris.spec.chip import Chip
from tigris.spec.system import single
from tigris.workload.models import model as find_model

# the metrics a table of designs shows first
HEADLINE = (
    "tokens_per_usd",
    "usd_per_M_tokens",
    "tokens_per_s_per_chip",
    "tokens_per_J",
    "ttft_s",
    "tpot_s",
    "die_mm2",
    "unit_cost_usd",
    "peak_W",
)


@dataclass(frozen=True, slots=True)
class Metrics:
    tokens_per_s_per_chip: float
    tokens_per_usd: float  # output tokens per dollar of ownership
    usd_per_M_tokens: float
    tokens_per_J: float
    ttft_s: float  # loaded (serve.estimate); the worst scenario of a mix
    tpot_s: float
    die_mm2: float
    dies: int
    unit_cost_usd: float
    power_W: float  # mean over the workload
    peak_W: float  # the hungrier of prefill and decode: what the chip is provisioned for
    peak_flops_bf16: float
    memory_used_GB: float
    memory_GB: float
    memory_TBps: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def judge(space: Space, chip: Chip, tech: physical.Tech, knobs: dict[str, Any]) -> Metrics:
    """Metrics of `chip` on the space's workload (with the workload knobs in `knobs`)."""
    split = space.constraints.chiplets
    si = physical.silicon(chip, tech, split if split > 1 and chip.kind != "catalog" else None)
    silicon_mm2 = si.build.die_mm2 * si.build.dies
    s_per_token = J_per_token = usd_per_token = 0.0
    ttft = tpot = peak_W = used = 0.0
    weights = sum(s.weight for s in space.workload)
    for sc in scenarios(space, knobs):
        llm = find_model(sc.model)
        par = Parallel(sc.tp)
        est = estimate(single(chip, sc.tp), llm, par, sc.batch, sc.isl, sc.osl)
        tokens = sc.batch * sc.osl / sc.tp
        steps = (est.prefill, est.decode)
        peak = max(power(s.total.energy_J, s.time_s, silicon_mm2, tech).total_W for s in steps)
        money = physical.economics(chip, est.energy_J, est.time_s, tokens, tech, peak)
        share = sc.weight / weights
        s_per_token += share / est.tokens_per_s_per_chip
        J_per_token += share / money.tokens_per_J
        usd_per_token += share * money.usd_per_M_tokens / 1e6
        ttft, tpot = max(ttft, est.ttft_loaded_s), max(tpot, est.tpot_loaded_s)
        peak_W = max(peak_W, peak)
        used = max(used, est.memory_used_B / est.memory_capacity_B)
    main = chip.main_memory
    mean_W = J_per_token / s_per_token
    return Metrics(
        tokens_per_s_per_chip=1 / s_per_token,
        tokens_per_usd=1 / usd_per_token,
        usd_per_M_tokens=usd_per_token * 1e6,
        tokens_per_J=1 / J_per_token,
        ttft_s=ttft,
        tpot_s=tpot,
        die_mm2=si.build.die_mm2,
        dies=si.build.dies,
        unit_cost_usd=si.build.unit_cost_usd,
        power_W=mean_W,
        peak_W=peak_W,
        peak_flops_bf16=chip.peak_flops("bf16"),
        memory_used_GB=used * main.capacity_B / 1e9,
        memory_GB=main.capacity_B / 1e9,
        memory_TBps=(main.bandwidth_Bps or 0.0) / 1e12,
    )


def violations(space: Space, m: Metrics, tech: physical.Tech) -> dict[str, float]:
    """Each constraint as (value / limit - 1): at most 0 where it is met."""
    c = space.constraints
    out = {"memory": m.memory_used_GB / m.memory_GB - 1}
    die_max = tech.reticle_mm2 if c.max_die_mm2 == "reticle" else c.max_die_mm2
    if die_max is not None:
        out["die_mm2"] = m.die_mm2 / float(die_max) - 1
    if c.max_power_W is not None:
        out["power_W"] = m.peak_W / c.max_power_W - 1
    if c.max_unit_cost_usd is not None:
        out["unit_cost_usd"] = m.unit_cost_usd / c.max_unit_cost_usd - 1
    slo = SLOS[space.slo] if isinstance(space.slo, str) else space.slo
    if slo is not None:
        out["ttft_s"] = m.ttft_s / slo.ttft_s - 1
        out["tpot_s"] = m.tpot_s / slo.tpot_s - 1
    return out


@dataclass(frozen=True, slots=True)
class Scored:
    """One design's outcome: metrics and constraint violations, or why it could not be built."""

    params: dict[str, Any]
    metrics: dict[str, float] | None
    violations: dict[str, float] | None
    error: str | None = None

    @property
    def feasible(self) -> bool:
        return self.violations is not None and all(v <= 0 for v in self.violations.values())


def score(space: Space, base: Chip, tech: physical.Tech, params: dict[str, Any]) -> Scored:
    """Realise and judge one design; a design the model cannot build is reported, not raised."""
    knobs = values_of(space, params)
    try:
        chip = realise(space, base, knobs)
        m = judge(space, chip, tech, knobs)
    except SpecError as exc:
        return Scored(params, None, None, exc.message)
    return Scored(params, m.as_dict(), violations(space, m, tech))


def score_many(
    space: Space, base: Chip, tech: physical.Tech, batch: list[dict[str, Any]]
) -> list[Scored]:
    return [score(space, base, tech, p) for p in batch]
