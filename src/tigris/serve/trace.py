"""Requests: when they arrive and how long they are.

A trace is either a list of requests (synthetic open-loop arrivals, or a replayed JSONL / CSV
file with `timestamp`, `input_tokens`, `output_tokens`) or a closed loop of N clients, each
sending its next request the moment its last one finished (how the measured serving data
was taken). Lengths come from a distribution named in a short string:

    "2048"                        fixed
    "uniform:128:4096"            uniform integers, both ends included
    "lognormal:1000:0.8"          median 1000 tokens, sigma 0.8 (of the log)
    "chat" | "summarization"      a packaged histogram (serve/histograms.yaml)

Arrivals: `poisson` (exponential gaps at `rate` per second) and `gamma` (gaps of the same
mean with coefficient of variation `cv`; cv > 1 is bursty). All draws come from one
`numpy.random.Generator` seeded by the caller, so a seed gives the same trace every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml

from tigris.errors import SpecError

HISTOGRAMS = Path(__file__).with_name("histograms.yaml")


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    arrival_s: float
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class ClosedLoop:
    """`clients` concurrent users, `requests` in all; lengths drawn per request. Each client
    sends its first request at a time drawn uniformly from [0, `spread_s`) (0: all at once)
    and its next one as soon as the last is answered."""

    clients: int
    requests: int
    isl: Lengths
    osl: Lengths
    spread_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Lengths:
    kind: str
    a: float = 0.0
    b: float = 0.0
    bins: tuple[tuple[int, int, float], ...] = ()  # histogram: (low, high, weight)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            out = np.full(n, self.a)
        elif self.kind == "uniform":
            out = rng.integers(int(self.a), int(self.b) + 1, size=n)
        elif self.kind == "lognormal":
            out = rng.lognormal(np.log(self.a), self.b, size=n)
        else:
            w = np.array([x for _, _, x in self.bins], dtype=float)
            pick = rng.choice(len(self.bins), size=n, p=w / w.sum())
            lo = np.array([lo for lo, _, _ in self.bins])[pick]
            hi = np.array([hi for _, hi, _ in self.bins])[pick]
            out = lo + rng.random(n) * (hi - lo)
        return np.maximum(1, np.rint(out)).astype(np.int64)

    @property
    def mean(self) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "lognormal":
            return self.a * float(np.exp(self.b**2 / 2))
        w = sum(x for _, _, x in self.bins)
        return sum((lo + hi) / 2 * x for lo, hi, x in self.bins) / w


@cache
def _histograms() -> dict[str, tuple[tuple[int, int, float], ...]]:
    doc = yaml.safe_load(HISTOGRAMS.read_text())
    return {
        name: tuple((int(lo), int(hi), float(w)) for lo, hi, w in spec["bins"])
        for name, spec in doc["histograms"].items()
    }


def histogram_names() -> list[str]:
    return sorted({n.rsplit("_", 1)[0] for n in _histograms()})


def lengths(text: str, which: str, field: str = "--isl") -> Lengths:
    """Parse a length distribution; `which` ('input' or 'output') picks a histogram's half."""
    t = str(text).strip().lower()
    try:
        if t.isdigit():
            return Lengths("fixed", float(t))
        kind, _, rest = t.partition(":")
        if kind in ("uniform", "lognormal"):
            a, b = (float(x) for x in rest.split(":"))
            if a <= 0 or b <= 0 or (kind == "uniform" and b < a):
                raise ValueError
            return Lengths(kind, a, b)
        hist = _histograms().get(f"{kind}_{which}")
        if hist is not None and not rest:
            return Lengths("histogram", bins=hist)
    except ValueError:
        pass
    names = ", ".join(histogram_names())
    raise SpecError(
        "trace",
        field,
        text,
        f"expected N, uniform:LO:HI, lognormal:MEDIAN:SIGMA or a histogram ({names})",
    )


def arrivals(
    kind: str, rate: float, n: int, rng: np.random.Generator, cv: float = 1.0
) -> np.ndarray:
    """Arrival instants (s) of `n` requests at `rate` per second on average."""
    if rate <= 0:
        raise SpecError("trace", "--rate", rate, "must be positive")
    if kind == "poisson":
        gaps = rng.exponential(1.0 / rate, size=n)
    elif kind == "gamma":
        if cv <= 0:
            raise SpecError("trace", "--cv", cv, "must be positive")
        shape = 1.0 / cv**2
        gaps = rng.gamma(shape, 1.0 / (rate * shape), size=n)
    else:
        raise SpecError("trace", "--trace", kind, "expected poisson, gamma, closed or a file")
    return np.cumsum(gaps) - gaps[0]


def synthetic(
    kind: str,
    rate: float,
    duration_s: float | None,
    requests: int | None,
    isl: Lengths,
    osl: Lengths,
    seed: int,
    cv: float = 1.0,
) -> list[Request]:
    """Open-loop requests: `requests` of them, or as many as arrive in `duration_s`."""
    rng = np.random.default_rng(seed)
    n = requests if requests is not None else int(rate * (duration_s or 0) * 1.2 + 50)
    t = arrivals(kind, rate, n, rng, cv)
    if requests is None and duration_s is not None:
        t = t[t < duration_s]
    ins, outs = isl.draw(rng, len(t)), osl.draw(rng, len(t))
    rows = zip(t, ins, outs, strict=True)
    return [Request(i, float(a), int(x), int(y)) for i, (a, x, y) in enumerate(rows)]


def read_trace(path: str | Path) -> list[Request]:
    """A JSONL or CSV file of `timestamp` (s), `input_tokens`, `output_tokens` rows."""
    p = Path(path)
    if not p.exists():
        raise SpecError(str(p), "", None, "no such trace file")
    need = ("timestamp", "input_tokens", "output_tokens")
    if p.suffix == ".jsonl":
        recs = []
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                raise SpecError(str(p), f"line {i}", line[:40], "not JSON") from None
    elif p.suffix == ".csv":
        import pandas as pd

        recs = pd.read_csv(p).to_dict("records")
    else:
        raise SpecError(str(p), "", None, "a trace is a .jsonl or .csv file")
    out = []
    for i, r in enumerate(recs):
        missing = [k for k in need if k not in r]
        if missing:
            raise SpecError(str(p), f"row {i + 1}", None, f"missing {', '.join(missing)}")
        t, x, y = float(r["timestamp"]), r["input_tokens"], r["output_tokens"]
        for field, v in (("input_tokens", x), ("output_tokens", y)):
            if not float(v).is_integer() or int(v) < 1:
                raise SpecError(str(p), f"row {i + 1}: {field}", v, "expected a positive integer")
        if not np.isfinite(t) or t < 0:
            raise SpecError(str(p), f"row {i + 1}: timestamp", t, "expected seconds >= 0")
        out.append((t, int(x), int(y)))
    out.sort(key=lambda r: r[0])
    t0 = out[0][0] if out else 0.0
    return [Request(i, t - t0, x, y) for i, (t, x, y) in enumerate(out)]
