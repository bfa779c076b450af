"""Time of one step of an LLM on a system with tensor, pipeline and expert parallelism.

Sharding (Megatron-style) turns the model's ops into one chip's ops plus collectives:
- tensor parallel (tp): QKV, up/gate and the LM head split their output columns; the
  attention output and down projections split their inner dimension and end in an
  all-reduce of the activations over the tp group; attention heads split, KV heads too
  (replicated where there are fewer KV heads than tp); MLA's down projections and the
  router are replicated; norms run on every chip.
- expert parallel (ep): each chip holds experts / ep of each MoE layer and gets the
  tokens routed to them; dispatch and combine are all-to-alls over the ep group.
  With tp > 1 and ep = 1 the experts split like dense MLPs instead, and the shared
  experts' partial output is added to the routed experts' before their one all-reduce
  (as vLLM's and SGLang's DeepSeek MoE layers do: the all-reduce of a sum is the sum of
  all-reduces).
- pipeline parallel (pp): each stage runs layers / pp; activations cross stages by
  send/recv. The step's latency is all stages in turn plus the pp - 1 transfers
  (one micro-batch in flight); a chip's memory holds its stage only.
Overlap rules: ops run one after another on a chip (no overlap between ops); a collective
does not overlap the compute around it; element-wise ops right after a GEMM run fused in its
epilogue where the chip has vector engines beside its matrix engines; rotary embedding runs
inside the attention op's kernels.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from tigris.cost.model import Cost, total
from tigris.cost.oracle import evaluate
from tigris.cost.params import Calibration, for_chip
from tigris.spec.system import System
from tigris.workload.llm import LLM
from tigris.workload.ops import Attention, Collective, Gemm, Op, Vector
from tigris.workload.step import Step, footprint, ops, sequences

COLUMN = {"qkv", "q", "q_b", "kv_b", "index_q", "mlp_up", "shared_expert_up", "lm_head"}
ROW = {"o", "mlp_down", "shared_expert_down"}
HEADS = {"q_absorb", "v_absorb"}  # absorbed MLA: rows are tokens x heads
FUSABLE = {"add", "swiglu", "gelu"}
# applied by the attention op's own kernels (`cost.attention`: prefill's first kernel, the
# decode kernel), whose measured times include it
INSIDE_ATTENTION = {"rope"}


@dataclass(frozen=True, slots=True)
class Parallel:
    tp: int = 1
    pp: int = 1
    ep: int = 1

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.ep if self.ep > 1 and self.tp == 1 else self.tp * self.pp


@dataclass(frozen=True, slots=True)
class OpCost:
    op: Op
    cost: Cost  # one run
    fused: bool = False

    @property
    def time_s(self) -> float:
        return self.cost.time_s * self.op.count


@dataclass(frozen=True, slots=True)
class Memory:
    weights_B: float
    kv_cache_B: float
    activations_B: float
    capacity_B: float

    @property
    def used_B(self) -> float:
        return self.weights_B + self.kv_cache_B + self.activations_B

    @property
    def fits(self) -> bool:
        return self.used_B <= self.capacity_B


@dataclass(frozen=True, slots=True)
class StepCost:
    ops: tuple[OpCost, ...]
    total: Cost  # one chip's step, all ops, counts included
    memory: Memory
    parallel: Parallel
    calibration: str

    @property
    def time_s(self) -> float:
        return self.total.time_s

    def by_class(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for oc in self.ops:
            out[oc.op.cls] += oc.time_s
        return dict(out)

    def by_bound(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for oc in self.ops:
            out[oc.cost.bound] += oc.time_s
        return dict(out)

    @property
    def bound(self) -> str:
        shares = self.by_bound()
        return max(shares, key=shares.__getitem__) if shares else "none"


def _base(name: str) -> str:
    return name.split(".")[0]


def _div(x: int, by: int) -> int:
    return max(1, math.ceil(x / by))


def shard(op: Op, par: Parallel) -> list[Op]:
    """One chip's share of `op` under tp / ep (pp is applied to counts by the caller)."""
    tp, ep = par.tp, par.ep
    if isinstance(op, Gemm):
        name = _base(op.name)
        if op.rows and name.startswith("expert"):
            rows = op.rows[::ep] if ep > 1 else op.rows
            m = sum(rows)
            if ep == 1 and tp > 1:
                n, k = (_div(op.n, tp), op.k) if name.endswith("up") else (op.n, _div(op.k, tp))
                return [replace(op, m=m, n=n, k=k, rows=rows)]
            return [replace(op, m=m, rows=rows)]
        if name in COLUMN:
            return [replace(op, n=_div(op.n, tp))]
        if name in ROW:
            return [replace(op, k=_div(op.k, tp))]
        if name in HEADS:
            return [replace(op, m=_div(op.m, tp))]
        return [op]
    if isinstance(op, Attention):
        heads = _div(op.heads, tp)
        kv = op.kv_heads if op.kv_heads == 1 else _div(op.kv_heads, tp)
        return [replace(op, heads=heads, kv_heads=min(kv, heads))]
    if isinstance(op, Vector) and op.kind in ("swiglu", "gelu"):
        return [
            replace(
                op,
                elements=_div(op.elements, tp),
                read_bytes=op.read_bytes / tp,
                write_bytes=op.write_bytes / tp,
            )
        ]
    return [op]


def _collectives(op: Op, llm: LLM, par: Parallel) -> list[Collective]:
    """Collectives that follow `op` on a chip."""
    if not isinstance(op, Gemm):
        return []
    name = _base(op.name)
    act = llm.precision.activations.bytes
    out: list[Collective] = []
    merged = name == "shared_expert_down" and par.ep == 1  # summed into the experts' output
    if par.tp > 1 and not merged and (name in ROW or (name == "expert_down" and par.ep == 1)):
        out.append(
            Collective(f"{name}.all_reduce", "all_reduce", op.m * op.n * act, par.tp, op.count)
        )
    if par.ep > 1 and name == "expert_down":
        tokens = sum(op.rows) * par.ep  # tokens x top_k over the whole ep group
        size = tokens * op.n * act / par.ep
        out.append(Collective("expert.dispatch", "all_to_all", size, par.ep, op.count))
        out.append(Collective("expert.combine", "all_to_all", size, par.ep, op.count))
    return out


def _check(system: System, par: Parallel) -> None:
    need = par.tp * par.pp * par.ep if par.tp > 1 and par.ep > 1 else par.chips
    if need > system.count:
        raise ValueError(f"tp x pp x ep needs {need} chips; the system has {system.count}")


def chip_ops(
    system: System,
    llm: LLM,
    step: Step,
    par: Parallel,
    cal: Calibration,
    select: Callable[[Op], bool] | None = None,
) -> list[OpCost]:
    """One chip's ops for one pipeline stage, each with its cost, collectives in place.

    `select` keeps only the model ops it accepts (with the collectives that follow them):
    the serving simulator costs a step's attention and the rest apart.
    """
    chip = system.chip
    has_vector = bool(chip.cores.vector)
    per_chip: list[OpCost] = []
    prev: Op | None = None
    for op in ops(llm, step):
        if select is not None and not select(op):
            continue
        for piece in shard(op, par):
            piece = replace(piece, count=_div(piece.count, par.pp)) if piece.count > 1 else piece
            if isinstance(piece, Vector) and piece.kind in INSIDE_ATTENTION:
                cost = Cost(0.0, 0.0, {}, {}, 0.0, 0.0, 0.0, notes=("inside attention",))
                fused = True
            else:
                fused = (
                    has_vector
                    and isinstance(piece, Vector)
                    and piece.kind in FUSABLE
                    and isinstance(prev, Gemm)
                )
                cost = evaluate(piece, chip, cal, fused=fused)
            per_chip.append(OpCost(piece, cost, fused))
            prev = piece
            for coll in _collectives(piece, llm, par):
                per_chip.append(OpCost(coll, evaluate(coll, system, cal)))
    if par.pp > 1 and select is None:
        act = llm.precision.activations.bytes
        t = sum(q for q, _ in sequences(step))
        hop = Collective("pipeline.send", "send_recv", t * llm.hidden * act, 2, par.pp - 1)
        per_chip.append(OpCost(hop, evaluate(hop, system, cal)))
    return per_chip


def calibration(system: System, cal: Calibration | None) -> tuple[Calibration, str]:
    """The calibration to use and what to call it: the chip family's unless one is given."""
    family_cal, family_note = for_chip(system.chip)
    if cal is None or cal == family_cal:
        return family_cal, family_note
    return cal, "user-given calibration"


def step_cost(
    system: System,
    llm: LLM,
    step: Step,
    par: Parallel | None = None,
    cal: Calibration | None = None,
) -> StepCost:
    par = par or Parallel()
    _check(system, par)
    cal, cal_note = calibration(system, cal)
    per_chip = chip_ops(system, llm, step, par, cal)
    # pp: every stage runs in turn for one micro-batch: the chip's share times pp
    stage = total([oc.cost.scaled(oc.op.count) for oc in per_chip])
    whole = stage.scaled(par.pp) if par.pp > 1 else stage
    return StepCost(tuple(per_chip), whole, memory(system, llm, step, par), par, cal_note)


def memory(system: System, llm: LLM, step: Step, par: Parallel) -> Memory:
    fp = footprint(llm, step)
    kv_heads = max((layer.attention.kv_heads for layer in llm.layers), default=1)
    mla = any(layer.attention.kind == "mla" for layer in llm.layers)
    kv_split = 1 if mla else min(par.tp, kv_heads)
    weight_split = par.tp * par.pp * (par.ep if llm.is_moe else 1)
    return Memory(
        weights_B=fp.weights_B / weight_split,
        kv_cache_B=fp.kv_cache_B / (kv_split * par.pp),
        activations_B=fp.activations_B / par.tp,
        capacity_B=system.chip.main_memory.capacity_B,
    )
