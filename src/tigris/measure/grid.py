"""Which shapes `tigris measure` times: plain data, no torch.

Three sizes. `full` covers what LLM serving runs on a data-centre GPU (the ranges of the
../shared/measured tables: GEMM m from 1 to 16k against the n, k of real projection widths,
attention from 128 to 32k tokens with MHA, GQA and MQA head layouts). `quick` is a few
minutes' subset of it for a first look. `cpu` is tiny, for checking the harness on a
machine with no GPU (that is how CI runs it); its timings say nothing about a GPU.
Shapes whose working set would not fit in `memory_B` are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Literal

Size = Literal["full", "quick", "cpu"]


@dataclass(frozen=True, slots=True)
class Attn:
    batch: int
    tokens: int  # prefill: the input length; decode: the KV length reached (`step`)
    heads: int
    kv_heads: int
    head_dim: int


@dataclass(frozen=True, slots=True)
class Grid:
    gemm: tuple[tuple[int, int, int], ...]
    context: tuple[Attn, ...]
    generation: tuple[Attn, ...]
    vector: tuple[tuple[int, int], ...]  # (tokens, hidden)
    layer_prefill: tuple[tuple[int, int], ...]  # (batch, isl)
    layer_decode: tuple[tuple[int, int], ...]  # (batch, kv length)
    nccl_elements: tuple[int, ...]


_HEADS = {
    "full": [(32, 32), (32, 8), (64, 8), (96, 8), (128, 8), (64, 1), (16, 4)],
    "quick": [(32, 8), (64, 8)],
    "cpu": [(4, 4), (4, 2)],
}


def grid(size: Size, memory_B: float) -> Grid:
    """The shapes for a run of this size, within `memory_B` of device memory."""
    p2 = [2**i for i in range(15)]  # 1 .. 16384
    if size == "full":
        ms = p2
        ns = [256, 1024, 2048, 4096, 5120, 8192, 14336, 16384, 28672]
        ks = [256, 1024, 4096, 5120, 8192, 14336, 16384]
        batches, lens, dims = [1, 2, 4, 8, 16, 32, 64, 128, 256], p2[7:], [64, 128]
        vec_tokens, hiddens = p2, [2048, 4096, 8192, 16384]
        nccl = [2**i for i in range(8, 29)]
    elif size == "quick":
        ms = [1, 16, 128, 1024, 8192]
        ns = ks = [1024, 4096, 8192]
        batches, lens, dims = [1, 8, 64], [512, 2048, 8192], [128]
        vec_tokens, hiddens = [1, 64, 4096], [4096, 8192]
        nccl = [2**i for i in range(8, 29, 4)]
    else:
        ms, ns, ks = [1, 8, 32], [64, 256], [64, 256]
        batches, lens, dims = [1, 2], [16, 64], [16]
        vec_tokens, hiddens = [1, 16], [64, 256]
        nccl = [2**i for i in range(6, 14, 3)]

    def fits(b: float) -> bool:
        return b <= 0.4 * memory_B

    gemm = tuple(
        (m, n, k) for m, n, k in product(ms, ns, ks) if fits(2.0 * (m * k + k * n + m * n))
    )
    heads = _HEADS[size]
    # Prefill: batch x isl tokens at most 256k (the measured tables stop there too).
    context = tuple(
        Attn(b, s, h, kv, d)
        for b, s, (h, kv), d in product(batches, lens, heads, dims)
        if b * s <= 262_144 and fits(2.0 * b * s * d * (2 * h + 2 * kv))
    )
    generation = tuple(
        Attn(b, s, h, kv, d)
        for b, s, (h, kv), d in product(batches, lens, heads, dims)
        if fits(2.0 * b * s * 2 * kv * d)
    )
    vector = tuple((t, h) for t, h in product(vec_tokens, hiddens) if fits(6.0 * t * h))
    layer_prefill = tuple((b, s) for b, s in product(batches[:4], lens) if b * s <= 32_768)
    layer_decode = tuple((b, s) for b, s in product(batches, lens[:4]))
    return Grid(gemm, context, generation, vector, layer_prefill, layer_decode, tuple(nccl))
