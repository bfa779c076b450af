"""User mistakes: one line naming file, field and value; exit code 2; never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tigris.cli import main
from tigris.errors import SpecError
from tigris.spec import catalog
from tigris.spec.catalog import load_chip

GOOD = {
    "name": "toy",
    "vendor": "me",
    "clock": "1 GHz",
    "cores": {
        "count": 4,
        "matrix": [{"kind": "systolic", "count": 1, "shape": [32, 32], "macs_per_pe": {"bf16": 1}}],
    },
    "memory": [
        {"name": "sram", "kind": "scratchpad", "scope": "core", "capacity": "1 MiB"},
        {
            "name": "dram",
            "kind": "lpddr",
            "scope": "chip",
            "capacity": "8 GB",
            "bandwidth": "100 GB/s",
        },
    ],
}


def _write(tmp_path: Path, doc) -> Path:
    path = tmp_path / "chip.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _with(change):
    doc = json.loads(json.dumps(GOOD))
    change(doc)
    return doc


def test_a_good_user_chip_loads_and_derives_its_peak(tmp_path):
    chip = load_chip(_write(tmp_path, GOOD))
    assert chip.peak_flops("bf16") == 4 * 32 * 32 * 2 * 1e9
    assert chip.main_memory.bandwidth_Bps == 100e9


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.update(colour="red"), "colour", "unknown field"),
        (lambda d: d.pop("clock"), "clock", "required field is missing"),
        (
            lambda d: d["memory"][1].update(bandwidth="3.35 TB"),
            "memory[1].bandwidth",
            "expected a bandwidth",
        ),
        (lambda d: d["memory"][1].update(capacity="0 GB"), "memory[1].capacity", "greater than 0"),
        (lambda d: d["cores"].update(count=-4), "cores.count", "greater than 0"),
        (
            lambda d: d["cores"]["matrix"][0]["macs_per_pe"].update(fp7=1),
            "cores.matrix[0].macs_per_pe",
            "unknown dtype",
        ),
        (lambda d: d["memory"].reverse(), "memory", "after"),
    ],
)
def test_each_mistake_names_file_field_and_value(tmp_path, change, field, words):
    path = _write(tmp_path, _with(change))
    with pytest.raises(SpecError) as info:
        load_chip(path)
    message = str(info.value)
    assert str(path) in message and field in message and words in message
    assert "\n" not in message


def test_unknown_name_suggests_the_closest(capsys):
    with pytest.raises(SpecError, match="did you mean h100-sxm"):
        catalog.chip("h100-sx")


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path, capsys):
    path = _write(tmp_path, _with(lambda d: d["memory"][1].update(bandwidth="3.35 TB")))
    with pytest.raises(SystemExit) as info:
        main(["show", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "memory[1].bandwidth" in err and "'3.35 TB'" in err


def test_malformed_config_json_is_a_clean_error(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", "hidden_size": ')
    proc = subprocess.run(
        [sys.executable, "-m", "tigris", "show", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "not valid JSON" in proc.stderr and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_config_with_a_wrong_value_names_the_field(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 4096,
                "num_attention_heads": 32,
                "num_hidden_layers": 0,
                "intermediate_size": 11008,
                "vocab_size": 32000,
            }
        )
    )
    with pytest.raises(SystemExit) as info:
        main(["show", str(bad)])
    assert info.value.code == 2


def test_unknown_model_name_suggests(capsys):
    with pytest.raises(SystemExit):
        main(["show", "llama-3.1-7b"])
    assert "did you mean" in capsys.readouterr().err


yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=True)
    | st.sampled_from(["1 GHz", "3.35 TB", "80 GB", "x", "", "hbm", "core", "chip", "systolic"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "vendor",
                    "clock",
                    "cores",
                    "memory",
                    "count",
                    "kind",
                    "scope",
                    "capacity",
                    "bandwidth",
                    "value",
                    "source",
                    "matrix",
                    "shape",
                    "macs_per_pe",
                    "zzz",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


@settings(
    max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(doc=yaml_values)
def test_random_yaml_gives_a_valid_chip_or_the_clean_error(tmp_path, doc):
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        load_chip(path)
    except SpecError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(st.text(max_size=200))
def test_random_text_gives_the_clean_error(tmp_path, text):
    path = tmp_path / "random.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_chip(path)
    except SpecError as exc:
        assert "\n" not in str(exc)
