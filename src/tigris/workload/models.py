"""Packaged models, found by short name ('llama-3.1-70b') or Hugging Face id.

Hugging Face ids resolve by dropping the organisation and the variant suffixes that do not
change the architecture (-Instruct, -hf, -Base ...); a precision suffix (-FP8, -NVFP4)
sets the weight formats of that checkpoint. A path to a config.json works wherever a
name does.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib import resources
from pathlib import Path

from tigris.dtypes import DType
from tigris.errors import SpecError
from tigris.workload.llm import LLM, load_config

_CONFIGS = resources.files("tigris.workload") / "configs"

# short name -> (packaged config file, canonical Hugging Face id, other ids)
MODELS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "llama-3.1-8b": (
        "meta-llama--Meta-Llama-3.1-8B",
        "meta-llama/Llama-3.1-8B",
        ("meta-llama/Meta-Llama-3.1-8B",),
    ),
    "llama-3.1-70b": (
        "meta-llama--Meta-Llama-3.1-70B",
        "meta-llama/Llama-3.1-70B",
        ("meta-llama/Meta-Llama-3.1-70B",),
    ),
    "llama-3.1-405b": (
        "meta-llama--Meta-Llama-3.1-405B",
        "meta-llama/Llama-3.1-405B",
        ("meta-llama/Meta-Llama-3.1-405B",),
    ),
    "llama-2-70b": ("meta-llama--Llama-2-70b-hf", "meta-llama/Llama-2-70b-hf", ()),
    "mixtral-8x7b": ("mistralai--Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x7B-v0.1", ()),
    "mixtral-8x22b": ("mistralai--Mixtral-8x22B-v0.1", "mistralai/Mixtral-8x22B-v0.1", ()),
    "qwen3-8b": ("Qwen--Qwen3-8B", "Qwen/Qwen3-8B", ()),
    "qwen3-32b": ("Qwen--Qwen3-32B", "Qwen/Qwen3-32B", ()),
    "qwen3-30b-a3b": ("Qwen--Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B", ()),
    "qwen3-235b-a22b": ("Qwen--Qwen3-235B-A22B", "Qwen/Qwen3-235B-A22B", ()),
    "deepseek-v3": ("deepseek-ai--DeepSeek-V3", "deepseek-ai/DeepSeek-V3", ()),
    "deepseek-r1": ("deepseek-ai--DeepSeek-R1", "deepseek-ai/DeepSeek-R1", ()),
    "kimi-k2": ("moonshotai--Kimi-K2-Instruct", "moonshotai/Kimi-K2-Instruct", ()),
    "kimi-k2.5": ("moonshotai--Kimi-K2.5", "moonshotai/Kimi-K2.5", ()),
    "gpt-oss-120b": ("openai--gpt-oss-120b", "openai/gpt-oss-120b", ()),
    "gpt-oss-20b": ("openai--gpt-oss-20b", "openai/gpt-oss-20b", ()),
    "minimax-m2.5": ("MiniMaxAI--MiniMax-M2.5", "MiniMaxAI/MiniMax-M2.5", ()),
    "glm-5": ("zai-org--GLM-5", "zai-org/GLM-5", ()),
    "gpt-2": ("openai-community--gpt2", "openai-community/gpt2", ("gpt2",)),
}

# checkpoint suffix -> formats it sets (weights, experts; KV stays as the config says)
_PRECISION_SUFFIX: dict[str, DType] = {
    "-fp8": DType.fp8_e4m3,
    "-nvfp4": DType.nvfp4,
    "-fp4": DType.nvfp4,
    "-mxfp4": DType.mxfp4,
}
_PLAIN_SUFFIX = ("-instruct", "-hf", "-base", "-chat", "-it", "-v0.1", "-dynamic")


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-").split("/")[-1].removeprefix("meta-")


def _parse(name: str) -> tuple[str, DType | None]:
    """Normalise a name or id to a short-name key, and the precision its suffix implies."""
    key, precision = _key(name), None
    changed = True
    while changed:
        changed = False
        for suffix, dtype in _PRECISION_SUFFIX.items():
            if key.endswith(suffix):
                key, precision, changed = key.removesuffix(suffix), dtype, True
        for suffix in _PLAIN_SUFFIX:
            if key.endswith(suffix):
                key, changed = key.removesuffix(suffix), True
    return key, precision


@cache
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for short, (_, hf_id, others) in MODELS.items():
        for name in (short, hf_id, *others):
            index[_parse(name)[0]] = short
    return index


@cache
def _packaged(short: str) -> LLM:
    stem, hf_id, _ = MODELS[short]
    with resources.as_file(_CONFIGS / f"{stem}_config.json") as path:
        return load_config(path, name=short, hf_id=hf_id)


def model_names() -> list[str]:
    return list(MODELS)


def models() -> list[LLM]:
    return [_packaged(short) for short in MODELS]


def model(name: str | Path) -> LLM:
    """A packaged model by short name or Hugging Face id, or a config.json by path."""
    text = str(name)
    if text.endswith(".json") or Path(text).is_file():
        return load_config(text)
    key, precision = _parse(text)
    short = _index().get(key)
    if short is None:
        close = difflib.get_close_matches(key, list(_index()), n=1, cutoff=0.5)
        hint = f"; did you mean {_index()[close[0]]}?" if close else ""
        raise SpecError("model", "name", text, f"no such packaged model{hint}")
    llm = _packaged(short)
    if precision is not None:
        llm = llm.with_precision(weights=precision, experts=precision)
    return llm
