"""Number formats: their storage size and the engine rate class they run at.

Block-scaled formats carry their scales in the size: MXFP4 is 32 fp4 values plus one
8-bit scale (4.25 bits each, OCP MX spec v1.0); NVFP4 is 16 fp4 values plus one fp8
scale (4.5 bits each, NVIDIA Blackwell docs); int4 weights carry one bf16 scale per 32
(4.5 bits each, as compressed-tensors W4A16 checkpoints store them). In spec files a rate
given for "fp8" covers both fp8 encodings, and "fp4" covers fp4, mxfp4 and nvfp4.
"""

from __future__ import annotations

from enum import StrEnum


class DType(StrEnum):
    fp32 = "fp32"
    tf32 = "tf32"
    bf16 = "bf16"
    fp16 = "fp16"
    fp8_e4m3 = "fp8_e4m3"
    fp8_e5m2 = "fp8_e5m2"
    int8 = "int8"
    int4 = "int4"
    fp4 = "fp4"
    mxfp4 = "mxfp4"
    nvfp4 = "nvfp4"

    @property
    def bits(self) -> float:
        """Storage bits per element, block scales included."""
        return _BITS[self]

    @property
    def bytes(self) -> float:
        return self.bits / 8

    @property
    def rate_class(self) -> str:
        """The key under which an engine's rate for this format is given ('fp8', 'fp4', ...)."""
        return _RATE_CLASS.get(self, self.value)


_BITS: dict[DType, float] = {
    DType.fp32: 32,
    DType.tf32: 32,
    DType.bf16: 16,
    DType.fp16: 16,
    DType.fp8_e4m3: 8,
    DType.fp8_e5m2: 8,
    DType.int8: 8,
    DType.int4: 4.5,
    DType.fp4: 4,
    DType.mxfp4: 4.25,
    DType.nvfp4: 4.5,
}
_RATE_CLASS: dict[DType, str] = {
    DType.fp8_e4m3: "fp8",
    DType.fp8_e5m2: "fp8",
    DType.fp4: "fp4",
    DType.mxfp4: "fp4",
    DType.nvfp4: "fp4",
}

RATE_CLASSES: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")

_ALIASES: dict[str, DType] = {
    "float32": DType.fp32,
    "float": DType.fp32,
    "bfloat16": DType.bf16,
    "float16": DType.fp16,
    "half": DType.fp16,
    "fp8": DType.fp8_e4m3,
    "e4m3": DType.fp8_e4m3,
    "float8_e4m3fn": DType.fp8_e4m3,
    "e5m2": DType.fp8_e5m2,
    "float8_e5m2": DType.fp8_e5m2,
    "fp8_block": DType.fp8_e4m3,
}


def parse(name: str) -> DType:
    """Read a dtype name as spec files, Hugging Face configs and measured tables spell it."""
    key = name.strip().lower()
    if key in DType.__members__:
        return DType(key)
    if key in _ALIASES:
        return _ALIASES[key]
    known = ", ".join(d.value for d in DType)
    raise ValueError(f"unknown dtype {name!r} (known: {known})")
