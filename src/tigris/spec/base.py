"""Shared machinery for spec files: strict frozen models, unit-typed fields, YAML loading.

A number in a spec file is either plain ("3.35 TB/s") or carries its provenance:
`{value: "3.35 TB/s", source: nv_h100, estimate: false, note: "..."}`. The loader keeps
the value for the model and files the provenance under the field's dotted path, so code
reads `level.bandwidth_Bps` while reports can still say where each figure came from.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from tigris import units
from tigris.errors import SpecError


class Spec(BaseModel):
    """Base of every spec model: immutable, unknown keys refused, YAML names or field names."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _quantity(dim: units.Dim) -> Any:
    return BeforeValidator(partial(units.parse, dim=dim))


# Unit-typed fields: YAML gives "80 GB"; the model holds SI floats, positive.
Bytes = Annotated[float, _quantity("B"), Field(gt=0)]
BytesPerS = Annotated[float, _quantity("B/s"), Field(gt=0)]
Hertz = Annotated[float, _quantity("Hz"), Field(gt=0)]
Watts = Annotated[float, _quantity("W"), Field(gt=0)]
Seconds = Annotated[float, _quantity("s"), Field(ge=0)]
JoulesPerByte = Annotated[float, _quantity("J/B"), Field(ge=0)]
FlopsPerS = Annotated[float, _quantity("FLOP/s"), Field(gt=0)]
Mm2 = Annotated[float, _quantity("mm2"), Field(gt=0)]
Positive = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(gt=0)]


class Provenance(Spec):
    """Where one figure comes from: a key of the source registry or a citation."""

    source: str | list[str] | None = None
    estimate: bool = False
    note: str | None = None


_PROVENANCE_KEYS = {"value", "source", "estimate", "note"}


class ProvenanceError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}")


def split_provenance(raw: Any, path: str = "") -> tuple[Any, dict[str, Provenance]]:
    """Strip `{value, source, estimate, note}` wrappers; return the plain tree and provenance."""
    found: dict[str, Provenance] = {}
    if isinstance(raw, dict):
        if "value" in raw and set(raw) <= _PROVENANCE_KEYS:
            meta = {k: v for k, v in raw.items() if k != "value"}
            try:
                found[path] = Provenance.model_validate(meta)
            except ValidationError as exc:
                raise ProvenanceError(path, exc.errors(include_url=False)[0]["msg"]) from None
            return raw["value"], found
        plain = {}
        for key, value in raw.items():
            plain[key], sub = split_provenance(value, f"{path}.{key}" if path else str(key))
            found.update(sub)
        return plain, found
    if isinstance(raw, list):
        items = []
        for i, value in enumerate(raw):
            item, sub = split_provenance(value, f"{path}[{i}]")
            items.append(item)
            found.update(sub)
        return items, found
    return raw, found


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing file or bad YAML becomes a one-line SpecError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), "", None, f"cannot read file ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise SpecError(str(path), where, None, f"not valid YAML: {problem}") from None


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, file: str, **extra: Any) -> M:
    """Build `model` from plain data; the first validation problem becomes a SpecError."""
    if not isinstance(data, dict):
        raise SpecError(file, "", _short(data), "expected a mapping of fields at the top level")
    try:
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        message = err["msg"].removeprefix("Value error, ")
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        value = err.get("input")
        if err["type"] == "missing":
            value, message = None, "required field is missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        raise SpecError(file, _loc(loc), _short(value), message) from None


def _short(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else "<...>"
