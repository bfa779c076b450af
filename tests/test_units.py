import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tigris import units
from tigris.dtypes import DType, parse


@pytest.mark.parametrize(
    ("text", "dim", "si"),
    [
        ("3.35 TB/s", "B/s", 3.35e12),
        ("80 GB", "B", 80e9),
        ("50 MiB", "B", 50 * 2**20),
        ("1.83 GHz", "Hz", 1.83e9),
        ("700 W", "W", 700.0),
        ("814 mm2", "mm2", 814.0),
        ("400 Gb/s", "B/s", 50e9),
        ("3.5 pJ/bit", "J/B", 28e-12),
        ("989.4 TFLOP/s", "FLOP/s", 989.4e12),
        ("1978.9 TOPS", "FLOP/s", 1978.9e12),
        ("500 ns", "s", 500e-9),
        ("1.5 MiB", "B", 1.5 * 2**20),
        ("2 KiB", "B", 2048.0),
        ("1 cm2", "mm2", 100.0),
    ],
)
def test_parse_respects_decimal_and_binary_prefixes(text, dim, si):
    assert math.isclose(units.parse(text, dim), si, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("text", "dim"),
    [
        ("3.35 TB", "B/s"),  # a size where a bandwidth is due
        ("1.83 GB", "Hz"),
        ("700", "W"),  # no unit where one is due
        ("fast", "B/s"),
        ("12 furlongs", "B"),
        ("inf W", "W"),
    ],
)
def test_parse_refuses_the_wrong_dimension(text, dim):
    with pytest.raises(units.UnitError):
        units.parse(text, dim)


@given(
    st.floats(min_value=1e-12, max_value=1e18, allow_nan=False),
    st.sampled_from(["B", "B/s", "Hz", "W", "FLOP/s"]),
)
def test_show_then_parse_round_trips_within_display_precision(value, unit):
    assert math.isclose(units.parse(units.show(value, unit, digits=12), unit), value, rel_tol=1e-9)


def test_dtype_sizes_include_block_scales():
    assert DType.bf16.bytes == 2 and DType.fp8_e4m3.bytes == 1
    assert DType.mxfp4.bits == 4.25 and DType.nvfp4.bits == 4.5
    assert parse("bfloat16") is DType.bf16 and parse("fp8") is DType.fp8_e4m3
    assert DType.nvfp4.rate_class == "fp4" and DType.fp8_e5m2.rate_class == "fp8"
