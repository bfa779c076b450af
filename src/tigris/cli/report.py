"""`tigris report`: one self-contained HTML page for a comparison, or for an exploration
folder (its front, plus the best design beside the reference chips). Registered on the main
app by `tigris.cli`."""

from __future__ import annotations

import datetime
import json
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tigris.cli import JsonFlag, Sets, TechFile, _out, app, tech_from
from tigris.errors import SpecError

DEFAULT_CHIPS = "h100-sxm,h200-sxm,b200,tigris-t1"


def chip_entry(c: Any, sc: Any, tech: Any, serving: bool, requests: int, target: Any) -> dict:
    """Everything the page shows about one chip on the scenario, as plain data."""
    from tigris.evaluate import compare_one, fitting, rate_curve
    from tigris.serve.sweep import capacity
    from tigris.workload.models import model as find_model

    row = fitting(compare_one(c, sc, tech), sc)
    llm = find_model(sc.model)
    main = c.main_memory
    ops = []
    for phase, step in (("prefill", row.prefill), ("decode", row.decode)):
        for oc in step.ops:
            if oc.op.cls == "collective":
                continue
            ops.append(
                {
                    "name": oc.op.name,
                    "cls": oc.op.cls,
                    "phase": phase,
                    "flops": oc.cost.flops * oc.op.count,
                    "bytes": oc.cost.bytes.get(main.name, 0.0) * oc.op.count,
                    "time_s": oc.time_s,
                }
            )
    e = row.economics
    assert e is not None
    b = e.silicon.build
    entry: dict[str, Any] = {
        "name": c.name,
        "ttft_ms": row.ttft_s * 1e3,
        "tpot_ms": row.tpot_s * 1e3,
        "tokens_per_s_per_chip": row.tokens_per_s_per_chip,
        "memory_used_GB": row.memory_used_B / 1e9,
        "memory_GB": row.memory_capacity_B / 1e9,
        "bound": row.decode.bound,
        "peak_flops": c.peak_flops(llm.precision.weights),
        "memory_Bps": main.bandwidth_Bps or 0.0,
        "ops": ops,
        "by_class": {"prefill": row.prefill.by_class(), "decode": row.decode.by_class()},
        "die": f"{b.dies} x {b.die_mm2:,.0f}",
        "area_mm2": e.silicon.area.parts,
        "cost_usd": b.breakdown,
        "unit_cost_usd": b.unit_cost_usd,
        "price_usd": e.price_usd,
        "power_W": e.power.total_W,
        "tokens_per_J": e.tokens_per_J,
        "usd_per_hour": e.ownership.per_hour_usd,
        "usd_per_M_tokens": e.usd_per_M_tokens,
        "serving": [],
        "capacity_rate_per_s": None,
    }
    if serving:
        runs = rate_curve(c, llm, sc.tp, sc.isl, sc.osl, target, requests)
        entry["serving"] = [
            {
                "rate_per_s": r["rate_per_s"],
                "tokens_per_s_per_chip": r["output_tokens_per_s_per_chip"],
                "tpot_p50_ms": r["tpot_ms"]["p50"],
                "ttft_p99_ms": r["ttft_ms"]["p99"],
                "met": bool(r["slo"]["met"]),
            }
            for r in runs
        ]
        best = capacity(runs)
        entry["capacity_rate_per_s"] = best["rate_per_s"] if best else 0.0
    return entry


def build_doc(chips: list[Any], sc: Any, tech: Any, serving: bool, requests: int) -> dict:
    from tigris.serve import SLOS

    target = SLOS["interactive"]
    entries = [chip_entry(c, sc, tech, serving, requests, target) for c in chips]
    return {
        "title": f"tigris: {sc.model} on {', '.join(c.name for c in chips)}",
        "meta": f"tigris {version('tigris')}, {datetime.date.today().isoformat()}; every figure "
        "computed by the same code for every chip",
        "scenario": {
            "model": sc.model,
            "tp": sc.tp,
            "batch": sc.batch,
            "isl": sc.isl,
            "osl": sc.osl,
        },
        "slo": {
            "name": target.name,
            "ttft_ms": target.ttft_s * 1e3,
            "tpot_ms": target.tpot_s * 1e3,
        },
        "price_note": "$/M tokens owns catalog chips at their purchase price and proposals and "
        "designs at their unit cost; power is the model's (energy per FLOP and per byte plus "
        "leakage), which reads low against GPU board power.",
        "serving_note": f"Poisson arrivals of {sc.isl}+{sc.osl}-token requests, {requests} "
        "per rate, chunked prefill, one tp replica per chip group.",
        "chips": entries,
    }


def _exploration(folder: Path) -> tuple[Any, Any, Any]:
    """The exploration's tables, its space, and its best design (None if none is feasible)."""
    import pandas as pd

    from tigris.explore.design import realise, values_of
    from tigris.explore.space import Space
    from tigris.report.html import Exploration
    from tigris.spec.catalog import chip as find_chip

    need = ["trials.parquet", "front.csv", "references.csv", "summary.json"]
    for name in need:
        if not (folder / name).is_file():
            raise SpecError(
                str(folder), name, None, "not an exploration folder (run `tigris explore` first)"
            )
    summary = json.loads((folder / "summary.json").read_text())
    space = Space.model_validate(summary["space_doc"])
    trials = pd.read_parquet(folder / "trials.parquet")
    front = pd.read_csv(folder / "front.csv")
    refs = pd.read_csv(folder / "references.csv")
    ranges = {k: tuple(v) for k, v in summary.get("ranges", {}).items()}
    x = Exploration(space.name, summary["objectives"], trials, front, refs, ranges, summary)
    best = summary.get("best")
    design = None
    if best:
        params = {k[2:]: v for k, v in best.items() if k.startswith("p_") and v is not None}
        knobs = values_of(space, params)
        chip = realise(space, find_chip(space.base), knobs)
        name = f"{space.name}-best-{int(best['trial'])}"
        design = (chip.model_copy(update={"name": name}), knobs)
    return x, space, design


@app.command()
def report(
    exploration: Annotated[
        str | None, typer.Argument(help="an exploration folder (from tigris explore)")
    ] = None,
    out: Annotated[str, typer.Option(help="HTML file to write")] = "tigris-report.html",
    model: Annotated[str, typer.Option(help="model name or HF id")] = "llama-3.1-70b",
    chips: Annotated[str, typer.Option(help="comma-separated chips")] = DEFAULT_CHIPS,
    tp: Annotated[int, typer.Option(min=1)] = 8,
    batch: Annotated[int, typer.Option(min=1)] = 64,
    isl: Annotated[int, typer.Option(min=1)] = 2048,
    osl: Annotated[int, typer.Option(min=1)] = 256,
    serving: Annotated[bool, typer.Option(help="simulate the latency-throughput curves")] = True,
    requests: Annotated[int, typer.Option(min=10, help="requests per rate")] = 300,
    tech: TechFile = None,
    set_: Sets = None,
    as_json: JsonFlag = False,
) -> None:
    """Write one self-contained HTML page: comparison, rooflines, op classes, area and cost,
    serving curves, and an exploration's Pareto front."""
    from tigris.evaluate import Scenario
    from tigris.report.files import atomic
    from tigris.report.html import page
    from tigris.spec.catalog import chip as find_chip

    params = tech_from(tech, set_)
    explored = None
    names = [n.strip() for n in chips.split(",") if n.strip()]
    chip_specs = [find_chip(n) for n in names]
    sc = Scenario(model=model, batch=batch, isl=isl, osl=osl, tp=tp)
    if exploration is not None:
        explored, space, design = _exploration(Path(exploration))
        w = space.workload[0]
        knobs = design[1] if design else {}
        sc = Scenario(
            model=w.model,
            batch=knobs.get("batch", w.batch),
            isl=w.isl,
            osl=w.osl,
            tp=knobs.get("tp", w.tp),
        )
        chip_specs = [find_chip(n) for n in explored.references["chip"]]
        if design:
            chip_specs.append(design[0])
    console = Console(stderr=True)
    with console.status("computing the comparison and serving curves"):
        doc = build_doc(chip_specs, sc, params, serving, requests)
    if explored is not None:
        doc["title"] = f"tigris exploration: {explored.name}"
    text = page(doc, explored)
    path = atomic(Path(out), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    if as_json:
        _out({**doc, "html": str(path), "bytes": len(text.encode())})
        return
    Console().print(f"report: {path} ({len(text.encode()) / 1e6:.1f} MB, self-contained)")
