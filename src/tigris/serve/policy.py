"""Batching policies: plain functions that choose the next step's prefill work.

A policy sees a replica's queues and limits and returns the prefill chunks of the next step
as (sequence, new tokens) pairs; the replica decodes all its running sequences in the same
step unless the policy says `decode=False`. Admission (moving a waiting request into the
batch) is the replica's `admit`, which checks the sequence limit and the free KV blocks.

- static: a batch is formed when the replica is empty; nothing joins until all of it is done.
  Prompts are prefilled whole, as many per step as `max_batched_tokens` allows.
- continuous (vLLM's original scheduler, Orca-style iteration batching): waiting prompts
  join whenever there is room; a step with prefills runs prefills only, whole prompts.
- chunked (Sarathi-Serve, vLLM's v1 default): every step decodes all running sequences and
  fills the rest of its token budget with chunks of waiting prompts.
- inflight (TensorRT-LLM's in-flight batching, its default with chunked prefill off): every
  step decodes all running sequences and adds whole waiting prompts while they fit in the
  rest of its token budget; a prompt that does not fit waits for a later step (it runs alone
  only when nothing else would).

`STALLS_DECODE` names the policies whose prefill steps hold the running sequences back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tigris.serve.sim import Replica, Seq


@dataclass(frozen=True, slots=True)
class Plan:
    chunks: tuple[tuple[Seq, int], ...] = ()
    decode: bool = True


def _whole_prompts(r: Replica, budget: int, alone: bool = True) -> list[tuple[Seq, int]]:
    """Waiting prompts, whole, while they fit `budget`; the first even if it does not when
    it would run `alone`."""
    chunks: list[tuple[Seq, int]] = []
    while r.waiting:
        s = r.waiting[0]
        left = s.prompt - s.prefilled
        if (chunks or not alone) and left > budget:
            break
        if not r.admit(s):
            break
        if s.state == "prefilling":  # (a swapped-out sequence comes back without a prefill)
            chunks.append((s, left))
            budget -= left
    return chunks


def static(r: Replica) -> Plan:
    if not r.running and not r.prefilling:
        r.batch_open = True  # the replica is empty: a new batch forms from the queue
    chunks = _whole_prompts(r, r.cfg.max_batched_tokens) if r.batch_open else []
    if not chunks:
        r.batch_open = False  # nothing more can join: the batch decodes until it is done
    return Plan(tuple(chunks), decode=not chunks)


def continuous(r: Replica) -> Plan:
    chunks = _whole_prompts(r, r.cfg.max_batched_tokens)
    return Plan(tuple(chunks), decode=not chunks)


def chunked(r: Replica) -> Plan:
    budget = r.cfg.max_batched_tokens - len(r.running)
    chunks: list[tuple[Seq, int]] = []
    for s in list(r.prefilling):  # partly prefilled prompts first
        if budget <= 0:
            break
        q = min(s.prompt - s.prefilled, budget)
        chunks.append((s, q))
        budget -= q
    while budget > 0 and r.waiting:
        s = r.waiting[0]
        if not r.admit(s):
            break
        if s.state != "prefilling":
            continue  # a swapped-out sequence came back without a prefill
        q = min(s.prompt - s.prefilled, budget)
        chunks.append((s, q))
        budget -= q
    return Plan(tuple(chunks), decode=True)


def inflight(r: Replica) -> Plan:
    budget = r.cfg.max_batched_tokens - len(r.running)
    return Plan(tuple(_whole_prompts(r, budget, alone=not r.running)), decode=True)


POLICIES: dict[str, Callable[[Replica], Plan]] = {
    "static": static,
    "continuous": continuous,
    "chunked": chunked,
    "inflight": inflight,
}
STALLS_DECODE = frozenset({"static", "continuous"})
