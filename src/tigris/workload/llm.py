"""What an LLM is, read from a Hugging Face `config.json` as plain JSON.

An `LLM` is a list of decoder layers (attention + dense MLP or mixture of experts) between an
embedding and an LM head. Families are parsed by one function each, chosen by the config's
`model_type` in `FAMILIES`; anything else is refused with a clear error. Parameter counts
are exact sums over the weight tensors the reference implementations create (Hugging Face
`transformers` modeling files; DeepSeek-V3 report, arXiv:2412.19437, for MLA and experts).
Multi-token-prediction modules are not counted: published totals leave them out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tigris.dtypes import DType
from tigris.errors import SpecError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Attention(_Frozen):
    """One layer's attention. `mla` is DeepSeek's multi-head latent attention."""

    kind: Literal["mha", "gqa", "mla"]
    heads: int
    kv_heads: int
    head_dim: int = Field(description="query/key width per head (MLA: nope + rope)")
    v_head_dim: int
    window: int | None = Field(None, description="sliding window in tokens; None = full")
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    rope_dim: int | None = None
    index_heads: int | None = Field(None, description="DSA indexer heads (sparse attention)")
    index_head_dim: int | None = None
    index_topk: int | None = Field(None, description="keys each query attends to under DSA")
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: Literal["none", "head", "layer"] = "none"
    sinks: bool = False

    def params(self, hidden: int) -> int:
        h, d, v = self.heads, self.head_dim, self.v_head_dim
        if self.kind == "mla":
            assert self.kv_lora_rank is not None and self.rope_dim is not None
            nope = d - self.rope_dim
            q = (
                hidden * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * h * d
                if self.q_lora_rank
                else hidden * h * d
            )
            kv = (
                hidden * (self.kv_lora_rank + self.rope_dim)
                + self.kv_lora_rank
                + self.kv_lora_rank * h * (nope + v)
            )
            index = 0
            if self.index_heads and self.index_head_dim:
                q_in = self.q_lora_rank or hidden
                index = (
                    q_in * self.index_heads * self.index_head_dim
                    + hidden * self.index_head_dim
                    + 2 * self.index_head_dim
                    + hidden * self.index_heads
                )
            return q + kv + index + h * v * hidden
        kv = self.kv_heads
        total = hidden * (h * d + kv * d + kv * v) + h * v * hidden
        if self.qkv_bias:
            total += h * d + kv * d + kv * v
        if self.o_bias:
            total += hidden
        total += {"none": 0, "head": 2 * d, "layer": h * d + kv * d}[self.qk_norm]
        return total + (h if self.sinks else 0)

    def kv_bytes_per_token(self, dtype: DType) -> float:
        """Bytes cached per token in this layer (MLA caches the latent and the rope key)."""
        if self.kind == "mla":
            assert self.kv_lora_rank is not None and self.rope_dim is not None
            width = self.kv_lora_rank + self.rope_dim + (self.index_head_dim or 0)
        else:
            width = self.kv_heads * (self.head_dim + self.v_head_dim)
        return width * dtype.bytes


class Dense(_Frozen):
    kind: Literal["dense"] = "dense"
    intermediate: int
    gated: bool = True
    bias: bool = False

    def params(self, hidden: int) -> int:
        mats = 3 if self.gated else 2
        bias = (self.intermediate * (2 if self.gated else 1) + hidden) if self.bias else 0
        return mats * hidden * self.intermediate + bias

    def active_params(self, hidden: int) -> int:
        return self.params(hidden)


class MoE(_Frozen):
    kind: Literal["moe"] = "moe"
    experts: int
    top_k: int
    intermediate: int = Field(description="per routed expert")
    shared_experts: int = 0
    shared_intermediate: int = Field(0, description="per shared expert")
    router_bias: bool = False
    expert_bias: bool = False

    def _expert(self, hidden: int) -> int:
        bias = 2 * self.intermediate + hidden if self.expert_bias else 0
        return 3 * hidden * self.intermediate + bias

    def _fixed(self, hidden: int) -> int:
        router = hidden * self.experts + (self.experts if self.router_bias else 0)
        return router + self.shared_experts * 3 * hidden * self.shared_intermediate

    def params(self, hidden: int) -> int:
        return self._fixed(hidden) + self.experts * self._expert(hidden)

    def active_params(self, hidden: int) -> int:
        return self._fixed(hidden) + self.top_k * self._expert(hidden)


class Layer(_Frozen):
    attention: Attention
    mlp: Dense | MoE = Field(discriminator="kind")


class Precision(_Frozen):
    """Storage formats: weights, routed experts, embeddings and LM head, KV cache, activations."""

    weights: DType = DType.bf16
    experts: DType = DType.bf16
    embeddings: DType = DType.bf16
    kv: DType = DType.bf16
    activations: DType = DType.bf16
    gemm_inputs: DType | None = Field(
        None,
        description="format activations are quantised to for the weight GEMMs (W8A8, W4A4); "
        "None: they enter in `activations`",
    )


class LLM(_Frozen):
    name: str
    family: str
    hidden: int
    vocab: int
    layers: tuple[Layer, ...]
    tie_embeddings: bool = False
    norm: Literal["rms", "layer"] = "rms"
    positions: Literal["rope", "learned"] = "rope"
    max_positions: int
    precision: Precision = Precision()
    hf_id: str | None = None

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def embedding_params(self) -> int:
        learned = self.max_positions * self.hidden if self.positions == "learned" else 0
        return self.vocab * self.hidden + learned

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tie_embeddings else self.vocab * self.hidden

    def _norm_params(self) -> int:
        per = self.hidden * (2 if self.norm == "layer" else 1)
        return per * (2 * self.num_layers + 1)

    @property
    def params_total(self) -> int:
        body = sum(x.attention.params(self.hidden) + x.mlp.params(self.hidden) for x in self.layers)
        return self.embedding_params + self.lm_head_params + self._norm_params() + body

    @property
    def params_active(self) -> int:
        """Parameters a token touches: all but the experts it was not routed to."""
        body = sum(
            x.attention.params(self.hidden) + x.mlp.active_params(self.hidden) for x in self.layers
        )
        return self.embedding_params + self.lm_head_params + self._norm_params() + body

    @property
    def is_moe(self) -> bool:
        return any(isinstance(x.mlp, MoE) for x in self.layers)

    def kv_bytes_per_token(self, dtype: DType | None = None) -> float:
        """KV-cache bytes per token of context, summed over layers (full-attention layers)."""
        dt = dtype or self.precision.kv
        return sum(x.attention.kv_bytes_per_token(dt) for x in self.layers)

    def weight_bytes(self) -> float:
        """Bytes of all weights in their storage formats (norms and biases in activation dtype)."""
        p = self.precision
        expert = sum(
            x.mlp.experts * x.mlp._expert(self.hidden)
            for x in self.layers
            if isinstance(x.mlp, MoE)
        )
        embed = self.embedding_params + self.lm_head_params
        rest = self.params_total - expert - embed
        return expert * p.experts.bytes + embed * p.embeddings.bytes + rest * p.weights.bytes

    def with_precision(self, **formats: DType) -> LLM:
        return self.model_copy(update={"precision": self.precision.model_copy(update=formats)})


# ----------------------------------------------------------------------------------------
# config.json -> LLM, one parser per family
# ----------------------------------------------------------------------------------------

Config = dict[str, Any]


class ConfigError(ValueError):
    def __init__(self, field: str, value: object, message: str) -> None:
        self.field, self.value, self.message = field, value, message
        super().__init__(message)


def _int(cfg: Config, key: str, default: int | None = None) -> int:
    value = cfg.get(key, default)
    if value is None:
        raise ConfigError(key, None, "required field is missing")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(key, value, "expected a positive integer")
    return value


def _opt_int(cfg: Config, key: str) -> int | None:
    return _int(cfg, key) if cfg.get(key) is not None else None


def _gqa(cfg: Config, **extra: Any) -> Attention:
    heads = _int(cfg, "num_attention_heads")
    kv = _int(cfg, "num_key_value_heads", heads)
    if heads % kv:
        raise ConfigError("num_key_value_heads", kv, f"does not divide {heads} heads")
    head_dim = _int(cfg, "head_dim", _int(cfg, "hidden_size") // heads)
    return Attention(
        kind="mha" if kv == heads else "gqa",
        heads=heads,
        kv_heads=kv,
        head_dim=head_dim,
        v_head_dim=head_dim,
        **extra,
    )


def _window(cfg: Config) -> int | None:
    if cfg.get("use_sliding_window") is False:
        return None
    return _opt_int(cfg, "sliding_window")


def _dense_mlp(cfg: Config, key: str = "intermediate_size") -> Dense:
    return Dense(intermediate=_int(cfg, key), bias=bool(cfg.get("mlp_bias", False)))


def _llama(cfg: Config) -> list[Layer]:
    """Llama 2/3.x, Mistral, Qwen2/2.5 (qkv bias), Qwen3 (per-head qk norm), MiMo."""
    family = cfg["model_type"]
    attn = _gqa(
        cfg,
        window=_window(cfg),
        qkv_bias=bool(cfg.get("attention_bias", family == "qwen2")),
        o_bias=bool(cfg.get("attention_bias", False)) and family != "qwen2",
        qk_norm="head" if family in ("qwen3", "qwen3_moe") else "none",
    )
    layers = []
    sparse_step = cfg.get("decoder_sparse_step", 1) or 1
    mlp_only = set(cfg.get("mlp_only_layers") or [])
    for i in range(_int(cfg, "num_hidden_layers")):
        mlp: Dense | MoE
        experts = cfg.get("num_local_experts") or cfg.get("num_experts")
        if experts and i not in mlp_only and (i + 1) % sparse_step == 0:
            inter = cfg.get("moe_intermediate_size") or _int(cfg, "intermediate_size")
            mlp = MoE(
                experts=_int(cfg, "num_experts" if cfg.get("num_experts") else "num_local_experts"),
                top_k=_int(cfg, "num_experts_per_tok"),
                intermediate=inter,
            )
        else:
            mlp = _dense_mlp(cfg)
        layers.append(Layer(attention=attn, mlp=mlp))
    return layers


def _deepseek(cfg: Config) -> list[Layer]:
    """DeepSeek-V3/R1/V3.2, Kimi-K2, GLM-5: MLA (+ DSA indexer), shared + routed experts."""
    heads = _int(cfg, "num_attention_heads")
    nope, rope = _int(cfg, "qk_nope_head_dim"), _int(cfg, "qk_rope_head_dim")
    index = {}
    if cfg.get("index_n_heads"):
        index = {
            "index_heads": _int(cfg, "index_n_heads"),
            "index_head_dim": _int(cfg, "index_head_dim"),
            "index_topk": _int(cfg, "index_topk"),
        }
    attn = Attention(
        kind="mla",
        heads=heads,
        kv_heads=heads,
        head_dim=nope + rope,
        v_head_dim=_int(cfg, "v_head_dim"),
        q_lora_rank=_opt_int(cfg, "q_lora_rank"),
        kv_lora_rank=_int(cfg, "kv_lora_rank"),
        rope_dim=rope,
        **index,
    )
    moe = MoE(
        experts=_int(cfg, "n_routed_experts"),
        top_k=_int(cfg, "num_experts_per_tok"),
        intermediate=_int(cfg, "moe_intermediate_size"),
        shared_experts=cfg.get("n_shared_experts") or 0,
        shared_intermediate=_int(cfg, "moe_intermediate_size"),
        router_bias=cfg.get("topk_method") == "noaux_tc",
    )
    dense = _dense_mlp(cfg)
    first_dense = cfg.get("first_k_dense_replace", 0) or 0
    freq = cfg.get("moe_layer_freq", 1) or 1
    return [
        Layer(attention=attn, mlp=moe if i >= first_dense and i % freq == 0 else dense)
        for i in range(_int(cfg, "num_hidden_layers"))
    ]


def _gpt_oss(cfg: Config) -> list[Layer]:
    """gpt-oss: GQA with attention sinks and biases, alternating sliding/full, biased experts."""
    window = _int(cfg, "sliding_window")
    kinds = cfg.get("layer_types") or ["sliding_attention", "full_attention"] * (
        _int(cfg, "num_hidden_layers") // 2
    )
    moe = MoE(
        experts=_int(cfg, "num_local_experts"),
        top_k=_int(cfg, "num_experts_per_tok"),
        intermediate=_int(cfg, "intermediate_size"),
        router_bias=True,
        expert_bias=True,
    )
    layers = []
    for kind in kinds[: _int(cfg, "num_hidden_layers")]:
        attn = _gqa(
            cfg,
            qkv_bias=True,
            o_bias=True,
            sinks=True,
            window=window if kind == "sliding_attention" else None,
        )
        layers.append(Layer(attention=attn, mlp=moe))
    return layers


def _minimax_m2(cfg: Config) -> list[Layer]:
    """MiniMax-M2/M2.5: GQA with layer-wide qk norm, 256 routed experts, no shared expert."""
    attn = _gqa(cfg, qk_norm="layer" if cfg.get("use_qk_norm") else "none")
    shared = cfg.get("shared_intermediate_size") or 0
    moe = MoE(
        experts=_int(cfg, "num_local_experts"),
        top_k=_int(cfg, "num_experts_per_tok"),
        intermediate=_int(cfg, "intermediate_size"),
        shared_experts=1 if shared else 0,
        shared_intermediate=shared,
        router_bias=bool(cfg.get("use_routing_bias")),
    )
    return [Layer(attention=attn, mlp=moe) for _ in range(_int(cfg, "num_hidden_layers"))]


def _gpt2(cfg: Config) -> list[Layer]:
    """GPT-2: learned positions, LayerNorm, biased MHA and a 4x GELU MLP."""
    hidden, heads = _int(cfg, "n_embd"), _int(cfg, "n_head")
    attn = Attention(
        kind="mha",
        heads=heads,
        kv_heads=heads,
        head_dim=hidden // heads,
        v_head_dim=hidden // heads,
        qkv_bias=True,
        o_bias=True,
    )
    mlp = Dense(intermediate=cfg.get("n_inner") or 4 * hidden, gated=False, bias=True)
    return [Layer(attention=attn, mlp=mlp) for _ in range(_int(cfg, "n_layer"))]


FAMILIES: dict[str, Callable[[Config], list[Layer]]] = {
    "llama": _llama,
    "mistral": _llama,
    "mixtral": _llama,
    "qwen2": _llama,
    "qwen3": _llama,
    "qwen3_moe": _llama,
    "mimo": _llama,
    "deepseek_v3": _deepseek,
    "deepseek_v32": _deepseek,
    "kimi_k2": _deepseek,
    "glm_moe_dsa": _deepseek,
    "gpt_oss": _gpt_oss,
    "minimax_m2": _minimax_m2,
    "gpt2": _gpt2,
}
# Multimodal wrappers whose language model sits in `text_config`.
WRAPPERS: frozenset[str] = frozenset({"kimi_k25"})


def _precision(cfg: Config, quant: Config | None) -> Precision:
    """Storage formats from the config's quantization block or a modelopt hf_quant_config."""
    q = cfg.get("quantization_config") or {}
    algo = str(
        (quant or {}).get("quantization", {}).get("quant_algo") or q.get("quant_algo") or ""
    ).upper()
    kv_algo = str(
        (quant or {}).get("quantization", {}).get("kv_cache_quant_algo")
        or q.get("kv_cache_quant_algo")
        or ""
    ).upper()
    method = str(q.get("quant_method") or "").lower()
    weights = experts = DType.bf16
    gemm_inputs = None
    if algo == "NVFP4":
        weights = experts = gemm_inputs = DType.nvfp4  # W4A4
    elif algo == "FP8" or method == "fp8":
        weights = experts = gemm_inputs = DType.fp8_e4m3  # W8A8: activations quantised too
    elif method == "mxfp4":
        experts = DType.mxfp4  # attention, router, embeddings stay bf16 (modules_to_not_convert)
    elif method == "compressed-tensors":
        groups = q.get("config_groups") or {}
        bits = {
            g.get("weights", {}).get("num_bits") for g in groups.values() if isinstance(g, dict)
        }
        if 4 in bits:
            experts = DType.int4
    kv = DType.fp8_e4m3 if kv_algo == "FP8" else DType.bf16
    return Precision(weights=weights, experts=experts, kv=kv, gemm_inputs=gemm_inputs)


def from_config(
    cfg: Config, name: str, quant: Config | None = None, hf_id: str | None = None
) -> LLM:
    """Build an LLM from a parsed config.json; raises ConfigError for what it cannot model."""
    family = cfg.get("model_type")
    if family in WRAPPERS:
        inner = cfg.get("text_config")
        if not isinstance(inner, dict):
            raise ConfigError("text_config", None, f"{family} needs a text_config")
        merged = from_config(inner, name, quant, hf_id)
        return merged.model_copy(
            update={
                "precision": _precision(inner, quant)
                if inner.get("quantization_config")
                else _precision(cfg, quant)
            }
        )
    parser = FAMILIES.get(str(family))
    if parser is None:
        arch = (cfg.get("architectures") or ["?"])[0]
        raise ConfigError(
            "model_type",
            family,
            f"architecture {arch} is not modeled yet (modeled: {', '.join(sorted(FAMILIES))})",
        )
    gpt2 = family == "gpt2"
    return LLM(
        name=name,
        family=str(family),
        hidden=_int(cfg, "n_embd" if gpt2 else "hidden_size"),
        vocab=_int(cfg, "vocab_size"),
        layers=tuple(parser(cfg)),
        tie_embeddings=bool(cfg.get("tie_word_embeddings", gpt2)),
        norm="layer" if gpt2 else "rms",
        positions="learned" if gpt2 else "rope",
        max_positions=_int(cfg, "n_positions" if gpt2 else "max_position_embeddings", 4096),
        precision=_precision(cfg, quant),
        hf_id=hf_id,
    )


def load_config(path: str | Path, name: str | None = None, hf_id: str | None = None) -> LLM:
    """Read a config.json (and a `*_hf_quant_config.json` beside it, if any) into an LLM."""
    path = Path(path)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(str(path), "", None, f"cannot read file ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), "", None, f"not valid JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise SpecError(str(path), "", None, "expected a JSON object")
    quant_path = path.with_name(path.name.replace("_config.json", "_hf_quant_config.json"))
    quant = None
    if quant_path != path and quant_path.is_file():
        quant = json.loads(quant_path.read_text(encoding="utf-8"))
    stem = path.name.removesuffix(".json").removesuffix("_config")
    try:
        return from_config(cfg, name or stem, quant, hf_id)
    except ConfigError as exc:
        raise SpecError(str(path), exc.field, exc.value, exc.message) from None
    except ValueError as exc:  # pydantic rejected a derived value
        raise SpecError(str(path), "", None, str(exc).splitlines()[0]) from None
