"""Published snapshots: what readers (the API, BI tools, the report) see, never the live warehouse.

DuckDB allows one writer, and a reader of the live file would see a half-built run. So the pipeline's last
step copies the published relations into a new DuckDB file, `published/<snapshot>.duckdb`, and then swaps
`published/current.json` to point at it with an atomic rename. A reader opens whatever `current.json` names,
read-only; a publish that fails half-way leaves `current.json` on the previous snapshot. The newest `keep`
snapshots stay on disk so a reader that opened an older one can finish.

BI tools get fixed paths instead (`published/bi/current.duckdb`, `published/bi/parquet/`), swapped atomically
too; see `BI` below and `docs/bi.md`.
"""

from __future__ import annotations

import json
import os
import shutil
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
    bi = published / BI
    for f in bi.iterdir() if bi.is_dir() else []:  # the BI paths' temporary links (`.current.*`, `.parquet.*`)
        if f.name.startswith((".current.", ".parquet.")) and now - f.lstat().st_mtime > older_than_s:
            f.unlink(missing_ok=True)
            n += 1
    return n


# Fixed paths for BI tools, which keep a connection string and cannot follow `current.json`: always the newest
# snapshot, swapped atomically. `bi/current.duckdb` is a hard link to the snapshot file (a connection opened
# before a swap keeps reading the snapshot it opened; pruning the snapshot's name leaves the file while the link
# exists), and `bi/parquet` a symbolic link to that snapshot's Parquet export, one file per relation
# (`<schema>.<table>.parquet`).
BI = "bi"


def _export_parquet(snapshot: Path, folder: Path, counts: dict[str, int]) -> Path:
    """Every relation of the snapshot as `<schema>.<table>.parquet` in `folder` (removed again on failure)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with duckdb.connect(str(snapshot), read_only=True) as con:
            for rel in counts:
                schema, table = rel.split(".")
                con.execute(f'copy "{schema}"."{table}" to \'{folder / f"{rel}.parquet"}\' (format parquet)')
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _swap_bi_paths(bi: Path, snapshot: Path, parquet: Path) -> None:
    """Point `bi/current.duckdb` and `bi/parquet` at the new snapshot, each with one atomic rename."""
    link = bi / f".current.{snapshot.stem}.duckdb"
    link.unlink(missing_ok=True)
    try:
        os.link(snapshot, link)
    except OSError:  # a file system without hard links: a copy, still swapped atomically
        shutil.copyfile(snapshot, link)
    os.replace(link, bi / "current.duckdb")
    tmp = bi / f".parquet.{snapshot.stem}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(parquet.name, target_is_directory=True)
    fixed = bi / "parquet"
    if fixed.is_dir() and not fixed.is_symlink():  # a copied state dir (cp -r, copytree) made the link a folder
        shutil.rmtree(fixed)
    os.replace(tmp, fixed)


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
        parquet = _export_parquet(final, published / BI / f"parquet_{snapshot_id}", counts)  # before the swap
        pointer = {"snapshot_id": snapshot_id, "file": final.name, "published_at": now.isoformat()}
        pointer["row_counts"] = counts
        tmp_pointer = published / f".current.{snapshot_id}.json"
        tmp_pointer.write_text(json.dumps(pointer, indent=2))
        os.replace(tmp_pointer, published / "current.json")  # the atomic swap readers see
        _swap_bi_paths(published / BI, final, parquet)
        older = sorted(f for f in published.glob("*.duckdb") if f != final)  # never the one just made current
        for old in older[: max(len(older) - (keep - 1), 0)]:
            old.unlink(missing_ok=True)
        old_parquet = sorted(d for d in (published / BI).glob("parquet_*") if d != parquet)
        for d in old_parquet[: max(len(old_parquet) - (keep - 1), 0)]:
            shutil.rmtree(d, ignore_errors=True)
        facts.update(rows=sum(counts.values()), leftovers_pruned=prune_leftovers(published))
    return Snapshot(snapshot_id, final, pointer["published_at"], counts)
