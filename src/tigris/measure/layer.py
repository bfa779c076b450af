"""One decoder layer of a packaged model, built in plain torch with random bf16 weights.

The layer is the one `tigris.workload` describes: norm, fused QKV projection, rotary
embedding, attention (SDPA, GQA without repeating K/V), output projection, residual, norm,
MLP (gated SiLU or GELU) and residual. Prefill runs `isl` tokens per sequence causally;
decode runs one token per sequence against a KV cache of `step` tokens (the new key and value
are written into the cache's last slot). Dense layers with MHA or GQA only: an MoE or MLA
layer is refused with a clear error, since a faithful torch version of those kernels is not
what this harness is for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tigris.errors import SpecError
from tigris.measure.harness import Device
from tigris.workload.llm import LLM, Dense


class TorchLayer:
    def __init__(self, dev: Device, llm: LLM) -> None:
        layer = llm.layers[0]
        a, mlp = layer.attention, layer.mlp
        if a.kind == "mla" or not isinstance(mlp, Dense):
            raise SpecError(llm.name, "layers[0]", a.kind, "measure runs dense MHA/GQA layers only")
        torch = dev.torch
        self.torch, self.dev, self.llm = torch, dev, llm
        self.h, self.kvh, self.d, self.hidden = a.heads, a.kv_heads, a.head_dim, llm.hidden
        self.gated = mlp.gated
        bf = torch.bfloat16

        def w(*shape: int):
            return torch.randn(*shape, device=dev.dev, dtype=bf) * shape[0] ** -0.5

        width = (a.heads + 2 * a.kv_heads) * a.head_dim
        self.wqkv = w(llm.hidden, width)
        self.wo = w(a.heads * a.v_head_dim, llm.hidden)
        self.w_in = w(llm.hidden, mlp.intermediate * (2 if mlp.gated else 1))
        self.w_out = w(mlp.intermediate, llm.hidden)
        self.norm_w = torch.ones(llm.hidden, device=dev.dev, dtype=bf)
        self.layer_norm = llm.norm == "layer"

    def weight_bytes(self) -> float:
        return 2.0 * sum(t.numel() for t in (self.wqkv, self.wo, self.w_in, self.w_out))

    def _norm(self, x):
        f = self.torch.nn.functional
        if self.layer_norm:
            return f.layer_norm(x, (self.hidden,), self.norm_w)
        return f.rms_norm(x, (self.hidden,), self.norm_w, 1e-6)

    def _rope(self, x, cos, sin):
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return self.torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def _rope_tables(self, positions):
        torch = self.torch
        half = self.d // 2
        inv = 1.0 / (10000 ** (torch.arange(half, device=self.dev.dev) / half))
        ang = positions[:, None].float() * inv[None, :]
        return ang.cos().to(torch.bfloat16), ang.sin().to(torch.bfloat16)

    def _block(self, x, attend: Callable[[Any, Any, Any], Any], cos, sin):
        torch = self.torch
        f = torch.nn.functional
        b, s, _ = x.shape
        qkv = self._norm(x) @ self.wqkv
        q, k, v = qkv.split([self.h * self.d, self.kvh * self.d, self.kvh * self.d], dim=-1)
        q = self._rope(q.view(b, s, self.h, self.d).transpose(1, 2), cos, sin)
        k = self._rope(k.view(b, s, self.kvh, self.d).transpose(1, 2), cos, sin)
        v = v.view(b, s, self.kvh, self.d).transpose(1, 2)
        o = attend(q, k, v).transpose(1, 2).reshape(b, s, self.h * self.d)
        x = x + o @ self.wo
        y = self._norm(x) @ self.w_in
        if self.gated:
            g, u = y.chunk(2, dim=-1)
            y = f.silu(g) * u
        else:
            y = f.gelu(y)
        return x + y @ self.w_out

    def forward_prefill(self, x):
        """The layer on `x` of shape [batch, isl, hidden], causally."""
        torch = self.torch
        sdpa = torch.nn.functional.scaled_dot_product_attention
        cos, sin = self._rope_tables(torch.arange(x.shape[1], device=self.dev.dev))
        gqa = self.h != self.kvh

        def attend(q, k, v):
            return sdpa(q, k, v, is_causal=True, enable_gqa=gqa)

        return self._block(x, attend, cos, sin)

    def prefill(self, batch: int, isl: int) -> tuple[Callable[[], Any], float]:
        torch = self.torch
        x = torch.randn(batch, isl, self.hidden, device=self.dev.dev, dtype=torch.bfloat16)
        return (lambda: self.forward_prefill(x)), self.weight_bytes()

    def decode(self, batch: int, step: int) -> tuple[Callable[[], Any], float]:
        torch = self.torch
        sdpa = torch.nn.functional.scaled_dot_product_attention
        bf = torch.bfloat16
        x = torch.randn(batch, 1, self.hidden, device=self.dev.dev, dtype=bf)
        k_cache = torch.randn(batch, self.kvh, step, self.d, device=self.dev.dev, dtype=bf)
        v_cache = torch.randn_like(k_cache)
        cos, sin = self._rope_tables(torch.tensor([step - 1], device=self.dev.dev))
        gqa = self.h != self.kvh

        def attend(q, k, v):
            k_cache[:, :, -1:].copy_(k)
            v_cache[:, :, -1:].copy_(v)
            return sdpa(q, k_cache, v_cache, enable_gqa=gqa)

        cache_B = 2.0 * 2 * k_cache.numel()
        return (lambda: self._block(x, attend, cos, sin)), self.weight_bytes() + cache_B
