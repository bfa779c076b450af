"""The ops of one step of an LLM: prefill, decode, a mixed batch, or a training step.

Every inference step is a batch of sequences, each bringing `q` new tokens after `past`
cached ones: prefill is (S, 0), decode is (1, L), chunked prefill mixes both. Ops of layers
that share a shape are merged (`count`). Conventions:
- MoE routing is balanced: the batch's tokens x top_k assignments are dealt evenly over the
  experts (a few experts get one more), so decode of few tokens touches few experts.
- MLA prefill expands the latent with `kv_b` and attends per head; MLA decode uses the
  absorbed form (DeepSeek-V3 report, arXiv:2412.19437, sec. 2.1): queries are projected
  into the latent space and all heads attend one shared latent (MQA-like).
- Inference computes logits for the last token of each sequence only; training for all.
- A training step is the forward ops, the backward ops (for each GEMM a data-gradient and a
  weight-gradient GEMM; attention backward at 2.5x forward FLOPs, the FlashAttention-2
  ratio of 5 to 2 matrix products), and an Adam update over all parameters (fp32 master
  weights and moments, Megatron-style mixed precision).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

from tigris.dtypes import DType
from tigris.workload.llm import LLM, Dense, Layer, MoE
from tigris.workload.ops import Attention, Footprint, Gemm, Op, Vector


@dataclass(frozen=True, slots=True)
class Prefill:
    batch: int
    seq_len: int


@dataclass(frozen=True, slots=True)
class Decode:
    """One new token for each sequence, after `context` cached tokens (one length per sequence)."""

    context: tuple[int, ...]

    @staticmethod
    def uniform(batch: int, context: int) -> Decode:
        return Decode((context,) * batch)


@dataclass(frozen=True, slots=True)
class Mixed:
    """Chunked prefill: (chunk, past) prefill chunks plus decodes at their context lengths."""

    chunks: tuple[tuple[int, int], ...]
    decode: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Training:
    batch: int
    seq_len: int
    recompute: bool = False


Step = Prefill | Decode | Mixed | Training


def sequences(step: Step) -> list[tuple[int, int]]:
    """(new tokens, cached tokens) of each sequence in the step."""
    match step:
        case Prefill(batch, seq_len) | Training(batch, seq_len):
            return [(seq_len, 0)] * batch
        case Decode(context):
            return [(1, c) for c in context]
        case Mixed(chunks, decode):
            return list(chunks) + [(1, c) for c in decode]
    raise TypeError(step)


def balanced_rows(tokens: int, top_k: int, experts: int) -> tuple[int, ...]:
    """Tokens per expert when tokens x top_k assignments are dealt evenly over the experts."""
    total = tokens * top_k
    base, extra = divmod(total, experts)
    return tuple(base + (1 if i < extra else 0) for i in range(experts))


def _norm(llm: LLM, name: str, tokens: int, act: DType) -> Vector:
    h = llm.hidden
    per = 2 if llm.norm == "layer" else 1
    scale = per * h * act.bytes
    return Vector(
        name,
        f"{llm.norm}norm",
        tokens * h,
        4.0,
        tokens * h * act.bytes + scale,
        tokens * h * act.bytes,
        weight_bytes=scale,
        special_per_element=1.0 / h,
    )


def _layer_ops(llm: LLM, layer: Layer, seqs: list[tuple[int, int]]) -> list[Op]:
    p = llm.precision
    act, w, kvd = p.activations, p.weights, p.kv
    gin = p.gemm_inputs or act  # what the weight GEMMs read: W8A8 quantises activations
    h, a = llm.hidden, layer.attention
    t = sum(q for q, _ in seqs)
    q_lens = tuple(q for q, _ in seqs)
    past = tuple(pp for _, pp in seqs)
    ops: list[Op] = [_norm(llm, "attn_norm", t, act)]

    def attend(
        kv_heads: int,
        qk: int,
        v: int,
        kv: DType,
        limit: int | None = None,
        window: int | None = None,
    ) -> Attention:
        return Attention(
            "attention",
            q_lens,
            past,
            a.heads,
            kv_heads,
            qk,
            v,
            act,
            kv,
            window=window,
            keys_limit=limit,
        )

    if a.kind == "mla":
        assert a.kv_lora_rank is not None and a.rope_dim is not None
        nope = a.head_dim - a.rope_dim
        if a.q_lora_rank:
            ops.append(Gemm("q_a", t, a.q_lora_rank, h, gin, w, act))
            ops.append(_norm(llm, "q_a_norm", t, act))
            ops.append(Gemm("q_b", t, a.heads * a.head_dim, a.q_lora_rank, gin, w, act))
        else:
            ops.append(Gemm("q", t, a.heads * a.head_dim, h, gin, w, act))
        ops.append(Gemm("kv_a", t, a.kv_lora_rank + a.rope_dim, h, gin, w, act))
        if a.index_heads and a.index_head_dim:
            q_in = a.q_lora_rank or h
            ops.append(Gemm("index_q", t, a.index_heads * a.index_head_dim, q_in, gin, w, act))
            ops.append(Gemm("index_k", t, a.index_head_dim, h, gin, w, act))
            ops.append(Gemm("index_w", t, a.index_heads, h, gin, w, act))
            ops.append(
                Attention("indexer", q_lens, past, a.index_heads, 1, a.index_head_dim, 0, act, kvd)
            )
        decode_like = all(q == 1 for q in q_lens)
        if decode_like:  # absorbed: q_nope -> latent per head, attend the shared latent
            ops.append(Gemm("q_absorb", t * a.heads, a.kv_lora_rank, nope, gin, w, act))
            ops.append(attend(1, a.kv_lora_rank + a.rope_dim, a.kv_lora_rank, kvd, a.index_topk))
            ops.append(Gemm("v_absorb", t * a.heads, a.v_head_dim, a.kv_lora_rank, gin, w, act))
        else:  # expand the latent of every cached and new token, attend per head
            kv_tokens = sum(q + pp for q, pp in seqs)
            ops.append(
                Gemm(
                    "kv_b", kv_tokens, a.heads * (nope + a.v_head_dim), a.kv_lora_rank, kvd, w, act
                )
            )
            ops.append(attend(a.heads, a.head_dim, a.v_head_dim, act, a.index_topk))
    else:
        qkv_n = (a.heads + a.kv_heads) * a.head_dim + a.kv_heads * a.v_head_dim
        ops.append(Gemm("qkv", t, qkv_n, h, gin, w, act))
        if a.qk_norm != "none":
            ops.append(
                Vector(
                    "qk_norm",
                    "rmsnorm",
                    t * (a.heads + a.kv_heads) * a.head_dim,
                    4.0,
                    t * (a.heads + a.kv_heads) * a.head_dim * act.bytes,
                    t * (a.heads + a.kv_heads) * a.head_dim * act.bytes,
                )
            )
        if llm.positions == "rope":
            elems = t * (a.heads + a.kv_heads) * a.head_dim
            ops.append(
                Vector(
                    "rope",
                    "rope",
                    elems,
                    3.0,
                    elems * act.bytes,
                    elems * act.bytes,
                    special_per_element=0.0,
                )
            )
        ops.append(attend(a.kv_heads, a.head_dim, a.v_head_dim, kvd, window=a.window))
    ops.append(Gemm("o", t, h, a.heads * a.v_head_dim, gin, w, act))
    ops.append(Vector("residual", "add", t * h, 1.0, 2 * t * h * act.bytes, t * h * act.bytes))
    ops.append(_norm(llm, "mlp_norm", t, act))
    ops.extend(_mlp_ops(llm, layer.mlp, t))
    ops.append(Vector("residual", "add", t * h, 1.0, 2 * t * h * act.bytes, t * h * act.bytes))
    return ops


def _ffn(
    name: str,
    t: int,
    h: int,
    inter: int,
    gated: bool,
    gin: DType,
    w: DType,
    act: DType,
    rows: tuple[int, ...] = (),
) -> list[Op]:
    """Up (or gate+up), the activation, down. GEMMs read `gin`, write `act`."""
    up = 2 * inter if gated else inter
    m = sum(rows) if rows else t
    glu = "swiglu" if gated else "gelu"
    return [
        Gemm(f"{name}_up", m, up, h, gin, w, act, rows=rows),
        Vector(
            f"{name}_act",
            glu,
            m * inter,
            4.0 if gated else 8.0,
            m * up * act.bytes,
            m * inter * act.bytes,
            special_per_element=1.0,
        ),
        Gemm(f"{name}_down", m, h, inter, gin, w, act, rows=rows),
    ]


def _mlp_ops(llm: LLM, mlp: Dense | MoE, t: int) -> list[Op]:
    p, h = llm.precision, llm.hidden
    gin = p.gemm_inputs or p.activations  # what the weight GEMMs read
    if isinstance(mlp, Dense):
        return _ffn("mlp", t, h, mlp.intermediate, mlp.gated, gin, p.weights, p.activations)
    ops: list[Op] = [
        Gemm("router", t, mlp.experts, h, p.activations, p.weights, DType.fp32),
        Vector(
            "router_topk",
            "topk",
            t * mlp.experts,
            2.0,
            t * mlp.experts * 4,
            t * mlp.top_k * 8,
            special_per_element=1.0,
        ),
    ]
    if mlp.shared_experts:
        ops += _ffn(
            "shared_expert",
            t,
            h,
            mlp.shared_experts * mlp.shared_intermediate,
            True,
            gin,
            p.weights,
            p.activations,
        )
    rows = balanced_rows(t, mlp.top_k, mlp.experts)
    ops += _ffn("expert", t, h, mlp.intermediate, True, gin, p.experts, p.activations, rows=rows)
    return ops


def _merge(ops: list[Op]) -> list[Op]:
    """Merge identical ops (same shape in every layer) into one with a count, keeping order."""
    counts: Counter[Op] = Counter()
    order: list[Op] = []
    for op in ops:
        key = replace(op, count=1)
        if key not in counts:
            order.append(key)
        counts[key] += op.count
    return [replace(op, count=counts[op]) for op in order]


def forward_ops(llm: LLM, seqs: list[tuple[int, int]], logits_for_all: bool) -> list[Op]:
    p = llm.precision
    t = sum(q for q, _ in seqs)
    h = llm.hidden
    ops: list[Op] = [
        Vector(
            "embedding",
            "gather",
            t * h,
            0.0,
            t * h * p.embeddings.bytes,
            t * h * p.activations.bytes,
            weight_bytes=t * h * p.embeddings.bytes,
        )
    ]
    for layer, repeats in Counter(llm.layers).items():  # identical layers: build once
        ops += [replace(op, count=op.count * repeats) for op in _layer_ops(llm, layer, seqs)]
    ops.append(_norm(llm, "final_norm", t, p.activations))
    rows = t if logits_for_all else len(seqs)
    ops.append(Gemm("lm_head", rows, llm.vocab, h, p.activations, p.embeddings, DType.fp32))
    return _merge(ops)


def _backward(op: Op) -> list[Op]:
    if isinstance(op, Gemm):
        dgrad = Gemm(
            f"{op.name}.dgrad",
            op.m,
            op.k,
            op.n,
            op.out,
            op.b,
            op.a,
            op.count,
            op.rows,
            op.b_is_weight,
            "gemm_bwd",
        )
        # dW = A^T dC. For grouped (expert) GEMMs this is one GEMM over the summed rows: FLOPs
        # and inputs are exact, the output counts one expert's gradient, not each one's.
        wgrad = Gemm(
            f"{op.name}.wgrad",
            op.k,
            op.n,
            op.m,
            op.a,
            op.out,
            DType.fp32,
            op.count,
            (),
            False,
            "gemm_bwd",
        )
        return [dgrad, wgrad] if op.b_is_weight else [dgrad]
    if isinstance(op, Attention):
        return [replace(op, name=f"{op.name}.bwd", cls="attention_bwd")]
    return [
        replace(
            op,
            name=f"{op.name}.bwd",
            read_bytes=2 * op.read_bytes,
            flops_per_element=2 * op.flops_per_element,
            cls="vector_bwd",
        )
    ]


def ops(llm: LLM, step: Step) -> list[Op]:
    """All ops of one step on one replica (no parallelism yet: that is cost/'s sharding)."""
    return list(_ops(llm, step))


@lru_cache(maxsize=4096)
def _ops(llm: LLM, step: Step) -> tuple[Op, ...]:
    return tuple(_build_ops(llm, step))


def _build_ops(llm: LLM, step: Step) -> list[Op]:
    seqs = sequences(step)
    if not isinstance(step, Training):
        return forward_ops(llm, seqs, logits_for_all=False)
    fwd = forward_ops(llm, seqs, logits_for_all=True)
    out = list(fwd)
    if step.recompute:
        out += [replace(op, name=f"{op.name}.recompute") for op in fwd]
    for op in reversed(fwd):
        out += _backward(op)
    params = llm.params_total
    out.append(
        Vector(
            "adam",
            "adam",
            params,
            12.0,
            params * (4 + 4 + 4 + 4),
            params * (4 + 4 + 4 + llm.precision.weights.bytes),
            weight_bytes=params * 12,
            special_per_element=1.0,
        )
    )
    return out


def attention_flops_factor(op: Attention) -> float:
    """Backward attention runs 5 matrix products where forward runs 2 (FlashAttention-2)."""
    return 2.5 if op.cls == "attention_bwd" else 1.0


def flops(op: Op) -> float:
    """FLOPs of one run of an op (multiply by `op.count` for the step)."""
    if isinstance(op, Attention):
        return op.flops * attention_flops_factor(op)
    return op.flops


def total_flops(step_ops: list[Op]) -> float:
    return sum(flops(op) * op.count for op in step_ops)


@lru_cache(maxsize=4096)
def footprint(llm: LLM, step: Step) -> Footprint:
    """Weights, KV cache (windowed layers keep at most `window` tokens) and activations."""
    seqs = sequences(step)
    kv = 0.0
    for layer, repeats in Counter(llm.layers).items():  # identical layers: count once
        per_token = layer.attention.kv_bytes_per_token(llm.precision.kv)
        w = layer.attention.window
        kv += repeats * per_token * sum(min(q + pp, w) if w else q + pp for q, pp in seqs)
    step_ops = (
        ops(llm, step)
        if not isinstance(step, Training)
        else forward_ops(llm, seqs, logits_for_all=True)
    )
    if isinstance(step, Training):
        saved = sum(_saved_bytes(op) * op.count for op in step_ops)
        if step.recompute:  # keep each layer's input, recompute the rest one layer at a time
            t = sum(q for q, _ in seqs)
            layer_in = t * llm.hidden * llm.precision.activations.bytes
            saved = layer_in * llm.num_layers + saved / llm.num_layers
        params = llm.params_total
        return Footprint(
            llm.weight_bytes(),
            0.0,
            saved,
            optimizer_B=params * 12.0,
            gradients_B=params * 4.0,
            notes=("Adam with fp32 master weights and moments",),
        )
    peak = max(_live_bytes(op) for op in step_ops)
    return Footprint(llm.weight_bytes(), kv, peak)


def _saved_bytes(op: Op) -> float:
    """Activation bytes a forward op keeps for its backward."""
    if isinstance(op, Gemm):
        return op.a_bytes
    if isinstance(op, Attention):
        return op.q_bytes + op.out_bytes + sum(op.q_lens) * op.heads * 4  # + softmax stats
    return op.read_bytes - op.weight_bytes


def _live_bytes(op: Op) -> float:
    if isinstance(op, Gemm):
        return op.a_bytes + op.out_bytes
    if isinstance(op, Attention):
        return op.q_bytes + op.out_bytes
    return op.read_bytes - op.weight_bytes + op.write_bytes
