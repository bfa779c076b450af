"""One chip's economics at a workload: build (or buy) it, power it, own it, and what a
million tokens cost on it. Energy and time come from cost/; everything else from this layer."""

from __future__ import annotations

from dataclasses import dataclass

from tigris.physical.power import Power, power, tokens_per_J
from tigris.physical.silicon import Silicon, price, silicon
from tigris.physical.tco import Ownership, ownership, usd_per_million_tokens
from tigris.physical.tech import Tech
from tigris.spec.chip import Chip


@dataclass(frozen=True, slots=True)
class Economics:
    """One chip's silicon, price, power and ownership at a workload."""

    silicon: Silicon
    price_usd: float
    price_basis: str  # "purchase price", "unit cost" or "unit cost + N% margin"
    power: Power
    tdp_W: float | None  # the datasheet's, for checking `power` against it
    tokens_per_J: float
    ownership: Ownership
    usd_per_M_tokens: float


def economics(
    c: Chip,
    energy_J: float,
    time_s: float,
    tokens: float,
    tech: Tech,
    provisioned_W: float | None = None,
) -> Economics:
    """Build, buy and run one chip that spends `energy_J` over `time_s` making `tokens`.
    Colocation is paid on `provisioned_W`, else the chip's TDP, else its mean power."""
    si = silicon(c, tech)
    paid, basis = price(c, si, tech)
    pw = power(energy_J, time_s, si.build.die_mm2 * si.build.dies, tech)
    own = ownership(paid, pw.total_W, provisioned_W or c.tdp_W or pw.total_W, tech.tco)
    rate = tokens / time_s if time_s > 0 else 0.0
    return Economics(
        si,
        paid,
        basis,
        pw,
        c.tdp_W,
        tokens_per_J(tokens, energy_J, time_s, pw),
        own,
        usd_per_million_tokens(own, rate, tech.tco),
    )
