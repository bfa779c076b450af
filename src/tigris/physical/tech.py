"""Technology and ownership parameters: the packaged `tech.yaml`, overridable by the user.

Each figure in `tech.yaml` carries its source or `estimate: true`, read with the same
provenance rules as chip specs. Units are in the names: `_usd`, `_mm2`, `_per_cm2`, `_W`.
`load(path, sets)` layers a user's YAML (any subset of the keys) and `key=value` settings
over the defaults; a bad key or value is a one-line SpecError naming where it came from.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from tigris.errors import SpecError
from tigris.spec.base import Positive, Provenance, Spec, read_yaml, split_provenance, validate
from tigris.spec.chip import Chip

YieldModel = Literal["poisson", "murphy", "seeds", "negative_binomial"]


class Node(Spec):
    wafer_usd: Positive
    d0_per_cm2: Positive
    logic_mtr_per_mm2: Positive
    sram_bit_mm2: Positive
    sram_macro_mm2_per_MiB: Positive
    mask_set_usd: Positive


class TCO(Spec):
    electricity_usd_per_kwh: Positive
    pue: float = Field(ge=1)
    years: Positive
    cost_of_capital: float = Field(ge=0)
    host_usd_per_chip: float = Field(ge=0)
    network_fraction: float = Field(ge=0)
    node_power_over_chip: float = Field(ge=1)
    colocation_usd_per_kw_month: float = Field(ge=0)
    utilisation: float = Field(gt=0, le=1)
    mean_power_fraction: float = Field(gt=0, le=1)
    rack_kw: Positive
    chip_margin: float = Field(ge=0)


class Tech(Spec):
    reticle_mm2: Positive
    wafer_diameter_mm: Positive
    edge_exclusion_mm: float = Field(ge=0)
    scribe_mm: float = Field(ge=0)
    nodes: dict[str, Node]
    fp16_mac_transistors: Positive
    mac_width_bits: dict[str, Positive]
    format_overhead: float = Field(ge=0)
    fp32_lane_transistors: Positive
    lane_control_transistors: float = Field(ge=0)
    noc_transistors_per_core: float = Field(ge=0)
    scratchpad_overhead: float = Field(ge=1)
    register_port_factor: float = Field(ge=1)
    sram_efficiency: tuple[float, ...]
    sram_macro_max_B: Positive
    hbm_phy_mm2: float = Field(ge=0)
    hbm_controller_transistors: float = Field(ge=0)
    dram_phy_mm2: float = Field(ge=0)
    dram_controller_transistors: float = Field(ge=0)
    link_phy_mm2_per_GBps: float = Field(ge=0)
    link_controller_transistors_per_GBps: float = Field(ge=0)
    host_io_mm2: float = Field(ge=0)
    core_overhead: float = Field(ge=0)
    uncore_fraction: float = Field(ge=0, lt=1)
    chiplet_interface_fraction: float = Field(ge=0, lt=1)
    yield_model: YieldModel
    nb_alpha: Positive
    memory_usd_per_GB: dict[str, float]
    hbm_stack_mm2: float = Field(ge=0)
    interposer_spacing: float = Field(ge=1)
    interposer_usd_per_mm2: float = Field(ge=0)
    organic_package_usd: float = Field(ge=0)
    assembly_test_fraction: float = Field(ge=0)
    package_yield: float = Field(gt=0, le=1)
    design_nre_usd: float = Field(ge=0)
    volume: Positive
    leakage_W_per_mm2: float = Field(ge=0)
    tco: TCO
    provenance: dict[str, Provenance] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _efficiencies(self) -> Tech:
        if not self.sram_efficiency or not all(0 < e <= 1 for e in self.sram_efficiency):
            raise ValueError("sram_efficiency: each entry must be in (0, 1]")
        return self

    def node(self, chip: Chip) -> tuple[str, Node]:
        """The node of a chip's compute dies, matched by the first number in its name."""
        text = chip.process.node if chip.process else ""
        found = re.search(r"\d+", text or "")
        number = int(found.group()) if found else None
        key = None if number is None else ("N16" if number >= 10 else f"N{number}")
        if key not in self.nodes:
            known = ", ".join(self.nodes)
            raise SpecError(
                chip.name, "process.node", text or None, f"no process data for it (known: {known})"
            )
        return key, self.nodes[key]


_DEFAULT = resources.files("tigris.physical") / "tech.yaml"


def _plain(raw: Any, file: str) -> tuple[Any, dict[str, Provenance]]:
    try:
        return split_provenance(raw)
    except ValueError as exc:
        raise SpecError(file, "", None, str(exc)) from None


@cache
def _defaults() -> tuple[dict[str, Any], dict[str, Provenance]]:
    with resources.as_file(_DEFAULT) as path:
        return _plain(read_yaml(path), str(path))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merge(base[key], value) if both else value
    return out


def _setting(text: str) -> dict[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SpecError("--set", "", text, "expected key=value, like tco.pue=1.4")
    tree: Any = yaml.safe_load(value)
    for part in reversed(key.strip().split(".")):
        tree = {part: tree}
    return tree


def load(path: str | Path | None = None, sets: tuple[str, ...] | list[str] = ()) -> Tech:
    """The packaged parameters, overridden by a YAML file and then by `key=value` settings."""
    data, provenance = _defaults()
    source = "tech.yaml"
    if path is not None:
        over, prov = _plain(read_yaml(Path(path)), str(path))
        if not isinstance(over, dict):
            raise SpecError(str(path), "", None, "expected a mapping of parameters")
        data, provenance, source = _merge(data, over), {**provenance, **prov}, str(path)
    for text in sets:
        data, source = _merge(data, _setting(text)), "--set"
    return validate(Tech, data, source, provenance=provenance)


@cache
def default() -> Tech:
    return load()
