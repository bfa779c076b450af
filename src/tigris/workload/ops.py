"""Operators of a step, with exact FLOPs and the bytes of each operand.

Three kinds cover a decoder LLM: `Gemm` (a weight or activation matrix product, possibly
grouped over experts), `Attention` (fused flash-style attention over a KV cache), and
`Vector` (norms, rotary, activations, router, embedding gather, optimizer updates).
Each op carries `count`, the times it runs per step (usually the layers sharing its shape),
so an 80-layer model is a few dozen ops, not thousands. Ops are frozen values; their FLOPs
and bytes are properties, so every consumer sees the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tigris.dtypes import DType


@dataclass(frozen=True, slots=True)
class Gemm:
    """C[m, n] = A[m, k] @ B[k, n], `groups` times; grouped GEMMs give rows per group.

    For a grouped (MoE) GEMM `rows` lists the tokens routed to each group and `m` is their
    sum; a group with no rows reads no weights. `b_is_weight` says B is read from memory
    as a parameter (rather than produced by an earlier op).
    """

    name: str
    m: int
    n: int
    k: int
    a: DType
    b: DType
    out: DType
    count: int = 1
    rows: tuple[int, ...] = ()
    b_is_weight: bool = True
    cls: str = "gemm"
    scale_block_k: int = 0  # block-scaled formats: partial sums rescaled every this many k

    @property
    def groups(self) -> int:
        return len(self.rows) if self.rows else 1

    @property
    def active_groups(self) -> int:
        return sum(1 for r in self.rows if r > 0) if self.rows else 1

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    @property
    def a_bytes(self) -> float:
        return self.m * self.k * self.a.bytes

    @property
    def b_bytes(self) -> float:
        return self.active_groups * self.k * self.n * self.b.bytes

    @property
    def out_bytes(self) -> float:
        return self.m * self.n * self.out.bytes


def causal_pairs(q: int, past: int, window: int | None) -> int:
    """(query, key) pairs when `q` new tokens follow `past` cached ones, causally.

    Query j (0-based among the new ones) sits at position past + j and sees keys
    max(0, past + j - window + 1) .. past + j: min(past + j + 1, window) keys.
    """
    if window is None or window >= past + q:
        return q * past + q * (q + 1) // 2
    first_full = max(0, window - past - 1)  # queries before this one see fewer than `window`
    n = min(q, first_full)
    return n * past + n * (n + 1) // 2 + (q - n) * window


@dataclass(frozen=True, slots=True)
class Attention:
    """Fused attention of a batch of sequences: softmax(Q K^T) V, causal, per KV head group.

    Sequence i brings `q_lens[i]` new queries after `past_lens[i]` cached tokens. `kv_heads`
    K/V heads are shared by `heads / kv_heads` query heads (GQA; 1 for MQA and absorbed MLA).
    `keys_limit` caps the keys a query sees (DSA sparse attention picks its top-k keys).
    """

    name: str
    q_lens: tuple[int, ...]
    past_lens: tuple[int, ...]
    heads: int
    kv_heads: int
    qk_dim: int
    v_dim: int
    q: DType
    kv: DType
    window: int | None = None
    keys_limit: int | None = None
    count: int = 1
    cls: str = "attention"

    @property
    def pairs(self) -> int:
        total = 0
        for q, past in zip(self.q_lens, self.past_lens, strict=True):
            limit = (
                min(x for x in (self.window, self.keys_limit) if x)
                if (self.window or self.keys_limit)
                else None
            )
            total += causal_pairs(q, past, limit)
        return total

    @property
    def flops(self) -> float:
        """2 FLOP per multiply-add in Q K^T (qk_dim) and in P V (v_dim), per head and pair."""
        return 2.0 * self.heads * (self.qk_dim + self.v_dim) * self.pairs

    @property
    def kv_tokens(self) -> int:
        """Cached tokens read per head group: each sequence's keys, capped by the window."""
        cap = self.window
        return sum(
            min(q + p, cap) if cap else q + p
            for q, p in zip(self.q_lens, self.past_lens, strict=True)
        )

    @property
    def q_bytes(self) -> float:
        return sum(self.q_lens) * self.heads * self.qk_dim * self.q.bytes

    @property
    def kv_bytes(self) -> float:
        return self.kv_tokens * self.kv_heads * (self.qk_dim + self.v_dim) * self.kv.bytes

    @property
    def out_bytes(self) -> float:
        return sum(self.q_lens) * self.heads * self.v_dim * self.q.bytes


@dataclass(frozen=True, slots=True)
class Vector:
    """Element-wise or row-wise work on vector engines: `elements` outputs.

    `read_bytes` and `write_bytes` are the op's own traffic before any fusion; `weight_bytes`
    (norm scales, embedding rows, optimizer state) is part of `read_bytes`.
    """

    name: str
    kind: str
    elements: int
    flops_per_element: float
    read_bytes: float
    write_bytes: float
    weight_bytes: float = 0.0
    special_per_element: float = 0.0
    count: int = 1
    cls: str = "vector"

    @property
    def flops(self) -> float:
        return self.elements * self.flops_per_element


@dataclass(frozen=True, slots=True)
class Footprint:
    """Memory a step needs on one replica, bytes."""

    weights_B: float
    kv_cache_B: float
    activations_B: float
    optimizer_B: float = 0.0
    gradients_B: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def total_B(self) -> float:
        return (
            self.weights_B
            + self.kv_cache_B
            + self.activations_B
            + self.optimizer_B
            + self.gradients_B
        )


@dataclass(frozen=True, slots=True)
class Collective:
    """A collective over `group` chips: `bytes` is the buffer each chip holds (all-reduce),
    the gathered result (all-gather), the input (reduce-scatter) or what one chip sends in
    all (all-to-all, send/recv)."""

    name: str
    kind: str  # all_reduce | all_gather | reduce_scatter | all_to_all | send_recv
    bytes: float
    group: int
    count: int = 1
    cls: str = "collective"

    @property
    def flops(self) -> float:
        return 0.0


Op = Gemm | Attention | Vector | Collective
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
