"""The catalog: what it holds, that each figure is sourced, and that peaks are derived right."""

import re
from importlib import resources

import pytest
import yaml

from tigris.spec import catalog
from tigris.spec.base import split_provenance
from tigris.spec.chip import Chip

REQUIRED = [
    "a100-sxm",
    "h100-sxm",
    "h200-sxm",
    "b200",
    "gb200",
    "mi300x",
    "mi325x",
    "mi355x",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
    "tpu-ironwood",
    "trainium2",
    "gaudi3",
    "groq-lpu-v1",
    "wormhole-n300",
    "blackhole-p150",
]


def test_catalog_has_every_required_chip_and_two_proposals():
    names = catalog.chip_names()
    for name in REQUIRED:
        assert name in names
        assert catalog.chip(name).kind == "catalog"
    assert {c.name for c in catalog.chips() if c.kind == "proposal"} == {"tigris-t1", "tigris-e1"}


@pytest.mark.parametrize("name", catalog.chip_names())
def test_derived_peak_reproduces_each_datasheet_peak_within_2_percent(name):
    chip = catalog.chip(name)
    assert chip.datasheet_flops, f"{name} quotes no datasheet peak"
    for dtype, quoted in chip.datasheet_flops.items():
        assert chip.peak_flops(dtype) == pytest.approx(quoted, rel=0.02), dtype


QUANTITY = re.compile(r"^[-+]?\d[\d.]*(e[-+]?\d+)?\s*[A-Za-z/²^0-9]*$")


def _leaves(tree, path=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, tree


def _catalog_files():
    folder = resources.files("tigris.spec") / "catalog"
    return sorted(
        p for p in folder.iterdir() if p.name.endswith(".yaml") and p.name != "sources.yaml"
    )


@pytest.mark.parametrize("path", _catalog_files(), ids=lambda p: p.name)
def test_every_number_carries_a_source_or_is_marked_an_estimate(path):
    raw = yaml.safe_load(path.read_text())
    plain, provenance = split_provenance(raw)
    registry = catalog.sources()
    for where, value in _leaves(plain):
        if (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and QUANTITY.match(value)
        ):
            assert where in provenance, f"{path.name}: {where} = {value} has no provenance"
    for where, prov in provenance.items():
        assert prov.source or prov.estimate, f"{path.name}: {where} has neither"
        keys = [prov.source] if isinstance(prov.source, str) else (prov.source or [])
        for key in keys:
            assert key in registry, f"{path.name}: {where} cites unknown source {key!r}"


def test_proposals_are_estimates_and_fit_their_brief():
    t1, e1 = catalog.chip("tigris-t1"), catalog.chip("tigris-e1")
    for chip in (t1, e1):
        for where, prov in chip.provenance.items():
            assert prov.estimate or prov.source == "lpddr5x_jedec", where
    assert t1.process and "N3" in t1.process.node
    assert all(e.kind == "systolic" for e in t1.cores.matrix)
    assert t1.main_memory.kind == "hbm" and "Ethernet" in (t1.scaleup.name if t1.scaleup else "")
    assert t1.process.die_area_mm2 is not None and t1.process.die_area_mm2 <= 858
    assert e1.tdp_W is not None and e1.tdp_W <= 10
    assert e1.main_memory.kind == "lpddr" and "LPDDR5X" in (e1.main_memory.technology or "")


HW_IDS = {
    "a100-sxm": "nvidia_a100_sxm4_80gb",
    "h100-sxm": "nvidia_h100_sxm5_80gb",
    "h200-sxm": "nvidia_h200_sxm_141gb",
    "b200": "nvidia_b200_hgx",
    "gb200": "nvidia_gb200_per_gpu",
    "mi300x": "amd_mi300x",
    "mi325x": "amd_mi325x",
    "mi355x": "amd_mi355x",
    "tpu-v5e": "google_tpu_v5e",
    "tpu-v5p": "google_tpu_v5p",
    "tpu-v6e": "google_tpu_v6e",
    "tpu-ironwood": "google_tpu7x_ironwood",
    "trainium2": "aws_trainium2",
    "gaudi3": "intel_gaudi3",
    "groq-lpu-v1": "groq_lpu_v1",
    "wormhole-n300": "tenstorrent_wormhole_n300",
    "blackhole-p150": "tenstorrent_blackhole_p150",
}
GIB = {"GiB": 2**30}


@pytest.mark.parametrize("name", sorted(HW_IDS))
def test_catalog_figures_match_the_reference_dataset(shared, name):
    """Memory, bandwidth, TDP and the bf16 peak equal hw-data.yaml's sourced values."""
    data = yaml.safe_load((shared / "reference" / "hw-data.yaml").read_text())
    ref = next(c for c in data["chips"] if c["id"] == HW_IDS[name])
    chip: Chip = catalog.chip(name)
    mem = ref["memory"]
    scale = GIB.get(mem["capacity_gb"].get("unit"), 1e9)
    if mem["type"] != "none":
        assert chip.main_memory.capacity_B == pytest.approx(mem["capacity_gb"]["v"] * scale)
    assert chip.main_memory.bandwidth_Bps == pytest.approx(mem["bandwidth_tbps"]["v"] * 1e12)
    if ref["tdp_w"]["v"] is not None:
        assert chip.tdp_W == pytest.approx(ref["tdp_w"]["v"])
    else:
        assert chip.tdp_W is None
    bidir = ref["scaleup"]["scaleup_bw_bidir_GBps"]["v"]
    assert (chip.scaleup.bandwidth_Bps * 2 if chip.scaleup else None) == (
        pytest.approx(bidir * 1e9) if bidir else None
    )
    peaks = ref["peak_dense_tflops"]
    for dtype in ("bf16", "fp16", "fp8"):
        if peaks.get(dtype, {}).get("v") and dtype in chip.datasheet_flops:
            assert chip.datasheet_flops[dtype] == pytest.approx(peaks[dtype]["v"] * 1e12)
    if ref["die_area_mm2"]["v"] is not None:
        assert chip.process and chip.process.die_area_mm2 == pytest.approx(ref["die_area_mm2"]["v"])


def test_names_and_aliases_resolve_case_insensitively():
    assert catalog.chip("H100").name == "h100-sxm"
    assert catalog.chip("Trillium").name == "tpu-v6e"
    assert catalog.chip("MI300X").name == "mi300x"


@pytest.mark.parametrize(("name", "fp32_tflops"), [("h100-sxm", 66.9), ("a100-sxm", 19.5)])
def test_vector_fp32_peak_matches_the_datasheet(name, fp32_tflops):
    """FP32 runs on the vector lanes (klockwood_h100, nv_a100 in hw-data.yaml)."""
    assert catalog.chip(name).vector_flops("fp32") == pytest.approx(fp32_tflops * 1e12, rel=0.01)
