"""`tigris report`: one self-contained HTML page that renders in headless Chromium with no
console errors, for a comparison and for an exploration."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tigris.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SMALL = [
    "--model",
    "llama-3.1-8b",
    "--tp",
    "1",
    "--batch",
    "16",
    "--isl",
    "1024",
    "--osl",
    "128",
    "--requests",
    "40",
]


def render(path: Path) -> dict:
    """Open the page in headless Chromium; return its figure counts, console messages and
    page errors, and the first table's first column before and after a click on it."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's package)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        console, errors, requests = [], [], []
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_function("document.body.dataset.drawn !== undefined")
        first = (
            "Array.from(document.querySelectorAll('table')[0].tBodies[0].rows, "
            "r => parseFloat(r.cells[2].dataset.v))"
        )
        before = page.evaluate(first)
        page.click("table >> nth=0 >> th >> nth=2")
        after = page.evaluate(first)
        out = {
            "figures": int(page.evaluate("document.body.dataset.figures")),
            "drawn": int(page.evaluate("document.body.dataset.drawn")),
            "console": console,
            "errors": errors,
            "requests": requests,
            "before": before,
            "after": after,
        }
        browser.close()
    return out


def self_contained(text: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text and "url(http" not in text


def test_comparison_report_renders_offline_without_errors(tmp_path, capsys):
    out = tmp_path / "r.html"
    main(["report", "--out", str(out), "--chips", "h100-sxm,tigris-t1", *SMALL, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["chips"]] == ["h100-sxm", "tigris-t1"]
    for c in doc["chips"]:
        assert c["serving"] and c["capacity_rate_per_s"] > 0
        assert {o["phase"] for o in c["ops"]} == {"prefill", "decode"}
        # an op never beats its roofline: FLOP/s at most min(peak, intensity x bandwidth)
        for o in c["ops"]:
            if o["bytes"] > 0 and o["flops"] > 0:
                roof = min(c["peak_flops"], o["flops"] / o["bytes"] * c["memory_Bps"])
                assert o["flops"] / o["time_s"] <= roof * (1 + 1e-9)
    text = out.read_text()
    self_contained(text)
    seen = render(out)
    assert seen["errors"] == [] and [m for m in seen["console"] if m[0] == "error"] == []
    assert seen["figures"] == seen["drawn"] == 5  # rooflines, classes, area, cost, serving
    assert all(u.startswith("file:") or u.startswith("data:") for u in seen["requests"])
    assert seen["after"] == sorted(seen["before"])  # a click on a heading sorts by it


def test_exploration_report_shows_the_front(tmp_path, capsys):
    space = {
        "name": "tiny",
        "params": {
            "cores": {"low": 16, "high": 64, "step": 16},
            "clock_GHz": {"low": 1.0, "high": 2.0},
            "batch": {"choices": [8, 16, 32]},
        },
        "fixed": {"node": "TSMC N3"},
        "workload": [{"model": "llama-3.1-8b", "isl": 1024, "osl": 128, "tp": 1}],
        "objectives": ["tokens_per_usd", "tpot_s"],
        "search": {"sampler": "random", "trials": 24, "seed": 1, "batch": 8},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(space))
    folder = tmp_path / "x"
    main(
        [
            "explore",
            str(path),
            "--out",
            str(folder),
            "--backend",
            "serial",
            "--references",
            "h100-sxm",
            "--json",
        ]
    )
    explored = json.loads(capsys.readouterr().out)
    out = tmp_path / "x.html"
    main(["report", str(folder), "--out", str(out), "--requests", "30", "--json"])
    doc = json.loads(capsys.readouterr().out)
    best = f"tiny-best-{explored['best']['trial']}"
    assert [c["name"] for c in doc["chips"]] == ["h100-sxm", best]
    text = out.read_text()
    self_contained(text)
    assert text.count("<tr>") >= explored["pareto"] + 1
    seen = render(out)
    assert seen["errors"] == [] and [m for m in seen["console"] if m[0] == "error"] == []
    assert seen["figures"] == seen["drawn"] == 7  # + the front and the knobs


def test_report_on_a_folder_that_is_not_an_exploration_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "not an exploration folder" in err and "\n" not in err
    assert not (tmp_path / "r.html").exists()
