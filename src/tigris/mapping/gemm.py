"""How a GEMM is placed on a chip: output tiles over cores, tile sizes, split-k, raster, dataflow.

A `GemmMapping` is one placement. Its `GemmPlan` is what the placement implies, in counts
only (no seconds): the busiest core's engine cycles, the waves of tiles over the cores, and
the bytes moved between levels given the reuse the placement gets:
- core <- cache: every tile streams its A rows and B columns for its share of k,
  less what a core keeps in its staging memory across consecutive tiles (loop order);
  where the chip multicasts, the cores of a cluster that share a panel of the larger operand
  have it read from the cache once;
- cache <- main memory: tiles that run in the same wave share panels through the cache,
  so A is fetched once per column-block of a wave and B once per row-block (raster);
- split-k writes partial sums and reads them back once to reduce;
- stream-K (more tiles than cores, a part-empty last wave) deals the tiles' k-steps out
  evenly over the cores instead; a core that stops mid-tile hands its partial sums on.
Turning counts into time is `cost/`'s job; `search` picks the placement an objective likes best.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from tigris.mapping.resources import Resources
from tigris.workload.ops import Gemm

Dataflow = Literal["output", "weight", "input"]
Order = Literal["n-inner", "m-inner"]
DATAFLOWS: tuple[Dataflow, ...] = ("output", "weight", "input")
Int = int | np.ndarray  # a count, or one per placement
ACCUM_BYTES = 4  # fp32 accumulators and split-k partial sums
STAGES = 2  # double-buffered operand staging
MAX_TILE = 1024


@dataclass(frozen=True, slots=True)
class GemmShape:
    """What a mapping needs of a GEMM: row blocks (groups with rows), n, k and operand widths."""

    rows: tuple[tuple[int, int], ...]  # (rows of a group, number of such groups), active only
    n: int
    k: int
    a_B: float
    b_B: float
    out_B: float
    m: int = 0  # all rows (set by `of`)
    groups: int = 0  # all groups (set by `of`)
    # block-scaled: no split-k. The kernels that run them (DeepGEMM; TensorRT-LLM's and
    # CUTLASS's blockwise-scaled Hopper GEMMs) promote each k-block's partial sums into fp32
    # accumulators inside the tile and do not split k.
    whole_k: bool = False

    @staticmethod
    def of(op: Gemm) -> GemmShape:
        groups: dict[int, int] = {}
        for r in op.rows or (op.m,):
            if r > 0:
                groups[r] = groups.get(r, 0) + 1
        rows = tuple(sorted(groups.items())) or ((0, 1),)
        m = sum(r * g for r, g in rows)
        return GemmShape(
            rows,
            op.n,
            op.k,
            op.a.bytes,
            op.b.bytes,
            op.out.bytes,
            m,
            sum(g for _, g in rows),
            op.scale_block_k > 0,
        )


@dataclass(frozen=True, slots=True)
class GemmMapping:
    tile_m: int
    tile_n: int
    tile_k: int
    split_k: int = 1
    block_m: int = 1  # tile-rows in one wave's block; the wave spans cores // block_m columns
    order: Order = "n-inner"
    dataflow: Dataflow = "output"
    cores: int = 0  # cores the placement uses; 0: all of them
    # stream-K: the output tiles' k-steps are dealt out evenly over the cores, so the last
    # wave is not left part-empty; a core that stops mid-tile leaves its partial sums to the
    # one that finishes it (fixed up inside the kernel). Work units are (tile, k-step) pairs.
    stream_k: bool = False


@dataclass(frozen=True, slots=True)
class Candidates:
    """Placements as columns, one entry each, so the search counts and bounds them together."""

    tile_m: np.ndarray
    tile_n: np.ndarray
    tile_k: np.ndarray
    split_k: np.ndarray
    stream_k: np.ndarray  # bool
    dataflow: np.ndarray  # index into DATAFLOWS
    cores: np.ndarray  # cores each placement uses

    @staticmethod
    def table(rows: list[tuple[int, int, int, int, bool, int, int]]) -> Candidates:
        """From rows of (tile_m, tile_n, tile_k, split_k, stream_k, dataflow index, cores)."""
        cols = np.array(rows, dtype=np.int64).reshape(-1, 7).T
        return Candidates(cols[0], cols[1], cols[2], cols[3], cols[4] != 0, cols[5], cols[6])

    def __len__(self) -> int:
        return len(self.tile_m)

    def __getitem__(self, i: int) -> GemmMapping:
        return GemmMapping(
            int(self.tile_m[i]),
            int(self.tile_n[i]),
            int(self.tile_k[i]),
            int(self.split_k[i]),
            dataflow=DATAFLOWS[self.dataflow[i]],
            cores=int(self.cores[i]),
            stream_k=bool(self.stream_k[i]),
        )

    def __iter__(self) -> Iterator[GemmMapping]:
        return (self[i] for i in range(len(self)))


@dataclass(frozen=True, slots=True)
class GemmPlan:
    mapping: GemmMapping
    tiles: int  # work units: output tiles x split_k
    waves: int
    unit_steps: int  # k-steps (staged slabs of tile_k) one work unit runs in turn
    cores_used: int
    macs: float  # useful MACs
    engine_cycles: float  # busiest core, incl. padding and systolic fill / drain
    cache_read_B: float  # core <- cache (or <- main memory when there is no cache)
    cache_read_busiest_B: float  # the same, busiest core
    dram_read_B: float
    dram_write_B: float
    partial_B: float  # split-k partial sums written and read back (through the cache)
    unit_read_B: float = 0.0  # core <- cache bytes of one work unit, no reuse
    # (panel bytes, most units in a run) for each operand a core can keep in staging across
    # consecutive units: what any number of waves of these units could reuse
    keeps: tuple[tuple[float, int], ...] = ()
    multicast_B: float = 0.0  # cache reads per unit saved by multicast within a cluster

    @property
    def utilisation(self) -> float:
        """Useful MACs over the MAC slots of the busiest core's cycles, all cores."""
        return 0.0 if self.engine_cycles == 0 else self.macs / self.engine_cycles


def _pad(x: int, to: int) -> int:
    return -(-x // to) * to


def _tile_cycles(res: Resources, rate_class: str, tm: Int, tn: Int, kc: Int, dataflow: Int):
    """Engine cycles for one core to compute a tm x tn tile over kc of k (`dataflow`: the
    index in DATAFLOWS); numbers, or arrays of them, one entry per placement."""
    macs_cycle = res.macs_per_core_cycle[rate_class]
    if not res.systolic:
        f = res.fragment
        return _pad(tm, f[0]) * _pad(tn, f[1]) * kc / macs_cycle
    rows, cols = res.fragment
    engines = macs_cycle / (rows * cols)  # arrays per core x MACs per PE per cycle
    by_dataflow = (  # passes x cycles per pass (fill + drain each pass), in DATAFLOWS' order
        # output-stationary: the C tile stays, A and B stream over kc
        -(-tm // rows) * -(-tn // cols) * (kc + rows + cols),
        # weight-stationary: a rows(k) x cols(n) block of B stays; tm rows of A stream
        -(-kc // rows) * -(-tn // cols) * (tm + rows + cols),
        # input-stationary: a rows(k) x cols(m) block of A stays; tn columns of B stream
        -(-kc // rows) * -(-tm // cols) * (tn + rows + cols),
    )
    cycles = sum((dataflow == i) * c for i, c in enumerate(by_dataflow))  # type: ignore[misc]
    return cycles / engines


def counts(shape: GemmShape, res: Resources, rate_class: str, c: GemmMapping | Candidates):
    """Tile-rows, tile-columns, waves, k of one work unit, and the busiest core's engine
    cycles: numbers for one placement, arrays (one entry each) for `Candidates`. Stream-K's
    units are k-steps: its waves count the busiest core's k-steps."""
    if isinstance(c, GemmMapping):
        cores = min(c.cores, res.cores) if c.cores else res.cores
        dataflow: Int = DATAFLOWS.index(c.dataflow)
    else:
        cores, dataflow = c.cores, c.dataflow
    whole = 1 - c.stream_k  # (bool arithmetic, so numbers and arrays alike)
    tiles_n = -(-shape.n // c.tile_n)
    tiles_m = sum(-(-r // c.tile_m) * g for r, g in shape.rows)
    kc = c.stream_k * c.tile_k + whole * -(-shape.k // c.split_k)
    units = tiles_m * tiles_n * (c.stream_k * -(-shape.k // c.tile_k) + whole * c.split_k)
    waves = -(-units // cores)
    cycles = waves * _tile_cycles(res, rate_class, c.tile_m, c.tile_n, kc, dataflow)
    return tiles_m, tiles_n, waves, kc, cycles


def plan(
    shape: GemmShape,
    res: Resources,
    rate_class: str,
    mp: GemmMapping,
    counted: tuple[int, int, int, int, float] | None = None,
) -> GemmPlan:
    """The counts a mapping implies (see the module docstring); `counted` is `counts(...)` of
    the same arguments where the caller has it. The search's inner loop: integer ceilings and
    no temporaries where a plain expression will do."""
    tm, tn, s = mp.tile_m, mp.tile_n, mp.split_k
    tiles_m, tiles_n, waves, kc, cycles = counted or counts(shape, res, rate_class, mp)
    out_tiles = tiles_m * tiles_n
    steps = -(-shape.k // kc) if mp.stream_k else s  # units per output tile
    tiles = out_tiles * steps
    cores = min(mp.cores, res.cores) if mp.cores else res.cores

    # core <- cache: each work unit streams (tm x kc) of A and (kc x tn) of B; a core that
    # keeps one operand's panel in staging across its consecutive units reads it once per
    # run. The loop order keeping the larger saving is taken.
    a_tile = tm * kc * shape.a_B
    b_tile = kc * tn * shape.b_B
    unit = a_tile + b_tile
    keeps: tuple[tuple[float, int], ...] = ()
    order, saved = mp.order, 0.0
    # (stream-K: a core's consecutive units are k-steps of one tile, so no panel repeats)
    if a_tile * STAGES <= res.stage_B and not mp.stream_k:
        keeps = ((a_tile, tiles_n),)
        saved = _saved(waves, a_tile, tiles_n)
        if saved > 0.0:
            order = "n-inner"
    if b_tile * STAGES <= res.stage_B and not mp.stream_k:
        keeps += ((b_tile, tiles_m),)
        b_saved = _saved(waves, b_tile, tiles_m)
        if b_saved > saved:
            order, saved = "m-inner", b_saved
    busiest = waves * unit - saved
    cache_read = tiles * busiest / waves
    shared = multicast_saving(res, a_tile, b_tile, tiles_m, tiles_n)
    if shared:
        cache_read = shared_reads(cache_read, tiles * shared, shape)

    # cache <- main memory: a wave of `concurrent` output tiles shares panels through the
    # cache in a block of bm tile-rows x bn tile-columns (the raster); the best block is taken
    bm = 1
    if res.cache is not None:
        a_total = shape.m * shape.k * shape.a_B
        b_total = shape.groups * shape.k * shape.n * shape.b_B
        concurrent = max(1, min(cores // s, out_tiles))
        per_group_m = max(1, tiles_m // shape.groups)
        best = math.inf
        for i in range(max(1, concurrent.bit_length())):
            b_m = min(1 << i, concurrent, tiles_m)
            b_n = max(1, min(concurrent // b_m, tiles_n))
            traffic = a_total * -(-tiles_n // b_n) + b_total * -(-per_group_m // b_m)
            if traffic < best:
                best, bm = traffic, b_m
            if b_m == tiles_m:  # larger blocks are clipped to this one
                break
        dram_read = min(best, cache_read)
    else:
        dram_read = cache_read
    if bm != mp.block_m or order != mp.order:
        mp = GemmMapping(tm, tn, mp.tile_k, s, bm, order, mp.dataflow, mp.cores, mp.stream_k)
    partial = 2.0 * shape.m * shape.n * ACCUM_BYTES * s if s > 1 else 0.0
    if mp.stream_k and (tiles % cores or waves % steps):
        # each core hands on at most one unfinished tile: written once, read back once
        partial = 2.0 * min(cores, out_tiles) * tm * tn * ACCUM_BYTES
    return GemmPlan(
        mp,
        tiles,
        waves,
        -(-kc // mp.tile_k),
        min(cores, tiles),
        float(shape.m) * shape.n * shape.k,
        cycles * res.cores,
        cache_read,
        busiest,
        dram_read,
        shape.m * shape.n * shape.out_B,
        partial,
        unit,
        keeps,
        shared,
    )


# The helpers below take numbers with the built-in max and min, or arrays (one entry per
# placement) with numpy's elementwise ones.
def multicast_saving(
    res: Resources, a_tile_B, b_tile_B, tiles_m, tiles_n, maximum=max, minimum=min
):
    """Cache reads a unit saves where a cluster of cores on neighbouring tiles shares one
    panel (tiles in a row share A, tiles in a column B); the larger saving is taken."""
    if res.multicast <= 1:
        return 0.0
    return maximum(
        a_tile_B * (1.0 - 1.0 / minimum(res.multicast, tiles_n)),
        b_tile_B * (1.0 - 1.0 / minimum(res.multicast, tiles_m)),
    )


def shared_reads(reads_B, saved_B, shape: GemmShape, maximum=max, minimum=min):
    """Cache reads less what multicast saves; each operand is still read once."""
    unique = shape.m * shape.k * shape.a_B + shape.groups * shape.k * shape.n * shape.b_B
    return maximum(reads_B - saved_B, minimum(reads_B, unique))


def _saved(waves, panel_B, most_run, minimum=min):
    """Bytes a core saves over `waves` consecutive units by keeping one operand's panel."""
    run = minimum(waves, most_run)
    return (waves - -(-waves // run)) * panel_B


@dataclass(frozen=True, slots=True)
class Floors:
    """Per placement (arrays, one entry each), lower bounds of what its plan counts, that hold
    on its cores and on fewer (`search` tries fewer only for placements it plans)."""

    engine_cycles: np.ndarray  # busiest core, times the cores
    k_steps: np.ndarray  # the busiest core's, in turn
    cache_read_busiest_B: np.ndarray
    cache_read_B: np.ndarray
    partial_B: np.ndarray
    split_k: np.ndarray


def floors(shape: GemmShape, res: Resources, c: Candidates, counted) -> Floors:
    """`Floors` of the candidates, given their `counts`. The busiest core reads more the more
    units it runs in turn; no unit reads less than when its core keeps a panel over the
    longest run its tiles allow (`plan` makes the loop order's choice); split-k's partial
    sums are written and read back (stream-K's hand-overs may vanish on fewer cores)."""
    tiles_m, tiles_n, waves, kc, cycles = counted
    a_tile = c.tile_m * kc * shape.a_B
    b_tile = kc * c.tile_n * shape.b_B
    unit = a_tile + b_tile
    keep_a = (a_tile * STAGES <= res.stage_B) & ~c.stream_k
    keep_b = (b_tile * STAGES <= res.stage_B) & ~c.stream_k
    saved = np.maximum(
        np.where(keep_a, _saved(waves, a_tile, tiles_n, np.minimum), 0.0),
        np.where(keep_b, _saved(waves, b_tile, tiles_m, np.minimum), 0.0),
    )
    least = unit - np.maximum(
        np.where(keep_a, a_tile * (1.0 - 1.0 / tiles_n), 0.0),
        np.where(keep_b, b_tile * (1.0 - 1.0 / tiles_m), 0.0),
    )
    units = tiles_m * tiles_n * np.where(c.stream_k, -(-shape.k // kc), c.split_k)
    shared = multicast_saving(res, a_tile, b_tile, tiles_m, tiles_n, np.maximum, np.minimum)
    partial = np.where(c.split_k > 1, 2.0 * shape.m * shape.n * ACCUM_BYTES * c.split_k, 0.0)
    return Floors(
        cycles * res.cores,
        waves * -(-kc // c.tile_k),
        waves * unit - saved,
        shared_reads(units * least, units * shared, shape, np.maximum, np.minimum),
        partial,
        c.split_k,
    )


def reads_busiest(waves: int, unit_B: float, keeps: tuple[tuple[float, int], ...]) -> float:
    """core <- cache bytes of a core running `waves` units in turn, keeping the operand panel
    (of `keeps`: (bytes, most units in a run), ...) that saves most."""
    return waves * unit_B - max((_saved(waves, k, r) for k, r in keeps), default=0.0)


def _fits(res: Resources, shape: GemmShape, tm: int, tn: int, tk: int) -> bool:
    staging = STAGES * (tm * shape.a_B + tn * shape.b_B) * tk
    return staging <= res.stage_B and tm * tn * ACCUM_BYTES <= res.accum_B


def tile_k(res: Resources, shape: GemmShape) -> int:
    """k-step of one staged slab: the array depth on systolic chips, 128 bytes of A on MMA ones."""
    if res.systolic:
        return res.fragment[0]
    return max(16, int(128 // max(shape.a_B, 0.5)))


def _sizes(base: int, limit: int, exhaustive: bool) -> list[int]:
    """Tile edges to try: multiples of a fragment step up to the (rounded-up) problem edge.
    Pruned: powers of two times the smallest edge, and 1.5 times those (in steps of 8), so a
    tile count can fill the cores where powers of two leave a wave part-empty. Libraries
    tile so too: cuBLASLt's tile list (`cublasLtMatmulTile_t`) has 64x96, 96x64 and 96x128,
    and Hopper's MMA takes any N in steps of 8 up to 256."""
    cap = min(MAX_TILE, max(limit, 8))
    if exhaustive:
        step = max(8, base // 4)
        return list(range(step, cap + 1, step))
    lo = max(8, min(base * 4, limit // 2))  # small tiles only for small problems
    edges = [lo << i for i in range(12) if lo << i <= cap]
    mids = [x + x // 2 for x in edges if x % 16 == 0 and x + x // 2 <= cap]
    return sorted(edges + mids)


def _spread(base: int, sizes: list[int]) -> list[int]:
    """One- and two-fragment edges below the smallest of `sizes`: to spread an op whose
    regular tiles are fewer than the cores over more of them."""
    return [x for x in (base, 2 * base) if 8 <= x < sizes[0]] if sizes else []


def candidates(shape: GemmShape, res: Resources, exhaustive: bool = False) -> Candidates:
    """Placements worth trying. Pruned: tile edges as `_sizes` gives them up to twice the
    problem edge, split-k only to fill idle cores (powers of two up to twice the fill).
    `exhaustive` walks every multiple of a quarter fragment and every split up to 64 instead.
    Loop order and raster block are chosen inside `plan`, where their best is known in
    closed form."""
    tk = tile_k(res, shape)
    max_rows = max(r for r, _ in shape.rows)
    dataflows = range(len(DATAFLOWS) if res.systolic else 1)
    fm, fn = res.fragment
    tms = _sizes(fm, _pad(max(max_rows, 1), 8) * 2, exhaustive)
    tns = _sizes(fn, _pad(shape.n, 8) * 2, exhaustive)
    if not exhaustive and tms and tns:
        fewest = sum(math.ceil(r / tms[0]) * g for r, g in shape.rows) * math.ceil(shape.n / tns[0])
        if 2 * fewest <= res.cores:  # at least half the cores idle
            tms, tns = _spread(fm, tms) + tms, _spread(fn, tns) + tns
    max_split = 1 if shape.whole_k else max(1, shape.k // tk)
    cores = res.cores
    rows: list[tuple[int, int, int, int, bool, int, int]] = []
    for tm in tms:
        tiles_m = sum(-(-r // tm) * g for r, g in shape.rows)
        for tn in tns:
            if not _fits(res, shape, tm, tn, tk):
                continue
            out_tiles = tiles_m * -(-shape.n // tn)
            if exhaustive:
                splits: Sequence[int] = range(1, min(max_split, 64) + 1)
            elif out_tiles < cores:
                want = 1 << max(0, math.ceil(math.log2(cores / out_tiles)))
                # every power of two up to twice the fill: more cores never lose a choice
                splits = [1 << i for i in range(want.bit_length() + 1) if 1 << i <= max_split]
            else:
                splits = (1,)
            rows += [(tm, tn, tk, s, False, df, cores) for s in splits for df in dataflows]
            # stream-K evens out a part-empty last wave; every core gets at least one tile's
            # k-steps, so a tile's sums are split between two cores at most (fewer tiles than
            # cores is split-k's case)
            if out_tiles > cores and out_tiles % cores and not shape.whole_k:
                rows.append((tm, tn, tk, 1, True, 0, cores))
    return Candidates.table(rows)


FALLBACK = {
    "fp4": "fp8",
    "int4": "int8",
    "fp8": "bf16",
    "int8": "bf16",
    "bf16": "fp16",
    "fp16": "bf16",
    "tf32": "fp32",
}


def rate_class(op: Gemm, res: Resources) -> str:
    """The engine rate a GEMM runs at: the wider operand's class (weight-only quantised
    weights are widened first), or the next wider class the chip has."""
    wide = op.a if op.a.bits >= op.b.bits else op.b
    rc: str | None = wide.rate_class
    seen: set[str] = set()
    while rc is not None and rc not in res.macs_per_core_cycle and rc not in seen:
        seen.add(rc)
        rc = FALLBACK.get(rc)
    if rc is None or rc not in res.macs_per_core_cycle:
        rc = max(res.macs_per_core_cycle, key=res.macs_per_core_cycle.__getitem__)
    return rc


def search(
    op: Gemm,
    res: Resources,
    objective: Callable[[GemmPlan], float],
    exhaustive: bool = False,
    floor: Callable[[GemmPlan, int, float], tuple[float, float]] | None = None,
    lower: Callable[[Floors], np.ndarray] | None = None,
) -> GemmPlan:
    """The plan the objective scores lowest (ties: first found, so results are repeatable).

    With `floor(plan, waves, best)`, lower bounds of the objective for the plan's work units
    run in exactly that many waves and in that many or more (given the best score so far),
    each placement is also tried on fewer cores, one count per wave count (the most cores
    that give it; fewer only lose raster concurrency), until the bound reaches the best
    score. A core that runs several units in turn keeps an operand panel in staging, which
    can beat spreading the units one per core. A chip's candidates include those of any chip
    with fewer cores, so it always does at least as well.

    With `lower(floors)`, lower bounds of the objective for all candidates at once from their
    `Floors`, candidates are planned best bound first and the search stops where the bound
    reaches the best score (ties: the lower bound first). The floors hold on fewer cores too,
    so those of candidates never planned need no trying either."""
    rc = rate_class(op, res)
    shape = GemmShape.of(op)
    best: GemmPlan | None = None
    best_score = math.inf
    tried: list[tuple[GemmMapping, GemmPlan]] = []
    cands = candidates(shape, res, exhaustive)
    counted = counts(shape, res, rc, cands)
    bounds = np.full(len(cands), -math.inf)
    if lower is not None and len(cands):
        bounds = lower(floors(shape, res, cands, counted))
    columns = [x.tolist() for x in counted]
    for i in np.argsort(bounds, kind="stable").tolist():  # candidates' order among equal bounds
        if bounds[i] >= best_score:
            break  # every later candidate's bound is as high
        mp = cands[i]
        p = plan(shape, res, rc, mp, tuple(c[i] for c in columns))  # type: ignore[arg-type]
        score = objective(p)
        if score < best_score:
            best, best_score = p, score
        tried.append((mp, p))
    for mp, p in tried if floor is not None else ():  # on fewer cores, against the best
        if not any(run > 1 for _, run in p.keeps):
            continue  # nothing kept across units: more waves only add time
        fewer = math.ceil(p.tiles / p.waves) - 1  # the most cores that need one more wave
        while fewer >= 1:
            waves = math.ceil(p.tiles / fewer)
            exactly, onwards = floor(p, waves, best_score)  # type: ignore[misc]
            if onwards >= best_score:
                break
            if exactly < best_score:
                q = plan(shape, res, rc, replace(mp, cores=fewer))
                score = objective(q)
                if score < best_score:
                    best, best_score = q, score
            fewer = math.ceil(p.tiles / waves) - 1
    if best is None:  # nothing fits the staging memory: the smallest tiles, streaming
        f = res.fragment
        best = plan(shape, res, rc, GemmMapping(min(f[0], 16), min(f[1], 16), 16))
    return best
