"""Published snapshots: readers always find the snapshot `current.json` names."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ml.publish import current, publish


def test_publishing_several_times_a_second_keeps_the_current_snapshot(tmp_path: Path) -> None:
    """Regression: snapshot ids had a one-second timestamp and a random suffix, so pruning by name could delete
    the snapshot just made current when two publishes fell in the same second."""
    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.t as select 1 as x")
    for i in range(8):
        with duckdb.connect(str(wh)) as con:
            con.execute("update marts.t set x = ?", [i])
        snap = publish(wh, tmp_path / "published", ["marts.t"], keep=3)
        now = current(tmp_path / "published")
        assert now.snapshot_id == snap.snapshot_id
        with duckdb.connect(str(now.path), read_only=True) as con:
            assert con.execute("select x from marts.t").fetchall() == [(i,)]
    assert len(list((tmp_path / "published").glob("*.duckdb"))) == 3
    assert len(list((tmp_path / "published" / "bi").glob("parquet_*"))) == 3  # pruned like the snapshots
    for folder in (tmp_path / "published", tmp_path / "published" / "bi"):
        assert not list(folder.glob(".*"))  # no temporary file left behind


def test_a_failed_publish_leaves_the_previous_snapshot_current(tmp_path: Path) -> None:
    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.t as select 1 as x")
    first = publish(wh, tmp_path / "published", ["marts.t"])
    try:
        publish(wh, tmp_path / "published", ["marts.t", "marts.missing"])
    except duckdb.CatalogException:
        pass
    else:
        raise AssertionError("publishing a missing relation must fail")
    assert current(tmp_path / "published").snapshot_id == first.snapshot_id
    assert sorted(f.name for f in (tmp_path / "published").iterdir()) == sorted(["current.json", "bi", first.path.name])
    bi = tmp_path / "published" / "bi"  # the BI paths still show the first snapshot, and nothing else is left
    assert sorted(f.name for f in bi.iterdir()) == sorted(["current.duckdb", "parquet", f"parquet_{first.snapshot_id}"])


def test_what_a_killed_publish_left_behind_is_pruned_but_not_a_publish_in_flight(tmp_path: Path) -> None:
    """A publish killed with -9 leaves its hidden temporary snapshot, its .wal and a temporary pointer; they were
    never removed. The next publish prunes those older than ten minutes, and nothing a running publish owns."""
    import os
    import time

    wh, pub = tmp_path / "wh.duckdb", tmp_path / "published"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.t as select 1 as x")
    pub.mkdir()
    old = [".20240101T000000000000_aaaaaa.duckdb.tmp", ".20240101T000000000000_aaaaaa.duckdb.tmp.wal",
           ".current.20240101T000000000000_aaaaaa.json", "20230101T000000000000_bbbbbb.duckdb.wal"]  # fmt: skip
    fresh = ".20990101T000000000000_cccccc.duckdb.tmp"  # a publish in flight
    hour_ago = time.time() - 3600
    for name in [*old, fresh]:
        (pub / name).write_bytes(b"x")
        if name != fresh:
            os.utime(pub / name, (hour_ago, hour_ago))
    (pub / "bi").mkdir()
    (pub / "bi" / ".current.20240101T000000000000_aaaaaa.duckdb").write_bytes(b"x")  # a BI swap killed half-way
    os.utime(pub / "bi" / ".current.20240101T000000000000_aaaaaa.duckdb", (hour_ago, hour_ago))
    snap = publish(wh, pub, ["marts.t"])
    assert not list((pub / "bi").glob(".*"))
    left = sorted(f.name for f in pub.iterdir())
    assert left == sorted([fresh, snap.path.name, "current.json", "bi"])


def test_bi_tools_read_the_newest_snapshot_at_fixed_paths_and_an_open_one_is_never_torn(tmp_path: Path) -> None:
    """The snapshot's name changes on every publish (behind current.json), so a BI tool could not keep a
    connection. `bi/current.duckdb` and `bi/parquet/<schema>.<table>.parquet` are fixed paths to the newest
    snapshot; a connection opened before a publish goes on reading what it opened."""
    wh, pub = tmp_path / "wh.duckdb", tmp_path / "published"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.t as select range as x from range(1000)")
    first = publish(wh, pub, ["marts.t"])
    reader = duckdb.connect(str(pub / "bi" / "current.duckdb"), read_only=True)  # a dashboard's connection
    with duckdb.connect(str(wh)) as con:
        con.execute("delete from marts.t where x >= 10")
    second = publish(wh, pub, ["marts.t"])
    assert reader.execute("select count(*), max(snapshot_id) from marts.t, meta.snapshot").fetchall() == [
        (1000, first.snapshot_id)
    ]
    reader.close()
    with duckdb.connect(str(pub / "bi" / "current.duckdb"), read_only=True) as con:
        assert con.execute("select snapshot_id from meta.snapshot").fetchall() == [(second.snapshot_id,)]
        assert con.execute("select count(*) from marts.t").fetchall() == [(10,)]
    parquet = pub / "bi" / "parquet" / "marts.t.parquet"
    assert duckdb.sql(f"select count(*) from '{parquet}'").fetchall() == [(10,)]
    assert (pub / "bi" / "parquet").resolve().name == f"parquet_{second.snapshot_id}"


def test_a_copied_state_publishes_again(tmp_path: Path) -> None:
    """Copying a state directory (cp -r, shutil.copytree) turns the `bi/parquet` link into a folder, and the next
    publish in the copy failed: a link cannot replace a folder."""
    import shutil

    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.t as select 1 as x")
    publish(wh, tmp_path / "published", ["marts.t"])
    shutil.copytree(tmp_path / "published", tmp_path / "copy")
    assert not (tmp_path / "copy" / "bi" / "parquet").is_symlink()
    snap = publish(wh, tmp_path / "copy", ["marts.t"])
    assert (tmp_path / "copy" / "bi" / "parquet").resolve().name == f"parquet_{snap.snapshot_id}"
