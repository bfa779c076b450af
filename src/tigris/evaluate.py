"""The pipeline in a few lines: chip + model + step -> cost; chips x scenario -> comparison."""

from __future__ import annotations

from dataclasses import dataclass

from tigris.cost.step import Parallel, StepCost, step_cost
from tigris.errors import SpecError
from tigris.serve import Deployment
from tigris.serve import run as run_serving
from tigris.serve.trace import ClosedLoop, Lengths
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
    The serving columns come from the simulator (`serve/`): `batch` closed-loop clients, all
    starting at once, `rounds` requests each, chunked prefill, the interactive SLO.
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

    @property
    def fits(self) -> bool:
        return self.memory_used_B <= self.memory_capacity_B


def compare_one(c: Chip, sc: Scenario) -> Comparison:
    llm = find_model(sc.model)
    n = sc.tp * sc.pp * (sc.ep if sc.tp == 1 else 1)
    system = single(c, n)
    par = Parallel(sc.tp, sc.pp, sc.ep)
    first = step_cost(system, llm, Prefill(1, sc.isl), par)
    batch_prefill = step_cost(system, llm, Prefill(sc.batch, sc.isl), par)
    decode = step_cost(system, llm, Decode.uniform(sc.batch, sc.isl + sc.osl // 2), par)
    end = step_cost(system, llm, Decode.uniform(sc.batch, sc.isl + sc.osl), par)
    total_s = batch_prefill.time_s + sc.osl * decode.time_s
    mem = end.memory
    used = (
        mem.weights_B + mem.kv_cache_B + max(mem.activations_B, batch_prefill.memory.activations_B)
    )
    serving = None
    if used <= mem.capacity_B:
        dep = Deployment(system, llm, par, max_seqs=max(sc.batch, 1))
        loop = ClosedLoop(
            sc.batch, sc.rounds * sc.batch, Lengths("fixed", sc.isl), Lengths("fixed", sc.osl)
        )
        serving = run_serving(dep, loop)
    return Comparison(
        serving=serving,
        chip=c.name,
        chips=n,
        ttft_s=first.time_s,
        tpot_s=decode.time_s,
        tokens_per_s_per_chip=sc.batch * sc.osl / total_s / n,
        memory_used_B=used,
        memory_capacity_B=mem.capacity_B,
        decode=decode,
        prefill=first,
    )


def compare(chips: list[str], sc: Scenario) -> list[Comparison]:
    out = []
    for name in chips:
        c = find_chip(name)
        row = compare_one(c, sc)
        if not row.fits:
            raise SpecError(
                "--chips",
                name,
                f"{row.memory_used_B / 1e9:.0f} GB",
                f"{sc.model} with batch {sc.batch} at {sc.isl}+{sc.osl} tokens needs "
                f"{row.memory_used_B / 1e9:.1f} GB per chip, more than its "
                f"{row.memory_capacity_B / 1e9:.0f} GB; raise --tp or --pp, or lower --batch",
            )
        out.append(row)
    return out
