"""Accuracy on a fixed sample of ../shared/measured, and the `tigris validate` command.

Issue 3's targets are asserted where they are set: GEMM (bf16 and fp8) on a seeded sample of
each such group, all-reduce on the whole NCCL tables, and each attention table's median and
Spearman on its sample. The other bounds are REGRESSION GUARDS at the accuracy this version
reaches (README, "Accuracy"). Tighten them as the model improves; never loosen them to make a
change pass.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import tigris
from tigris.cli import main
from tigris.cost.validate import predict, read_table, report, table_kind

PER_TABLE = 250  # rows sampled per table: 8 tables, 2,000 rows
PER_GEMM_GROUP = 600  # rows sampled per GEMM group a target covers: 3 groups, 1,800 rows
# (chip, table) -> (median |err| %, P90 |err| %, Spearman) guards over all of a table's rows;
# attention's medians and Spearman are issue 3's targets (median <= 15, Spearman >= 0.95)
GUARDS = {
    ("h100-sxm", "gemm_perf"): (10, 25, 0.98),
    ("h100-sxm", "context_attention_perf"): (15, 40, 0.99),
    ("h100-sxm", "generation_attention_perf"): (15, 40, 0.95),
    ("h100-sxm", "nccl_perf"): (12, 35, 0.95),
    # A100's GEMM table is 60% int4 / int8 weight-only and SmoothQuant rows timed by
    # TensorRT's layer profiler, predicted but not fitted (they read 30-40% low)
    ("a100-sxm", "gemm_perf"): (20, 70, 0.94),
    ("a100-sxm", "context_attention_perf"): (12, 40, 0.99),
    ("a100-sxm", "generation_attention_perf"): (15, 45, 0.97),
    ("a100-sxm", "nccl_perf"): (20, 45, 0.95),
}
# issue 3's GEMM target, for bf16 and fp8 on every chip that has them
GEMM_TARGET = (10, 25, 0.95)
GEMM_TARGET_GROUPS = [("h100-sxm", "bfloat16"), ("h100-sxm", "fp8"), ("a100-sxm", "bfloat16")]
# (chip, table, dtype group) -> guards of one group within the table's sample. Block-scaled
# fp8 is a flow of its own (README, "Left in GEMM"): its rows with m just past a multiple of 64
# run up to twice as long as at the next multiple of 128.
GROUP_GUARDS = {
    ("h100-sxm", "gemm_perf", "fp8_block"): (12, 40, 0.98),
}


def _sample_report(shared, chip: str, table: str) -> dict:
    path = shared / "measured" / chip.replace("-", "_") / f"{table}.parquet"
    df = read_table(path)
    df = df.iloc[np.sort(np.random.default_rng(0).choice(len(df), PER_TABLE, replace=False))]
    rows, pred = predict(df, table_kind(df, str(path)), tigris.chip(chip))
    return report(rows, pred)


@pytest.mark.parametrize("chip", ["h100-sxm", "a100-sxm"])
def test_all_reduce_meets_the_target_on_the_whole_nccl_table(shared, chip):
    """Issue 3's NCCL target (median <= 15%, Spearman >= 0.95) on every all-reduce row of
    both dtypes (the tables are small enough to take whole)."""
    path = shared / "measured" / chip.replace("-", "_") / "nccl_perf.parquet"
    df = read_table(path)
    res = report(*predict(df, table_kind(df, str(path)), tigris.chip(chip)))
    groups = [g for g in res["groups"] if g["op"] == "all_reduce"]
    assert len(groups) == 2
    for g in groups:
        assert g["median_abs_pct_err"] <= 15, g["dtype"]
        assert g["spearman"] >= 0.95, g["dtype"]


@pytest.mark.parametrize(("chip", "dtype"), GEMM_TARGET_GROUPS)
def test_gemm_meets_the_target(shared, chip, dtype):
    path = shared / "measured" / chip.replace("-", "_") / "gemm_perf.parquet"
    df = read_table(path)
    df = df[df.gemm_dtype == dtype]
    rng = np.random.default_rng(0)
    df = df.iloc[np.sort(rng.choice(len(df), PER_GEMM_GROUP, replace=False))]
    res = report(*predict(df, table_kind(df, str(path)), tigris.chip(chip)))
    med, p90, rho = GEMM_TARGET
    assert res["skipped"] == 0
    assert res["median_abs_pct_err"] <= med
    assert res["p90_abs_pct_err"] <= p90
    assert res["spearman"] >= rho


@pytest.mark.parametrize(("chip", "table"), sorted(GUARDS))
def test_sampled_accuracy_holds(shared, chip, table):
    res = _sample_report(shared, chip, table)
    med, p90, rho = GUARDS[(chip, table)]
    assert res["skipped"] == 0
    assert res["median_abs_pct_err"] <= med
    assert res["p90_abs_pct_err"] <= p90
    assert res["spearman"] >= rho
    for (c, t, dtype), (g_med, g_p90, g_rho) in GROUP_GUARDS.items():
        if (c, t) != (chip, table):
            continue
        (group,) = [g for g in res["groups"] if g["dtype"] == dtype]
        assert group["median_abs_pct_err"] <= g_med, dtype
        assert group["p90_abs_pct_err"] <= g_p90, dtype
        assert group["spearman"] >= g_rho, dtype


def test_validate_json_schema_on_a_chip_never_calibrated(shared, tmp_path, capsys):
    """Any table of the schema, any catalog chip: the H100 NCCL table read as if on an MI300X."""
    path = shared / "measured" / "h100_sxm" / "nccl_perf.parquet"
    main(["validate", "--chip", "mi300x", "--table", str(path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    for key in ("rows", "skipped", "median_abs_pct_err", "p90_abs_pct_err", "spearman", "groups"):
        assert key in doc
    assert doc["rows"] + doc["skipped"] == 1008
    assert {g["op"] for g in doc["groups"]} == {
        "all_gather",
        "all_reduce",
        "alltoall",
        "reduce_scatter",
    }


def test_quantised_flows_and_layer_profiled_rows():
    """A per-tensor fp8 row times the scale's fill, the max reduction and the quantise kernel
    with its GEMM; a row TensorRT's layer profiler timed is the GEMM layer alone, and is kept
    out of calibration."""
    import pandas as pd

    from tigris.cost.validate import fittable, rows

    df = pd.DataFrame(
        {
            "m": [16, 16],
            "n": [256, 256],
            "k": [512, 512],
            "gemm_dtype": ["fp8", "sq"],
            "latency": [0.01, 0.01],
            "kernel_source": ["torch_flow", "trt_flow_/smooth_quant_gemm"],
        }
    )
    fp8, sq = rows(df, "gemm", tigris.chip("h100-sxm"))
    assert [op.kind for op in fp8.pre] == ["fill", "reduce", "quantise"]
    assert sq.pre == ()
    assert list(fittable(df).gemm_dtype) == ["fp8"]


def test_validate_refuses_a_table_of_another_schema(tmp_path, capsys):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--chip", "h100-sxm", "--table", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "x.csv" in err and "not a GEMM, attention or NCCL table" in err
    assert "Traceback" not in err


def test_defaults_lie_within_the_fitted_families():
    """A chip with no measurements takes figures the fitted families show, not a guess
    outside them (`default.yaml` rounds the newest family's)."""
    from tigris.cost.params import families, load

    fitted = [load(f).params for f in families()]
    default = load("default").params
    assert len(fitted) >= 2
    for name in type(default).model_fields:
        values = [getattr(p, name) for p in fitted]
        assert min(values) * 0.95 <= getattr(default, name) <= max(values) * 1.05, name
