"""Design-space exploration: spaces, designs, scoring, the front, the stored and resumable
search, and the pools giving the same study."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris import physical
from tigris.cli import main
from tigris.errors import SpecError
from tigris.explore import front, pool, search
from tigris.explore.design import realise, values_of
from tigris.explore.score import judge, score
from tigris.explore.space import Space, load
from tigris.spec.catalog import chip

SMALL = {
    "name": "small",
    "base": "tigris-t1",
    "params": {
        "cores": {"low": 16, "high": 96, "step": 16},
        "clock_GHz": {"low": 0.8, "high": 2.0},
        "matrix_dim": {"choices": [64, 128]},
        "stacks": {"low": 2, "high": 8},
        "memory": {"choices": ["hbm3e-12hi", "hbm4"]},
        "batch": {"choices": [8, 32, 64]},
    },
    "fixed": {"node": "TSMC N3", "sram_MiB": 32},
    "workload": [{"model": "llama-3.1-8b", "isl": 1024, "osl": 128, "tp": 1}],
    "constraints": {"max_power_W": "1000 W"},
    "objectives": ["tokens_per_usd", "tpot_s"],
    "search": {"sampler": "nsga2", "trials": 48, "seed": 3, "population": 16, "batch": 16},
}


def space(**changes) -> Space:
    return Space.model_validate({**SMALL, **changes})


def write_space(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**SMALL, **changes}))
    return path


# --- the space file -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"params": {"cors": {"low": 1, "high": 2}}}, "unknown knob 'cors'"),
        ({"params": {"cores": {"low": 64, "high": 16}}}, "below `low`"),
        ({"params": {"cores": {"low": 16}}}, "needs `low` and `high`"),
        ({"params": {"memory": {"choices": ["hbm9"]}}}, "unknown memory 'hbm9'"),
        ({"objectives": ["speed"]}, "unknown objective 'speed'"),
        ({"params": {"cores": {"low": 8, "high": 16}}, "fixed": {"cores": 8}}, "both"),
    ],
)
def test_a_bad_space_is_one_line_naming_the_file_and_field(tmp_path, capsys, change, words):
    path = write_space(tmp_path, **change)
    with pytest.raises(SystemExit) as exc:
        main(["explore", str(path), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and words in err
    assert not (tmp_path / "out" / "trials.parquet").exists()


def test_the_packaged_t1_space_loads():
    sp = load("tigris-t1")
    assert sp.fixed["node"] == "TSMC N3" and sp.constraints.max_power_W == 1000
    with pytest.raises(SpecError, match="packaged: tigris-t1"):
        load("no-such-space")


# --- designs --------------------------------------------------------------------------------


def test_knobs_set_what_they_say():
    sp, base = space(), chip("tigris-t1")
    knobs = values_of(
        sp,
        {
            "cores": 32,
            "clock_GHz": 1.0,
            "matrix_dim": 64,
            "stacks": 3,
            "memory": "hbm4",
            "batch": 8,
        },
    )
    c = realise(sp, base, knobs)
    assert c.kind == "proposal" and c.process.node == "TSMC N3"
    assert c.peak_flops("bf16") == pytest.approx(32 * 64 * 64 * 2 * 1.0e9)
    hbm = c.main_memory
    assert hbm.capacity_B == pytest.approx(3 * 36e9) and hbm.bandwidth_Bps == pytest.approx(6e12)
    assert hbm.interfaces == 3
    sram = next(m for m in c.memory if m.kind == "sram")
    assert sram.capacity_B == 32 * 2**20
    # bytes per cycle are kept: the clock falls to 1.0 GHz, so does on-chip bandwidth
    base_sram = next(m for m in base.memory if m.kind == "sram")
    per_cycle = base_sram.bandwidth_Bps / base.clock_Hz
    assert sram.bandwidth_Bps == pytest.approx(per_cycle * 1.0e9)


def test_no_sram_removes_the_level():
    sp = space(fixed={"node": "TSMC N3", "sram_MiB": 0})
    c = realise(sp, chip("tigris-t1"), values_of(sp, {"cores": 32}))
    assert all(m.kind != "sram" for m in c.memory)


def test_a_matrix_knob_on_an_mma_chip_is_reported_not_raised():
    sp = space(base="h100-sxm", fixed={"node": "TSMC N5"})
    s = score(sp, chip("h100-sxm"), physical.default(), {"matrix_dim": 64})
    assert s.metrics is None and "not systolic" in s.error


@settings(max_examples=15, deadline=None)
@given(stacks=st.integers(2, 7), cores=st.sampled_from([16, 32, 64]))
def test_more_memory_bandwidth_never_slows_a_design(stacks, cores):
    sp, base, tech = space(), chip("tigris-t1"), physical.default()
    knobs = {
        "cores": cores,
        "clock_GHz": 1.2,
        "matrix_dim": 128,
        "memory": "hbm3e-12hi",
        "batch": 32,
    }
    slow = judge(
        sp,
        realise(sp, base, values_of(sp, {**knobs, "stacks": stacks})),
        tech,
        values_of(sp, knobs),
    )
    fast = judge(
        sp,
        realise(sp, base, values_of(sp, {**knobs, "stacks": stacks + 1})),
        tech,
        values_of(sp, knobs),
    )
    assert fast.tokens_per_s_per_chip >= slow.tokens_per_s_per_chip * (1 - 1e-9)
    assert fast.tpot_s <= slow.tpot_s * (1 + 1e-9)
    assert fast.unit_cost_usd > slow.unit_cost_usd  # a stack costs money


def test_a_design_is_judged_like_the_catalog_chip_it_copies():
    """Realising the base with no knobs turned gives the base chip's speed, by the same code."""
    sp = space(params={"cores": {"choices": [64]}}, fixed={})
    base = chip("tigris-t1")
    c = realise(sp, base, values_of(sp, {"cores": base.cores.count}))
    tech = physical.default()
    a, b = judge(sp, c, tech, {}), judge(sp, base, tech, {})
    assert a.tokens_per_s_per_chip == pytest.approx(b.tokens_per_s_per_chip, rel=1e-9)
    assert a.ttft_s == pytest.approx(b.ttft_s, rel=1e-9)


def test_a_mix_weights_time_per_token_by_share():
    tech, base = physical.default(), chip("tigris-t1")
    a = {"model": "llama-3.1-8b", "isl": 1024, "osl": 128, "tp": 1, "batch": 16}
    b = {"model": "llama-3.1-8b", "isl": 4096, "osl": 512, "tp": 1, "batch": 16}
    ma = judge(space(workload=[a]), base, tech, {})
    mb = judge(space(workload=[b]), base, tech, {})
    mix = judge(space(workload=[{**a, "weight": 3}, {**b, "weight": 1}]), base, tech, {})
    expect = 1 / (0.75 / ma.tokens_per_s_per_chip + 0.25 / mb.tokens_per_s_per_chip)
    assert mix.tokens_per_s_per_chip == pytest.approx(expect, rel=1e-9)
    assert mix.tpot_s == pytest.approx(max(ma.tpot_s, mb.tpot_s))
    assert mix.usd_per_M_tokens == pytest.approx(
        0.75 * ma.usd_per_M_tokens + 0.25 * mb.usd_per_M_tokens, rel=1e-9
    )


# --- the front ------------------------------------------------------------------------------


def test_pareto_matches_brute_force():
    rng = np.random.default_rng(0)
    n = 700
    df = pd.DataFrame(
        {
            "tokens_per_usd": rng.integers(0, 30, n).astype(float),  # ties on purpose
            "tpot_s": rng.integers(0, 30, n).astype(float),
            "feasible": rng.random(n) < 0.8,
        }
    )
    sp = space()
    got = front.pareto(df, sp)
    pts = df[["tokens_per_usd", "tpot_s"]].to_numpy()
    for i in range(n):
        beaten = any(
            df.feasible[j]
            and pts[j, 0] >= pts[i, 0]
            and pts[j, 1] <= pts[i, 1]
            and (pts[j, 0] > pts[i, 0] or pts[j, 1] < pts[i, 1])
            for j in range(n)
        )
        assert got[i] == (bool(df.feasible[i]) and not beaten)


# --- the search -----------------------------------------------------------------------------


def _trials(url: str, name: str = "small") -> list[tuple]:
    st_ = optuna.load_study(study_name=name, storage=url)
    return [
        (t.number, tuple(sorted(t.params.items())), tuple(t.values or ()), t.state.name)
        for t in search.finished(st_)
    ]


def test_a_seed_gives_the_same_study_in_any_pool(tmp_path):
    sp, base, tech = space(), chip("tigris-t1"), physical.default()
    runs = []
    for name, workers in (("serial", 1), ("processes", 2)):
        p = pool.make(name, sp, base, tech, workers)
        try:
            search.run(sp, f"sqlite:///{tmp_path / name}.db", p, trials=40)
        finally:
            p.close()
        runs.append(_trials(f"sqlite:///{tmp_path / name}.db"))
    assert len(runs[0]) == 40 and runs[0] == runs[1]
    df = front.table(
        optuna.load_study(study_name="small", storage=f"sqlite:///{tmp_path}/serial.db"), sp
    )
    assert df["feasible"].any() and df["pareto"].sum() >= 1
    assert set(df.loc[df.pareto, "trial"]) <= set(df.loc[df.feasible, "trial"])


def test_ray_gives_the_same_study(tmp_path):
    pytest.importorskip("ray")
    sp, base, tech = space(), chip("tigris-t1"), physical.default()
    p = pool.make("ray", sp, base, tech, 2)
    try:
        assert p.name == "ray"
        search.run(sp, f"sqlite:///{tmp_path / 'ray'}.db", p, trials=24)
    finally:
        p.close()
    serial = pool.make("serial", sp, base, tech, 1)
    search.run(sp, f"sqlite:///{tmp_path / 'one'}.db", serial, trials=24)
    assert _trials(f"sqlite:///{tmp_path / 'ray'}.db") == _trials(
        f"sqlite:///{tmp_path / 'one'}.db"
    )


def test_a_study_for_another_space_is_not_resumed(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    sp = space()
    search.run(sp, url, pool.make("serial", sp, chip("tigris-t1"), physical.default(), 1), 4)
    other = space(objectives=["tokens_per_usd", "die_mm2"])
    with pytest.raises(SpecError, match="different space"):
        search.open_study(other, url)


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return con.execute(
                "select count(*) from trials where state in ('COMPLETE', 'FAIL')"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_run_then_resume_loses_no_finished_trial(tmp_path):
    path = write_space(tmp_path, search={**SMALL["search"], "batch": 4})
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "tigris",
        "explore",
        str(path),
        "--out",
        str(out),
        "--trials",
        "60",
        "--backend",
        "serial",
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "study.db"
    deadline = time.monotonic() + 120
    while _stored(db) < 12 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    url = f"sqlite:///{db}"
    before = _trials(url)
    assert 12 <= len(before) < 60
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    doc = json.loads(done.stdout)
    after = _trials(url)
    assert doc["trials"] == len(after) == 60 and doc["stored_before"] == len(before)
    assert after[: len(before)] == before  # every trial stored before the kill, unchanged
    assert len({t[0] for t in after}) == 60  # numbered once each
    table = pd.read_parquet(out / "trials.parquet")
    assert len(table) == 60 and table["trial"].is_unique


def test_explore_cli_writes_the_folder(tmp_path, capsys):
    path = write_space(tmp_path)
    out = tmp_path / "out"
    main(
        [
            "explore",
            str(path),
            "--out",
            str(out),
            "--trials",
            "16",
            "--backend",
            "serial",
            "--references",
            "h100-sxm,b200",
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    for name in (
        "trials.parquet",
        "front.csv",
        "references.csv",
        "front.png",
        "knobs.png",
        "summary.json",
        "study.db",
    ):
        assert (out / name).stat().st_size > 0, name
    assert doc["trials"] == 16 and doc["ran"] == 16
    assert [r["chip"] for r in doc["references"]] == ["h100-sxm", "b200"]
    assert all(r["batch"] in (8, 32, 64) for r in doc["references"])  # each chip's best batch
    assert doc["pareto"] == len(doc["front"])
    assert all(r["feasible"] and r["pareto"] for r in doc["front"])


def test_auto_uses_a_process_pool_where_ray_is_missing(monkeypatch):
    sp, base, tech = space(), chip("tigris-t1"), physical.default()
    monkeypatch.setattr(pool, "has_ray", lambda: False)
    p = pool.make("auto", sp, base, tech, 2)
    try:
        assert p.name == "processes" and p.workers == 2
    finally:
        p.close()
    assert pool.make("auto", sp, base, tech, 1).name == "serial"
    with pytest.raises(SpecError, match="Ray is not installed"):
        pool.make("ray", sp, base, tech, 2)


def test_a_study_whose_base_chip_changed_is_not_resumed(tmp_path):
    base = chip("tigris-t1").model_dump(mode="json", by_alias=True, exclude={"provenance"})
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({**base, "name": "mine", "kind": "user"}))
    url = f"sqlite:///{tmp_path / 's.db'}"
    sp = space(base=str(path))
    search.run(sp, url, pool.make("serial", sp, chip(str(path)), physical.default(), 1), 4)
    path.write_text(yaml.safe_dump({**base, "name": "mine", "kind": "user", "clock": "1.0 GHz"}))
    with pytest.raises(SpecError, match="base chip changed"):
        search.open_study(space(base=str(path)), url)
