"""Energy per operation and per byte where a chip's spec gives none (estimates, with sources).

- Arithmetic: ~0.65 pJ per 16-bit multiply-add on 7/5 nm GPU-class ALUs (esim estimates,
  alu16 0.53-0.76 pJ, hw-data.yaml `components.esim_7_5nm_alu_estimates_pJ`), halved per
  halving of the operand width, doubled for fp32.
- Memory: Dally, MICRO-52 keynote (2019; hw-data.yaml `components.dally_2019_pJ_per_word`):
  L1/shared 5 pJ, last-level cache 50 pJ, DRAM 640 pJ per 64-bit word; HBM3 3.5 pJ/bit
  (hw-data.yaml `memory_io_energy_pJ_per_bit.hbm3_hbm3e_model_default`).
- Accumulators: an MMA engine (tensor core) reads and writes its fp32 accumulator fragment
  in the register file once per instruction of depth k = 16, i.e. 2 x 4 B / 16 = 0.5 B of
  register traffic per multiply-add; a systolic array keeps partial sums inside its PEs.
A spec's own `energy_per_byte` always wins over these.
"""

from __future__ import annotations

PJ = 1e-12
J_PER_FLOP = {  # per FLOP (half a multiply-add)
    "fp32": 1.3 * PJ / 2,
    "tf32": 0.9 * PJ / 2,
    "bf16": 0.65 * PJ / 2,
    "fp16": 0.65 * PJ / 2,
    "fp8": 0.33 * PJ / 2,
    "int8": 0.27 * PJ / 2,
    "fp4": 0.17 * PJ / 2,
}
J_PER_BYTE = {  # by memory kind
    "registers": 0.3 * PJ,
    "shared": 5 * PJ / 8,
    "scratchpad": 5 * PJ / 8,
    "cache": 50 * PJ / 8,
    "sram": 50 * PJ / 8,
    "hbm": 3.5 * PJ * 8,
    "lpddr": 640 * PJ / 8 / 2,
    "gddr": 7.5 * PJ * 8,
    "ddr": 640 * PJ / 8,
    "link": 5.5 * PJ * 8,  # 112G SerDes, hw-data.yaml interconnect_energy_pJ_per_bit
}


MMA_ACCUM_B_PER_MAC = 2 * 4 / 16


def parts(
    flops: float, rate_class: str, moved: dict[str, float], levels: list, accum_B: float = 0.0
) -> dict[str, float]:
    """Energy by part: the arithmetic, accumulator register traffic (`accum_B` bytes), then
    each level's bytes (levels: objects with name, kind and energy_J_per_B, as
    `mapping.resources.Level`)."""
    out = {"compute": flops * per_flop(rate_class)}
    if accum_B > 0:
        out["accumulate"] = accum_B * J_PER_BYTE["registers"]
    for lv in levels:
        if lv is not None and lv.name in moved:
            out[lv.name] = moved[lv.name] * per_byte(lv.kind, lv.energy_J_per_B)
    return out


def per_flop(rate_class: str) -> float:
    return J_PER_FLOP.get(rate_class, J_PER_FLOP["fp32"])


def per_byte(kind: str, spec_value: float | None) -> float:
    return spec_value if spec_value is not None else J_PER_BYTE.get(kind, J_PER_BYTE["ddr"])
