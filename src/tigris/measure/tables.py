"""The tables `tigris measure` writes, and how a run survives an interruption.

The GEMM, attention and NCCL tables have exactly the columns and types of ../shared/measured
(so `tigris validate` and `tigris calibrate` read them as they are). Two tables of our own
sit beside them: `vector_perf` (RMSNorm, SiLU-and-multiply) and `layer_perf` (a whole
decoder layer). Board power goes to `board_power`, keyed by table and row, so the measured
schema stays exact.

Every finished row is appended to `<table>.partial.jsonl` at once; the parquet file is written
to a temporary name and renamed only when the table is complete. Run the same command again
after an interruption and it measures only the rows that are missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_HEAD = [("framework", pa.string()), ("version", pa.string()), ("device", pa.string())]
_OP = [("op_name", pa.string()), ("kernel_source", pa.string())]
_ATTN = [
    ("batch_size", pa.int64()),
    ("isl", pa.int64()),
    ("num_heads", pa.int64()),
    ("num_key_value_heads", pa.int64()),
    ("head_dim", pa.int64()),
    ("window_size", pa.int64()),
    ("beam_width", pa.int64()),
    ("attn_dtype", pa.string()),
    ("kv_cache_dtype", pa.string()),
    ("step", pa.int64()),
]
_LAT = [("latency", pa.float64())]  # milliseconds, as in ../shared/measured

SCHEMAS: dict[str, pa.Schema] = {
    "gemm_perf": pa.schema(
        _HEAD
        + _OP
        + [("gemm_dtype", pa.string()), ("m", pa.int64()), ("n", pa.int64()), ("k", pa.int64())]
        + _LAT
    ),
    "context_attention_perf": pa.schema(_HEAD + _OP + _ATTN + _LAT),
    "generation_attention_perf": pa.schema(_HEAD + _OP + _ATTN + _LAT),
    "nccl_perf": pa.schema(
        _HEAD
        + _OP
        + [("nccl_dtype", pa.string()), ("num_gpus", pa.int64()), ("message_size", pa.int64())]
        + _LAT
    ),
    "vector_perf": pa.schema(
        _HEAD
        + _OP
        + [("dtype", pa.string()), ("tokens", pa.int64()), ("hidden", pa.int64())]
        + _LAT
    ),
    "layer_perf": pa.schema(
        _HEAD
        + _OP
        + [
            ("model", pa.string()),
            ("phase", pa.string()),
            ("batch_size", pa.int64()),
            ("isl", pa.int64()),
            ("step", pa.int64()),
            ("dtype", pa.string()),
        ]
        + _LAT
    ),
}
POWER = pa.schema(
    [
        ("table", pa.string()),
        ("row", pa.int64()),
        ("power_w", pa.float64()),
        ("samples", pa.int64()),
    ]
)
META = {"framework", "version", "device", "latency"}


def key(table: str, row: dict[str, Any]) -> tuple:
    """What identifies a measurement: every column but the header and the latency."""
    return tuple(row[f.name] for f in SCHEMAS[table] if f.name not in META)


class Table:
    """One table being measured: finished rows so far, appended as they come."""

    def __init__(self, out: Path, name: str) -> None:
        self.name, self.out = name, out
        self.final = out / f"{name}.parquet"
        self.partial = out / f"{name}.partial.jsonl"
        self.rows: list[dict[str, Any]] = []
        self.power: dict[int, tuple[float, int]] = {}
        if self.partial.exists():
            for line in self.partial.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by the interruption
                    continue
                self._keep(rec)
        self.done = {key(name, r) for r in self.rows}

    @property
    def complete(self) -> bool:
        return self.final.exists() and not self.partial.exists()

    def _keep(self, rec: dict[str, Any]) -> None:
        power = rec.pop("power_w", None), rec.pop("power_samples", 0)
        if power[0] is not None:
            self.power[len(self.rows)] = (float(power[0]), int(power[1]))
        self.rows.append(rec)

    def add(self, row: dict[str, Any], power_w: float | None = None, samples: int = 0) -> None:
        rec = dict(row)
        if power_w is not None:
            rec["power_w"], rec["power_samples"] = power_w, samples
        with self.partial.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        self._keep(rec)
        self.done.add(key(self.name, row))

    def finish(self) -> Path:
        """Write the parquet file whole (temporary name, then rename) and drop the journal."""
        schema = SCHEMAS[self.name]
        table = pa.Table.from_pylist(self.rows, schema=schema)
        _atomic_parquet(table, self.final)
        self.partial.unlink(missing_ok=True)
        return self.final


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_power(out: Path, tables: Iterable[Table]) -> Path | None:
    """Board power beside the timings: one row per (table, row index) that was sampled."""
    recs = [
        {"table": t.name, "row": i, "power_w": w, "samples": n}
        for t in tables
        for i, (w, n) in sorted(t.power.items())
    ]
    if not recs:
        return None
    path = out / "board_power.parquet"
    merged = recs
    if path.exists():  # keep what earlier runs of other tables recorded
        names = {r["table"] for r in recs}
        old = [r for r in pq.read_table(path).to_pylist() if r["table"] not in names]
        merged = old + recs
    _atomic_parquet(pa.Table.from_pylist(merged, schema=POWER), path)
    return path
