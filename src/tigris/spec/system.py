"""A system: N chips of one kind, grouped into scale-up domains joined by a scale-out network.

Topologies of the scale-up domain: `switch` (NVLink Switch, one hop between any pair),
`ring`, `torus2d` and `torus3d` (TPU ICI; `dims` gives the torus shape). A system file:

    chip: h100-sxm            # a catalog name or a path to a chip YAML
    count: 16
    scaleup: {size: 8, topology: switch}
    scaleout: {bandwidth: 400 Gb/s, latency: 5 us}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tigris.errors import SpecError
from tigris.spec.base import BytesPerS, Count, Seconds, Spec, read_yaml, validate
from tigris.spec.catalog import chip as find_chip
from tigris.spec.chip import Chip


class ScaleUpDomain(Spec):
    size: Count = 1
    topology: Literal["switch", "ring", "torus2d", "torus3d"] = "switch"
    dims: tuple[Count, ...] | None = Field(None, description="torus shape, product = size")

    @model_validator(mode="after")
    def _dims_fit(self) -> ScaleUpDomain:
        want = {"torus2d": 2, "torus3d": 3}.get(self.topology)
        if want and self.dims is None:
            raise ValueError(f"a {self.topology} needs `dims` with {want} sizes")
        if self.dims is not None:
            if want is None or len(self.dims) != want:
                raise ValueError(f"dims {list(self.dims)} do not fit topology {self.topology}")
            if math.prod(self.dims) != self.size:
                raise ValueError(
                    f"dims {list(self.dims)} multiply to "
                    f"{math.prod(self.dims)}, not size {self.size}"
                )
        return self


class ScaleOutNetwork(Spec):
    bandwidth_Bps: BytesPerS | None = Field(
        None, alias="bandwidth", description="per chip, per direction"
    )
    latency_s: Seconds | None = Field(None, alias="latency")
    topology: Literal["fat-tree", "rail", "torus"] = "fat-tree"


class System(Spec):
    chip: Chip
    count: Count = 1
    scaleup: ScaleUpDomain = ScaleUpDomain()
    scaleout: ScaleOutNetwork = ScaleOutNetwork()

    @field_validator("chip", mode="before")
    @classmethod
    def _resolve_chip(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return find_chip(value)
            except SpecError as exc:
                raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _domains_fit(self) -> System:
        if self.count % self.scaleup.size:
            raise ValueError(
                f"count {self.count} is not a multiple of the scale-up domain "
                f"size {self.scaleup.size}"
            )
        limit = self.chip.scaleup.max_domain if self.chip.scaleup else 1
        if limit is not None and self.scaleup.size > limit:
            raise ValueError(
                f"scale-up domain of {self.scaleup.size} exceeds the "
                f"{limit} that {self.chip.name} supports"
            )
        return self

    @property
    def domains(self) -> int:
        return self.count // self.scaleup.size


def load_system(path: str | Path) -> System:
    return validate(System, read_yaml(Path(path)), str(path))


def single(chip: Chip, count: int = 1, topology: str = "switch") -> System:
    """A system of `count` chips in one scale-up domain."""
    return System(
        chip=chip,
        count=count,
        scaleup=ScaleUpDomain.model_validate({"size": count, "topology": topology}),
    )
