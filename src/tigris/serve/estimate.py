"""Serving a batch in closed form, from three step costs: for sweeps too wide to simulate.

`batch` sequences of `isl` input and `osl` output tokens are served together on a tp x pp
replica. With the step costs of `cost/`:
- the batch's life is its prefill plus `osl` decode steps at the mean context (isl + osl/2);
  output tokens/s per chip are batch x osl over that life, over the chips;
- loaded TPOT spreads the prefill over the outputs: (prefill + osl x decode) / osl, as under
  chunked prefill, where each step carries its share of the new requests' prompts;
- loaded TTFT is one decode step (the one in flight when the request arrives) plus the
  prefill of the request alone;
- memory is the weights, the KV cache at the longest context and the larger activations.
The serving simulator (`serve.run`) gives the same figures under real traffic; this is what
a design search can afford per design.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.cost.step import Parallel, StepCost, memory, step_cost
from tigris.spec.system import System
from tigris.workload.llm import LLM
from tigris.workload.step import Decode, Prefill


@dataclass(frozen=True, slots=True)
class Estimate:
    batch: int
    osl: int
    chips: int
    first: StepCost  # the prefill of one request, on an idle replica
    prefill: StepCost  # the batch's prefill
    decode: StepCost  # one decode step of the batch at the mean context
    memory_used_B: float
    memory_capacity_B: float

    @property
    def fits(self) -> bool:
        return self.memory_used_B <= self.memory_capacity_B

    @property
    def time_s(self) -> float:
        """The batch's life: its prefill and its osl decode steps."""
        return self.prefill.time_s + self.osl * self.decode.time_s

    @property
    def energy_J(self) -> float:
        """One chip's energy over the batch's life."""
        return self.prefill.total.energy_J + self.osl * self.decode.total.energy_J

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.batch * self.osl / self.time_s / self.chips

    @property
    def ttft_loaded_s(self) -> float:
        return self.decode.time_s + self.first.time_s

    @property
    def tpot_loaded_s(self) -> float:
        return self.time_s / self.osl


def estimate(system: System, llm: LLM, par: Parallel, batch: int, isl: int, osl: int) -> Estimate:
    first = step_cost(system, llm, Prefill(1, isl), par)
    prefill = step_cost(system, llm, Prefill(batch, isl), par) if batch > 1 else first
    decode = step_cost(system, llm, Decode.uniform(batch, isl + osl // 2), par)
    end = memory(system, llm, Decode.uniform(batch, isl + osl), par)
    used = end.weights_B + end.kv_cache_B + max(end.activations_B, prefill.memory.activations_B)
    return Estimate(batch, osl, par.chips, first, prefill, decode, used, end.capacity_B)
