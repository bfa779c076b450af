"""The `tigris` command line. Output is written here (and in report/), nowhere else.

Every command takes `--json` and then prints exactly one JSON document on stdout. A user
mistake (bad spec file, unknown name, malformed config) prints one line on stderr and exits
with code 2, never a traceback.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from tigris import units
from tigris.errors import SpecError
from tigris.spec import catalog
from tigris.spec.chip import Chip
from tigris.workload import models as registry
from tigris.workload.llm import LLM, MoE

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="tigris: LLM accelerators and the GPUs they must beat, by the same code.",
)
SHORT = {"collective": "coll", "attention": "attn", "vector": "vec"}
JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON document")]
TechFile = Annotated[
    str | None, typer.Option("--tech", help="YAML overriding any of physical/tech.yaml")
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="override one parameter: key=value (tco.pue=1.4, volume=2e5)"),
]


def tech_from(path: str | None, sets: list[str] | None) -> Any:
    """physical/'s parameters with a user's file and key=value overrides applied."""
    from tigris import physical

    return physical.load(path, sets or [])


def _finite(doc: Any) -> Any:
    """NaN and infinities (a metric of too few rows) as null: JSON has no NaN."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [_finite(v) for v in doc]
    return doc


def _out(doc: Any) -> None:
    sys.stdout.write(json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n")


def chip_doc(c: Chip, full: bool = False) -> dict[str, Any]:
    cites = catalog.sources()
    mem = c.main_memory
    doc: dict[str, Any] = {
        "name": c.name,
        "vendor": c.vendor,
        "kind": c.kind,
        "full_name": c.full_name,
        "peak_flops": c.peak_flops_by_dtype,
        "memory_B": mem.capacity_B,
        "memory_bandwidth_Bps": mem.bandwidth_Bps,
        "memory_kind": mem.kind,
        "scaleup_bandwidth_Bps": c.scaleup.bandwidth_Bps if c.scaleup else None,
        "tdp_W": c.tdp_W,
        "process": c.process.node if c.process else None,
        "sources": [{"key": k, "citation": cites.get(k, k)} for k in c.sources()],
    }
    if full:
        doc["spec"] = c.model_dump(mode="json", exclude={"provenance"})
        doc["provenance"] = {k: v.model_dump(mode="json") for k, v in c.provenance.items()}
        doc["datasheet_flops"] = c.datasheet_flops
    return doc


def model_doc(m: LLM, full: bool = False) -> dict[str, Any]:
    moe = next((x.mlp for x in m.layers if isinstance(x.mlp, MoE)), None)
    doc: dict[str, Any] = {
        "name": m.name,
        "hf_id": m.hf_id,
        "family": m.family,
        "params_total": m.params_total,
        "params_active": m.params_active,
        "layers": m.num_layers,
        "hidden": m.hidden,
        "vocab": m.vocab,
        "attention": m.layers[0].attention.kind,
        "experts": moe.experts if moe else None,
        "experts_per_token": moe.top_k if moe else None,
        "weights_dtype": m.precision.weights.value,
        "experts_dtype": m.precision.experts.value,
        "kv_dtype": m.precision.kv.value,
        "weight_bytes": m.weight_bytes(),
        "kv_bytes_per_token": m.kv_bytes_per_token(),
    }
    if full:
        doc["spec"] = m.model_dump(mode="json")
    return doc


@app.command()
def chips(as_json: JsonFlag = False) -> None:
    """List the chip catalog and our proposals."""
    all_chips = catalog.chips()
    if as_json:
        return _out([chip_doc(c) for c in all_chips])
    table = Table(
        title="tigris chips: dense peak TFLOP/s, main memory GB and TB/s, TDP W",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in ("chip", "vendor"):
        table.add_column(col, no_wrap=True)
    for col in ("bf16", "fp8", "fp4", "GB", "TB/s", "W"):
        table.add_column(col, justify="right", no_wrap=True, min_width=5)
    for c in all_chips:
        mem = c.main_memory
        flops = [
            f"{c.peak_flops(d) / 1e12:.0f}" if c.peak_flops(d) else "-"
            for d in ("bf16", "fp8", "fp4")
        ]
        name = c.name if c.kind == "catalog" else f"{c.name} ({c.kind})"
        table.add_row(
            name,
            c.vendor,
            *flops,
            f"{mem.capacity_B / 1e9:.0f}",
            f"{mem.bandwidth_Bps / 1e12:.2f}" if mem.bandwidth_Bps else "-",
            f"{c.tdp_W:.0f}" if c.tdp_W else "-",
        )
    Console().print(table)
    return None


@app.command()
def models(as_json: JsonFlag = False) -> None:
    """List the packaged LLMs."""
    all_models = registry.models()
    if as_json:
        return _out([model_doc(m) for m in all_models])
    table = Table(title="tigris packaged models", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("model", "Hugging Face id", "family", "params", "active", "layers", "KV/token"):
        table.add_column(col)
    for m in all_models:
        table.add_row(
            m.name,
            m.hf_id or "",
            m.family,
            f"{m.params_total / 1e9:.1f} B",
            f"{m.params_active / 1e9:.1f} B",
            str(m.num_layers),
            units.show(m.kv_bytes_per_token(), "B"),
        )
    Console().print(table)
    return None


def _resolve(name: str) -> Chip | LLM:
    if name.endswith(".json"):
        return registry.model(name)
    if name.endswith((".yaml", ".yml")):
        return catalog.chip(name)
    try:
        return catalog.chip(name)
    except SpecError:
        try:
            return registry.model(name)
        except SpecError:
            known = catalog.chip_names() + registry.model_names()
            close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SpecError("show", "name", name, f"no such chip or model{hint}") from None


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="chip or model name, or a path")],
    as_json: JsonFlag = False,
) -> None:
    """Show one chip (name or YAML path) or one model (name, Hugging Face id or config.json)."""
    found = _resolve(name)
    if as_json:
        return _out(chip_doc(found, True) if isinstance(found, Chip) else model_doc(found, True))
    console = Console()
    if isinstance(found, Chip):
        _show_chip(console, found)
    else:
        _show_model(console, found)
    return None


def _show_chip(console: Console, c: Chip) -> None:
    console.print(f"[bold]{c.name}[/bold]  {c.full_name or ''}  ({c.vendor}, {c.kind})")
    console.print(
        f"{c.cores.count} x {c.cores.name} at {units.show(c.clock_Hz, 'Hz')}; "
        f"{c.process.node if c.process else 'node unknown'}; "
        f"TDP {units.show(c.tdp_W, 'W')}"
    )
    peaks = Table(title="dense peak (derived: cores x engines x MACs/cycle x 2 x clock)")
    for col in ("dtype", "derived", "datasheet"):
        peaks.add_column(col)
    for dtype, value in c.peak_flops_by_dtype.items():
        peaks.add_row(
            dtype, units.show(value, "FLOP/s"), units.show(c.datasheet_flops.get(dtype), "FLOP/s")
        )
    console.print(peaks)
    mem = Table(title="memory hierarchy (nearest first)")
    for col in ("level", "kind", "scope", "capacity", "bandwidth", "energy"):
        mem.add_column(col)
    for lvl in c.memory:
        mem.add_row(
            lvl.name,
            lvl.kind,
            lvl.scope,
            units.show(lvl.capacity_B, "B"),
            units.show(lvl.bandwidth_Bps, "B/s"),
            units.show(lvl.energy_J_per_B, "J/B") if lvl.energy_J_per_B else "-",
        )
    console.print(mem)
    if c.scaleup:
        console.print(
            f"scale-up: {c.scaleup.name}, {units.show(c.scaleup.bandwidth_Bps, 'B/s')} "
            "per direction"
        )
    console.print(f"sources: {', '.join(c.sources())}")


def _show_model(console: Console, m: LLM) -> None:
    doc = model_doc(m)
    table = Table(title=f"{m.name} ({m.hf_id or 'user config'})")
    table.add_column("field")
    table.add_column("value")
    for key, value in doc.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


DEFAULT_CHIPS = "h100-sxm,h200-sxm,b200,tigris-t1"


def _ms(s: float) -> str:
    return f"{s * 1e3:,.2f}"


@app.command()
def compare(
    model: Annotated[str, typer.Option(help="model name, HF id or config path")] = "llama-3.1-70b",
    chips: Annotated[str, typer.Option(help="comma-separated chip names")] = DEFAULT_CHIPS,
    tp: Annotated[int, typer.Option(min=1, help="tensor-parallel chips")] = 8,
    pp: Annotated[int, typer.Option(min=1, help="pipeline stages")] = 1,
    ep: Annotated[int, typer.Option(min=1, help="expert-parallel chips")] = 1,
    batch: Annotated[int, typer.Option(min=1, help="concurrent requests")] = 64,
    isl: Annotated[int, typer.Option(min=1, help="input tokens per request")] = 2048,
    osl: Annotated[int, typer.Option(min=1, help="output tokens per request")] = 256,
    tech: TechFile = None,
    set_: Sets = None,
    as_json: JsonFlag = False,
) -> None:
    """Serve one scenario on several chips: TTFT, TPOT, tokens/s per chip, memory, bounds."""
    from tigris.evaluate import Scenario
    from tigris.evaluate import compare as run

    names = [c.strip() for c in chips.split(",") if c.strip()]
    sc = Scenario(model, batch, isl, osl, tp, pp, ep)
    rows = run(names, sc, tech_from(tech, set_))
    docs = []
    for r in rows:
        classes = r.decode.by_class()
        docs.append(
            {
                "chip": r.chip,
                "chips": r.chips,
                "ttft_s": r.ttft_s,
                "tpot_s": r.tpot_s,
                "tokens_per_s_per_chip": r.tokens_per_s_per_chip,
                "memory_used_B": r.memory_used_B,
                "memory_capacity_B": r.memory_capacity_B,
                "decode_time_by_class_s": classes,
                "decode_bound": r.decode.bound,
                "prefill_bound": r.prefill.bound,
                "calibration": r.decode.calibration,
                "serving": _served(r.serving),
                "economics": _money(r.economics),
            }
        )
    if as_json:
        _out({"scenario": sc.__dict__ if hasattr(sc, "__dict__") else _slots(sc), "rows": docs})
        return
    import shutil

    console = Console(width=max(shutil.get_terminal_size().columns, 170))
    title = f"{model}: batch {batch}, {isl} in / {osl} out tokens, tp {tp} pp {pp} ep {ep}"
    table = Table(title=title, box=box.SIMPLE_HEAVY)
    for col in (
        "chip",
        "TTFT ms",
        "TPOT ms",
        "tok/s/chip",
        "memory GB",
        "decode: time by op",
        "bound decode/prefill",
        "served TTFT p99 ms",
        "served TPOT p50 ms",
        "goodput req/s",
    ):
        right = "ms" in col or ("/" in col and "bound" not in col)
        table.add_column(col, justify="right" if right else "left", no_wrap=True)
    for d in docs:
        total = sum(d["decode_time_by_class_s"].values()) or 1.0
        split = " ".join(
            f"{SHORT.get(k, k)} {v / total:.0%}"
            for k, v in sorted(d["decode_time_by_class_s"].items(), key=lambda kv: -kv[1])[:3]
        )
        table.add_row(
            d["chip"],
            _ms(d["ttft_s"]),
            _ms(d["tpot_s"]),
            f"{d['tokens_per_s_per_chip']:,.0f}",
            f"{d['memory_used_B'] / 1e9:,.1f} / {d['memory_capacity_B'] / 1e9:,.0f}",
            split,
            f"{d['decode_bound']} / {d['prefill_bound']}",
            *_served_cells(d["serving"]),
        )
    console.print(table)
    econ = Table(title="silicon, power and cost", box=box.SIMPLE_HEAVY)
    for col in (
        "chip",
        "dies x mm²",
        "unit cost $",
        "price $",
        "W / TDP",
        "tokens/J",
        "$/h",
        "$/M tok",
    ):
        econ.add_column(col, justify="left" if col == "chip" else "right", no_wrap=True)
    for d in docs:
        econ.add_row(d["chip"], *_money_cells(d["economics"]))
    console.print(econ)
    for d in docs:
        console.print(f"[dim]{d['chip']}: calibration {d['calibration']}[/dim]")
    console.print(
        f"[dim]served: {batch} closed-loop clients x {sc.rounds} requests in steady state "
        "(first requests spread over a round trip), chunked prefill; "
        "goodput under the interactive SLO (TTFT 450 ms, TPOT 40 ms)[/dim]"
    )
    console.print(
        "[dim]W, tok/J and $/M tok over the static batch (prefill then decode); $/M tok owns "
        "catalog GPUs at purchase price and proposals at unit cost (`tigris cost CHIP`)[/dim]"
    )


def _money(e: Any) -> dict[str, Any] | None:
    if e is None:
        return None
    b = e.silicon.build
    return {
        "die_area_mm2": b.die_mm2,
        "dies": b.dies,
        "area_source": e.silicon.area_source,
        "unit_cost_usd": b.unit_cost_usd,
        "price_usd": e.price_usd,
        "price_basis": e.price_basis,
        "power_W": e.power.total_W,
        "tdp_W": e.tdp_W,
        "static_W": e.power.static_W,
        "tokens_per_J": e.tokens_per_J,
        "usd_per_hour": e.ownership.per_hour_usd,
        "usd_per_M_tokens": e.usd_per_M_tokens,
    }


def _money_cells(doc: dict[str, Any] | None) -> tuple[str, ...]:
    if doc is None:
        return ("-",) * 7
    return (
        f"{doc['dies']} x {doc['die_area_mm2']:,.0f}",
        f"{doc['unit_cost_usd']:,.0f}",
        f"{doc['price_usd']:,.0f}"
        + (
            ""
            if doc["price_basis"] == "purchase price"
            else " (cost)"
            if doc["price_basis"] == "unit cost"
            else " (cost+margin)"
        ),
        f"{doc['power_W']:,.0f} / {doc['tdp_W']:,.0f}"
        if doc["tdp_W"]
        else f"{doc['power_W']:,.0f}",
        f"{doc['tokens_per_J']:.2f}",
        f"{doc['usd_per_hour']:.2f}",
        f"{doc['usd_per_M_tokens']:.2f}",
    )


def _served(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None:
        return None
    keep = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "output_tokens_per_s_per_chip", "slo")
    return {k: doc[k] for k in keep}


def _served_cells(doc: dict[str, Any] | None) -> tuple[str, str, str]:
    if doc is None:
        return ("-", "-", "-")
    good = doc["slo"]["goodput_requests_per_s"]
    return (f"{doc['ttft_ms']['p99']:,.0f}", f"{doc['tpot_ms']['p50']:.1f}", f"{good:.2f}")


def _slots(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__slots__}


@app.command()
def validate(
    chip: Annotated[str | None, typer.Option(help="catalog chip the table was measured on")] = None,
    table: Annotated[
        list[str] | None, typer.Option(help="measured kernel table (.parquet or .csv)")
    ] = None,
    serving: Annotated[
        str | None, typer.Option(help="measured serving runs (.csv of silicon_sample schema)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Predict every row of measured kernel tables (or serving runs) and report the error."""
    from tigris.cost.validate import validate as run

    if serving is not None:
        _validate_serving(serving, as_json)
        return
    if chip is None or not table:
        raise SpecError("tigris validate", "--chip/--table", None, "give both, or --serving")
    c = catalog.chip(chip)
    results = [run(path, c) for path in table]
    if as_json:
        _out(results[0] if len(results) == 1 else results)
        return
    console = Console()
    for res in results:
        t = Table(
            title=f"{res['table']} on {res['chip']}: {res['rows']} rows, {res['skipped']} skipped",
            box=box.SIMPLE_HEAVY,
        )
        for col in ("op", "dtype", "rows", "median |err| %", "P90 |err| %", "Spearman"):
            t.add_column(col, justify="left" if col in ("op", "dtype") else "right")
        for g in [*res["groups"], {"op": "all", "dtype": "", **res}]:
            t.add_row(
                g["op"],
                g["dtype"],
                f"{g['rows']:,}",
                f"{g['median_abs_pct_err']:.1f}",
                f"{g['p90_abs_pct_err']:.1f}",
                f"{g['spearman']:.3f}",
            )
        console.print(t)
        for reason, n in res["skipped_reasons"].items():
            console.print(f"[dim]skipped {n}: {reason}[/dim]")


def _deployment(model: str, system: str, tp: int, pp: int, ep: int, replicas: int, **kw: Any):
    from pathlib import Path

    from tigris.cost.step import Parallel
    from tigris.serve import Deployment
    from tigris.spec.system import load_system, single

    llm = registry.model(model)
    par = Parallel(tp, pp, ep if llm.is_moe else 1)
    per = tp * pp * (par.ep if tp == 1 else 1)
    if system.endswith((".yaml", ".yml")) or Path(system).exists():
        sysm = load_system(system)
    else:
        chip = catalog.chip(system)
        limit = chip.scaleup.max_domain if chip.scaleup else 1
        count = per * replicas
        if limit is not None and count > limit:
            raise SpecError(
                "--system", "count", count, f"exceeds {chip.name}'s scale-up domain; use a YAML"
            )
        sysm = single(chip, count)
    if sysm.count < per:
        raise SpecError("--system", "count", sysm.count, f"a replica needs {per} chips")
    dep = Deployment(sysm, llm, par, **kw)
    if dep.disaggregated and dep.replicas < 2:
        raise SpecError("--replicas", "", replicas, "disaggregated serving needs 2 or more")
    return dep


def _requests(
    trace: str,
    rate: float,
    cv: float,
    clients: int,
    requests: int | None,
    duration: float,
    isl: str,
    osl: str,
    seed: int,
):
    from tigris.serve.trace import ClosedLoop, lengths, read_trace, synthetic

    if trace in ("poisson", "gamma"):
        return synthetic(
            trace,
            rate,
            None if requests else duration,
            requests,
            lengths(isl, "input", "--isl"),
            lengths(osl, "output", "--osl"),
            seed,
            cv,
        )
    if trace == "closed":
        n = requests or 4 * clients
        return ClosedLoop(
            clients, n, lengths(isl, "input", "--isl"), lengths(osl, "output", "--osl")
        )
    return read_trace(trace)


def _serving_table(title: str, docs: list[dict[str, Any]], first: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAVY)
    cols = (
        first,
        "TTFT p50/p99 ms",
        "TPOT p50/p99 ms",
        "ITL p99 ms",
        "e2e p50 s",
        "out tok/s/chip",
        "goodput req/s",
        "SLO",
    )
    for c in cols:
        t.add_column(c, justify="left" if c in (first, "SLO") else "right")
    for d in docs:
        t.add_row(
            str(d["_label"]),
            f"{d['ttft_ms']['p50']:,.0f} / {d['ttft_ms']['p99']:,.0f}",
            f"{d['tpot_ms']['p50']:.1f} / {d['tpot_ms']['p99']:.1f}",
            f"{d['itl_ms']['p99']:.1f}",
            f"{d['e2e_ms']['p50'] / 1e3:,.1f}",
            f"{d['output_tokens_per_s_per_chip']:,.0f}",
            f"{d['slo']['goodput_requests_per_s']:.2f}",
            "met" if d["slo"]["met"] else "missed",
        )
    return t


@app.command()
def serve(
    model: Annotated[str, typer.Option(help="model name, HF id or config path")] = "llama-3.1-70b",
    system: Annotated[str, typer.Option(help="catalog chip or system YAML")] = "h100-sxm",
    tp: Annotated[int, typer.Option(min=1)] = 8,
    pp: Annotated[int, typer.Option(min=1)] = 1,
    ep: Annotated[int, typer.Option(min=1)] = 1,
    replicas: Annotated[int, typer.Option(min=1, help="replicas (with a chip name)")] = 1,
    trace: Annotated[
        str, typer.Option(help="poisson, gamma, closed, or a .jsonl/.csv")
    ] = "poisson",
    rate: Annotated[float, typer.Option(help="requests/s (poisson, gamma)")] = 5.0,
    cv: Annotated[float, typer.Option(help="gamma: coefficient of variation of gaps")] = 2.0,
    clients: Annotated[int, typer.Option(min=1, help="closed loop: concurrent clients")] = 64,
    requests: Annotated[int | None, typer.Option(min=1, help="requests in all")] = None,
    duration: Annotated[float, typer.Option(help="seconds of traffic (open loop)")] = 600.0,
    isl: Annotated[str, typer.Option(help="N, uniform:LO:HI, lognormal:MED:SIGMA, chat")] = "chat",
    osl: Annotated[str, typer.Option(help="as --isl")] = "chat",
    policy: Annotated[
        str, typer.Option(help="static, continuous, chunked or inflight")
    ] = "chunked",
    max_seqs: Annotated[int, typer.Option(min=1)] = 256,
    max_batched_tokens: Annotated[int, typer.Option(min=16)] = 8192,
    preemption: Annotated[str, typer.Option(help="recompute or swap")] = "recompute",
    router: Annotated[str, typer.Option(help="round_robin or least_loaded")] = "least_loaded",
    disaggregated: Annotated[bool, typer.Option("--disaggregated")] = False,
    prefill_replicas: Annotated[int, typer.Option(min=1)] = 1,
    slo: Annotated[
        str, typer.Option(help="interactive, server, or ttft=MS,tpot=MS")
    ] = "interactive",
    sweep_rate: Annotated[
        bool, typer.Option("--sweep-rate", help="latency-throughput curve")
    ] = False,
    steady: Annotated[
        bool,
        typer.Option(
            "--steady", help="closed loop: clients in steady state, not all starting at once"
        ),
    ] = False,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Simulate serving a trace on a system: latency percentiles, throughput, goodput."""
    import numpy as np
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from tigris.serve import run, run_steady, timer_for
    from tigris.serve.metrics import slo as find_slo
    from tigris.serve.policy import POLICIES
    from tigris.serve.sweep import sweep

    for name, value, allowed in (
        ("--policy", policy, tuple(POLICIES)),
        ("--preemption", preemption, ("recompute", "swap")),
        ("--router", router, ("round_robin", "least_loaded")),
    ):
        if value not in allowed:
            raise SpecError(name, "", value, f"choose one of {', '.join(allowed)}")
    target = find_slo(slo)
    dep = _deployment(
        model,
        system,
        tp,
        pp,
        ep,
        replicas,
        policy=policy,
        max_seqs=max_seqs,
        max_batched_tokens=max_batched_tokens,
        preemption=preemption,
        router=router,
        disaggregated=disaggregated,
        prefill_replicas=prefill_replicas,
    )
    if sweep_rate and trace not in ("poisson", "gamma"):
        raise SpecError("--sweep-rate", "--trace", trace, "sweeps need poisson or gamma")
    if steady and trace != "closed":
        raise SpecError("--steady", "--trace", trace, "a steady state needs --trace closed")
    first = _requests(trace, rate, cv, clients, requests, duration, isl, osl, seed)
    if isinstance(first, list):  # a sweep's higher rates draw from the same lengths
        longest = max((q.input_tokens + q.output_tokens for q in first), default=1)
    else:
        longest = first.isl.draw(np.random.default_rng(seed), 1000).max()
        longest += first.osl.draw(np.random.default_rng(seed), 1000).max()
    timer = timer_for(dep, int(max(longest, 4096)))
    console = Console(stderr=True)
    with Progress(
        "{task.description}", BarColumn(), MofNCompleteColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("requests", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def one(r: float) -> dict[str, Any]:
            reqs = _requests(trace, r, cv, clients, requests, duration, isl, osl, seed)
            if steady:
                doc, _ = run_steady(dep, reqs, target, timer, seed, progress)
            else:
                doc = run(dep, reqs, target, seed, progress, timer=timer)
            doc["_label"] = f"{r:g}/s" if trace in ("poisson", "gamma") else trace
            doc["rate_per_s"] = r
            return doc

        if not sweep_rate:
            docs = [one(rate)]
        else:
            docs = sweep(one, rate / 8, ok=lambda d: bool(d["slo"]["met"]))
    head = {
        "model": dep.llm.name,
        "system": dep.system.chip.name,
        "chips": dep.system.count,
        "replicas": dep.replicas,
        "tp": tp,
        "pp": pp,
        "ep": ep,
        "policy": policy,
        "trace": trace,
        "steady": steady,
        "seed": seed,
    }
    if as_json:
        clean = [{k: v for k, v in d.items() if k != "_label"} for d in docs]
        out: dict[str, Any] = {**head, "runs": clean} if sweep_rate else {**head, **clean[0]}
        if sweep_rate:
            met = [d["rate_per_s"] for d in docs if d["slo"]["met"]]
            out["max_rate_meeting_slo_per_s"] = max(met) if met else 0.0
        sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
        return
    out_console = Console()
    title = (
        f"{dep.llm.name} on {dep.system.count} x {dep.system.chip.name} "
        f"({dep.replicas} replica(s), tp {tp} pp {pp}, {policy}), SLO {target.name}"
    )
    out_console.print(_serving_table(title, docs, "rate" if sweep_rate else "trace"))
    if sweep_rate:
        met = [d["rate_per_s"] for d in docs if d["slo"]["met"]]
        best = f"{max(met):.3g} requests/s" if met else "none of the rates tried"
        out_console.print(f"highest rate meeting the {target.name} SLO: {best}")
    for d in docs:
        for why, n in d["dropped_reasons"].items():
            out_console.print(f"[yellow]dropped {n}: {why}[/yellow]")


def _validate_serving(path: str, as_json: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from tigris.serve.validate import validate_serving

    with Progress(
        "replaying",
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=None)
        res = validate_serving(path, lambda i, n: bar.update(task, completed=i, total=n))
    res.pop("_rows", None)
    if as_json:
        _out(res)
        return
    console = Console()
    t = Table(title=f"{path}: {res['rows']} rows, {res['skipped']} skipped", box=box.SIMPLE_HEAVY)
    for col in ("metric", "rows", "median |err| %", "P90 |err| %", "Spearman"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    rows = [("all", res)] + [(g["engine"], g) for g in res["groups"]]
    for who, doc in rows:
        for name in ("ttft", "tpot"):
            m = doc[name]
            if m:
                t.add_row(
                    f"{name.upper()} {who}",
                    f"{m['rows']:,}",
                    f"{m['median_abs_pct_err']:.1f}",
                    f"{m['p90_abs_pct_err']:.1f}",
                    f"{m['spearman']:.3f}",
                )
    console.print(t)
    for reason, n in res["skipped_reasons"].items():
        console.print(f"[dim]skipped {n}: {reason}[/dim]")


@app.command()
def calibrate(
    chip: Annotated[str, typer.Option(help="catalog chip the tables were measured on")],
    tables: Annotated[str, typer.Argument(help="folder of measured .parquet tables")],
    out: Annotated[str | None, typer.Option(help="YAML to write (default: stdout)")] = None,
    sample: Annotated[int, typer.Option(min=50, help="rows sampled per table")] = 300,
) -> None:
    """Fit the chip family's calibration parameters on measured tables."""
    from pathlib import Path

    from tigris.cost.fit import fit, write

    c = catalog.chip(chip)
    folder = Path(tables)
    paths = sorted(folder.glob("*.parquet"))
    if not paths:
        raise SpecError(tables, "", None, "no .parquet tables in this folder")
    console = Console(stderr=True)
    cal, losses = fit(c, paths, sample=sample, progress=lambda s: console.print(f"[dim]{s}[/dim]"))
    command = f"tigris calibrate --chip {chip} {tables} --sample {sample}"
    target = Path(out) if out else None
    if target is None:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d) / "cal.yaml"
            write(tmp, c.family or "default", cal, paths, command)
            sys.stdout.write(tmp.read_text())
        return
    tmp = target.with_suffix(".tmp")
    write(tmp, c.family or "default", cal, paths, command)
    tmp.replace(target)  # no partial file on interruption
    console.print(f"wrote {target} (losses {losses})")


@app.command()
def measure(
    out: Annotated[str, typer.Option(help="folder for the tables (resumes a run left there)")],
    ops: Annotated[str, typer.Option(help="comma list of gemm,attention,vector,layer,nccl")] = (
        "gemm,attention,vector,layer,nccl"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="a few minutes' subset of shapes")] = False,
    device: Annotated[str, typer.Option(help="auto, cuda or cpu")] = "auto",
    model: Annotated[
        str | None, typer.Option(help="packaged model for the decoder-layer table")
    ] = None,
    ranks: Annotated[
        int | None, typer.Option(min=1, help="processes for the collectives (default: GPUs)")
    ] = None,
) -> None:
    """Time this machine's GPU into tables of the measured schema (needs tigris[measure])."""
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from tigris.measure.run import measure as run
    from tigris.measure.run import parse_ops

    if device not in ("auto", "cuda", "cpu"):
        raise SpecError("tigris measure", "--device", device, "choose auto, cuda or cpu")
    chosen = parse_ops(ops)
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done, total=total)

        try:
            summary = run(Path(out), chosen, quick, device, model, ranks, progress)
        except KeyboardInterrupt:
            console.print(f"interrupted: finished rows are kept in {out}; run again to resume")
            raise
    for name, n in summary.rows.items():
        console.print(f"{name}: {n:,} rows -> {Path(out) / (name + '.parquet')}")
    if not summary.power:
        console.print("[dim]board power: no NVML or nvidia-smi here, not recorded[/dim]")
    if summary.failed:
        console.print(f"[yellow]{len(summary.failed)} rows failed; see metadata.json[/yellow]")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        app(args=argv, prog_name="tigris")
    except SpecError as exc:
        sys.stderr.write(f"tigris: error: {exc}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        sys.stderr.write("tigris: interrupted\n")
        raise SystemExit(130) from None
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


from tigris.cli import explore, money, report  # noqa: E402, F401  (register their commands)

if __name__ == "__main__":
    main()
