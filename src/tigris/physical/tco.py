"""Cost of ownership: capital (chip, its share of host and network) recovered over the
depreciation life at the cost of capital, energy at the facility's PUE, colocation space
and power. Defaults are hw-data.yaml's `tco` table (hw-data.md 5), every one overridable.

Capital recovery factor: r (1+r)^n / ((1+r)^n - 1) per year. Node power is the chip's
power times `node_power_over_chip` (host, NICs, fans); colocation is paid on the node's
provisioned power (chip TDP x the same factor). USD throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.physical.tech import TCO

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True, slots=True)
class Ownership:
    capex_usd: dict[str, float]  # per chip: chip, host, network
    usd_per_hour: dict[str, float]  # per chip: capital, energy, colocation
    node_W: float  # mean node power per chip (chip plus its share of the host)
    provisioned_W: float

    @property
    def capex_total_usd(self) -> float:
        return sum(self.capex_usd.values())

    @property
    def per_hour_usd(self) -> float:
        return sum(self.usd_per_hour.values())


def recovery_factor(rate: float, years: float) -> float:
    if rate == 0:
        return 1.0 / years
    grow = (1 + rate) ** years
    return rate * grow / (grow - 1)


def ownership(chip_usd: float, chip_W: float, tdp_W: float, tco: TCO) -> Ownership:
    """Hourly cost of one chip in service: `chip_usd` paid, `chip_W` drawn on average."""
    capex = {
        "chip": chip_usd,
        "host": tco.host_usd_per_chip,
        "network": chip_usd * tco.network_fraction,
    }
    capital = sum(capex.values()) * recovery_factor(tco.cost_of_capital, tco.years)
    node_W = chip_W * tco.node_power_over_chip
    provisioned_W = max(tdp_W, chip_W) * tco.node_power_over_chip
    hourly = {
        "capital": capital / HOURS_PER_YEAR,
        "energy": node_W / 1e3 * tco.pue * tco.electricity_usd_per_kwh,
        "colocation": provisioned_W / 1e3 * tco.colocation_usd_per_kw_month * 12 / HOURS_PER_YEAR,
    }
    return Ownership(capex, hourly, node_W, provisioned_W)


def usd_per_million_tokens(own: Ownership, tokens_per_s: float, tco: TCO) -> float:
    """$ per million tokens for a chip that makes `tokens_per_s` while busy."""
    made = tokens_per_s * 3600 * tco.utilisation
    return own.per_hour_usd / made * 1e6 if made > 0 else float("inf")
