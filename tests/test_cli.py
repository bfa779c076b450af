"""The command line: one JSON document per --json command, and paths where names go."""

import json

import pytest
import yaml

from tigris.cli import main
from tigris.spec import catalog


def _json(capsys, *args):
    main(list(args))
    return json.loads(capsys.readouterr().out)


def test_chips_json_lists_every_chip_with_peaks_and_sources(capsys):
    doc = _json(capsys, "chips", "--json")
    assert {d["name"] for d in doc} == set(catalog.chip_names())
    h100 = next(d for d in doc if d["name"] == "h100-sxm")
    assert h100["vendor"] == "NVIDIA" and h100["kind"] == "catalog"
    assert h100["peak_flops"]["bf16"] == pytest.approx(989.4e12, rel=1e-3)
    assert any(s["key"] == "nv_h100" and "nvidia.com" in s["citation"] for s in h100["sources"])
    assert {d["kind"] for d in doc} == {"catalog", "proposal"}


def test_models_json_lists_parameter_counts(capsys):
    doc = _json(capsys, "models", "--json")
    ds = next(d for d in doc if d["name"] == "deepseek-v3")
    assert ds["params_total"] > 600e9 and ds["params_active"] < 40e9


def test_show_takes_names_ids_and_paths(capsys, tmp_path):
    assert _json(capsys, "show", "B200", "--json")["name"] == "b200"
    doc = _json(capsys, "show", "nvidia/Llama-3.1-8B-Instruct-FP8", "--json")
    assert doc["name"] == "llama-3.1-8b" and doc["weights_dtype"] == "fp8_e4m3"
    spec = _json(capsys, "show", "tigris-e1", "--json")["spec"]
    spec.update(name="my-edge", kind="user", aliases=[])
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(spec))
    mine = _json(capsys, "show", str(path), "--json")
    assert mine["name"] == "my-edge"
    assert mine["peak_flops"] == _json(capsys, "show", "tigris-e1", "--json")["peak_flops"]


def test_show_a_config_json_path(capsys, shared):
    path = shared / "model-configs" / "Qwen--Qwen3-8B_config.json"
    assert _json(capsys, "show", str(path), "--json")["family"] == "qwen3"


def test_human_output_is_a_table(capsys):
    main(["chips"])
    out = capsys.readouterr().out
    assert "h100-sxm" in out and "tigris-t1" in out
