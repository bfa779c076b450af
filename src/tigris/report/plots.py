"""Plots with matplotlib (Agg backend: no display needed)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import ticker

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


CLASS_COLORS = {
    "gemm": "#3b6ea8",
    "attention": "#e67e22",
    "vector": "#27ae60",
    "collective": "#8e44ad",
    "moe": "#c0392b",
}


def _color(cls: str) -> str:
    return CLASS_COLORS.get(cls, "#7f8c8d")


def rooflines(chips: list[dict]) -> plt.Figure:
    """One roofline per chip (FLOP/s against FLOP per byte of main memory, log-log) with the
    workload's ops placed on it: circles for prefill, triangles for decode."""
    n = len(chips)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.6 * rows), squeeze=False)
    for ax, c in zip(axes.flat, chips, strict=False):
        peak, bw = c["peak_flops"], c["memory_Bps"]
        xs = np.logspace(-1, 5, 200)
        ax.loglog(xs, np.minimum(peak, xs * bw), color="#2c3e50", lw=1.5)
        ax.axvline(peak / bw, color="#2c3e50", lw=0.6, ls=":")
        seen = set()
        for op in c["ops"]:
            if op["bytes"] <= 0 or op["time_s"] <= 0 or op["flops"] <= 0:
                continue
            label = op["cls"] if op["cls"] not in seen else None
            seen.add(op["cls"])
            ax.scatter(
                op["flops"] / op["bytes"],
                op["flops"] / op["time_s"],
                marker="o" if op["phase"] == "prefill" else "^",
                s=26,
                color=_color(op["cls"]),
                alpha=0.8,
                label=label,
            )
        ax.set_title(f"{c['name']}: {peak / 1e12:,.0f} TFLOP/s, {bw / 1e12:.2f} TB/s")
        ax.set_xlabel("FLOP per byte of main memory")
        ax.set_ylabel("achieved FLOP/s")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, title="o prefill, ^ decode", title_fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def op_classes(chips: list[dict]) -> plt.Figure:
    """Time of the prefill step and of the decode step by op class, per chip (ms)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.6 * len(chips) + 2.2))
    for ax, phase in zip(axes, ("prefill", "decode"), strict=True):
        classes = sorted({k for c in chips for k in c["by_class"][phase]})
        left = np.zeros(len(chips))
        for cls in classes:
            ms = np.array([c["by_class"][phase].get(cls, 0.0) * 1e3 for c in chips])
            ax.barh([c["name"] for c in chips], ms, left=left, color=_color(cls), label=cls)
            left += ms
        ax.set_xlabel("ms per step")
        ax.set_title(f"{phase} step by op class")
        ax.legend(fontsize=8)
        ax.invert_yaxis()
    fig.tight_layout()
    return fig


def stacked(chips: list[dict], key: str, unit: str, title: str) -> plt.Figure:
    """Per chip, one bar split into its parts (die area by part, unit cost by part)."""
    parts = []
    for c in chips:
        for k in c[key]:
            if k not in parts:
                parts.append(k)
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(chips) + 2.4))
    left = np.zeros(len(chips))
    for i, part in enumerate(parts):
        vals = np.array([c[key].get(part, 0.0) for c in chips])
        ax.barh([c["name"] for c in chips], vals, left=left, color=cmap(i % 20), label=part)
        left += vals
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:,.0f}", va="center", fontsize=8)
    ax.set_xlabel(unit)
    ax.set_title(title)
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    return fig


def serving_curves(chips: list[dict], ttft_slo_ms: float, tpot_slo_ms: float) -> plt.Figure:
    """Latency against output tokens/s per chip as the request rate rises: TPOT P50 and
    TTFT P99, with the SLO's bounds dashed."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.4))
    for c in chips:
        runs = c.get("serving") or []
        if not runs:
            continue
        x = [r["tokens_per_s_per_chip"] for r in runs]
        a.plot(x, [r["tpot_p50_ms"] for r in runs], "o-", ms=4, label=c["name"])
        b.plot(x, [r["ttft_p99_ms"] for r in runs], "o-", ms=4, label=c["name"])
    for ax, slo, name in ((a, tpot_slo_ms, "TPOT P50 (ms)"), (b, ttft_slo_ms, "TTFT P99 (ms)")):
        ax.axhline(slo, color="#c0392b", ls="--", lw=1, label="SLO")
        ax.set_xlabel("output tokens/s per chip")
        ax.set_ylabel(name)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(
            ticker.FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "235" else "")
        )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("serving: latency against throughput as the Poisson request rate rises")
    fig.tight_layout()
    return fig
