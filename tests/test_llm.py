"""LLM specs from config.json: coverage of real configs, parameter counts, name lookup."""

import pytest

from tigris.dtypes import DType
from tigris.errors import SpecError
from tigris.workload.llm import load_config
from tigris.workload.models import model, model_names


def test_loader_reads_every_shared_config_and_refuses_what_it_does_not_model(shared):
    modeled, refused = [], []
    configs = sorted(
        p
        for p in (shared / "model-configs").glob("*_config.json")
        if not p.name.endswith("_hf_quant_config.json")
    )
    assert len(configs) >= 80
    for path in configs:
        try:
            llm = load_config(path)
        except SpecError as exc:
            assert "is not modeled yet" in str(exc) and "\n" not in str(exc)
            refused.append(path.name)
        else:
            assert llm.params_total >= llm.params_active > 0
            modeled.append(path.name)
    # Counted on the 2026-08 snapshot: 44 modeled (Llama, Mixtral, Qwen3, DeepSeek, Kimi, GLM,
    # gpt-oss, MiniMax-M2, MiMo), 41 refused (hybrid Mamba, linear attention, vision models).
    assert len(modeled) == 44 and len(refused) == 41


# Published figures. Publishers differ on whether "active" counts the embedding table:
#   all  - every parameter a token's forward uses, embeddings included (Mistral, Qwen, Meta)
#   no_input_embedding - the input embedding lookup left out (OpenAI's model card)
#   no_embeddings - input embedding and LM head left out
# A figure given to two significant digits ("37B") is met within its rounding.
PUBLISHED = [
    # name, total, active, active convention, source
    ("llama-3.1-8b", 8.03e9, 8.03e9, "all", "Meta model card / HF 8.03B"),
    ("llama-3.1-70b", 70.6e9, 70.6e9, "all", "HF 70.6B"),
    ("llama-3.1-405b", 405e9, 405e9, "all", "Meta Llama 3 paper, 405B"),
    ("llama-2-70b", 69.0e9, 69.0e9, "all", "HF 69B"),
    ("mixtral-8x7b", 46.7e9, 12.9e9, "all", "Mistral announcement: 46.7B total, 12.9B per token"),
    ("qwen3-32b", 32.8e9, 32.8e9, "all", "Qwen3-32B model card: 32.8B"),
    ("qwen3-235b-a22b", 235e9, 22e9, "all", "Qwen3 model card: 235B total, 22B activated"),
    ("deepseek-v3", 671e9, 37e9, "no_input_embedding", "DeepSeek-V3 report: 671B, 37B"),
    ("deepseek-r1", 671e9, 37e9, "no_input_embedding", "DeepSeek-R1 card: 671B, 37B"),
    ("kimi-k2.5", 1.0e12, 32e9, "no_input_embedding", "Moonshot: 1T total, 32B activated"),
    ("gpt-oss-120b", 116.83e9, 5.13e9, "no_input_embedding", "OpenAI model card"),
    ("gpt-oss-20b", 20.91e9, 3.61e9, "no_input_embedding", "OpenAI model card"),
    ("minimax-m2.5", 230e9, 10e9, "no_input_embedding", "MiniMax-M2: 230B total, 10B active"),
    ("glm-5", 744e9, 40e9, "no_embeddings", "Z.ai GLM-5: 744B, 40B active"),
    ("gpt-2", 124e6, 124e6, "all", "OpenAI GPT-2 small, 124M"),
]


def _within(ours: float, published: float) -> bool:
    digits = len(f"{published:.3g}".replace(".", "").split("e")[0].rstrip("0")) or 1
    half_unit = 0.5 * 10 ** (len(str(int(published))) - max(digits, 2))
    return abs(ours - published) <= max(0.01 * published, half_unit)


@pytest.mark.parametrize(("name", "total", "active", "convention", "source"), PUBLISHED)
def test_parameter_counts_match_published_figures(name, total, active, convention, source):
    llm = model(name)
    ours_active = {
        "all": llm.params_active,
        "no_input_embedding": llm.params_active - llm.embedding_params,
        "no_embeddings": llm.params_active - llm.embedding_params - llm.lm_head_params,
    }[convention]
    assert _within(llm.params_total, total), (llm.params_total, total, source)
    assert _within(ours_active, active), (ours_active, active, source)


def test_exact_counts_of_two_well_known_checkpoints():
    assert model("gpt2").params_total == 124_439_808  # GPT-2 small, tied embeddings
    assert model("llama-3.1-8b").params_total == 8_030_261_248


@pytest.mark.parametrize(
    ("name", "short", "weights"),
    [
        ("llama-3.1-70b", "llama-3.1-70b", DType.bf16),
        ("meta-llama/Llama-3.1-70B", "llama-3.1-70b", DType.bf16),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", "llama-3.1-70b", DType.bf16),
        ("nvidia/Llama-3.1-8B-Instruct-FP8", "llama-3.1-8b", DType.fp8_e4m3),
        ("nvidia/Llama-3.1-70B-Instruct-FP8", "llama-3.1-70b", DType.fp8_e4m3),
        ("nvidia/DeepSeek-R1-NVFP4", "deepseek-r1", DType.nvfp4),
        ("Qwen/Qwen3-235B-A22B-FP8", "qwen3-235b-a22b", DType.fp8_e4m3),
        ("meta-llama/Llama-2-70b-hf", "llama-2-70b", DType.bf16),
        ("openai/gpt-oss-120b", "gpt-oss-120b", DType.bf16),
        ("GPT2", "gpt-2", DType.bf16),
    ],
)
def test_names_and_hugging_face_ids_resolve(name, short, weights):
    llm = model(name)
    assert llm.name == short and llm.precision.weights is weights


def test_every_packaged_model_loads_with_its_family():
    families = {model(n).family for n in model_names()}
    assert {
        "llama",
        "mixtral",
        "qwen3",
        "qwen3_moe",
        "deepseek_v3",
        "kimi_k2",
        "gpt_oss",
        "minimax_m2",
        "glm_moe_dsa",
        "gpt2",
    } <= families


def test_architecture_details_are_read():
    ds = model("deepseek-v3")
    assert ds.layers[0].mlp.kind == "dense" and ds.layers[3].mlp.kind == "moe"
    assert ds.layers[3].attention.kind == "mla" and ds.precision.weights is DType.fp8_e4m3
    oss = model("gpt-oss-120b")
    windows = [x.attention.window for x in oss.layers]
    assert windows[:2] == [128, None] and windows.count(128) == 18
    assert oss.precision.experts is DType.mxfp4 and oss.precision.weights is DType.bf16
    assert model("glm-5").layers[5].attention.index_topk == 2048
    assert model("kimi-k2.5").precision.experts is DType.int4


def test_kv_bytes_per_token_closed_forms():
    llama = model("llama-3.1-70b")  # 80 layers x 8 kv heads x (128 + 128) x 2 bytes
    assert llama.kv_bytes_per_token() == 80 * 8 * 256 * 2
    ds = model("deepseek-v3")  # MLA caches the 512 latent + 64 rope key per layer
    assert ds.kv_bytes_per_token() == 61 * (512 + 64) * 2


QWEN25_7B = {
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "max_position_embeddings": 32768,
    "tie_word_embeddings": False,
    "sliding_window": 131072,
    "use_sliding_window": False,
}
MISTRAL_7B = {
    "model_type": "mistral",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 32000,
    "max_position_embeddings": 32768,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
}


@pytest.mark.parametrize(
    ("cfg", "published", "window"),
    [
        (QWEN25_7B, 7.61e9, None),  # Qwen2.5-7B model card: 7.61B, qkv projections carry biases
        (MISTRAL_7B, 7.24e9, 4096),  # Mistral-7B-v0.1: 7.24B, 4,096-token sliding window
    ],
)
def test_qwen25_and_mistral_configs(tmp_path, cfg, published, window):
    import json

    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    llm = load_config(path)
    assert _within(llm.params_total, published)
    assert llm.layers[0].attention.window == window
    assert llm.layers[0].attention.qkv_bias is (cfg["model_type"] == "qwen2")
