"""The test suite's own machinery (tests/python/conftest.py): the thread pools of its parallel workers, and its
temporary folder in memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.python.conftest import RAM_TMP_ENV, THREAD_POOL_VARIABLES, ram_basetemp, worker_threads


def test_each_worker_gets_its_share_of_the_cores() -> None:
    assert worker_threads(2, 2) == 1  # `make test`: two workers on two cores
    assert worker_threads(2, 8) == 4
    assert worker_threads(4, 2) == 1  # never zero
    assert worker_threads(2, None) == 1  # os.cpu_count() may not know


def test_openmp_and_blas_run_the_threads_the_workers_were_given() -> None:
    """Under xdist the controller sets the variables before the workers start, so scikit-learn's OpenMP pool and
    numpy's BLAS pool are sized by them when they load; a serial run leaves them as they were."""
    import numpy  # noqa: F401  (loads OpenBLAS)
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    from threadpoolctl import threadpool_info

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        assert all(name in os.environ for name in THREAD_POOL_VARIABLES)
    pools = [p for p in threadpool_info() if p["user_api"] in ("openmp", "blas")]
    assert {p["user_api"] for p in pools} == {"openmp", "blas"}
    for pool in pools:
        variable = "OMP_NUM_THREADS" if pool["user_api"] == "openmp" else "OPENBLAS_NUM_THREADS"
        expected = int(os.environ.get(variable) or os.cpu_count() or 1)
        assert pool["num_threads"] == expected, pool


def test_the_temporary_folder_goes_to_memory_only_where_there_is_room(tmp_path: Path) -> None:
    chosen = ram_basetemp(tmp_path, room=0)
    assert chosen is not None and chosen.parent == tmp_path and str(os.getuid()) in chosen.name
    assert ram_basetemp(tmp_path, room=0) == chosen  # one folder per user and checkout, emptied by the next run
    assert ram_basetemp(tmp_path, room=2**60) is None  # no room: pytest's default folder on disk
    assert ram_basetemp(tmp_path / "missing") is None


def test_this_run_keeps_its_states_in_memory_when_it_chose_to(tmp_path: Path) -> None:
    """The folder the run chose (RAM_TMP_ENV, set before the workers start) is where the tests' folders are, the
    workers' included."""
    chosen = os.environ.get(RAM_TMP_ENV)
    if chosen is None:
        pytest.skip("this run keeps its states on disk (no room in /dev/shm, --basetemp, or SENTINEL_TEST_TMP=disk)")
    assert tmp_path.is_relative_to(chosen)
