"""Quantities with units, parsed once at the boundary.

Spec files say "3.35 TB/s", "80 GB", "50 MiB", "1.83 GHz", "700 W", "814 mm2".
`parse(text, dim)` turns such a string into one float in the SI unit of `dim`
(bytes, bytes/s, Hz, W, J, s, J/B, FLOP/s) or mm2 for areas. Decimal prefixes
(k, M, G, T, P, E and m, u, n, p) are powers of 1000; binary prefixes (Ki, Mi,
Gi, Ti, Pi) are powers of 1024. A bit is an eighth of a byte ("Gb/s", "pJ/bit").
Inside tigris every quantity is SI and carries its unit in its name
(`bandwidth_Bps`, `capacity_B`, `clock_Hz`, `die_area_mm2`).
"""

from __future__ import annotations

import math
import re
from typing import Literal

Dim = Literal["B", "B/s", "Hz", "W", "J", "s", "J/B", "FLOP/s", "mm2", "1"]

DIM_WORDS: dict[str, str] = {
    "B": "a size, like '80 GB' or '50 MiB'",
    "B/s": "a bandwidth, like '3.35 TB/s' or '400 Gb/s'",
    "Hz": "a frequency, like '1.83 GHz'",
    "W": "a power, like '700 W'",
    "J": "an energy, like '0.5 pJ'",
    "s": "a time, like '500 ns'",
    "J/B": "an energy per byte, like '3.5 pJ/bit' or '28 pJ/B'",
    "FLOP/s": "a rate, like '989 TFLOP/s'",
    "mm2": "an area, like '814 mm2'",
    "1": "a plain number",
}

_DECIMAL = {
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "m": 1e-3,
    "u": 1e-6,
    "µ": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}

# base unit spelling -> (dimension, factor to the SI unit of that dimension)
_BASE: dict[str, tuple[Dim, float]] = {
    "B": ("B", 1.0),
    "b": ("B", 1 / 8),
    "bit": ("B", 1 / 8),
    "byte": ("B", 1.0),
    "B/s": ("B/s", 1.0),
    "b/s": ("B/s", 1 / 8),
    "Bps": ("B/s", 1.0),
    "bps": ("B/s", 1 / 8),
    "bit/s": ("B/s", 1 / 8),
    "Hz": ("Hz", 1.0),
    "W": ("W", 1.0),
    "J": ("J", 1.0),
    "s": ("s", 1.0),
    "sec": ("s", 1.0),
    "J/B": ("J/B", 1.0),
    "J/byte": ("J/B", 1.0),
    "J/b": ("J/B", 8.0),
    "J/bit": ("J/B", 8.0),
    "FLOP/s": ("FLOP/s", 1.0),
    "FLOPS": ("FLOP/s", 1.0),
    "OP/s": ("FLOP/s", 1.0),
    "OPS": ("FLOP/s", 1.0),
}
_AREA = {
    "mm2": 1.0,
    "mm^2": 1.0,
    "mm²": 1.0,
    "cm2": 100.0,
    "cm^2": 100.0,
    "um2": 1e-6,
    "um^2": 1e-6,
    "µm2": 1e-6,
}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


class UnitError(ValueError):
    """A quantity that cannot be read as the dimension asked for."""


def _unit_factor(unit: str) -> tuple[Dim, float] | None:
    if unit in _AREA:
        return "mm2", _AREA[unit]
    if unit in _BASE:
        return _BASE[unit]
    for prefix, scale in list(_BINARY.items()) + list(_DECIMAL.items()):
        if prefix and unit.startswith(prefix) and unit[len(prefix) :] in _BASE:
            dim, factor = _BASE[unit[len(prefix) :]]
            return dim, factor * scale
    return None


def parse(value: object, dim: Dim) -> float:
    """Return `value` in the SI unit of `dim`; plain numbers are taken as already SI.

    Raises UnitError (a ValueError) naming what was expected when the text has the
    wrong dimension ("3.35 TB" where a bandwidth is due), no number, or is not finite.
    """
    if isinstance(value, bool):
        raise UnitError(f"expected {DIM_WORDS[dim]}, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _NUMBER.match(value)
        if not match:
            raise UnitError(f"expected {DIM_WORDS[dim]}, got {value!r}")
        number_text, unit = match.groups()
        number = float(number_text)
        if unit:
            found = _unit_factor(unit.replace(" ", ""))
            if found is None:
                raise UnitError(f"unknown unit {unit!r}; expected {DIM_WORDS[dim]}")
            got_dim, factor = found
            if got_dim != dim:
                raise UnitError(f"expected {DIM_WORDS[dim]}, got {value!r}")
            number *= factor
        elif dim not in ("1",):
            raise UnitError(f"expected {DIM_WORDS[dim]} with its unit, got {value!r}")
    else:
        raise UnitError(f"expected {DIM_WORDS[dim]}, got {type(value).__name__}")
    if not math.isfinite(number):
        raise UnitError(f"expected a finite number, got {value!r}")
    return number


_SHOW_PREFIX = [
    (1e18, "E"),
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
    (1e-12, "p"),
]


def show(value: float | None, unit: str, digits: int = 3) -> str:
    """Format an SI value with a decimal prefix: show(3.35e12, 'B/s') -> '3.35 TB/s'."""
    if value is None:
        return "-"
    if value == 0:
        return f"0 {unit}"
    for scale, prefix in _SHOW_PREFIX:
        if abs(value) >= scale * 0.9995:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"
