"""Collectives over a system's links: the algorithm is chosen per call, the cheapest wins.

The algorithms are the ones NCCL runs. For p chips and a buffer of S bytes (see
`Collective`), each has a number of rounds (each a hop between chips) and bytes each chip
sends:
- all-reduce: ring 2(p-1) rounds, 2(p-1)/p S. Where the switch reduces in the network
  (`ScaleUp.in_network_reduction`: NVLink SHARP) also a switch reduction: the switch adds
  and multicasts, so each chip sends and receives each byte once (S). It is charged the
  ring's rounds, not the two a switch round trip would take: that is a fit to what NCCL
  does, not the hardware's floor. On H100, measured small all-reduces grow with the group as
  a ring's do (NCCL runs its ring for them); two rounds predicted them flat and put H100
  all-reduce at 18-25% median in the trials instead of 5-8%.
  Between scale-up domains (not on a torus) also the double binary tree: 2 log2 p rounds,
  2 S.
- all-gather, reduce-scatter: ring, p-1 rounds, (p-1)/p S.
- all-to-all: (p-1)/p S; one round on a switch or a switched network; on a ring or torus
  the traffic crosses p/4 links on average (bisection), in p/2 rounds.
- send/recv: S, one round.
Every collective also opens and closes with a handshake with its peers (`HANDSHAKE_HOPS`).
Each hop costs the link latency; the bytes go at the achievable link bandwidth, in chunks
that are each acknowledged over a round trip, which the best chunk size makes cost
2 sqrt(2 x latency x transfer) (`chunked_s`): nothing for tiny buffers, a little for large
ones, most in between, where NCCL's measured bandwidth ramps up slowly.
A torus runs its ring algorithms along each dimension in turn (times add, bytes shrink by
each dimension's share). Groups larger than the scale-up domain go hierarchical: the
domain part on scale-up links, the rest on the scale-out network.
"""

from __future__ import annotations

import math

from tigris.cost import energy
from tigris.cost.model import Cost
from tigris.cost.params import Calibration
from tigris.spec.system import System
from tigris.workload.ops import Collective

SCALEOUT_DEFAULT_BPS = 50e9  # 400 Gb/s NIC per chip where the system names none (assumption)
SCALEOUT_DEFAULT_LATENCY_S = 5e-6


HANDSHAKE_HOPS = 2  # peers signal their buffers ready before the first round; done after


def _algorithms(
    kind: str, p: int, size: float, fabric: str, reduces: bool = False
) -> dict[str, tuple[float, float]]:
    """name -> (rounds, bytes each chip sends) for p chips on one fabric: "switch" or "ring"
    (scale-up) or "network" (between scale-up domains)."""
    if p <= 1:
        return {"local": (0.0, 0.0)}
    share = (p - 1) / p
    out: dict[str, tuple[float, float]] = {}
    if kind == "all_reduce":
        out["ring"] = (2 * (p - 1), 2 * share * size)
        if fabric == "network":
            out["tree"] = (2 * math.ceil(math.log2(p)), 2 * size)
        if fabric == "switch" and reduces:
            out["switch reduction"] = (2 * (p - 1), size)
    elif kind in ("all_gather", "reduce_scatter"):
        out["ring"] = (p - 1, share * size)
    elif kind == "all_to_all":
        if fabric == "ring":
            out["ring"] = (p / 2, share * size * max(1.0, p / 4))
        else:
            out["switch"] = (1, share * size)
    elif kind == "send_recv":
        out["direct"] = (1, size)
    else:
        raise ValueError(f"unknown collective {kind!r}")
    return out


def chunked_s(hops: float, latency_s: float, transfer_s: float) -> float:
    """A transfer of `transfer_s` at full bandwidth whose rounds take `hops` hop latencies,
    sent in chunks each acknowledged over a round trip (2 hops): at the best chunk size the
    acknowledgements cost 2 sqrt(2 x latency x transfer) more."""
    return hops * latency_s + transfer_s + 2 * math.sqrt(2 * latency_s * transfer_s)


def _on_fabric(
    kind: str,
    p: int,
    size: float,
    fabric: str,
    bw: float,
    lat: float,
    cal: Calibration,
    reduces: bool = False,
) -> tuple[float, float, str]:
    """(seconds, bytes sent per chip, algorithm) of the cheapest algorithm."""
    best = (math.inf, 0.0, "")
    for name, (rounds, sent) in _algorithms(kind, p, size, fabric, reduces).items():
        if rounds == 0:
            return (0.0, 0.0, name)
        t = chunked_s(rounds + HANDSHAKE_HOPS, lat, sent / (bw * cal.link_efficiency))
        if t < best[0]:
            best = (t, sent, name)
    return best


def _least(kind: str, p: int, size: float) -> float:
    """Bytes a chip must at least receive: the others' share (all of it for send/recv)."""
    return size if kind == "send_recv" else (p - 1) / p * size


def collective_cost(op: Collective, system: System, cal: Calibration) -> Cost:
    chip = system.chip
    p = op.group
    if p <= 1 or op.bytes <= 0:
        return Cost(0.0, 0.0, {}, {}, 0.0, 0.0, 0.0, notes=("no peers",))
    domain = system.scaleup.size
    up = chip.scaleup
    up_bw = up.bandwidth_Bps if up else 0.0
    up_lat = (up.latency_s if up and up.latency_s else 0.0) or cal.link_latency_s
    out_bw = system.scaleout.bandwidth_Bps or (
        chip.scaleout.bandwidth_Bps if chip.scaleout else SCALEOUT_DEFAULT_BPS
    )
    out_lat = system.scaleout.latency_s or SCALEOUT_DEFAULT_LATENCY_S
    topology = system.scaleup.topology
    reduces = bool(up and up.in_network_reduction)
    inner = min(p, domain) if up_bw > 0 else 1
    outer = math.ceil(p / inner)
    time_s, sent, notes = 0.0, 0.0, []
    floor = 0.0
    if inner > 1:
        if topology.startswith("torus") and system.scaleup.dims:
            size, t_in, s_in = op.bytes, 0.0, 0.0
            for d in system.scaleup.dims:
                if d > 1:
                    t, s, _ = _on_fabric(op.kind, d, size, "ring", up_bw, up_lat, cal)
                    t_in, s_in = t_in + t, s_in + s
                    if op.kind in ("reduce_scatter",):
                        size /= d
            algo = "torus rings"
        else:
            fabric = "switch" if topology == "switch" else "ring"
            t_in, s_in, algo = _on_fabric(
                op.kind, inner, op.bytes, fabric, up_bw, up_lat, cal, reduces
            )
        time_s += t_in
        sent += s_in
        floor += _least(op.kind, inner, op.bytes) / up_bw
        notes.append(f"{algo} over {inner} chips ({topology})")
    if outer > 1:
        size = op.bytes / inner if op.kind in ("all_reduce", "reduce_scatter") else op.bytes
        net = "ring" if system.scaleout.topology == "torus" else "network"
        t_out, s_out, algo = _on_fabric(op.kind, outer, size, net, out_bw, out_lat, cal)
        time_s += t_out
        sent += s_out
        floor += _least(op.kind, outer, size) / out_bw
        notes.append(f"{algo} over {outer} scale-up domains")
    overhead = cal.kernel_overhead_s
    link_s = time_s
    return Cost(
        time_s=overhead + time_s,
        compute_s=0.0,
        memory_s={"link": link_s},
        bytes={"link": sent},
        overhead_s=overhead,
        flops=0.0,
        peak_flops=0.0,
        energy={"link": sent * energy.per_byte("link", None)},
        floor_s=floor,
        notes=tuple(notes),
    )
