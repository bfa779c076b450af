"""The packaged chip catalog, and finding a chip by name, alias or YAML path.

Catalog files live in `tigris/spec/catalog/*.yaml`, one chip each, with figures taken from
the project's sourced reference data (hw-data.yaml); `sources.yaml` beside them resolves
the source keys. A user's own chip is a YAML file of the same form, given by path.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib import resources
from pathlib import Path

from tigris.errors import SpecError
from tigris.spec.base import ProvenanceError, read_yaml, split_provenance, validate
from tigris.spec.chip import Chip

_CATALOG = resources.files("tigris.spec") / "catalog"


def load_chip(path: str | Path) -> Chip:
    """Read one chip YAML file; any mistake in it is a one-line SpecError."""
    path = Path(path)
    raw = read_yaml(path)
    try:
        plain, provenance = split_provenance(raw)
    except ProvenanceError as exc:
        raise SpecError(str(path), exc.path, None, exc.message) from None
    extra = {"provenance": provenance} if provenance else {}
    return validate(Chip, plain, str(path), **extra)


@cache
def chips() -> tuple[Chip, ...]:
    """Every packaged chip, catalog entries first, then proposals, each sorted by name."""
    found = []
    for entry in _CATALOG.iterdir():
        if entry.name.endswith(".yaml") and entry.name != "sources.yaml":
            with resources.as_file(entry) as path:
                found.append(load_chip(path))
    return tuple(sorted(found, key=lambda c: (c.kind != "catalog", c.vendor, c.name)))


@cache
def sources() -> dict[str, str]:
    """Source key -> citation, for the keys the catalog uses."""
    with resources.as_file(_CATALOG / "sources.yaml") as path:
        data = read_yaml(path)
    return {str(k): str(v) for k, v in data.items()}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


@cache
def _index() -> dict[str, Chip]:
    index: dict[str, Chip] = {}
    for c in chips():
        for name in (c.name, *c.aliases):
            index[_key(name)] = c
    return index


def chip_names() -> list[str]:
    return [c.name for c in chips()]


def chip(name: str | Path) -> Chip:
    """A catalog chip by name or alias ('h100', 'H100-SXM'), or a user's YAML by path."""
    text = str(name)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_chip(text)
    found = _index().get(_key(text))
    if found is None:
        close = difflib.get_close_matches(_key(text), list(_index()), n=1, cutoff=0.5)
        hint = f"; did you mean {_index()[close[0]].name}?" if close else ""
        raise SpecError("chip", "name", text, f"no such chip in the catalog{hint}")
    return found
