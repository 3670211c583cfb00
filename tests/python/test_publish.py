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
    assert not list((tmp_path / "published").glob(".*"))  # no temporary file left behind


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
    assert sorted(f.name for f in (tmp_path / "published").iterdir()) == sorted(["current.json", first.path.name])


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
    snap = publish(wh, pub, ["marts.t"])
    left = sorted(f.name for f in pub.iterdir())
    assert left == sorted([fresh, snap.path.name, "current.json"])
