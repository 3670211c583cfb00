"""Published snapshots: what readers (the API, BI tools, the report) see, never the live warehouse.

DuckDB allows one writer, and a reader of the live file would see a half-built run. So the pipeline's last
step copies the published relations into a new DuckDB file, `published/<snapshot>.duckdb`, and then swaps
`published/current.json` to point at it with an atomic rename. A reader opens whatever `current.json` names,
read-only; a publish that fails half-way leaves `current.json` on the previous snapshot. The newest `keep`
snapshots stay on disk so a reader that opened an older one can finish.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ml.logs import timed


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    path: Path
    published_at: str
    row_counts: dict[str, int]


def current(published: Path) -> Snapshot | None:
    """The snapshot readers should open now (None before the first publish)."""
    pointer = published / "current.json"
    if not pointer.exists():
        return None
    got = json.loads(pointer.read_text())
    return Snapshot(got["snapshot_id"], published / got["file"], got["published_at"], got["row_counts"])


LEFTOVER_AGE_S = 600  # a temporary file this old belongs to no publish in flight (one run at a time)


def prune_leftovers(published: Path, older_than_s: float = LEFTOVER_AGE_S) -> int:
    """Delete what a killed publish left behind: its hidden temporary snapshot (`.<id>.duckdb.tmp`, and the
    `.wal` beside it), its temporary pointer (`.current.<id>.json`), and the `.wal` of a deleted snapshot.
    Only files older than `older_than_s`, so a publish in flight keeps its own. Returns how many it deleted."""
    now, n = datetime.now(UTC).timestamp(), 0
    for f in published.iterdir():
        name = f.name
        leftover = name.startswith(".") and (".duckdb.tmp" in name or name.startswith(".current."))
        orphan_wal = name.endswith(".duckdb.wal") and not (published / name.removesuffix(".wal")).exists()
        if f.is_file() and (leftover or orphan_wal) and now - f.stat().st_mtime > older_than_s:
            f.unlink(missing_ok=True)
            n += 1
    return n


def publish(warehouse: Path, published: Path, relations: list[str], keep: int = 3) -> Snapshot:
    """Copy `relations` (schema.table) from the warehouse into a new snapshot and make it current."""
    published.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    snapshot_id = f"{now:%Y%m%dT%H%M%S%f}_{uuid.uuid4().hex[:6]}"  # sorts in publish order, to the microsecond
    final = published / f"{snapshot_id}.duckdb"
    tmp = published / f".{snapshot_id}.duckdb.tmp"
    counts: dict[str, int] = {}
    with timed("publish", snapshot=snapshot_id, relations=len(relations)) as facts:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("attach ? as wh (read_only)", [str(warehouse)])
            for rel in sorted(set(relations)):
                schema, table = rel.split(".")
                con.execute(f'create schema if not exists "{schema}"')
                con.execute(f'create table "{schema}"."{table}" as select * from wh."{schema}"."{table}"')
                counts[rel] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
            con.execute("create schema if not exists meta")
            con.execute(
                "create table meta.snapshot as select ? as snapshot_id, cast(? as timestamp) as published_at, "
                "? as row_counts",
                [snapshot_id, now.replace(tzinfo=None), json.dumps(counts)],
            )
            con.execute("detach wh")
        except Exception:
            con.close()
            tmp.unlink(missing_ok=True)  # a failed publish leaves nothing behind, and current.json as it was
            raise
        con.close()
        os.replace(tmp, final)
        pointer = {"snapshot_id": snapshot_id, "file": final.name, "published_at": now.isoformat()}
        pointer["row_counts"] = counts
        tmp_pointer = published / f".current.{snapshot_id}.json"
        tmp_pointer.write_text(json.dumps(pointer, indent=2))
        os.replace(tmp_pointer, published / "current.json")  # the atomic swap readers see
        older = sorted(f for f in published.glob("*.duckdb") if f != final)  # never the one just made current
        for old in older[: max(len(older) - (keep - 1), 0)]:
            old.unlink(missing_ok=True)
        facts.update(rows=sum(counts.values()), leftovers_pruned=prune_leftovers(published))
    return Snapshot(snapshot_id, final, pointer["published_at"], counts)
