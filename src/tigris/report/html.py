"""One self-contained HTML page for a comparison or an exploration.

Everything is inline: figures are matplotlib SVG (text drawn as paths, no fonts to fetch),
the style sheet and the few lines of script (sortable tables, a render check) are in the
page, and nothing is loaded from a network, so the file works offline and can be mailed.

`page(doc, exploration)` takes plain data: `doc` as `tigris report --json` prints it (the
scenario and one entry per chip), and optionally the exploration's tables.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tigris.explore.score import HEADLINE
from tigris.report import plots
from tigris.report.text import number

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1280px; padding: 0 1.5em; color: #1d2731; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px
solid #d5dbe1; padding-bottom: 0.2em; } .meta { color: #5d6d7e; }
table { border-collapse: collapse; margin: 0.8em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e5e8eb; text-align: right; }
th { background: #f4f6f8; cursor: pointer; user-select: none; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #5d6d7e; font-size: 0.92em; } .note { color: #5d6d7e; font-size: 0.92em; }
.bad { color: #c0392b; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.from(body.rows);
    var up = th.dataset.dir !== "up";
    th.dataset.dir = up ? "up" : "down";
    var key = function (r) {
      var t = r.cells[col].dataset.v || r.cells[col].textContent;
      var x = parseFloat(t);
      return isNaN(x) ? t : x;
    };
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      return (x > y ? 1 : x < y ? -1 : 0) * (up ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
window.addEventListener("load", function () {
  var figs = document.querySelectorAll("figure svg");
  var drawn = Array.from(figs).filter(function (s) {
    var b = s.getBoundingClientRect();
    return b.width > 50 && b.height > 50 && s.querySelectorAll("path").length > 10;
  });
  document.body.dataset.figures = String(figs.length);
  document.body.dataset.drawn = String(drawn.length);
});
"""


@dataclass(frozen=True, slots=True)
class Exploration:
    name: str
    objectives: dict[str, str]
    trials: pd.DataFrame
    front: pd.DataFrame
    references: pd.DataFrame
    ranges: dict[str, tuple[float, float]]
    summary: dict[str, Any]


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(v: Any) -> str:
    return _e(v) if isinstance(v, str | bool) else _e(number(v))


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """An HTML table of `rows` with (key, heading) columns; click a heading to sort."""
    head = "".join(f"<th>{_e(h)}</th>" for _, h in columns)
    body = []
    for r in rows:
        cells = []
        for k, _ in columns:
            v = r.get(k)
            sort = f' data-v="{float(v)}"' if isinstance(v, int | float) and v == v else ""
            cells.append(f"<td{sort}>{_num(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def figure(fig: Any, caption: str) -> str:
    return f"<figure>{plots.svg(fig)}<figcaption>{_e(caption)}</figcaption></figure>"


COMPARE_COLUMNS = [
    ("name", "chip"),
    ("ttft_ms", "TTFT ms"),
    ("tpot_ms", "TPOT ms"),
    ("tokens_per_s_per_chip", "tok/s/chip"),
    ("memory_used_GB", "memory GB"),
    ("memory_GB", "capacity GB"),
    ("bound", "bound (decode)"),
    ("capacity_rate_per_s", "req/s within SLO"),
    ("die", "dies x mm²"),
    ("unit_cost_usd", "unit cost $"),
    ("price_usd", "price $"),
    ("power_W", "W"),
    ("tokens_per_J", "tokens/J"),
    ("usd_per_hour", "$/h"),
    ("usd_per_M_tokens", "$/M tokens"),
]


def comparison(doc: dict[str, Any]) -> str:
    chips = doc["chips"]
    sc = doc["scenario"]
    slo = doc["slo"]
    parts = [
        "<h2>Comparison</h2>",
        f'<p class="meta">{_e(sc["model"])}, tp {sc["tp"]}, batch {sc["batch"]}, '
        f"{sc['isl']} input and {sc['osl']} output tokens per request. TTFT: one request's "
        "prefill on an idle replica; TPOT: one decode step of the batch at its mean context; "
        "tokens/s per chip over the batch's prefill and decode; req/s within SLO: the highest "
        f"Poisson rate the simulator serves within {_e(slo['name'])} (TTFT P99 "
        f"{slo['ttft_ms']:.0f} ms, TPOT P99 {slo['tpot_ms']:.0f} ms).</p>",
        table(chips, COMPARE_COLUMNS),
        f'<p class="note">{_e(doc["price_note"])}</p>',
        "<h2>Rooflines</h2>",
        figure(
            plots.rooflines(chips),
            "Each op of the prefill (o) and decode (^) steps at "
            "its arithmetic intensity against main memory and the FLOP/s it achieves. "
            "Points below the roof lose time to latency, overhead or other levels.",
        ),
        "<h2>Time by op class</h2>",
        figure(
            plots.op_classes(chips),
            "One chip's prefill step (the batch) and decode step, by op class.",
        ),
        "<h2>Silicon and cost</h2>",
        figure(
            plots.stacked(chips, "area_mm2", "mm² (all dies)", "die area by part (model)"),
            "Area by part as the area model predicts it; catalog chips are costed at their "
            "published die area.",
        ),
        figure(
            plots.stacked(chips, "cost_usd", "USD", "unit cost by part"),
            "What one chip costs to build: dies over yield, memory, packaging, "
            "assembly, design and masks over the volume.",
        ),
    ]
    if any(c.get("serving") for c in chips):
        parts += [
            "<h2>Serving</h2>",
            figure(
                plots.serving_curves(chips, slo["ttft_ms"], slo["tpot_ms"]),
                f"{doc['serving_note']}",
            ),
        ]
    return "\n".join(parts)


def exploration(x: Exploration) -> str:
    obj = ", ".join(f"{k} ({v})" for k, v in x.objectives.items())
    s = x.summary
    knobs = [c for c in x.front.columns if c.startswith("p_")]
    shown = list(HEADLINE)
    front_rows = x.front.head(20).to_dict("records")
    ref_rows = x.references.to_dict("records")
    return "\n".join(
        [
            f"<h2>Exploration: {_e(x.name)}</h2>",
            f'<p class="meta">{s.get("trials", len(x.trials)):,} trials, '
            f"{s.get('feasible', 0):,} feasible, {s.get('pareto', 0)} on the Pareto front of "
            f"{_e(obj)}.</p>",
            figure(
                plots.front(x.trials, x.references, x.objectives, x.name),
                "Every trial; the front in red; catalog chips (stars) judged on the same "
                "workload by the same code.",
            ),
            figure(plots.knobs(x.front, x.ranges), "The front designs' knobs within their ranges."),
            "<h3>Pareto front</h3>",
            table(
                front_rows,
                [("trial", "trial")] + [(k, k[2:]) for k in knobs] + [(m, m) for m in shown],
            ),
            "<h3>Reference chips</h3>",
            table(
                ref_rows,
                [("chip", "chip")]
                + [(k, k) for k in ("batch", "tp") if k in x.references.columns]
                + [(m, m) for m in shown]
                + [("feasible", "meets constraints")],
            ),
        ]
    )


def page(doc: dict[str, Any] | None, explored: Exploration | None = None) -> str:
    title = doc["title"] if doc else f"tigris exploration: {explored.name}"  # type: ignore[union-attr]
    meta = doc["meta"] if doc else (explored.summary.get("meta", "") if explored else "")
    body = []
    if explored is not None:
        body.append(exploration(explored))
    if doc is not None:
        body.append(comparison(doc))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="meta">{_e(meta)}</p>'
        + "\n".join(body)
        + f"<script>{SCRIPT}</script></body></html>\n"
    )
