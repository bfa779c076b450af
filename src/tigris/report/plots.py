"""Plots with matplotlib (Agg backend: no display needed)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tigris.report.files import atomic


def _save(fig: plt.Figure, path: Path) -> None:
    fmt = path.suffix.lstrip(".") or "png"
    try:
        atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=130, bbox_inches="tight"))
    finally:
        plt.close(fig)


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


def front(
    df: pd.DataFrame, refs: pd.DataFrame, objectives: dict[str, str], title: str
) -> plt.Figure:
    """Every pair of objectives: infeasible trials faint, feasible grey, the Pareto front in
    red, reference chips labelled. Axes read 'better' towards the upper right where the
    objective is maximised."""
    names = list(objectives)
    pairs = list(itertools.combinations(names, 2)) or [(names[0], "tokens_per_s_per_chip")]
    if len(names) == 1 and names[0] == "tokens_per_s_per_chip":
        pairs = [(names[0], "usd_per_M_tokens")]
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.2 * len(pairs), 4.8), squeeze=False)
    done = df[df["state"] == "COMPLETE"] if not df.empty else df
    for ax, (x, y) in zip(axes[0], pairs, strict=True):
        bad = done[~done["feasible"]]
        ok = done[done["feasible"]]
        ax.scatter(bad[x], bad[y], s=6, color="#d9d9d9", label=f"infeasible ({len(bad)})")
        ax.scatter(ok[x], ok[y], s=8, color="#7f8fa6", label=f"feasible ({len(ok)})")
        fr = ok[ok["pareto"]].sort_values(x)
        ax.plot(fr[x], fr[y], "o-", color="#c0392b", ms=5, lw=1.5, label=f"Pareto ({len(fr)})")
        for _, r in refs.iterrows():
            if pd.notna(r.get(x)) and pd.notna(r.get(y)):
                ax.scatter([r[x]], [r[y]], marker="*", s=140, color="#2c3e50", zorder=5)
                ax.annotate(
                    str(r["chip"]),
                    (r[x], r[y]),
                    xytext=(5, 4),
                    textcoords="offset points",
                    fontsize=8,
                )
        ax.set_xlabel(_label(x, objectives))
        ax.set_ylabel(_label(y, objectives))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _label(metric: str, objectives: dict[str, str]) -> str:
    arrow = {"maximize": " (higher is better)", "minimize": " (lower is better)"}
    return metric + arrow.get(objectives.get(metric, ""), "")


def knobs(df: pd.DataFrame, ranges: dict[str, tuple[float, float]], top: int = 8) -> plt.Figure:
    """The best front designs' knobs, each on its range (0 = low, 1 = high), one line each."""
    fr = df[df["pareto"]].head(top) if not df.empty else df
    names = list(ranges)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names)), 4.2))
    for _, r in fr.iterrows():
        ys = []
        for n in names:
            lo, hi = ranges[n]
            v = r[f"p_{n}"]
            ys.append(0.5 if hi == lo else (float(v) - lo) / (hi - lo))
        ax.plot(range(len(names)), ys, "o-", alpha=0.8, label=f"trial {int(r['trial'])}")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_title("Pareto designs: each knob within its range")
    ax.grid(alpha=0.3)
    if len(fr):
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, path: str | Path) -> Path:
    out = Path(path)
    _save(fig, out)
    return out


def svg(fig: plt.Figure) -> str:
    """The figure as an inline <svg> element (no external references)."""
    buf = io.StringIO()
    try:
        fig.savefig(buf, format="svg", bbox_inches="tight")
    finally:
        plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]
