"""A discrete-event simulator of LLM serving: replicas, a router, a paged KV cache.

    requests -> router -> replica queues -> policy picks each step -> StepTimer prices it
             -> tokens, first-token and finish times -> metrics

Each replica (tp x pp chips) runs one step at a time. A step decodes every running sequence
and/or prefills chunks that the batching policy (serve/policy.py) chose; its duration comes
only from `StepTimer` (that is, from `cost/`), plus the engine's fixed per-step overhead.
Steps that only decode, with nothing arriving or finishing in between, are taken together
("a leap"): the sequences they touch are the same, so their times add in closed form and an
hour of traffic costs thousands of Python iterations, not millions. A leap ends at the first
step boundary after the next arrival, at the next finish, or when the KV cache would fill.

KV cache. Capacity is what memory leaves after weights and the activations of the largest
step, times the engine's memory fraction, in blocks of `block_tokens`. A prompt's blocks are
taken when it is admitted; decoding grows each sequence a token a step. When the cache is
full the most recently admitted running sequence is preempted (vLLM's rule): `recompute`
drops its blocks and prefills prompt and generated tokens again later; `swap` moves them to
host memory over PCIe and back. A prompt that could never fit is dropped with its reason.

Disaggregated serving: `prefill_replicas` replicas only prefill; each finished prompt's KV
moves over the system's scale-out links (PCIe-class host links where it gives none) to a
decode replica chosen by the router, which only decodes.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tigris.cost.step import Parallel, memory
from tigris.serve.policy import POLICIES, Plan
from tigris.serve.steptime import StepTimer
from tigris.serve.trace import ClosedLoop, Request
from tigris.spec.system import System
from tigris.workload.llm import LLM
from tigris.workload.step import Decode, Prefill

HOST_LINK_BPS = 64e9  # assumption: PCIe 5.0 x16 per chip and direction, for KV swap
LINK_LATENCY_S = 5e-6  # estimate: KV hand-over latency where the system gives none
MAX_LEAP = 64  # decode steps taken together at most (bounds routing staleness)
SAMPLE_S = 0.25  # simulated seconds between samples of queue length and KV use


@dataclass(frozen=True, slots=True)
class Deployment:
    """How a model is served on a system: parallelism, replicas, policy and engine limits."""

    system: System
    llm: LLM
    par: Parallel = Parallel()  # noqa: RUF009 (frozen, so one shared default is safe)
    policy: str = "chunked"
    max_seqs: int = 256
    max_batched_tokens: int = 8192
    block_tokens: int = 16
    memory_fraction: float = 0.9
    preemption: str = "recompute"
    router: str = "least_loaded"
    disaggregated: bool = False
    prefill_replicas: int = 1
    step_overhead_s: float = 0.0  # the engine's fixed cost per step (scheduling, launch)
    # host time per token a step emits that the engine does not hide under the GPU step
    # (sampler bookkeeping, detokenising, streaming the token to its client)
    token_overhead_s: float = 0.0
    # arrival to the scheduler's queue (HTTP, tokeniser): the mean; each request's own is
    # drawn from an exponential distribution, so clients answered in the same step do not
    # send their next requests in lockstep
    request_overhead_s: float = 0.0

    @property
    def chips_per_replica(self) -> int:
        return self.par.tp * self.par.pp * (self.par.ep if self.par.tp == 1 else 1)

    @property
    def replicas(self) -> int:
        return max(1, self.system.count // self.chips_per_replica)


@dataclass(slots=True)
class Seq:
    req: Request
    prompt: int  # tokens to prefill: the input, plus generated tokens after a recompute
    folded: int = 0  # generated tokens that a recompute folded into `prompt`
    order: int = 0  # admission order, for LIFO preemption
    prefilled: int = 0
    generated: int = 0
    start: int = 0  # replica decode index when it (re)joined decoding
    base: int = 0  # cached tokens the first decode after `start` attends to
    first_token_s: float | None = None
    finish_s: float | None = None
    swapped: bool = False
    state: str = "waiting"  # waiting, prefilling, running, moving, done
    preemptions: int = 0

    @property
    def tokens(self) -> int:
        """Tokens whose KV the sequence holds once its prompt is in."""
        return self.prompt + self.generated - self.folded

    @property
    def finish_index(self) -> int:
        return self.start + self.req.output_tokens - self.generated


@dataclass
class Stats:
    """What the simulator records besides per-request times."""

    itl: list[tuple[float, int]] = field(default_factory=list)  # (step seconds, tokens)
    series: list[tuple[float, int, float]] = field(default_factory=list)  # (t, queue, kv use)
    preemptions: int = 0
    steps: int = 0
    max_blocks: int = 0  # most KV blocks any replica held at a step boundary (exact count)


class Replica:
    def __init__(self, rid: int, cfg: Deployment, timer: StepTimer, kv: KVCache, role: str):
        self.id, self.cfg, self.timer, self.role = rid, cfg, timer, role
        self.capacity = kv.blocks
        self.kv_bytes_per_token = kv.bytes_per_token
        self.waiting: deque[Seq] = deque()
        self.prefilling: list[Seq] = []
        self.running: list[Seq] = []
        self.finish_heap: list[tuple[int, int, Seq]] = []
        self.idx = 0  # decode steps taken
        self.sum_a = 0  # sum over running of (base - start)
        self.prefill_blocks = 0
        self.busy_until = 0.0
        self.busy = False
        self.batch_open = True
        self.extra_s = 0.0  # swap-in/out time to add to the next step
        self._order = 0
        self.policy = POLICIES[cfg.policy] if role != "decode" else None

    # --- KV accounting (a bound: each sequence's last block counted whole) ------------
    def used_blocks(self) -> float:
        n, b = len(self.running), self.cfg.block_tokens
        held = self.sum_a + n * (self.idx + 1)
        return self.prefill_blocks + (held / b + n if n else 0.0)

    def exact_blocks(self) -> int:
        b = self.cfg.block_tokens
        run = sum(math.ceil((s.base + self.idx - s.start + 1) / b) for s in self.running)
        return self.prefill_blocks + run

    def load(self) -> int:
        return len(self.waiting) + len(self.prefilling) + len(self.running)

    # --- admission ------------------------------------------------------------------
    def admit(self, s: Seq) -> bool:
        """Move the first waiting sequence into the batch if the limits allow."""
        if len(self.running) + len(self.prefilling) >= self.cfg.max_seqs:
            return False
        b = self.cfg.block_tokens
        if s.swapped:
            need = math.ceil(s.tokens / b) + 1
            if self.used_blocks() + need > self.capacity:
                return False
            self.waiting.popleft()
            s.swapped = False
            self.extra_s += self._swap_s(s.tokens)
            self._join(s, s.tokens - 1)
            return True
        need = math.ceil(s.prompt / b)
        if self.used_blocks() + need + 1 > self.capacity:
            return False
        self.waiting.popleft()
        s.state, s.prefilled = "prefilling", 0
        self._order += 1
        s.order = self._order
        self.prefill_blocks += need
        self.prefilling.append(s)
        return True

    def _swap_s(self, tokens: int) -> float:
        return self.kv_bytes_per_token * tokens / HOST_LINK_BPS

    def _join(self, s: Seq, base: int) -> None:
        s.state, s.base, s.start = "running", base, self.idx
        if not s.order:
            self._order += 1
            s.order = self._order
        self.running.append(s)
        self.sum_a += base - self.idx
        heapq.heappush(self.finish_heap, (s.finish_index, s.req.id, s))

    def _leave(self, s: Seq) -> None:
        self.running.remove(s)
        self.sum_a -= s.base - s.start
        s.generated += self.idx - s.start

    def receive(self, s: Seq) -> None:
        """Disaggregated decode: a prefilled sequence arrives with its KV."""
        s.state = "moving"
        self.waiting.append(s)

    def _admit_moved(self) -> None:
        b = self.cfg.block_tokens
        while self.waiting and len(self.running) < self.cfg.max_seqs:
            s = self.waiting[0]
            need = math.ceil((s.prompt + 1) / b) + 1
            if self.used_blocks() + need > self.capacity:
                break
            self.waiting.popleft()
            self._join(s, s.prompt)

    # --- one step (or a leap of decode steps) -----------------------------------------
    def next_step(self, now: float, horizon: float, out: Sim) -> float | None:
        """Plan and take the next step at `now`; its end time, or None when idle."""
        if self.role == "decode":
            self._admit_moved()
            plan = Plan()
        else:
            assert self.policy is not None
            plan = self.policy(self)
        if self.role == "prefill":
            plan = Plan(plan.chunks, decode=False)
        decoding = plan.decode and bool(self.running)
        if not plan.chunks and not decoding:
            return None
        if not plan.chunks:
            return self._leap(now, horizon, out)
        n = len(self.running) if decoding else 0
        ctx = self.sum_a + n * self.idx if n else 0
        chunks = [(q, s.prefilled) for s, q in plan.chunks]
        done = [s for s, q in plan.chunks if s.prefilled + q >= s.prompt]
        emitting = n + len(done)
        dt = self.timer.step(n, ctx, chunks, emitting) + self._overheads()
        dt += emitting * self.cfg.token_overhead_s
        end = now + dt
        if n:
            out.stats.itl.append((dt, n))
            self.idx += 1
        for s, q in plan.chunks:
            s.prefilled += q
        for s in done:
            self.prefilling.remove(s)
            self.prefill_blocks -= math.ceil(s.prompt / self.cfg.block_tokens)
            s.generated += 1
            if s.first_token_s is None:
                s.first_token_s = end
            if s.generated >= s.req.output_tokens:
                out.finish(s, end)
            elif self.role == "prefill":
                out.hand_over(s, end)
            else:
                self._join(s, s.tokens - 1)
        self._finish_due(end, out)
        out.stats.steps += 1
        return end

    def _overheads(self) -> float:
        extra, self.extra_s = self.extra_s, 0.0
        return self.cfg.step_overhead_s + extra

    def _leap(self, now: float, horizon: float, out: Sim) -> float:
        n = len(self.running)
        b = self.cfg.block_tokens
        while True:  # room for at least one more token each, or preempt
            room = ((self.capacity - self.prefill_blocks - n) * b - self.sum_a) / n
            k_kv = math.floor(room) - self.idx - 1
            if k_kv >= 1 or (n == 1 and not self.prefilling):
                break
            self._preempt(out)
            n = len(self.running)
        k_finish = self.finish_heap[0][0] - self.idx
        host = self.cfg.step_overhead_s + n * self.cfg.token_overhead_s
        t0 = self.timer.step(n, self.sum_a + n * self.idx) + host
        k_time = MAX_LEAP if math.isinf(horizon) else max(1, math.ceil((horizon - now) / t0))
        k = max(1, min(k_kv, k_finish, k_time, MAX_LEAP))
        mid = self.sum_a + n * (self.idx + (k - 1) / 2)
        per = self.timer.step(n, mid) + host
        dt = k * per + self._overheads()
        out.stats.itl.append((per, n * k))
        out.stats.steps += k
        self.idx += k
        end = now + dt
        self._finish_due(end, out)
        return end

    def _preempt(self, out: Sim) -> None:
        """Free blocks: the most recently admitted sequence goes back to the queue."""
        victims = self.running + self.prefilling
        if len(self.running) == 1:
            victims = self.prefilling
        victim = max(victims, key=lambda s: s.order)
        victim.preemptions += 1
        out.stats.preemptions += 1
        if victim.state == "prefilling":
            self.prefilling.remove(victim)
            self.prefill_blocks -= math.ceil(victim.prompt / self.cfg.block_tokens)
            victim.prefilled = 0
        else:
            self._leave(victim)
            if self.cfg.preemption == "swap":
                victim.swapped = True
                self.extra_s += self._swap_s(victim.tokens)
            else:
                victim.prompt = victim.req.input_tokens + victim.generated
                victim.folded = victim.generated
                victim.prefilled = 0
        victim.state = "waiting"
        self.waiting.appendleft(victim)

    def _finish_due(self, now: float, out: Sim) -> None:
        heap = self.finish_heap
        while heap and heap[0][0] <= self.idx:
            index, _, s = heapq.heappop(heap)
            if s.state != "running" or s.finish_index != index:
                continue  # left by a preempted sequence
            self._leave(s)
            out.finish(s, now)


class Sim:
    def __init__(self, cfg: Deployment, timer: StepTimer, kv: KVCache) -> None:
        self.cfg = cfg
        self.stats = Stats()
        self.done: list[Seq] = []
        self.dropped: list[tuple[Request, str]] = []
        self.events: list[tuple[float, int, int, object]] = []  # (t, kind, seq no, payload)
        self._n = 0
        if cfg.disaggregated:
            pre = min(cfg.prefill_replicas, cfg.replicas - 1) if cfg.replicas > 1 else 1
            self.front = [Replica(i, cfg, timer, kv, "prefill") for i in range(pre)]
            dec = max(1, cfg.replicas - pre)
            self.back = [Replica(pre + i, cfg, timer, kv, "decode") for i in range(dec)]
        else:
            self.front = [Replica(i, cfg, timer, kv, "both") for i in range(cfg.replicas)]
            self.back = []
        self._rr = {"front": 0, "back": 0}
        self.kv = kv
        self.check = False  # verify KV blocks exactly at every step (tests)
        self.next_sample = 0.0
        self.on_free: Callable[[float], None] | None = None  # a closed-loop client is free

    def push(self, t: float, kind: int, payload: object) -> None:
        self._n += 1
        heapq.heappush(self.events, (t, kind, self._n, payload))

    def route(self, pool: list[Replica], which: str) -> Replica:
        if self.cfg.router == "round_robin":
            r = pool[self._rr[which] % len(pool)]
            self._rr[which] += 1
            return r
        return min(pool, key=lambda r: (r.load(), r.id))

    def finish(self, s: Seq, t: float) -> None:
        s.state, s.finish_s = "done", t
        self.done.append(s)
        if self.on_free is not None:
            self.on_free(t)

    def hand_over(self, s: Seq, t: float) -> None:
        """Disaggregated: move a prefilled sequence's KV to a decode replica."""
        s.state = "moving"
        tokens = s.tokens
        bw = self.cfg.system.scaleout.bandwidth_Bps or (
            self.cfg.system.chip.scaleout.bandwidth_Bps if self.cfg.system.chip.scaleout else None
        )
        bw = bw or HOST_LINK_BPS
        lat = self.cfg.system.scaleout.latency_s or LINK_LATENCY_S
        self.push(t + lat + self.kv.bytes_per_token * tokens / bw, KIND_KV, s)


KIND_STEP, KIND_ARRIVE, KIND_KV = 0, 1, 2


def simulate(
    cfg: Deployment,
    timer: StepTimer,
    kv: KVCache,
    requests: list[Request] | ClosedLoop,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    check: bool = False,
) -> Sim:
    """Run the whole trace; returns the simulator with every request done or dropped.
    `check` counts KV blocks exactly at every step (slow; for tests)."""
    sim = Sim(cfg, timer, kv)
    sim.check = check
    jitter = np.random.default_rng([seed, 1])

    def overhead() -> float:
        mean = cfg.request_overhead_s
        return float(jitter.exponential(mean)) if mean > 0 else 0.0

    if isinstance(requests, ClosedLoop):
        loop = requests
        total = loop.requests
        rng = np.random.default_rng(seed)
        isl, osl = loop.isl.draw(rng, total), loop.osl.draw(rng, total)
        sent = 0

        def send(t: float) -> None:
            nonlocal sent
            if sent < total:
                req = Request(sent, t, int(isl[sent]), int(osl[sent]))
                sim.push(t + overhead(), KIND_ARRIVE, req)
                sent += 1

        sim.on_free = send
        starts = np.sort(rng.uniform(0.0, loop.spread_s, min(loop.clients, total)))
        for t0 in starts:
            send(float(t0))
    else:
        total = len(requests)
        for r in requests:
            sim.push(r.arrival_s + overhead(), KIND_ARRIVE, r)
    limit = kv.blocks * cfg.block_tokens - 2 * cfg.block_tokens
    everyone = sim.front + sim.back
    reported = 0
    while sim.events:
        t, kind, _, payload = heapq.heappop(sim.events)
        if kind == KIND_ARRIVE:
            assert isinstance(payload, Request)
            need = payload.input_tokens + payload.output_tokens
            if need > limit:
                why = f"input + output of {need} tokens exceeds the KV cache of {limit} tokens"
                sim.dropped.append((payload, why))
                if sim.on_free is not None:
                    sim.on_free(t)
                continue
            target = sim.route(sim.front, "front")
            target.waiting.append(Seq(payload, payload.input_tokens))
        elif kind == KIND_KV:
            assert isinstance(payload, Seq)
            target = sim.route(sim.back, "back")
            target.receive(payload)
        else:
            assert isinstance(payload, Replica)
            target = payload
            target.busy = False
        if not target.busy:
            _start(sim, target, t)
        if kind == KIND_STEP:  # a step may have freed what another replica waits for
            for r in everyone:
                if not r.busy and (r.waiting or r.running):
                    _start(sim, r, t)
        finished = len(sim.done) + len(sim.dropped)
        if progress is not None and finished - reported >= 1000:
            reported = finished
            progress(finished, total)
    if progress is not None:
        progress(len(sim.done) + len(sim.dropped), total)
    return sim


def _start(sim: Sim, r: Replica, now: float) -> None:
    horizon = sim.events[0][0] if sim.events else math.inf
    end = r.next_step(now, horizon, sim)
    if end is None:
        return
    r.busy = True
    if sim.check:
        sim.stats.max_blocks = max(sim.stats.max_blocks, r.exact_blocks())
    if now >= sim.next_sample:
        sim.next_sample = now + SAMPLE_S
        pool = sim.front + sim.back
        queued = sum(len(x.waiting) for x in pool)
        use = sum(x.exact_blocks() for x in pool) / (r.capacity * len(pool))
        sim.stats.series.append((now, queued, use))
    sim.push(end, KIND_STEP, r)


@dataclass(frozen=True, slots=True)
class KVCache:
    blocks: int  # per replica
    bytes_per_token: float  # per chip


def kv_cache(cfg: Deployment) -> KVCache:
    """Blocks the memory holds per replica after weights and the largest step's activations,
    at the engine's memory fraction."""
    par, llm, system = cfg.par, cfg.llm, cfg.system
    probe = 4096
    kv = memory(system, llm, Decode.uniform(1, probe), par)
    act = memory(system, llm, Prefill(1, cfg.max_batched_tokens), par).activations_B
    free = kv.capacity_B * cfg.memory_fraction - kv.weights_B - act
    per_token = kv.kv_cache_B / probe
    return KVCache(max(0, int(free // (per_token * cfg.block_tokens))), per_token)
