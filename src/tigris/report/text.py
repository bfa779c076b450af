"""Numbers as a table shows them: compact, with k and M for large figures."""

from __future__ import annotations

import math
from typing import Any


def number(v: Any) -> str:
    """'' for a missing value; strings as they are; 3.29M, 12.5k, 1,234, 56.7, 0.274."""
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    v = float(v)
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.1f}k"
    if v == int(v):
        return f"{int(v):,}"
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.3g}"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"
