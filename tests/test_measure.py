"""`tigris measure` on the CPU with tiny shapes: schema, validate round trip, resume, errors."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tigris.cli import main
from tigris.errors import SpecError
from tigris.measure.grid import grid
from tigris.measure.harness import PowerMeter
from tigris.measure.tables import SCHEMAS, Table, key

MEASURED = Path(__file__).resolve().parents[2] / "shared" / "measured" / "h100_sxm"


def test_grid_fits_memory_and_sizes_nest():
    for size in ("full", "quick", "cpu"):
        g = grid(size, 80e9)
        assert g.gemm and g.context and g.generation and g.vector
        assert all(2.0 * (m * k + k * n + m * n) <= 0.4 * 80e9 for m, n, k in g.gemm)
    small = grid("full", 1e9)
    assert len(small.gemm) < len(grid("full", 80e9).gemm)
    quick, full = grid("quick", 80e9), grid("full", 80e9)
    assert {m for m, _, _ in quick.gemm} <= {m for m, _, _ in full.gemm}
    assert len(grid("cpu", 80e9).gemm) < len(quick.gemm) < len(full.gemm)


def test_power_meter_averages_only_inside_the_window():
    meter = PowerMeter.__new__(PowerMeter)
    meter.samples = [(0.0, 100.0), (1.0, 300.0), (2.0, 500.0), (3.0, 700.0)]
    assert meter.mean(0.5, 2.5) == (400.0, 2)
    assert meter.mean(5.0, 6.0) == (None, 0)


def test_journal_survives_a_truncated_line(tmp_path):
    t = Table(tmp_path, "vector_perf")
    row = {"framework": "torch", "version": "x", "device": "cpu", "op_name": "rmsnorm"}
    row |= {"kernel_source": "torch", "dtype": "bfloat16", "tokens": 1, "hidden": 64}
    t.add(row | {"latency": 0.1}, power_w=250.0, samples=3)
    with t.partial.open("a") as f:
        f.write('{"framework": "tor')  # killed mid-write
    again = Table(tmp_path, "vector_perf")
    assert len(again.rows) == 1 and key("vector_perf", row) in again.done
    assert again.power == {0: (250.0, 3)}
    assert again.finish().exists() and not again.partial.exists()


def test_missing_torch_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(SystemExit) as exc:
        main(["measure", "--out", "unused"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "tigris[measure]" in err and "Traceback" not in err


def test_bad_ops_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["measure", "--out", str(tmp_path), "--ops", "gemm,warp"])
    assert exc.value.code == 2
    assert "--ops" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


torch = pytest.importorskip("torch")

from tigris.measure import harness  # noqa: E402
from tigris.measure.layer import TorchLayer  # noqa: E402
from tigris.measure.run import measure  # noqa: E402
from tigris.workload.models import model  # noqa: E402


def test_timer_sees_the_work():
    dev = harness.open_device("cpu")
    t = harness.time_op(dev, lambda: time.sleep(0.002), 0.0, window_s=0.01)
    assert 2.0 <= t.ms < 20.0 and t.iters >= 5 and t.t1 > t.t0


def test_cpu_run_writes_the_measured_schema_and_validate_reads_it(tmp_path, capsys):
    summary = measure(tmp_path, ("gemm", "attention", "vector", "layer"), device="cpu")
    assert summary.failed == []
    for name in ("gemm_perf", "context_attention_perf", "generation_attention_perf"):
        table = pq.read_table(tmp_path / f"{name}.parquet")
        assert table.schema.remove_metadata().equals(SCHEMAS[name])
        assert table.num_rows == summary.rows[name] > 0
        assert min(table.column("latency").to_pylist()) > 0
        if MEASURED.exists():
            theirs = pq.read_schema(MEASURED / f"{name}.parquet").remove_metadata()
            assert table.schema.remove_metadata().equals(theirs)
        capsys.readouterr()
        main(
            [
                "validate",
                "--chip",
                "h100-sxm",
                "--table",
                str(tmp_path / f"{name}.parquet"),
                "--json",
            ]
        )
        doc = json.loads(capsys.readouterr().out)
        assert doc["rows"] == table.num_rows and doc["skipped"] == 0
    gemm = pq.read_table(tmp_path / "gemm_perf.parquet").to_pandas()
    assert set(gemm.gemm_dtype) == {"bfloat16", "fp8"}  # the CPU build has fp8 _scaled_mm
    layers = pq.read_table(tmp_path / "layer_perf.parquet").to_pandas()
    assert set(layers.phase) == {"prefill", "decode"}
    meta = json.loads((tmp_path / "metadata.json").read_text())
    for field in ("date_utc", "command", "torch", "python", "grid"):
        assert meta[field]
    assert not list(tmp_path.glob("*.partial.jsonl")) and not list(tmp_path.glob("*.tmp"))


def test_interrupted_run_resumes_without_measuring_twice(tmp_path):
    calls = []

    def stop_after_five(table: str, done: int, total: int) -> None:
        calls.append(done)
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure(tmp_path, ("gemm",), device="cpu", progress=stop_after_five)
    assert not (tmp_path / "gemm_perf.parquet").exists()  # no partial output file
    assert len((tmp_path / "gemm_perf.partial.jsonl").read_text().splitlines()) == 5
    again = measure(tmp_path, ("gemm",), device="cpu")
    total = again.rows["gemm_perf"]
    assert again.measured == total - 5
    df = pq.read_table(tmp_path / "gemm_perf.parquet").to_pandas()
    assert len(df) == total and not df.duplicated(["gemm_dtype", "m", "n", "k"]).any()
    assert len(json.loads((tmp_path / "metadata.json").read_text())["runs"]) == 2
    assert measure(tmp_path, ("gemm",), device="cpu").measured == 0  # complete: nothing to do


def test_collectives_over_two_cpu_ranks(tmp_path):
    summary = measure(tmp_path, ("nccl",), device="cpu", ranks=2)
    df = pq.read_table(tmp_path / "nccl_perf.parquet").to_pandas()
    assert summary.rows["nccl_perf"] == len(df) > 0
    assert set(df.op_name) == {"all_reduce", "all_gather"} and set(df.num_gpus) == {2}
    assert (df.latency > 0).all()


def test_layer_matches_a_reference_computation():
    """One token attends only to itself, so attention returns its own value vector: the layer
    is then x + v @ Wo followed by the MLP, which we compute here by hand in float32."""
    dev = harness.open_device("cpu")
    f = torch.nn.functional
    for name in ("gpt-2", "llama-3.1-8b"):
        llm = model(name)
        layer = TorchLayer(dev, llm)
        x = torch.randn(2, 1, llm.hidden, dtype=torch.bfloat16)
        got = layer.forward_prefill(x).float()
        w = {k: getattr(layer, k).float() for k in ("wqkv", "wo", "w_in", "w_out", "norm_w")}

        def norm(t, w=w, llm=llm, f=f):
            if llm.norm == "layer":
                return f.layer_norm(t, (llm.hidden,), w["norm_w"])
            return f.rms_norm(t, (llm.hidden,), w["norm_w"], 1e-6)

        a = llm.layers[0].attention
        v = (norm(x.float()) @ w["wqkv"])[..., (a.heads + a.kv_heads) * a.head_dim :]
        v = v.view(2, 1, a.kv_heads, a.head_dim).repeat_interleave(a.heads // a.kv_heads, 2)
        x1 = x.float() + v.reshape(2, 1, -1) @ w["wo"]
        y = norm(x1) @ w["w_in"]
        if llm.layers[0].mlp.gated:
            g, u = y.chunk(2, dim=-1)
            y = f.silu(g) * u
        else:
            y = f.gelu(y)
        want = x1 + y @ w["w_out"]
        err = (got - want).abs().max() / want.abs().max()
        assert err < 0.05, (name, float(err))
        assert layer.weight_bytes() > 2.0 * a.params(llm.hidden)  # attention alone is less


def test_layer_refuses_moe():
    with pytest.raises(SpecError, match="dense"):
        TorchLayer(harness.open_device("cpu"), model("qwen3-30b-a3b"))
