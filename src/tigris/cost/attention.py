"""Fused attention (flash-attention style) and its placement.

Work is split into units of (sequence, head, block of query rows, KV split). Prefill kernels
tile the query tokens of one head (a unit per query head; a 1-token prompt is prefill too).
Decode kernels pack the query heads sharing a KV head into the rows of one unit (GQA; absorbed
MLA is one KV head for all heads), so a decode step of G-way GQA is a G-row matrix product
per KV head, up to `DECODE_GROUP_LIMIT` heads; larger groups (absorbed MLA aside) take one
unit per query head. Each unit streams its keys and values once through the cache; the KV
cache itself is read from main memory once per KV head. Matrix work (Q K^T and P V, padded
to the engine fragment) runs on the matrix engines, the softmax's exponentials on the
special-function units; a unit does them in turn (each depends on the last), so they add.
A decode unit of one query row (no heads to pack) runs on the vector lanes instead, as GPU
decode kernels do (TensorRT-LLM's masked multi-head attention): each cached element is
converted to fp32 at the special-function rate and multiplied once, whatever the cache's
format (an assumption: H100's groups over 32, which fall back to that kernel, measure about
21 cycles per key and head at head dim 128 with either cache format; 18 so modelled).
Decode splits long KV ranges across cores (flash-decoding), at the price of writing and
re-reading partial results. A packed decode kernel takes its split count by a fixed rule from
the longest history, window or not (so keys outside a window still cost their units; not so
the kernel that multiplies an 8-bit cache as it is, which counts the window's keys), or
runs as the rule would on fewer cores where that is faster: the rule splits more on more
cores, and more cores must never make an op slower. One-row decode units take the split the
search finds cheapest. Each unit holds its core for at least the unit latency; decode units
small enough to share a core's staging memory (a query block and the key tiles they stage;
one-row units: as many as its registers hold, if their logits fit) wait together, a prefill
unit has its core to itself. On a chip with dependent launch, a decode kernel's first wave
is set up while the kernel before it ends and holds its cores no longer than its work.
Prefill launches two kernels of its own before the fused one: one builds the batch's
sequence offsets, one rotates the new queries and keys (RoPE) and writes the new keys and
values into the paged KV cache. A decode step launches the second, unless its kernel
multiplies an 8-bit cache on the matrix engines (that kernel rotates and writes the new
token itself).
The mapping search tries query blocks of one, two and four engine fragments and KV splits
at powers of two (packed decode: the rule's split); the cheapest is kept.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

from tigris.cost import energy
from tigris.cost.model import Cost, combine
from tigris.cost.params import CACHE_EFFICIENCY, Calibration
from tigris.mapping.resources import Resources
from tigris.workload.ops import Attention, causal_pairs

SOFTMAX_FLOPS = 5.0  # per score: scale, running max, subtract, sum, rescale
PARTIAL_BYTES = 4  # fp32 partial outputs of a KV split
KEY_TILE = 64  # keys a unit stages at once (two buffers); the least keys per KV split
# TensorRT-LLM's XQA decode kernels take head groups of at most 32 query heads per KV head
# (`head_grp_size * beam_width > 32` is unsupported: decoderXQAImplJIT/kernelUtils.cpp);
# larger groups run its masked multi-head attention kernel, one query head per block.
DECODE_GROUP_LIMIT = 32
# Kernels a prefill launches before its fused attention: one builds the batch's sequence
# offsets, one rotates and writes the new keys (TensorRT-LLM's `AttentionOp::enqueueContext`:
# invokeBuildDecoderInfo, then invokeQKVPreprocessing).
PREFILL_KERNELS = 2
# A decode step launches one kernel before its attention kernel, to rotate the new token's
# query and key and write its key and value into the cache: XQA's kernels for a head group
# call invokeQKVPreprocessing first. Not the warp-specialised XQA kernel (mha_sm90.cu), which
# rotates in passing (`appliesRoPEInXqaKernel`, decoderXQAImplJIT); its launcher takes it only
# on a chip whose matrix engines multiply the cache's 8-bit format as it is
# (`supportConfigQGMMA`: sm90 and an E4M3 cache, in the TensorRT-LLM versions the measured
# tables name), never for absorbed MLA. The masked multi-head kernel rotates in passing too,
# yet its smallest steps on H100 measure as XQA's two kernels do at every head dim (7.50,
# 8.51, 7.69, 8.45 us at 64, 128, 192, 256, against 7.49, 8.43, 7.65, 8.40, bf16 cache), and
# the warp-specialised kernel's one lower (5.5-5.9 us): it is priced as the former.
DECODE_KERNELS = 1
# What a decode unit packing a head group stages, as TensorRT-LLM's XQA kernel (mha.cu) on
# sm80/sm90 buffers it: K for 512 keys (4 warps x 2 buffers x 64 keys) in parts of at most
# 128 bytes of each key's head, V for 128 keys (2 buffers x 64) in rows of 256 elements.
# A 16-bit cache takes 128 KiB whatever the head width: one such unit per H100 or A100 SM.
K_STAGED_KEYS = 512
K_PART_B = 128
V_STAGED_KEYS = 128
V_ROW_ELEMENTS = 256
# The split rule of that kernel's launcher (TensorRT-LLM computeMultiBlockCount): a split per
# 128 keys of the longest history (kMinHistoryTokensPerBlock), at most sqrt(8x) of them, cut
# back to keep the grid within 8 waves of the cores (kTargetWaveFactor).
SPLIT_MIN_KEYS = 128
SPLIT_TARGET_WAVES = 8
# A one-row decode unit is a block of TensorRT-LLM's masked multi-head kernel: 256 threads,
# which stage no keys (each thread loads its share of a key straight into registers) but
# hold the step's logits in shared memory, fp32 and again in the queries' format
# (`smem_size_in_bytes`). Registers bound the rest: its launcher notes at most 32 warps per
# SM, limited by registers (`mmha_launch_kernel_ex`), four such blocks in a 256 KiB register
# file: 64 KiB a unit.
VECTOR_UNIT_REGISTERS_B = 64 * 1024
# Decode kernels launch as programmatically dependent on the kernel before them where the chip
# allows it (XQA's kernels under ENABLE_PDL: prologue, then griddepcontrol.wait; the masked
# multi-head launcher with PDL enabled): their first wave of units is resident and set up
# when that kernel ends, so only the waves after it hold their cores for the unit latency.
# Prefill is not priced so: H100's fitted attention loss is 0.299 with decode alone priced
# this way, 0.321 with prefill too, 0.334 with neither.


def _rate(op: Attention, res: Resources) -> str:
    rc = op.q.rate_class
    if rc in res.macs_per_core_cycle:
        return rc
    for alt in ("bf16", "fp16"):
        if alt in res.macs_per_core_cycle:
            return alt
    return max(res.macs_per_core_cycle, key=res.macs_per_core_cycle.__getitem__)


def _limit(op: Attention) -> int | None:
    caps = [x for x in (op.window, op.keys_limit) if x]
    return min(caps) if caps else None


def _pad(x: float, to: int) -> float:
    return math.ceil(x / to) * to


def _decoding(q: int, past: int) -> bool:
    """One new token after a cache: a decode kernel's work. A prompt, even of one token,
    runs the prefill kernels."""
    return q == 1 and past > 0


def _shared_heads(op: Attention, q: int, past: int, group: int) -> int:
    """Query heads that share one read of their KV head. Prefill kernels tile the query
    tokens of one head (a unit per head and block of tokens), so none. Decode kernels for
    grouped-query attention pack a group's heads into the rows of one unit, at most
    `DECODE_GROUP_LIMIT` of them; a larger group falls back to one unit per query head, each
    streaming the KV head again (from the cache when it holds it). Absorbed MLA (keys wider
    than values: the latent plus its rotary part) has kernels of its own that share the
    latent among all heads."""
    if not _decoding(q, past) or (group > DECODE_GROUP_LIMIT and op.qk_dim == op.v_dim):
        return 1
    return group


def _warp_specialised(op: Attention, res: Resources, packed: bool) -> bool:
    """Whether a packed decode runs the kernel that multiplies an 8-bit cache on the matrix
    engines as it is (Hopper's XQA kernel, mha_sm90.cu; never absorbed MLA). Under a sliding
    window its time does not grow with the history as the others' does (H100, fp8 cache, head
    dim 192, 8 KV heads, window 128: one sequence 7.0-7.9 us from 128 keys to 32,768; bf16
    12.8 to 29.2 us), so its split rule counts the window's keys only."""
    native_8bit = op.kv.bits == 8 and op.kv.rate_class in res.macs_per_core_cycle
    return packed and native_8bit and op.qk_dim == op.v_dim


def _preprocessing_kernels(op: Attention, res: Resources, decode: bool, packed: bool) -> int:
    """Kernels launched before the fused attention one: prefill's two; a decode step's one,
    unless its kernel is the warp-specialised one, which rotates the new token itself."""
    if not decode:
        return PREFILL_KERNELS
    return 0 if _warp_specialised(op, res, packed) else DECODE_KERNELS


def _preprocessing(
    op: Attention, res: Resources, cal: Calibration, kernels: int
) -> tuple[float, float]:
    """Bytes and seconds of the kernels before the fused one: read the new queries, keys and
    values as the projection wrote them, write the rotated queries back and the keys and
    values into the cache. Nothing when the attention kernel does this in passing."""
    if not kernels:
        return 0.0, 0.0
    new_kv = sum(op.q_lens) * op.kv_heads * (op.qk_dim + op.v_dim)
    moved = 2.0 * op.q_bytes + new_kv * (op.q.bytes + op.kv.bytes)
    return moved, kernels * cal.kernel_overhead_s + moved / (
        res.main.bandwidth_Bps * cal.memory_efficiency
    )


@lru_cache(maxsize=4096)
def _split_plans(history: int, groups: int, cores: int) -> tuple[tuple[int, int], ...]:
    """(splits, cores used) a packed decode kernel may run with: the rule's split on this
    chip, and on each smaller core count that would change it, leaving the other cores idle.
    A chip can always launch as a smaller one would, so more cores never make it slower,
    though the rule itself, splitting more on more cores, sometimes would."""
    plans: dict[int, int] = {}
    for used in range(cores, 0, -1):
        n = _decode_splits(history, groups, used)
        plans.setdefault(n, used)  # the most cores that give this split
        if n == 1:
            break
    return tuple(plans.items())


def _decode_splits(history: int, groups: int, cores: int) -> int:
    """KV splits per head group of a packed decode kernel, by rule, not by search: one per
    `SPLIT_MIN_KEYS` of the longest history (cached keys and the new one, a window or not),
    at most sqrt(8x) of that, fewer when `groups` x splits would pass `SPLIT_TARGET_WAVES`
    waves of the cores."""
    n = history // SPLIT_MIN_KEYS
    n = max(1, min(n, round(math.sqrt(8.0 * n))))
    waves = groups * n / cores
    if waves > SPLIT_TARGET_WAVES:
        n = math.floor(n / (waves / SPLIT_TARGET_WAVES))
    return max(1, n)


def attention_cost(op: Attention, res: Resources, cal: Calibration) -> Cost:
    rc = _rate(op, res)
    group = max(1, op.heads // max(op.kv_heads, 1))
    limit = _limit(op)
    seqs = Counter(zip(op.q_lens, op.past_lens, strict=True))
    fm = res.fragment[0]
    macs_cycle = res.macs_per_core_cycle[rc]
    special = res.special_per_s() / res.cores * cal.vector_efficiency
    vec = res.vector_flops("fp32") / res.cores * cal.vector_efficiency
    dims = op.qk_dim + op.v_dim
    main, cache = res.main, res.cache
    unique_B = op.q_bytes + op.kv_bytes + op.out_bytes
    pairs_total = op.pairs * op.heads
    peak = res.matrix_flops(rc)
    decode = all(_decoding(q, p) for q, p in seqs)
    packed = decode and _shared_heads(op, 1, 1, group) > 1  # any decode step's sharing
    on_vector = decode and not packed
    # a core's seconds per cached element: a matrix-engine MAC of a row, or, on the vector
    # path, one conversion to fp32 (special-function rate) and one fp32 multiply-add, both
    # at the nominal rates (the fitted vector fraction is the softmax's)
    mac_s = 1.0 / (macs_cycle * res.clock_Hz * cal.matrix_efficiency)
    element_s = 2.0 * res.cores / res.vector_flops("fp32")
    if op.kv.bytes < 4:
        element_s += res.cores / res.special_per_s()
    # staged per unit besides its queries: packed decode units as XQA buffers K and V, prefill
    # units two key tiles (one-row decode units stage none: their logits, below)
    if packed:
        k_part_B = min(K_PART_B, op.qk_dim * op.kv.bytes)
        staged_B = K_STAGED_KEYS * k_part_B + V_STAGED_KEYS * V_ROW_ELEMENTS * op.kv.bytes
    else:
        staged_B = 2 * KEY_TILE * dims * op.kv.bytes
    prep_B, prep_s = _preprocessing(op, res, cal, _preprocessing_kernels(op, res, decode, packed))

    plans = tuple((s, res.cores) for s in (1, 2, 4, 8, 16, 32, 64))  # (KV split, cores used)
    if packed:
        history = max(op.past_lens) + 1
        if limit and _warp_specialised(op, res, packed):
            history = min(history, limit)  # that kernel counts the window's keys only
        plans = _split_plans(history, len(op.q_lens) * op.kv_heads, res.cores)

    best: Cost | None = None
    for block in (fm, 2 * fm, 4 * fm) if not res.systolic else (fm,):
        for split, cores in plans:
            units = 0
            busy_s = 0.0  # engine seconds summed over units
            longest_s = 0.0
            softmax_s = 0.0
            stream_B = 0.0
            unit_keys = 0.0  # the longest unit's keys
            for (q, past), n in seqs.items():
                shared = _shared_heads(op, q, past, group)
                rows = q * shared
                blocks = math.ceil(rows / block) * (group // shared)
                keys_last = min(past + q, limit) if limit else past + q
                if split > 1 and keys_last < split * KEY_TILE and not packed:
                    break
                unit_keys = max(unit_keys, keys_last / split)
                pairs = causal_pairs(q, past, limit) * group  # rows x keys of one KV head
                per_block_keys = pairs / (q * group) if q else 0.0
                if on_vector:  # one row: each cached element converted and multiplied once
                    busy_block_s = per_block_keys / split * dims * element_s
                    busy_last_s = keys_last / split * dims * element_s
                else:
                    pad_rows = min(block, _pad(rows, 16)) if res.systolic is False else block
                    busy_block_s = pad_rows * _pad(per_block_keys / split, 16) * dims * mac_s
                    busy_last_s = pad_rows * _pad(keys_last / split, 16) * dims * mac_s
                u = n * op.kv_heads * blocks * split
                units += u
                busy_s += u * busy_block_s
                longest_s = max(longest_s, busy_last_s)
                softmax_s += n * op.kv_heads * pairs * (1.0 / special + SOFTMAX_FLOPS / vec)
                stream_B += n * op.kv_heads * blocks * per_block_keys * dims * op.kv.bytes
            else:
                waves = math.ceil(units / cores)
                engine_s = max(waves * busy_s / max(units, 1), longest_s)
                soft_s = softmax_s / max(units, 1) * waves
                compute_s = engine_s + soft_s  # dependent: Q K^T, softmax, P V in turn
                partial_B = (
                    2.0 * sum(op.q_lens) * op.heads * op.v_dim * PARTIAL_BYTES * split
                    if split > 1
                    else 0.0
                )
                memory_s: dict[str, float] = {}
                moved: dict[str, float] = {}
                if cache is not None:
                    c_B = stream_B + op.q_bytes + op.out_bytes + partial_B
                    memory_s[cache.name] = c_B / (cache.bandwidth_Bps * CACHE_EFFICIENCY)
                    moved[cache.name] = c_B
                    dram_B = unique_B
                else:
                    dram_B = stream_B + op.q_bytes + op.out_bytes + partial_B
                memory_s[main.name] = dram_B / (main.bandwidth_Bps * cal.memory_efficiency)
                moved[main.name] = dram_B + prep_B
                # decode units that fit a core together wait together: one-row units as
                # registers allow, then their logits in staging memory; others as their
                # query block and staged keys fit staging memory
                if on_vector:
                    logits_B = (4 + (op.q.bytes if op.q.bytes < 4 else 0)) * max(unit_keys, 1)
                    by_regs = int(res.accum_B // VECTOR_UNIT_REGISTERS_B)
                    resident = max(1, min(by_regs, int(res.stage_B // logits_B)))
                elif decode:
                    tile_B = block * op.qk_dim * op.q.bytes + staged_B
                    resident = max(1, int(res.stage_B // tile_B))
                else:
                    resident = 1
                waves_held = math.ceil(units / (cores * resident))
                if decode and res.dependent_launch:  # the first wave starts early
                    waves_held = max(0, waves_held - 1)
                latency = waves_held * cal.unit_latency_s
                overhead = cal.attention_overhead_s + (cal.kernel_overhead_s if split > 1 else 0)
                overhead += prep_s  # a kernel of its own: nothing of it overlaps
                time_s = overhead + combine(compute_s, memory_s, cal.overlap, latency)
                if best is None or time_s < best.time_s:
                    parts = energy.parts(op.flops, rc, moved, [cache, main])
                    best = Cost(
                        time_s=time_s,
                        compute_s=compute_s,
                        memory_s=memory_s,
                        bytes=moved,
                        overhead_s=overhead,
                        flops=op.flops,
                        peak_flops=peak,
                        energy=parts,
                        floor_s=max(
                            op.flops / peak if peak else 0.0,
                            pairs_total / res.special_per_s(),
                            unique_B / main.bandwidth_Bps,
                        ),
                        latency_s=latency,
                        notes=(
                            f"{units} units of {block} query rows, KV split {split}"
                            + (f", on {cores} cores" if cores < res.cores else ""),
                        ),
                    )
    assert best is not None
    return best
