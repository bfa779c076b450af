"""A design space as a YAML file: a base chip, the knobs a search may turn and their ranges,
the workload a design is judged on, its constraints and the objectives.

    name: t1-n3
    base: tigris-t1                  # catalog chip (or chip YAML) the template starts from
    params:                          # knob: {low, high[, step][, log]} or {choices: [...]}
      cores: {low: 32, high: 192, step: 16}
      memory: {choices: [hbm3e-12hi, hbm4]}
    fixed: {node: TSMC N3}           # knobs set to one value
    workload:                        # one scenario or a mix (weights: share of tokens)
      - {model: llama-3.1-70b, isl: 2048, osl: 256, tp: 8, batch: 64}
    slo: interactive                 # or {ttft: 450 ms, tpot: 40 ms}, or null
    constraints: {max_die_mm2: reticle, max_power_W: 1000 W, max_unit_cost_usd: 20000}
    objectives: [tokens_per_usd, tokens_per_s_per_chip]   # or {name: maximize|minimize}
    search: {sampler: nsga2, trials: 2000, seed: 0}

Knobs and what they set are listed in `KNOBS`; `design.realise` applies them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from tigris.errors import SpecError
from tigris.spec.base import (
    Bytes,
    BytesPerS,
    Count,
    JoulesPerByte,
    Positive,
    Seconds,
    Spec,
    Watts,
    read_yaml,
    split_provenance,
    validate,
)

# knob -> (type, what it sets)
KNOBS: dict[str, tuple[type, str]] = {
    "cores": (int, "cores on the die (all enabled)"),
    "matrix_dim": (int, "systolic array rows = cols"),
    "matrix_engines": (int, "matrix engines per core"),
    "vector_lanes": (int, "vector lanes per core"),
    "core_memory_MiB": (float, "per-core scratchpad / shared memory"),
    "sram_MiB": (float, "chip-wide SRAM (0 removes the level)"),
    "memory": (str, "off-chip memory kind, a row of memories.yaml or the space's `memories`"),
    "stacks": (int, "memory stacks (capacity and bandwidth scale with them)"),
    "clock_GHz": (float, "clock; on-chip bandwidths keep their bytes per cycle"),
    "node": (str, "process node, e.g. 'TSMC N3'"),
    "scaleup_links": (int, "scale-up links (bandwidth per link kept)"),
    "batch": (int, "sequences served together (workload)"),
    "tp": (int, "tensor-parallel chips per replica (workload)"),
}

# metric -> default direction; every metric of `score.Metrics`
METRICS: dict[str, Literal["maximize", "minimize"]] = {
    "tokens_per_s_per_chip": "maximize",
    "tokens_per_usd": "maximize",
    "usd_per_M_tokens": "minimize",
    "tokens_per_J": "maximize",
    "ttft_s": "minimize",
    "tpot_s": "minimize",
    "die_mm2": "minimize",
    "unit_cost_usd": "minimize",
    "power_W": "minimize",
}

SAMPLERS = ("nsga2", "tpe", "random", "grid")


class Param(Spec):
    """A knob's range: `low`..`high` (with `step`, or `log` spacing) or a list of `choices`."""

    low: float | None = None
    high: float | None = None
    step: Positive | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> Param:
        ranged = self.low is not None and self.high is not None
        if self.choices is not None:
            if ranged or self.step or self.log:
                raise ValueError("give either `choices` or `low`/`high`, not both")
            if not self.choices:
                raise ValueError("`choices` is empty")
        elif not ranged:
            raise ValueError("needs `low` and `high`, or `choices`")
        elif self.high < self.low:  # type: ignore[operator]
            raise ValueError(f"`high` {self.high} is below `low` {self.low}")
        elif self.log and (self.step or self.low <= 0):  # type: ignore[operator]
            raise ValueError("`log` needs a positive `low` and no `step`")
        return self


class Memory(Spec):
    """One kind of off-chip memory, per stack (or channel)."""

    kind: Literal["hbm", "lpddr", "gddr", "ddr"] = "hbm"
    technology: str
    stack_capacity_B: Bytes = Field(alias="stack_capacity")
    stack_bandwidth_Bps: BytesPerS = Field(alias="stack_bandwidth")
    energy_J_per_B: JoulesPerByte | None = Field(None, alias="energy_per_byte")


class Scenario(Spec):
    """Serve `batch` sequences of `isl` input and `osl` output tokens on `tp` chips; `weight`
    is this scenario's share of the tokens in a mix."""

    model: str = "llama-3.1-70b"
    isl: Count = 2048
    osl: Count = 256
    tp: Count = 8
    batch: Count = 64
    weight: Positive = 1.0


class SLOBounds(Spec):
    ttft_s: Seconds = Field(alias="ttft")
    tpot_s: Seconds = Field(alias="tpot")


class Constraints(Spec):
    """Limits a design must meet to count. `max_die_mm2: reticle` is the tech's reticle."""

    max_die_mm2: float | Literal["reticle"] | None = "reticle"
    chiplets: Count = 1
    max_power_W: Watts | None = None
    max_unit_cost_usd: Positive | None = None


class Search(Spec):
    sampler: Literal["nsga2", "tpe", "random", "grid"] = "nsga2"
    trials: Count = 1000
    seed: int = 0
    population: Count = 64
    batch: Count = Field(64, description="trials asked, evaluated and stored together")


class Space(Spec):
    name: str
    base: str = "tigris-t1"
    params: dict[str, Param]
    fixed: dict[str, Any] = Field(default_factory=dict)
    memories: dict[str, Memory] = Field(default_factory=dict)
    workload: tuple[Scenario, ...] = (Scenario(),)
    slo: Literal["interactive", "server"] | SLOBounds | None = "interactive"
    constraints: Constraints = Constraints()
    objectives: tuple[str, ...] | dict[str, Literal["maximize", "minimize"]] = (
        "tokens_per_usd",
        "tokens_per_s_per_chip",
    )
    search: Search = Search()

    @model_validator(mode="after")
    def _known_names(self) -> Space:
        for name in [*self.params, *self.fixed]:
            if name not in KNOBS:
                raise ValueError(f"unknown knob {name!r} (known: {', '.join(KNOBS)})")
        both = set(self.params) & set(self.fixed)
        if both:
            raise ValueError(f"knob {sorted(both)[0]!r} is both in `params` and `fixed`")
        for name in self.objective_directions:
            if name not in METRICS:
                raise ValueError(f"unknown objective {name!r} (known: {', '.join(METRICS)})")
        if not self.objective_directions:
            raise ValueError("objectives: name at least one")
        if not self.workload:
            raise ValueError("workload: name at least one scenario")
        known = {**builtin_memories(), **self.memories}
        mem = self.params.get("memory")
        for kind in [*(mem.choices or () if mem else ()), self.fixed.get("memory")]:
            if kind is not None and kind not in known:
                raise ValueError(f"unknown memory {kind!r} (known: {', '.join(known)})")
        if self.search.sampler == "grid" and any(
            p.choices is None and not p.step for p in self.params.values()
        ):
            raise ValueError("the grid sampler needs `choices` or a `step` on every knob")
        return self

    @property
    def objective_directions(self) -> dict[str, Literal["maximize", "minimize"]]:
        if isinstance(self.objectives, dict):
            return dict(self.objectives)
        return {name: METRICS.get(name, "maximize") for name in self.objectives}

    def memory(self, name: str) -> Memory:
        return {**builtin_memories(), **self.memories}[name]


@cache
def builtin_memories() -> dict[str, Memory]:
    raw = read_yaml(Path(str(resources.files("tigris.explore") / "memories.yaml")))
    plain, _ = split_provenance(raw)
    return {k: validate(Memory, v, "memories.yaml") for k, v in plain.items()}


_SPACES = resources.files("tigris.explore") / "spaces"


def load(name_or_path: str | Path) -> Space:
    """A space from a YAML path or a packaged name (`tigris-t1`); errors are one line."""
    path = Path(name_or_path)
    if not path.exists():
        packaged = _SPACES / f"{name_or_path}.yaml"
        if not packaged.is_file():
            shipped = sorted(p.name.removesuffix(".yaml") for p in _SPACES.iterdir())
            raise SpecError(
                str(name_or_path),
                "",
                None,
                f"no such file or packaged space (packaged: {', '.join(shipped)})",
            )
        path = Path(str(packaged))
    raw = read_yaml(path)
    plain, _ = split_provenance(raw) if isinstance(raw, dict) else (raw, {})
    return validate(Space, plain, str(path))
