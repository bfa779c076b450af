"""Step time with parallelism, `tigris.evaluate`, and `tigris compare`."""

from __future__ import annotations

import json

import pytest

import tigris
from tigris.cli import main
from tigris.cost.step import Parallel, shard, step_cost
from tigris.evaluate import Scenario, compare_one, evaluate
from tigris.spec.system import single
from tigris.workload.ops import Collective
from tigris.workload.step import Decode, Prefill


def test_tensor_parallel_splits_weights_and_adds_two_all_reduces_per_layer():
    llm = tigris.model("llama-3.1-70b")
    one = step_cost(single(tigris.chip("h100-sxm"), 8), llm, Decode.uniform(8, 1024), Parallel())
    tp8 = step_cost(single(tigris.chip("h100-sxm"), 8), llm, Decode.uniform(8, 1024), Parallel(8))
    colls = [oc for oc in tp8.ops if isinstance(oc.op, Collective)]
    assert sum(c.op.count for c in colls) == 2 * llm.num_layers
    assert not any(isinstance(oc.op, Collective) for oc in one.ops)
    assert tp8.memory.weights_B == pytest.approx(one.memory.weights_B / 8)
    assert tp8.memory.kv_cache_B == pytest.approx(one.memory.kv_cache_B / 8)  # 8 KV heads
    # the weight-streaming decode step is several times faster on 8 chips, not more than 8x
    assert 3 < one.time_s / tp8.time_s < 8


def test_shared_and_routed_experts_share_one_all_reduce_per_layer():
    """DeepSeek-V3 at tp 8, experts split like dense MLPs: the shared experts' partial sums
    join the routed experts' before one all-reduce, so each layer all-reduces twice
    (attention output, MLP or MoE output), as a dense model does."""
    llm = tigris.model("deepseek-ai/DeepSeek-V3")
    cost = step_cost(single(tigris.chip("h100-sxm"), 8), llm, Decode.uniform(8, 1024), Parallel(8))
    colls = [oc.op for oc in cost.ops if isinstance(oc.op, Collective)]
    assert {c.kind for c in colls} == {"all_reduce"}
    assert sum(c.count for c in colls) == 2 * llm.num_layers
    assert not any(c.name.startswith("shared_expert") for c in colls)


def test_sharded_gemm_flops_add_up_to_the_whole():
    llm = tigris.model("llama-3.1-8b")
    for op in tigris.ops(llm, Prefill(2, 512)):
        parts = shard(op, Parallel(tp=4))
        if op.cls == "gemm" and op.name in ("qkv", "o", "mlp_up", "mlp_down", "lm_head"):
            assert parts[0].flops * 4 == pytest.approx(op.flops, rel=0.01)


def test_step_time_is_the_sum_of_its_ops_and_never_below_the_floor():
    cost = evaluate("h100-sxm", "llama-3.1-8b", Prefill(4, 2048))
    assert cost.time_s == pytest.approx(sum(oc.time_s for oc in cost.ops))
    assert cost.time_s >= cost.total.floor_s
    assert set(cost.by_class()) >= {"gemm", "attention", "vector"}


def test_rotary_embedding_is_costed_once_inside_attention():
    """Qwen3's rope follows its qk-norm, not a GEMM; it still costs nothing of its own, since
    the attention op's kernels (prefill's first kernel, the decode kernel) apply it."""
    chip = single(tigris.chip("h100-sxm"))
    for step in (Prefill(1, 512), Decode.uniform(4, 512)):
        sc = step_cost(chip, tigris.model("Qwen/Qwen3-32B"), step)
        (rope,) = [oc for oc in sc.ops if oc.op.name == "rope"]
        assert rope.fused and rope.time_s == 0.0
        assert any(oc.op.name == "qk_norm" and oc.time_s > 0 for oc in sc.ops)


def test_pipeline_keeps_a_stage_per_chip_and_sends_between_stages():
    llm = tigris.model("llama-3.1-70b")
    pp = step_cost(single(tigris.chip("h100-sxm"), 4), llm, Decode.uniform(8, 1024), Parallel(1, 4))
    assert any(oc.op.kind == "send_recv" for oc in pp.ops if isinstance(oc.op, Collective))
    whole = step_cost(single(tigris.chip("h100-sxm"), 4), llm, Decode.uniform(8, 1024))
    assert pp.memory.weights_B == pytest.approx(whole.memory.weights_B / 4)


def test_expert_parallel_adds_all_to_alls():
    llm = tigris.model("qwen3-30b-a3b")
    cost = step_cost(
        single(tigris.chip("h100-sxm"), 4), llm, Decode.uniform(32, 1024), Parallel(1, 1, 4)
    )
    kinds = {oc.op.kind for oc in cost.ops if isinstance(oc.op, Collective)}
    assert kinds == {"all_to_all"}


def test_more_memory_bandwidth_gives_faster_decode():
    sc = Scenario(batch=32, isl=1024, osl=128)
    h100 = compare_one(tigris.chip("h100-sxm"), sc)
    h200 = compare_one(tigris.chip("h200-sxm"), sc)
    assert h200.tpot_s < h100.tpot_s
    assert h200.tokens_per_s_per_chip > h100.tokens_per_s_per_chip


def test_compare_command_prints_one_row_per_chip(capsys):
    main(
        [
            "compare",
            "--chips",
            "h100-sxm,tigris-t1",
            "--batch",
            "8",
            "--isl",
            "512",
            "--osl",
            "32",
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert [r["chip"] for r in doc["rows"]] == ["h100-sxm", "tigris-t1"]
    for r in doc["rows"]:
        assert 0 < r["ttft_s"] < 10 and 0 < r["tpot_s"] < 1
        assert r["memory_used_B"] < r["memory_capacity_B"]
        assert "defaults" in r["calibration"] or "fitted" in r["calibration"]


def test_compare_says_clearly_when_the_model_does_not_fit(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--model", "llama-3.1-405b", "--chips", "h100-sxm", "--tp", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "needs" in err and "more than its 80 GB" in err and "Traceback" not in err
