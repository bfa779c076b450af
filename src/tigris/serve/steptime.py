"""Step times for the simulator, from `cost/` only, fast enough to ask millions of times.

A serving step is a batch of sequences: decodes (1 new token after L cached) and prefill
chunks (q new tokens after p cached). Its time on one replica splits into parts that
depend on few numbers:

    body(T)            every op but attention and the LM head, for T new tokens in the step
                       (GEMMs, norms, element-wise, collectives; MoE routing sees T tokens)
    head(n)            the LM head for the n sequences that emit a token
    decode_attn(b, L)  attention of b decodes at mean context L (memory-bound: the KV read)
    prefill_attn(q, p) attention of one prefill chunk

Each part is evaluated by `cost.step.chip_ops` on a grid when the timer is built and then
interpolated (piecewise linear; bilinear for the two-argument parts). Several prefill
chunks in one step share one kernel: their times add, less the fixed cost of all but one
launch. With pipeline parallelism the step is every stage in turn, as in `cost.step`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tigris.cost.params import Calibration
from tigris.cost.step import Parallel, calibration, chip_ops
from tigris.spec.system import System
from tigris.workload.llm import LLM
from tigris.workload.ops import Attention, Gemm, Op
from tigris.workload.step import Decode, Mixed, Prefill, Step


def _geometric(top: int, ratio: float = 1.5) -> list[int]:
    pts, x = [1], 1.0
    while pts[-1] < top:
        x *= ratio
        pts.append(min(top, max(pts[-1] + 1, round(x))))
    return pts


def _interp(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Piecewise linear; beyond the last point, extrapolate the last segment's slope."""
    i = bisect.bisect_right(xs, x) - 1
    i = min(max(i, 0), len(xs) - 2)
    x0, x1 = xs[i], xs[i + 1]
    return ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0)


@dataclass(frozen=True, slots=True)
class Table2:
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    zs: tuple[tuple[float, ...], ...]  # zs[i][j] at (xs[i], ys[j])

    def __call__(self, x: float, y: float) -> float:
        i = min(max(bisect.bisect_right(self.xs, x) - 1, 0), len(self.xs) - 2)
        x0, x1 = self.xs[i], self.xs[i + 1]
        lo = _interp(self.ys, self.zs[i], y)
        hi = _interp(self.ys, self.zs[i + 1], y)
        return lo + (hi - lo) * (x - x0) / (x1 - x0)


def _is_attention(op: Op) -> bool:
    return isinstance(op, Attention)


def _is_head(op: Op) -> bool:
    return isinstance(op, Gemm) and op.name.split(".")[0] == "lm_head"


def _is_body(op: Op) -> bool:
    return not _is_attention(op) and not _is_head(op)


class StepTimer:
    """Seconds per step of one replica (tp x pp chips of `system`)."""

    def __init__(
        self,
        system: System,
        llm: LLM,
        par: Parallel,
        cal: Calibration | None = None,
        max_tokens: int = 16384,
        max_seqs: int = 1024,
        max_context: int = 131072,
    ) -> None:
        self.system, self.llm, self.par = system, llm, par
        self.cal, self.calibration = calibration(system, cal)
        toks = _geometric(max(max_tokens, 2))
        seqs = _geometric(max(max_seqs, 2), 2.0)
        ctx = [0, *_geometric(max(max_context, 2), 2.0)]
        self._toks = tuple(float(t) for t in toks)
        self._body = tuple(self._part(Prefill(1, t), _is_body) for t in toks)
        self._seqs = tuple(float(n) for n in seqs)
        self._head = tuple(self._part(Decode.uniform(n, 1), _is_head) for n in seqs)
        self.decode_attn = Table2(
            self._seqs,
            tuple(float(c) for c in ctx),
            tuple(
                tuple(self._part(Decode.uniform(b, c), _is_attention) for c in ctx) for b in seqs
            ),
        )
        qs = _geometric(max(max_tokens, 2), 2.0)
        self.prefill_attn = Table2(
            tuple(float(q) for q in qs),
            tuple(float(c) for c in ctx),
            tuple(tuple(self._part(Mixed(((q, c),)), _is_attention) for c in ctx) for q in qs),
        )
        self._launch = self.prefill_attn(1, 0)

    def _part(self, step: Step, select: Callable[[Op], bool]) -> float:
        ops = chip_ops(self.system, self.llm, step, self.par, self.cal, select)
        return sum(oc.time_s for oc in ops) * self.par.pp

    def body(self, tokens: float) -> float:
        return _interp(self._toks, self._body, tokens) if tokens > 0 else 0.0

    def head(self, seqs: float) -> float:
        return _interp(self._seqs, self._head, seqs) if seqs > 0 else 0.0

    def step(
        self,
        decodes: int,
        decode_context: float,
        chunks: Sequence[tuple[int, int]] = (),
        emitting: int | None = None,
    ) -> float:
        """One step: `decodes` sequences at total context `decode_context`, plus prefill
        `chunks` (new tokens, cached tokens); `emitting` sequences reach the LM head
        (default: every decode and every chunk)."""
        tokens = decodes + sum(q for q, _ in chunks)
        n = decodes + len(chunks) if emitting is None else emitting
        t = self.body(tokens) + self.head(n)
        if decodes:
            t += self.decode_attn(decodes, decode_context / decodes)
        if chunks:
            each = [self.prefill_attn(q, p) for q, p in chunks]
            t += max(sum(each) - (len(each) - 1) * self._launch, max(each))
        return t
