"""The latency-throughput curve: serve at rising request rates until the SLO breaks.

`sweep(one, start)` runs `one(rate)` (a simulator report) from `start`, doubling the rate
while the report passes `ok`, then bisects between the last rate that passed and the first
that failed. Every run is kept, sorted by rate and marked with it (`rate_per_s`): they are
the curve, and the highest passing rate is the capacity under the SLO.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Report = dict[str, Any]


def met(doc: Report) -> bool:
    """The run met its SLO and dropped no request."""
    return bool(doc["slo"]["met"]) and not doc.get("dropped")


def sweep(
    one: Callable[[float], Report],
    start: float,
    ok: Callable[[Report], bool] = met,
    doublings: int = 12,
    bisections: int = 4,
) -> list[Report]:
    runs: list[Report] = []

    def run(rate: float) -> Report:
        doc = one(rate)
        doc["rate_per_s"] = rate
        runs.append(doc)
        return doc

    rate, low, high = start, None, None
    for _ in range(doublings):
        doc = run(rate)
        if not ok(doc):
            high = rate
            break
        low = rate
        rate *= 2
    for _ in range(bisections if low is not None and high is not None else 0):
        mid = (low + high) / 2  # type: ignore[operator]
        low, high = (mid, high) if ok(run(mid)) else (low, mid)
    return sorted(runs, key=lambda d: d["rate_per_s"])


def capacity(runs: list[Report], ok: Callable[[Report], bool] = met) -> Report | None:
    """The run at the highest rate that passed (None if none did)."""
    return max((d for d in runs if ok(d)), key=lambda d: d["rate_per_s"], default=None)
