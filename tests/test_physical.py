"""physical/: yield against closed forms, monotonicity, the reported checks (A100/H100 area,
H100 unit cost, H100 GEMM power), TCO against the reference's worked example, fleets, and
clean errors for bad parameters."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris import chip
from tigris.cli import main
from tigris.cost.oracle import evaluate
from tigris.dtypes import DType
from tigris.physical import default, load, silicon
from tigris.physical.area import area
from tigris.physical.fab import MODELS, build, die_yield, dies_per_wafer, harvest_yield
from tigris.physical.fleet import fleet
from tigris.physical.power import power
from tigris.physical.tco import ownership, recovery_factor, usd_per_million_tokens
from tigris.workload.ops import Gemm

TECH = default()


def test_yields_match_the_reference_worked_example():
    # hw-data.md 3.3: 814 mm2, D0 0.10 => Poisson 0.443, Murphy 0.468, NB(3) 0.487; 63.5 dies.
    a, d0 = 8.14, 0.10
    assert die_yield(a, d0, "poisson") == pytest.approx(0.443, abs=1e-3)
    assert die_yield(a, d0, "murphy") == pytest.approx(0.468, abs=1e-3)
    assert die_yield(a, d0, "negative_binomial", 3) == pytest.approx(0.487, abs=1e-3)
    assert die_yield(a, d0, "seeds") == pytest.approx(1 / 1.814)
    assert dies_per_wafer(814, 300, 0, 0) == pytest.approx(63.5, abs=0.1)


@given(area_cm2=st.floats(0.01, 9.0), d0=st.floats(0.01, 0.5), alpha=st.floats(0.5, 8))
@settings(max_examples=60, deadline=None)
def test_harvest_without_spares_is_the_closed_form(area_cm2, d0, alpha):
    for model in MODELS:
        core = area_cm2 / 20
        got = harvest_yield(core, area_cm2 - 10 * core, 10, 10, d0, model, alpha)
        assert got == pytest.approx(die_yield(area_cm2, d0, model, alpha), rel=1e-6, abs=1e-9)


def test_spares_raise_yield_and_nb_tends_to_poisson():
    strict = harvest_yield(0.05, 1.0, 144, 144, 0.1, "negative_binomial")
    spared = harvest_yield(0.05, 1.0, 144, 132, 0.1, "negative_binomial")
    assert 0 < strict < spared < 1
    assert die_yield(5, 0.1, "negative_binomial", 1e6) == pytest.approx(math.exp(-0.5), rel=1e-4)


@given(small=st.floats(50, 800), grow=st.floats(1.01, 3.0))
@settings(max_examples=40, deadline=None)
def test_more_area_means_lower_yield_and_dearer_dies(small, grow):
    large = small * grow
    for model in MODELS:
        assert die_yield(large / 100, 0.1, model) < die_yield(small / 100, 0.1, model)
    c = chip("h100")
    a = area(c, TECH)
    assert (
        build(c, a, TECH, large).breakdown["compute dies"]
        > build(c, a, TECH, small).breakdown["compute dies"]
    )


def test_more_volume_amortises_one_time_costs():
    c = chip("tigris-t1")
    few = silicon(c, load(sets=["volume=1e4"])).build.breakdown["design and masks"]
    many = silicon(c, load(sets=["volume=1e6"])).build.breakdown["design and masks"]
    assert few == pytest.approx(100 * many)


@pytest.mark.parametrize("name, published", [("a100", 826), ("h100", 814)])
def test_predicted_die_area_within_15_percent(name, published):
    predicted = area(chip(name), TECH).die_mm2
    assert abs(predicted / published - 1) <= 0.15


def test_h100_unit_cost_within_30_percent_of_the_public_bom():
    cost = silicon(chip("h100"), TECH).build.unit_cost_usd
    assert abs(cost / 3320 - 1) <= 0.30  # Raymond James via Barron's, hw-data h100_bom_usd


def test_h100_large_gemm_draws_400_to_700_W():
    b = DType("bf16")
    c = chip("h100")
    op = evaluate(Gemm("g", 8192, 8192, 8192, b, b, b), c)
    watts = power(op.energy_J, op.time_s, 814, TECH).total_W
    assert 400 <= watts <= 700


def test_reticle_and_chiplets():
    c = chip("b200")
    one = area(c, TECH, chiplets=1)
    two = area(c, TECH, chiplets=2)
    assert not one.fits_reticle and two.fits_reticle
    assert two.total_mm2 > one.total_mm2  # die-to-die interfaces cost area


def test_ownership_reproduces_the_reference_worked_example():
    # hw-data.md 5: capex 30k + 4k host + 4.5k network; capital 1.16/h, energy 0.09/h,
    # colocation 0.35/h at 0.7 kW TDP, 75% mean power, node 1.8x, PUE 1.2, 8 c/kWh.
    own = ownership(30000, 0.75 * 700, 700, TECH.tco)
    assert own.capex_total_usd == pytest.approx(38500)
    assert own.usd_per_hour["capital"] == pytest.approx(1.16, abs=0.005)
    assert own.usd_per_hour["energy"] == pytest.approx(0.09, abs=0.005)
    assert own.usd_per_hour["colocation"] == pytest.approx(0.35, abs=0.006)
    assert recovery_factor(0.0, 4) == 0.25
    per_M = usd_per_million_tokens(own, 1000, TECH.tco)
    assert per_M == pytest.approx(own.per_hour_usd / (1000 * 3600 * 0.7) * 1e6)


def test_fleet_arithmetic():
    c = chip("h200")
    si = silicon(c, TECH)
    own = ownership(30000, 500, 700, TECH.tco)
    f = fleet(1e11, 200.0, si.build, own, TECH.tco)
    assert f.chips == math.ceil(1e11 / (200 * 86400 * 0.7))
    assert f.racks * f.chips_per_rack >= f.chips
    assert f.facility_MW == pytest.approx(f.chips * 500 * 1.8 * 1.2 / 1e6)
    assert f.wafers_to_build == pytest.approx(f.chips * si.build.wafers_per_chip)
    assert f.capex_usd == pytest.approx(f.chips * own.capex_total_usd)


def test_mma_engines_pay_for_accumulator_traffic_systolic_arrays_do_not():
    b = DType("bf16")
    op = Gemm("g", 4096, 4096, 4096, b, b, b)
    assert evaluate(op, chip("h100")).energy["accumulate"] > 0
    assert "accumulate" not in evaluate(op, chip("tigris-t1")).energy


def test_cost_json_and_plot(capsys, tmp_path):
    out = tmp_path / "h100.png"
    main(["cost", "h100", "--json", "--plot", str(out)])
    doc = json.loads(capsys.readouterr().out)
    assert doc["die_area_mm2"] == 814 and doc["area_source"] == "datasheet"
    assert sum(doc["breakdown"].values()) == pytest.approx(doc["unit_cost_usd"])
    assert out.read_bytes()[:4] == b"\x89PNG" and list(tmp_path.iterdir()) == [out]


def test_settings_change_the_answer(capsys):
    main(["cost", "tigris-t1", "--json", "--set", "nodes.N3.wafer_usd=40000"])
    dear = json.loads(capsys.readouterr().out)["breakdown"]["compute dies"]
    main(["cost", "tigris-t1", "--json"])
    cheap = json.loads(capsys.readouterr().out)["breakdown"]["compute dies"]
    assert dear == pytest.approx(2 * cheap)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--set", "tco.pue=0.5"], ["--set", "tco.pue", "0.5"]),
        (["--set", "nosuch=1"], ["nosuch", "unknown field"]),
        (["--set", "volume"], ["--set", "key=value"]),
        (["--set", "yield_model=magic"], ["yield_model", "magic"]),
    ],
)
def test_bad_parameters_are_one_line_errors(capsys, args, words):
    with pytest.raises(SystemExit) as exc:
        main(["cost", "h100", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert all(w in err for w in words)


def test_bad_tech_file_and_unknown_node(capsys, tmp_path):
    bad = tmp_path / "tech.yaml"
    bad.write_text("tco: {years: -3}\n")
    for args in (["cost", "h100", "--tech", str(bad)], ["cost", "tpu-v5e"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.count("\n") == 1
    assert "process.node" in err and "unpublished" in err


def test_fleet_command(capsys):
    main(["fleet", "--chips", "h200", "--tokens-per-day", "1e10", "--json"])
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["chips"] == math.ceil(1e10 / (row["tokens_per_s_per_chip"] * 86400 * 0.7))
    assert row["facility_MW"] > 0 and row["wafers_per_year"] > 0 and row["usd_per_M_tokens"] > 0


def test_compare_gains_silicon_power_and_cost(capsys):
    main(["compare", "--chips", "h100,tigris-t1", "--batch", "8", "--osl", "32", "--json"])
    rows = {r["chip"]: r["economics"] for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["h100-sxm"]["price_basis"] == "purchase price"
    assert rows["tigris-t1"]["price_usd"] == pytest.approx(rows["tigris-t1"]["unit_cost_usd"])
    for e in rows.values():
        assert 0 < e["static_W"] < e["power_W"] <= e["tdp_W"]
        assert e["tokens_per_J"] > 0 and e["usd_per_M_tokens"] > 0
