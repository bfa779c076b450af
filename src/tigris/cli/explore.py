"""`tigris explore SPACE`: search a design space, store every trial, write the front.
Registered on the main app by `tigris.cli`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from tigris.cli import JsonFlag, Sets, TechFile, _out, app, tech_from
from tigris.errors import SpecError
from tigris.explore.score import HEADLINE
from tigris.report.text import number

REFERENCES = "h100-sxm,h200-sxm,b200"
SHOWN = HEADLINE


@app.command()
def explore(
    space: Annotated[str, typer.Argument(help="design space YAML, or a packaged one (tigris-t1)")],
    out: Annotated[str | None, typer.Option(help="folder for the study and results")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="finished trials to reach")] = None,
    sampler: Annotated[str | None, typer.Option(help="nsga2, tpe, random or grid")] = None,
    seed: Annotated[int | None, typer.Option(help="sampler seed")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="parallel workers (CPUs)")] = None,
    backend: Annotated[str, typer.Option(help="auto, ray, processes or serial")] = "auto",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (ray://...)")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default sqlite:///OUT/study.db)")
    ] = None,
    references: Annotated[str, typer.Option(help="catalog chips to place on the same axes")] = (
        REFERENCES
    ),
    tech: TechFile = None,
    set_: Sets = None,
    as_json: JsonFlag = False,
) -> None:
    """Search a design space with Optuna; resumable; writes trials, the Pareto front, plots."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from tigris.explore import front, pool, search
    from tigris.explore import space as spaces
    from tigris.report import exploration
    from tigris.spec.catalog import chip as find_chip

    sp = spaces.load(space)
    update = {k: v for k, v in (("sampler", sampler), ("seed", seed)) if v is not None}
    if sampler is not None and sampler not in spaces.SAMPLERS:
        raise SpecError("--sampler", "", sampler, f"choose one of {', '.join(spaces.SAMPLERS)}")
    if update:
        sp = sp.model_copy(update={"search": sp.search.model_copy(update=update)})
    params = tech_from(tech, set_)
    folder = Path(out or f"explore-{sp.name}")
    url = storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    if storage is None:
        folder.mkdir(parents=True, exist_ok=True)
    base = find_chip(sp.base)
    n_workers = workers or os.cpu_count() or 1
    target = trials or sp.search.trials
    console = Console(stderr=True)
    runner = pool.make(backend, sp, base, params, n_workers, address)
    start = time.perf_counter()
    try:
        with Progress(
            f"exploring {sp.name}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("trials", total=target)
            outcome = search.run(
                sp, url, runner, target, lambda d, t: bar.update(task, completed=d, total=t)
            )
    finally:
        runner.close()
    seconds = time.perf_counter() - start
    df = front.table(outcome.study, sp)
    refs = front.reference_table(search.references(sp, references.split(","), params))
    best = front.best(df, sp)
    summary: dict[str, Any] = {
        "space": sp.name,
        "storage": url,
        "objectives": sp.objective_directions,
        "trials": len(df),
        "stored_before": outcome.stored_before,
        "ran": outcome.ran,
        "interrupted": outcome.interrupted,
        "feasible": int(df["feasible"].sum()) if not df.empty else 0,
        "failed": int((df["state"] == "FAIL").sum()) if not df.empty else 0,
        "pareto": int(df["pareto"].sum()) if not df.empty else 0,
        "pool": outcome.pool,
        "workers": outcome.workers,
        "seconds": seconds,
        "trials_per_min": outcome.ran / seconds * 60 if seconds > 0 else 0.0,
        "best": None if best is None else _row(best),
        "ranges": exploration.ranges(sp),
        "space_doc": sp.model_dump(mode="json"),
        "references": [_row(r) for _, r in refs.iterrows()],
    }
    files = exploration.write(folder, sp, df, refs, summary)
    summary["files"] = {k: str(v) for k, v in files.items()}
    if as_json:
        summary["front"] = [_row(r) for _, r in exploration.front_rows(df, sp).iterrows()]
        _out(summary)
    else:
        _print(summary, exploration.front_rows(df, sp), refs, sp.objective_directions)
    if outcome.interrupted:
        console.print("[yellow]interrupted: run the same command again to resume[/yellow]")
        raise typer.Exit(130)


def _row(r: Any) -> dict[str, Any]:
    return {
        k: (None if _isnan(v) else (v.item() if hasattr(v, "item") else v)) for k, v in r.items()
    }


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _print(s: dict[str, Any], fr: Any, refs: Any, objectives: dict[str, str]) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(
        f"[bold]{s['space']}[/bold]: {s['trials']:,} trials stored "
        f"({s['ran']:,} this run on {s['workers']} {s['pool']} worker(s), "
        f"{s['trials_per_min']:,.0f}/min); {s['feasible']:,} feasible, {s['failed']:,} failed, "
        f"{s['pareto']} on the Pareto front of "
        + " and ".join(f"{k} ({v[:3]})" for k, v in objectives.items())
    )
    top = list(fr.head(5).iterrows())
    t = Table(box=box.SIMPLE_HEAD, title="Pareto front (best first) beside the reference chips")
    t.add_column("", no_wrap=True)
    for _, r in top:
        t.add_column(f"#{int(r['trial'])}", justify="right")
    for _, r in refs.iterrows():
        t.add_column(str(r["chip"]), justify="right")
    knobs = [c for c in fr.columns if c.startswith("p_")] if len(fr) else []
    for c in knobs:
        t.add_row(c[2:], *[number(r[c]) for _, r in top], *[""] * len(refs))
    ref_knobs = [c for c in ("batch", "tp") if c in refs.columns]
    for c in ref_knobs:
        t.add_row(f"{c} (ref.)", *[""] * len(top), *[number(r[c]) for _, r in refs.iterrows()])
    for m in SHOWN:
        t.add_row(
            m, *[number(r[m]) for _, r in top], *[number(r.get(m)) for _, r in refs.iterrows()]
        )
    t.add_row(
        "meets constraints",
        *["yes"] * len(top),
        *[("yes" if r["feasible"] else "no") for _, r in refs.iterrows()],
    )
    console.print(t)
    for _, r in refs.iterrows():
        if isinstance(r.get("error"), str):
            console.print(f"[yellow]{r['chip']}: {r['error']}[/yellow]")
    for name, path in s["files"].items():
        console.print(f"[dim]{name}: {path}[/dim]")
