"""`tigris cost` and `tigris fleet`: what a chip costs to build and own, and the fleet a
token demand takes. Registered on the main app by `tigris.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from tigris import physical
from tigris.cli import JsonFlag, Sets, TechFile, _out, app, tech_from
from tigris.errors import SpecError
from tigris.spec import catalog


def cost_doc(name: str, tech: physical.Tech, chiplets: int | None = None) -> dict[str, Any]:
    from tigris.physical.tco import ownership

    c = catalog.chip(name)
    si = physical.silicon(c, tech, chiplets)
    b = si.build
    paid, basis = physical.price(c, si, tech)
    tdp = c.tdp_W
    own = ownership(paid, tdp * tech.tco.mean_power_fraction, tdp, tech.tco) if tdp else None
    return {
        "chip": c.name,
        "node": b.node,
        "die_area_mm2": b.die_mm2,
        "dies": b.dies,
        "area_source": si.area_source,
        "predicted_die_area_mm2": si.area.die_mm2,
        "datasheet_die_area_mm2": (
            c.process.die_area_mm2 / c.process.dies
            if c.process and c.process.die_area_mm2
            else None
        ),
        "fits_reticle": b.die_mm2 <= tech.reticle_mm2,
        "reticle_mm2": tech.reticle_mm2,
        "area_breakdown_mm2": si.area.parts,
        "unit_cost_usd": b.unit_cost_usd,
        "breakdown": b.breakdown,
        "gross_dies_per_wafer": b.gross_dies_per_wafer,
        "yield": b.yield_,
        "yield_model": tech.yield_model,
        "good_dies_per_wafer": b.good_dies_per_wafer,
        "volume": tech.volume,
        "price_usd": paid,
        "price_basis": basis,
        "cloud_usd_per_hour": c.price.cloud_usd_per_hour if c.price else None,
        "tdp_W": tdp,
        "static_W": b.die_mm2 * b.dies * tech.leakage_W_per_mm2,
        "ownership": None
        if own is None
        else {
            "usd_per_hour": own.per_hour_usd,
            "usd_per_hour_parts": own.usd_per_hour,
            "capex_usd": own.capex_usd,
            "assumed_chip_W": tdp * tech.tco.mean_power_fraction,
        },
    }


@app.command()
def cost(
    chip: Annotated[str, typer.Argument(help="chip name or YAML path")],
    chiplets: Annotated[
        int | None, typer.Option(min=1, help="split the silicon into this many dies")
    ] = None,
    plot: Annotated[str | None, typer.Option(help="draw area and cost breakdowns here")] = None,
    tech: TechFile = None,
    set_: Sets = None,
    as_json: JsonFlag = False,
) -> None:
    """Area, yield, unit cost, price and cost of ownership of one chip."""
    params = tech_from(tech, set_)
    doc = cost_doc(chip, params, chiplets)
    if plot:
        from tigris.report.plots import breakdown

        title = f"{doc['chip']} ({doc['node']}, {doc['dies']} x {doc['die_area_mm2']:.0f} mm²)"
        breakdown(title, doc["area_breakdown_mm2"], doc["breakdown"], Path(plot))
    if as_json:
        _out(doc)
        return
    _print_cost(doc)
    if plot:
        Console().print(f"plot: {plot}")


def _area_note(doc: dict[str, Any]) -> str:
    if doc["area_source"] == "datasheet":
        return f"datasheet; the model predicts {doc['predicted_die_area_mm2']:,.0f} mm² per die"
    return "area predicted by the model"


def _print_cost(doc: dict[str, Any]) -> None:
    console = Console()
    console.print(
        f"[bold]{doc['chip']}[/bold]: {doc['dies']} x {doc['die_area_mm2']:,.0f} mm² at "
        f"{doc['node']} ({_area_note(doc)}); {doc['gross_dies_per_wafer']:.1f} dies per "
        f"wafer, yield {doc['yield']:.1%} ({doc['yield_model']}, spares harvested)"
    )
    if not doc["fits_reticle"]:
        console.print(
            f"[yellow]over the {doc['reticle_mm2']:.0f} mm² reticle: "
            "split it with --chiplets N[/yellow]"
        )
    t = Table(box=box.SIMPLE_HEAD, title="area (model) and unit cost")
    for col in ("part", "mm²", "", "cost", "USD"):
        t.add_column(col, justify="right" if col in ("mm²", "USD") else "left")
    area = list(doc["area_breakdown_mm2"].items())
    money = list(doc["breakdown"].items())
    for i in range(max(len(area), len(money))):
        a = area[i] if i < len(area) else ("", None)
        m = money[i] if i < len(money) else ("", None)
        t.add_row(
            a[0],
            f"{a[1]:,.1f}" if a[1] is not None else "",
            "",
            m[0],
            f"{m[1]:,.0f}" if m[1] is not None else "",
        )
    t.add_row(
        "total",
        f"{sum(doc['area_breakdown_mm2'].values()):,.0f}",
        "",
        "unit cost",
        f"{doc['unit_cost_usd']:,.0f}",
    )
    console.print(t)
    line = f"price: {doc['price_usd']:,.0f} USD ({doc['price_basis']})"
    if doc["cloud_usd_per_hour"]:
        line += f"; cloud {doc['cloud_usd_per_hour']:.2f} USD/h"
    own = doc["ownership"]
    if own:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in own["usd_per_hour_parts"].items())
        line += (
            f"; ownership {own['usd_per_hour']:.2f} USD/h ({parts}) at "
            f"{own['assumed_chip_W']:.0f} W"
        )
    console.print(line)


@app.command()
def fleet(
    model: Annotated[str, typer.Option(help="model name, HF id or config path")] = "llama-3.1-70b",
    tokens_per_day: Annotated[
        float, typer.Option(min=1, help="output tokens to serve per day")
    ] = 1e12,
    slo: Annotated[str, typer.Option(help="interactive, server or ttft=MS,tpot=MS")] = (
        "interactive"
    ),
    chips: Annotated[str, typer.Option(help="comma-separated chip names")] = (
        "h200-sxm,b200,tigris-t1"
    ),
    tp: Annotated[int, typer.Option(min=1, help="tensor-parallel chips per replica")] = 8,
    isl: Annotated[int, typer.Option(min=1, help="input tokens per request")] = 2048,
    osl: Annotated[int, typer.Option(min=1, help="output tokens per request")] = 256,
    tech: TechFile = None,
    set_: Sets = None,
    as_json: JsonFlag = False,
) -> None:
    """Chips, racks, wafers, megawatts and dollars to serve a token demand within an SLO."""
    from tigris.evaluate import fleet_plan
    from tigris.serve.metrics import slo as parse_slo

    params = tech_from(tech, set_)
    target = parse_slo(slo)
    names = [c.strip() for c in chips.split(",") if c.strip()]
    if not names:
        raise SpecError("--chips", "", chips, "name at least one chip")
    plans = fleet_plan(names, model, tokens_per_day, target, tp, isl, osl, params)
    docs = [
        {
            "chip": p.chip,
            "tp": p.tp,
            "requests_per_s_per_replica": p.requests_per_s,
            "tokens_per_s_per_chip": p.tokens_per_s_per_chip,
            "chip_W": p.economics.power.total_W,
            "price_usd": p.economics.price_usd,
            "price_basis": p.economics.price_basis,
            "usd_per_M_tokens": p.economics.usd_per_M_tokens,
            "tokens_per_J": p.economics.tokens_per_J,
            "chips": p.fleet.chips,
            "racks": p.fleet.racks,
            "chips_per_rack": p.fleet.chips_per_rack,
            "wafers_to_build": p.fleet.wafers_to_build,
            "wafers_per_year": p.fleet.wafers_per_year,
            "packaging_wafers_per_year": p.fleet.packaging_wafers_per_year,
            "facility_MW": p.fleet.facility_MW,
            "capex_usd": p.fleet.capex_usd,
            "ownership_usd": p.fleet.ownership_usd,
        }
        for p in plans
    ]
    years = params.tco.years
    if as_json:
        _out(
            {
                "model": model,
                "tokens_per_day": tokens_per_day,
                "slo": target.name,
                "years": years,
                "rows": docs,
            }
        )
        return
    title = (
        f"{model}: {tokens_per_day:.3g} output tokens/day within the {target.name} SLO "
        f"({isl} in / {osl} out, tp {tp})"
    )
    t = Table(title=title, box=box.SIMPLE_HEAVY)
    cols = (
        "chip",
        "tok/s/chip",
        "W/chip",
        "$/M tok",
        "chips",
        "racks",
        "wafers/yr",
        "pkg wafers/yr",
        "MW",
        "capex $B",
        f"{years:g}-yr TCO $B",
    )
    for col in cols:
        t.add_column(col, justify="left" if col == "chip" else "right", no_wrap=True)
    for d in docs:
        t.add_row(
            d["chip"],
            f"{d['tokens_per_s_per_chip']:,.0f}",
            f"{d['chip_W']:,.0f}",
            f"{d['usd_per_M_tokens']:.2f}",
            f"{d['chips']:,}",
            f"{d['racks']:,}",
            f"{d['wafers_per_year']:,.0f}",
            f"{d['packaging_wafers_per_year']:,.0f}",
            f"{d['facility_MW']:,.1f}",
            f"{d['capex_usd'] / 1e9:,.2f}",
            f"{d['ownership_usd'] / 1e9:,.2f}",
        )
    console = Console(width=160)
    console.print(t)
    console.print(
        "[dim]rate: the highest Poisson request rate one replica serves within the SLO; "
        f"fleet busy {params.tco.utilisation:.0%} of hours; wafers/yr replace the fleet over "
        f"{years:g} years; catalog GPUs at purchase price, proposals at unit cost[/dim]"
    )
