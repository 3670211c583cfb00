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
