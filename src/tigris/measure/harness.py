"""The torch side of `tigris measure`: the device, a timer, a power meter and the kernels.

Timing. Each kernel is warmed up, then timed for about `window_s` of device time: one
calibration call sizes the number of iterations. On a CUDA device the time comes from CUDA
events; where the operands would fit in L2 (under `FLUSH_BELOW_L2` times its size) a buffer
twice the L2 is overwritten before each iteration, outside the timed region, so the kernel
reads its inputs from HBM as it would in a model, and the figure is the median over
iterations; larger shapes are timed back to back and averaged. On the CPU the wall clock
does the same job (no flush), which is only good for checking the harness.

Power. Where NVML (the `nvidia-ml-py` package) or `nvidia-smi` is at hand, a thread samples
the board power; the GEMM and decode-attention rows stretch their timed window to
`POWER_WINDOW_S` and record the mean of the samples that fell inside it.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tigris.errors import SpecError

FLUSH_BELOW_L2 = 3.0
POWER_WINDOW_S = 0.3
POWER_PERIOD_S = 0.02
INSTALL = "needs PyTorch: pip install 'tigris[measure]' (or pip install torch)"


def need_torch():  # -> the torch module
    try:
        import torch
    except ImportError:
        raise SpecError("tigris measure", "", None, INSTALL) from None
    return torch


@dataclass
class Device:
    """The device being measured, what the timer needs to know about it, and its metadata."""

    torch: Any
    kind: str  # "cuda" or "cpu"
    name: str
    memory_B: float
    l2_B: float
    meta: dict[str, Any] = field(default_factory=dict)
    flush_buf: Any = None

    @property
    def dev(self):
        return self.torch.device(self.kind)

    def sync(self) -> None:
        if self.kind == "cuda":
            self.torch.cuda.synchronize()


def _smi(query: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        res = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def open_device(kind: str = "auto") -> Device:
    torch = need_torch()
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise SpecError("tigris measure", "--device", kind, "no CUDA device is visible")
    meta: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": "tigris " + shlex.join(sys.argv[1:]),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
    }
    if kind == "cuda":
        props = torch.cuda.get_device_properties(0)
        name = torch.cuda.get_device_name(0)
        memory, l2 = float(props.total_memory), float(getattr(props, "L2_cache_size", 0))
        fields = "driver_version,clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,power.limit"
        smi = _smi(fields)
        meta |= {
            "gpu": name,
            "gpus_visible": torch.cuda.device_count(),
            "cuda": torch.version.cuda,
            "compute_capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
            "sm_count": props.multi_processor_count,
            "memory_bytes": memory,
            "l2_bytes": l2,
        }
        if smi:
            names = fields.split(",")
            meta |= dict(zip(names, (v.strip() for v in smi.split(",")), strict=False))
        buf = torch.empty(int(2 * l2) // 4 or 1, dtype=torch.float32, device="cuda")
        return Device(torch, kind, name, memory, l2, meta, buf)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    name = f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
    meta |= {"gpu": None, "cpu": name, "memory_bytes": float(pages)}
    return Device(torch, "cpu", name, float(min(pages, 4e9)), 0.0, meta)


class PowerMeter:
    """Board power sampled on a thread; `mean(t0, t1)` over the samples between two instants."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._read = self._reader()
        self._thread: threading.Thread | None = None
        if self._read is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    @property
    def available(self) -> bool:
        return self._read is not None

    @staticmethod
    def _reader() -> Callable[[], float | None] | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        except Exception:  # no NVML: fall back to nvidia-smi, or nothing
            pass
        if _smi("power.draw") is None:
            return None

        def smi() -> float | None:
            out = _smi("power.draw")
            try:
                return float(out) if out else None
            except ValueError:
                return None

        return smi

    def _run(self) -> None:
        assert self._read is not None
        while not self._stop.is_set():
            w = self._read()
            if w is not None:
                self.samples.append((time.perf_counter(), w))
            self._stop.wait(POWER_PERIOD_S)

    def mean(self, t0: float, t1: float) -> tuple[float | None, int]:
        inside = [w for t, w in self.samples if t0 <= t <= t1]
        return (statistics.fmean(inside), len(inside)) if inside else (None, 0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


@dataclass(frozen=True, slots=True)
class Timing:
    ms: float
    iters: int
    t0: float  # wall-clock span of the timed window, for the power meter
    t1: float


def time_op(
    dev: Device,
    fn: Callable[[], Any],
    operand_B: float,
    window_s: float = 0.02,
    warmup: int = 3,
    min_iters: int = 5,
    max_iters: int = 2000,
) -> Timing:
    """Median (flushed) or mean (back to back) milliseconds of `fn` on the device."""
    for _ in range(warmup):
        fn()
    dev.sync()
    t = time.perf_counter()
    fn()
    dev.sync()
    one = max(time.perf_counter() - t, 1e-7)
    n = int(min(max_iters, max(min_iters, math.ceil(window_s / one))))
    if dev.kind == "cpu":
        times = []
        t0 = time.perf_counter()
        for _ in range(n):
            s = time.perf_counter()
            fn()
            times.append((time.perf_counter() - s) * 1e3)
        return Timing(statistics.median(times), n, t0, time.perf_counter())
    cuda = dev.torch.cuda
    flush = dev.flush_buf is not None and operand_B < FLUSH_BELOW_L2 * dev.l2_B
    t0 = time.perf_counter()
    if flush:
        events = [
            (cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)) for _ in range(n)
        ]
        for start, end in events:
            dev.flush_buf.zero_()
            start.record()
            fn()
            end.record()
        dev.sync()
        ms = statistics.median(s.elapsed_time(e) for s, e in events)
    else:
        start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        dev.sync()
        ms = start.elapsed_time(end) / n
    return Timing(ms, n, t0, time.perf_counter())


# --- kernels: each returns (a zero-argument callable, the bytes of its operands) -----------

DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "fp8": "float8_e4m3fn"}


def gemm(dev: Device, m: int, n: int, k: int, dtype: str) -> tuple[Callable[[], Any], float]:
    """`bfloat16`: torch.matmul. `fp8`: the flow TensorRT-LLM's tables time for per-tensor fp8,
    a static-scale quantisation of the bf16 activation and then the fp8 GEMM (cuBLASLt through
    torch._scaled_mm), bf16 out."""
    torch = dev.torch
    a = torch.randn(m, k, device=dev.dev, dtype=torch.bfloat16)
    if dtype == "bfloat16":
        b = torch.randn(k, n, device=dev.dev, dtype=torch.bfloat16)
        return (lambda: torch.matmul(a, b)), 2.0 * (m * k + k * n + m * n)
    f8 = torch.float8_e4m3fn
    bt = torch.randn(n, k, device=dev.dev).to(f8).t()  # column-major, as cuBLASLt wants
    scale = torch.ones((), device=dev.dev)

    def run():
        return torch._scaled_mm((a * scale).to(f8), bt, scale, scale, out_dtype=torch.bfloat16)

    return run, 2.0 * m * k + m * k + k * n + 2.0 * m * n


def fp8_supported(dev: Device) -> bool:
    torch = dev.torch
    if not hasattr(torch, "float8_e4m3fn"):
        return False
    return dev.kind == "cpu" or torch.cuda.get_device_capability(0) >= (8, 9)


def attention(
    dev: Device, batch: int, q_len: int, kv_len: int, heads: int, kv_heads: int, head_dim: int
) -> tuple[Callable[[], Any], float]:
    """PyTorch SDPA (flash or memory-efficient backend, GQA without repeating K/V): causal for
    prefill (q_len == kv_len), and one query against `kv_len` cached keys for decode."""
    torch = dev.torch
    sdpa = torch.nn.functional.scaled_dot_product_attention
    bf = torch.bfloat16
    q = torch.randn(batch, heads, q_len, head_dim, device=dev.dev, dtype=bf)
    k = torch.randn(batch, kv_heads, kv_len, head_dim, device=dev.dev, dtype=bf)
    v = torch.randn_like(k)
    causal = q_len > 1
    gqa = heads != kv_heads
    operand = 2.0 * (2 * q.numel() + 2 * k.numel())
    return (lambda: sdpa(q, k, v, is_causal=causal, enable_gqa=gqa)), operand


def rmsnorm(dev: Device, tokens: int, hidden: int) -> tuple[Callable[[], Any], float]:
    torch = dev.torch
    x = torch.randn(tokens, hidden, device=dev.dev, dtype=torch.bfloat16)
    w = torch.ones(hidden, device=dev.dev, dtype=torch.bfloat16)
    return (lambda: torch.nn.functional.rms_norm(x, (hidden,), w, 1e-6)), 4.0 * x.numel()


def silu_mul(dev: Device, tokens: int, hidden: int) -> tuple[Callable[[], Any], float]:
    """SwiGLU's element-wise part: silu(gate) * up, both halves of one [tokens, 2*hidden]."""
    torch = dev.torch
    x = torch.randn(tokens, 2 * hidden, device=dev.dev, dtype=torch.bfloat16)

    def run():
        g, u = x.chunk(2, dim=-1)
        return torch.nn.functional.silu(g) * u

    return run, 2.0 * (x.numel() + tokens * hidden)
