"""Ops of a step: FLOPs and bytes against closed forms and brute force."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris.dtypes import DType
from tigris.workload.models import model
from tigris.workload.ops import Attention, Gemm, causal_pairs
from tigris.workload.step import (
    Decode,
    Mixed,
    Prefill,
    Training,
    balanced_rows,
    footprint,
    ops,
    total_flops,
)

MODELS = [
    "llama-3.1-8b",
    "llama-2-70b",
    "mixtral-8x7b",
    "qwen3-235b-a22b",
    "deepseek-v3",
    "gpt-oss-120b",
    "minimax-m2.5",
    "glm-5",
    "kimi-k2.5",
    "gpt-2",
]


def _gemm_flops(step_ops):
    return sum(op.flops * op.count for op in step_ops if isinstance(op, Gemm))


def _matmul_params(llm):
    """Weights a token multiplies by: active parameters less the embedding lookup, plus the
    LM head when it is tied to the embedding."""
    head = llm.vocab * llm.hidden if llm.tie_embeddings else 0
    return llm.params_active - llm.embedding_params + head


@pytest.mark.parametrize("name", MODELS)
def test_decode_flops_per_token_are_twice_the_active_parameters_plus_attention(name):
    llm = model(name)
    batch, context = 64, 1024
    step_ops = ops(llm, Decode.uniform(batch, context))
    per_token = _gemm_flops(step_ops) / batch
    # norms, biases and sinks are parameters but not matrix products: < 0.2% of the total
    assert per_token == pytest.approx(2 * _matmul_params(llm), rel=2e-3)
    attention = sum(op.flops * op.count for op in step_ops if isinstance(op, Attention))
    assert total_flops(step_ops) >= _gemm_flops(step_ops) + attention


def test_decode_attention_flops_closed_form_for_gqa():
    llm = model("llama-3.1-70b")
    context = 2048
    att = [op for op in ops(llm, Decode.uniform(8, context)) if isinstance(op, Attention)]
    assert len(att) == 1 and att[0].count == 80
    # each query sees context + 1 keys: QK^T and PV are 2 * heads * head_dim FLOP per key each
    assert att[0].flops == 8 * 2 * 64 * (128 + 128) * (context + 1)
    assert att[0].kv_bytes == 8 * (context + 1) * 8 * 256 * 2


@pytest.mark.parametrize(("batch", "seq"), [(1, 1), (2, 7), (8, 2048)])
def test_prefill_attention_flops_match_the_causal_closed_form(batch, seq):
    llm = model("llama-3.1-8b")
    att = next(op for op in ops(llm, Prefill(batch, seq)) if isinstance(op, Attention))
    assert att.flops == batch * 2 * 32 * (128 + 128) * seq * (seq + 1) // 2


def test_sliding_window_caps_attention_and_kv_cache():
    llm = model("gpt-oss-120b")
    seq, w = 4096, 128
    att = sorted(
        (op for op in ops(llm, Prefill(1, seq)) if isinstance(op, Attention)),
        key=lambda op: op.window or 0,
    )
    full, windowed = att
    assert full.window is None and windowed.window == w
    assert windowed.pairs == w * (w + 1) // 2 + (seq - w) * w
    assert full.pairs == seq * (seq + 1) // 2
    fp = footprint(llm, Decode.uniform(2, 10_000))
    per_layer = 8 * (64 + 64) * 2
    assert fp.kv_cache_B == 2 * per_layer * (18 * 10_001 + 18 * w)


@given(
    q=st.integers(1, 300),
    past=st.integers(0, 300),
    window=st.one_of(st.none(), st.integers(1, 400)),
)
def test_causal_pairs_equals_brute_force(q, past, window):
    brute = 0
    for j in range(q):
        pos = past + j
        lo = 0 if window is None else max(0, pos - window + 1)
        brute += pos - lo + 1
    assert causal_pairs(q, past, window) == brute


@given(tokens=st.integers(1, 5000), top_k=st.integers(1, 8), experts=st.integers(8, 384))
def test_balanced_routing_conserves_assignments(tokens, top_k, experts):
    rows = balanced_rows(tokens, top_k, experts)
    assert sum(rows) == tokens * top_k and len(rows) == experts
    assert max(rows) - min(rows) <= 1


def test_one_decode_token_reads_only_its_experts():
    llm = model("deepseek-v3")
    up = next(op for op in ops(llm, Decode.uniform(1, 100)) if op.name == "expert_up")
    assert up.active_groups == 8 and up.b.bytes == 1
    assert up.b_bytes == 8 * 7168 * 2 * 2048 * 1.0


def test_mla_decode_is_absorbed_and_prefill_is_expanded():
    llm = model("deepseek-v3")
    dec = next(op for op in ops(llm, Decode.uniform(4, 100)) if op.name == "attention")
    pre = next(op for op in ops(llm, Prefill(1, 100)) if op.name == "attention")
    assert (dec.kv_heads, dec.qk_dim, dec.v_dim) == (1, 576, 512)
    assert (pre.kv_heads, pre.qk_dim, pre.v_dim) == (128, 192, 128)


def test_dsa_limits_the_keys_each_query_sees():
    llm = model("glm-5")
    att = next(op for op in ops(llm, Decode.uniform(1, 100_000)) if op.name == "attention")
    assert att.pairs == 2048


def test_mixed_batch_is_the_sum_of_its_parts():
    llm = model("llama-3.1-8b")
    mixed = ops(llm, Mixed(chunks=((512, 1024),), decode=(300, 4000)))
    att = next(op for op in mixed if isinstance(op, Attention))
    assert att.pairs == causal_pairs(512, 1024, None) + 301 + 4001


@pytest.mark.parametrize("name", ["llama-3.1-8b", "mixtral-8x7b", "deepseek-v3"])
def test_training_gemms_are_six_flops_per_parameter_per_token(name):
    llm = model(name)
    batch, seq = 2, 512
    step_ops = ops(llm, Training(batch, seq))
    tokens = batch * seq
    gemm = sum(
        op.flops * op.count
        for op in step_ops
        if isinstance(op, Gemm) and (op.b_is_weight or op.name.endswith(".wgrad"))
    )
    # MLA's kv_b expansion runs on every token in training, exactly as a weight GEMM
    assert gemm / tokens == pytest.approx(6 * _matmul_params(llm), rel=5e-3)
    recompute = ops(llm, Training(batch, seq, recompute=True))
    assert total_flops(recompute) > total_flops(step_ops)
    assert (
        footprint(llm, Training(batch, seq, recompute=True)).activations_B
        < footprint(llm, Training(batch, seq)).activations_B
    )


def test_ops_of_identical_layers_are_merged_with_counts():
    llm = model("deepseek-v3")
    step_ops = ops(llm, Prefill(1, 128))
    counts = {op.name: op.count for op in step_ops if op.name in ("mlp_up", "expert_up", "kv_a")}
    assert counts == {"mlp_up": 3, "expert_up": 58, "kv_a": 61}


def test_precision_sets_operand_bytes():
    bf16 = next(op for op in ops(model("llama-3.1-8b"), Decode.uniform(1, 10)) if op.name == "qkv")
    fp8 = next(
        op for op in ops(model("llama-3.1-8b-fp8"), Decode.uniform(1, 10)) if op.name == "qkv"
    )
    assert fp8.b_bytes * 2 == bf16.b_bytes and fp8.b is DType.fp8_e4m3


def test_footprint_weights_and_kv():
    llm = model("llama-3.1-70b")
    fp = footprint(llm, Decode.uniform(64, 2048))
    assert fp.weights_B == pytest.approx(llm.params_total * 2)
    assert fp.kv_cache_B == 64 * 2049 * llm.kv_bytes_per_token()
    assert 0 < fp.activations_B < fp.kv_cache_B
