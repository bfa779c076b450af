"""The pipeline in a few lines: chip + model + step -> cost; chips x scenario -> comparison."""

from __future__ import annotations

from dataclasses import dataclass

from tigris import physical
from tigris.cost.step import Parallel, StepCost, step_cost
from tigris.errors import SpecError
from tigris.physical import Economics, economics
from tigris.physical.fleet import Fleet, fleet
from tigris.serve import SLO, SLOS, Deployment, run_steady, timer_for
from tigris.serve import run as run_serving
from tigris.serve.estimate import estimate
from tigris.serve.sweep import capacity, sweep
from tigris.serve.trace import ClosedLoop, Lengths, synthetic
from tigris.spec.catalog import chip as find_chip
from tigris.spec.chip import Chip
from tigris.spec.system import System, single
from tigris.workload.llm import LLM
from tigris.workload.models import model as find_model
from tigris.workload.step import Decode, Prefill, Step


def evaluate(
    system: System | Chip | str,
    model: LLM | str,
    step: Step,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
) -> StepCost:
    """One step of `model` on `system` (a System, a Chip, or a catalog name: tp x pp chips)."""
    llm = find_model(model) if isinstance(model, str) else model
    if not isinstance(system, System):
        c = find_chip(system) if isinstance(system, str) else system
        system = single(c, max(tp * pp * (ep if tp == 1 else 1), 1))
    return step_cost(system, llm, step, Parallel(tp, pp, ep))


@dataclass(frozen=True, slots=True)
class Scenario:
    """Serve `batch` requests of `isl` input and `osl` output tokens, statically batched.

    TTFT is the prefill of one request on an idle system; TPOT one decode step of the
    whole batch at the mean context (isl + osl / 2); tokens/s per chip counts the batch's
    output tokens over its prefill plus its osl decode steps, divided by the chips.
    The serving columns come from the simulator (`serve/`): `batch` closed-loop clients in
    their steady state (first requests spread over one round trip, `serve.run_steady`, not
    all at once), `rounds` requests each, chunked prefill, the interactive SLO.
    """

    model: str = "llama-3.1-70b"
    batch: int = 64
    isl: int = 2048
    osl: int = 256
    tp: int = 8
    pp: int = 1
    ep: int = 1
    rounds: int = 3


@dataclass(frozen=True, slots=True)
class Comparison:
    chip: str
    chips: int
    ttft_s: float
    tpot_s: float
    tokens_per_s_per_chip: float
    memory_used_B: float
    memory_capacity_B: float
    decode: StepCost
    prefill: StepCost
    serving: dict | None = None  # the simulator's report (None when the model does not fit)
    economics: Economics | None = None

    @property
    def fits(self) -> bool:
        return self.memory_used_B <= self.memory_capacity_B


def compare_one(c: Chip, sc: Scenario, tech: physical.Tech | None = None) -> Comparison:
    llm = find_model(sc.model)
    n = sc.tp * sc.pp * (sc.ep if sc.tp == 1 else 1)
    system = single(c, n)
    par = Parallel(sc.tp, sc.pp, sc.ep)
    est = estimate(system, llm, par, sc.batch, sc.isl, sc.osl)
    money = economics(
        c, est.energy_J, est.time_s, sc.batch * sc.osl / n, tech or physical.default()
    )
    used = est.memory_used_B
    serving = None
    if est.fits:
        dep = Deployment(system, llm, par, max_seqs=max(sc.batch, 1))
        lengths = Lengths("fixed", sc.isl), Lengths("fixed", sc.osl)
        serving, _ = run_steady(dep, ClosedLoop(sc.batch, sc.rounds * sc.batch, *lengths))
    return Comparison(
        serving=serving,
        chip=c.name,
        chips=n,
        ttft_s=est.first.time_s,
        tpot_s=est.decode.time_s,
        tokens_per_s_per_chip=est.tokens_per_s_per_chip,
        memory_used_B=used,
        memory_capacity_B=est.memory_capacity_B,
        decode=est.decode,
        prefill=est.first,
        economics=money,
    )


def fitting(row: Comparison, sc: Scenario) -> Comparison:
    """The row, or a one-line error where the model does not fit the chip's memory."""
    if not row.fits:
        raise SpecError(
            "--chips",
            row.chip,
            f"{row.memory_used_B / 1e9:.0f} GB",
            f"{sc.model} with batch {sc.batch} at {sc.isl}+{sc.osl} tokens needs "
            f"{row.memory_used_B / 1e9:.1f} GB per chip, more than its "
            f"{row.memory_capacity_B / 1e9:.0f} GB; raise --tp or --pp, or lower --batch",
        )
    return row


def compare(chips: list[str], sc: Scenario, tech: physical.Tech | None = None) -> list[Comparison]:
    return [fitting(compare_one(find_chip(name), sc, tech), sc) for name in chips]


@dataclass(frozen=True, slots=True)
class FleetPlan:
    chip: str
    tp: int
    requests_per_s: float  # per replica: the highest Poisson rate within the SLO
    tokens_per_s_per_chip: float
    economics: Economics
    fleet: Fleet


def rate_curve(
    c: Chip, llm: LLM, tp: int, isl: int, osl: int, target: SLO, requests: int = 400
) -> list[dict]:
    """Serve Poisson traffic of fixed-length requests on one tp-chip replica at rising rates:
    from 1/16 request/s, doubling until the SLO breaks, then four bisections (serve.sweep).
    Returns every run's simulator report, by rate."""
    dep = Deployment(single(c, tp), llm, Parallel(tp))
    timer = timer_for(dep, isl + osl)
    lengths = Lengths("fixed", isl), Lengths("fixed", osl)

    def one(rate: float) -> dict:
        reqs = synthetic("poisson", rate, None, requests, *lengths, seed=0)
        return run_serving(dep, reqs, target, timer=timer)

    return sweep(one, 1 / 16, doublings=16, bisections=4)


def best_rate(
    c: Chip, llm: LLM, tp: int, isl: int, osl: int, target: SLO, requests: int = 400
) -> tuple[float, float, dict]:
    """The highest Poisson request rate one tp-chip replica serves within the SLO (see
    `rate_curve`): the rate, output tokens/s per chip at it, and the simulator's report
    (0, 0, {} if none meets it)."""
    best = capacity(rate_curve(c, llm, tp, isl, osl, target, requests))
    if best is None:
        return 0.0, 0.0, {}
    return best["rate_per_s"], best["output_tokens_per_s_per_chip"], best


def fleet_plan(
    chips: list[str],
    model: str,
    tokens_per_day: float,
    target: SLO = SLOS["interactive"],
    tp: int = 8,
    isl: int = 2048,
    osl: int = 256,
    tech: physical.Tech | None = None,
) -> list[FleetPlan]:
    """For each chip: the fleet that serves `tokens_per_day` output tokens within the SLO."""
    tech = tech or physical.default()
    llm = find_model(model)
    plans = []
    for name in chips:
        c = find_chip(name)
        requests_per_s, rate, doc = best_rate(c, llm, tp, isl, osl, target)
        if rate <= 0:
            raise SpecError(
                "--chips",
                name,
                None,
                f"{model} at tp {tp} misses the {target.name} SLO "
                "even with one request at a time; raise --tp or relax --slo",
            )
        system, par = single(c, tp), Parallel(tp)
        batch = max(1, round(requests_per_s * doc["e2e_ms"]["p50"] / 1e3))  # Little's law
        pre = step_cost(system, llm, Prefill(batch, isl), par)
        dec = step_cost(system, llm, Decode.uniform(batch, isl + osl // 2), par)
        time_s = pre.time_s + osl * dec.time_s  # power over one batch's life ...
        energy_J = pre.total.energy_J + osl * dec.total.energy_J
        money = economics(c, energy_J, time_s, rate * time_s, tech)  # ... tokens at `rate`
        plans.append(
            FleetPlan(
                c.name,
                tp,
                requests_per_s,
                rate,
                money,
                fleet(tokens_per_day, rate, money.silicon.build, money.ownership, tech.tco),
            )
        )
    return plans
