"""Plots with matplotlib (Agg backend: no display needed)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=130, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def breakdown(
    title: str, area_mm2: dict[str, float], cost_usd: dict[str, float], path: str | Path
) -> Path:
    """Two horizontal bar charts: die area by part (mm2) and unit cost by part (USD)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, parts, unit in ((left, area_mm2, "mm²"), (right, cost_usd, "USD")):
        items = sorted(parts.items(), key=lambda kv: kv[1])
        ax.barh([k for k, _ in items], [v for _, v in items], color="#3b6ea8")
        total = sum(parts.values())
        ax.set_xlabel(unit)
        ax.set_title(f"{'area' if unit == 'mm²' else 'unit cost'}: {total:,.0f} {unit}")
        for i, (_, v) in enumerate(items):
            ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
        ax.margins(x=0.18)
    fig.suptitle(title)
    out = Path(path)
    _save(fig, out)
    return out
