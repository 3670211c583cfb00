"""Shared fixtures: a generated reference extract and a fully built warehouse in a temporary state dir."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ml.settings import PROJECT_DIR

# This pytest process's own state directory (the in-process Dagster definitions and their dbt artifacts): no test
# touches the developer's .sentinel. Set before any test module imports `orchestration`, whose dbt project reads it.
os.environ["SENTINEL_HOME"] = _PROCESS_HOME = tempfile.mkdtemp(prefix="sentinel-pytest-")

CHROMIUM = "/usr/bin/chromium"  # Debian's package (`make pytest` installs it); the flags keep it off the network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_page(url: str, width: int = 1400, height: int = 1000) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page of headless Chromium on `url`: (page, page and console errors, URLs requested)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make pytest` installs Debian's chromium package"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        try:
            yield page, errors, requests
        finally:
            browser.close()


def screenshot_stats(png: Path) -> tuple[float, int]:
    """(share of pixels that are not near-white, distinct colours) of a screenshot. A blank page is (0, 1); a
    page with only its header bar is about (0.07, 40); the reports' first screen, with a plot, is above
    (0.12, 1,500): plots bring fills and anti-aliased lines in many colours."""
    import matplotlib.image
    import numpy as np

    rgb = matplotlib.image.imread(png)[..., :3]
    packed = (rgb * 255).astype(np.int64) @ np.array([65536, 256, 1])
    return float((rgb.min(axis=-1) < 0.9).mean()), int(np.unique(packed).size)


# Scenario states (every state but the reference run's `built_home`) leave out what the reference run covers and
# no scenario asserts: the real benchmarks (about 7 s to load, more to evaluate) and dbt's unit tests (SQL logic on
# fixed inputs, the same result in every state; about 3 s a build). `reference=True` keeps both.
SCENARIO_ENV = {
    "SENTINEL_BENCHMARKS": str(Path(os.environ["SENTINEL_HOME"]) / "no-benchmarks"),  # missing: tables left empty
    "DBT_EXCLUDE_RESOURCE_TYPES": "unit_test",
}


def ml_env(home: Path, env: dict[str, str] | None = None, reference: bool = False) -> dict[str, str]:
    """The environment of a CLI run on <home>: a scenario state's unless `reference`."""
    return {**os.environ, **({} if reference else SCENARIO_ENV), "SENTINEL_HOME": str(home), **(env or {})}


def ml_main(
    home: Path, *args: str, env: dict[str, str] | None = None, reference: bool = False
) -> subprocess.CompletedProcess:
    """`python -m ml <args>` on <home>, run in this process: the CLI's own `main`, in the environment and folder
    the command would have, its output and exit status captured as a process's; the environment is put back.

    A new interpreter for each command cost about 4 s of CPU before the command did anything: importing dbt, and
    the first dbt invocation of a process (about 1.5 s for a one-model build in a warm process, 5.5 to 7 s in a
    new one). `run_dbt` releases the warehouse when dbt returns, so the tests' own connections and processes can
    open it next. The CLI as a process is tested too: `test_run_history`'s failing build, `python -m ml
    dashboard` and `detect`."""
    from ml.__main__ import main

    out, err, saved = io.StringIO(), io.StringIO(), dict(os.environ)
    os.environ.clear()
    os.environ.update(ml_env(home, env, reference))
    try:
        with contextlib.chdir(PROJECT_DIR), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:  # what `python -m ml` exits with: a message is printed to stderr, status 1
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess([sys.executable, "-m", "ml", *args], code, out.getvalue(), err.getvalue())


def run_ml(
    home: Path, *args: str, env: dict[str, str] | None = None, reference: bool = False
) -> subprocess.CompletedProcess:
    """`ml_main`, which must succeed."""
    proc = ml_main(home, *args, env=env, reference=reference)
    assert proc.returncode == 0, f"python -m ml {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def run_pipeline(
    home: Path, *args: str, env: dict[str, str] | None = None, reference: bool = False
) -> subprocess.CompletedProcess:
    """`make run`'s command: the whole pipeline through Dagster, in process, Dagster home in <home>/dagster."""
    env = ml_env(home, env, reference)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration", "run", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, (
        f"orchestration run {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    return proc


def point_link(link: Path, state: Path) -> Path:
    """Point <link> at the folder <state> (atomically: a new link renamed over the old one) and return the link."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(state, target_is_directory=True)
    tmp.replace(link)
    return link


# The fixtures that build a state (generate, ingest, dbt, the pipeline): a test that needs one is `slow`, left
# out of `make test-fast` (the edit loop) and run by `make test`. Tests that build their own state are marked
# with `@pytest.mark.slow` (or a module's `pytestmark`).
STATE_FIXTURES = {"built_home", "small_home", "two_series", "drift_home"}


def _shared_state(item: pytest.Item) -> str | None:
    """The state a test shares with others, if any: "reference" for every test that reads the reference run
    (`built_home`, directly or through a fixture), "small" for the small run's (`small_home`: spread over both
    workers, the second one sat idle while the first built it), else its module when it uses one of its module's
    module-scoped fixtures (a state built once for the module's tests)."""
    names = set(getattr(item, "fixturenames", ()))
    if "built_home" in names:
        return "reference"
    if "small_home" in names:
        return "small"
    module = getattr(getattr(item, "module", None), "__name__", None)
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        fixture = defs[-1]
        if fixture.scope == "module" and getattr(fixture.func, "__module__", None) == module:
            return module
    return None


# pytest-xdist: `make pytest` runs two workers. A session or module fixture is built once per worker, and
# several tests change the state they share (a retraining in the reference warehouse, a second run of the small
# one), so the tests of one shared state run on one worker, in collection order, as in a serial run; every other
# test is scheduled on its own. xdist's `--dist loadgroup` would do it from `xdist_group` marks, but its
# mechanism (a suffix on the node id) no longer works with pytest 9, whose node ids are read-only: the workers
# write each test's shared state to a file instead, and the scheduler below reads it.
_GROUPS_ENV = "SENTINEL_TEST_GROUPS"


# The thread pools of OpenMP (scikit-learn's HistGradientBoosting) and OpenBLAS (numpy) take every core, and their
# idle threads spin while they wait. With two workers on two cores, each fit's threads spun against the other
# worker's: a 3,800-row fit took 0.68 to 0.82 s of CPU beside a busy core, 0.16 to 0.17 s with one thread, and
# the suite 11 % more CPU. Each worker (and every process it starts) gets its share of the cores; a variable
# already set is kept.
THREAD_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker_threads(workers: int, cores: int | None) -> int:
    """The OpenMP and BLAS threads of one of `workers` test processes sharing `cores`."""
    return max(1, (cores or 1) // max(1, workers))


# The suite's states (DuckDB files, Dagster's and MLflow's SQLite stores) live in pytest's temporary folder, and
# their writers sync to disk at every commit: Dagster's event log commits each event on its own, about 800 in a
# pipeline run (200 events: 2.6 to 2.7 s of CPU and 3.2 to 3.8 s of wall time on this machine's disk, 1.4 to
# 1.6 s in memory). A test needs no durability, so where /dev/shm (memory) has room for the suite (about 4.2 GB),
# the temporary folder is there: one folder per user and checkout, emptied when a run starts and removed after a
# run that passed (kept after a failure, for a look). `--basetemp`, or SENTINEL_TEST_TMP=disk, keeps pytest's
# default.
RAM_TMP_ROOT = Path("/dev/shm")
RAM_TMP_ROOM = 12 * 2**30  # the suite's 4.2 GB, and memory to spare for its processes
RAM_TMP_ENV = "SENTINEL_TEST_RAM_TMP"  # the folder chosen, for the workers (and the test that checks it)


def ram_basetemp(root: Path = RAM_TMP_ROOT, room: int = RAM_TMP_ROOM) -> Path | None:
    """This user's and checkout's temporary folder under `root` (memory), or None without `room` bytes free."""
    try:
        if shutil.disk_usage(root).free < room:
            return None
    except OSError:  # no such file system
        return None
    checkout = hashlib.sha256(str(PROJECT_DIR).encode()).hexdigest()[:8]
    return root / f"sentinel-pytest-{os.getuid()}-{checkout}"


@pytest.hookimpl(tryfirst=True)  # before pytest's own tmp_path factory reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    wanted = config.option.basetemp is None and os.environ.get("SENTINEL_TEST_TMP") != "disk"
    if wanted and (ram := ram_basetemp()) is not None:
        config.option.basetemp = str(ram)  # xdist gives each worker a folder inside it
        os.environ[RAM_TMP_ENV] = str(ram)
    # the controller of an xdist run (the workers inherit the variables); a serial run needs no groups
    if config.getoption("dist", "no") == "loadgroup":
        os.environ[_GROUPS_ENV] = str(Path(tempfile.mkdtemp(prefix="sentinel-groups-")) / "groups.json")
    workers = config.getoption("numprocesses", None)
    if isinstance(workers, int) and workers > 1:
        for name in THREAD_POOL_VARIABLES:
            os.environ.setdefault(name, str(worker_threads(workers, os.cpu_count())))


@pytest.hookimpl(trylast=True)  # after xdist has stopped its workers
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that passed leaves no folder in memory (see RAM_TMP_ROOT)."""
    if not os.environ.get("PYTEST_XDIST_WORKER") and exitstatus == 0 and (ram := os.environ.get(RAM_TMP_ENV)):
        shutil.rmtree(ram, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """This process's temporary folders go with it (pytest's own tmp_path folders on disk are kept, the last three
    runs)."""
    shutil.rmtree(_PROCESS_HOME, ignore_errors=True)
    if not os.environ.get("PYTEST_XDIST_WORKER") and (groups := os.environ.get(_GROUPS_ENV)):
        shutil.rmtree(Path(groups).parent, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that build a state `slow`; under xdist, record each test's shared state."""
    groups = {}
    for item in items:
        if STATE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if (group := _shared_state(item)) is not None:
            groups[item.nodeid] = group
    if (worker := os.environ.get("PYTEST_XDIST_WORKER")) and (path := os.environ.get(_GROUPS_ENV)):
        tmp = Path(f"{path}.{worker}")  # every worker collects the same tests: the last rename wins, whole
        tmp.write_text(json.dumps(groups))
        tmp.replace(path)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`: xdist's load-scope scheduling, a test's scope being its shared state (or itself).
    The scopes with the most tests are handed out first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedStateScheduling(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # called once the workers finished collecting, so the file is complete
                self.groups = json.loads(Path(os.environ[_GROUPS_ENV]).read_text())
            return self.groups.get(nodeid, nodeid)

    return SharedStateScheduling(config, log)


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A state built once per test session, however many xdist workers need it: the first worker that asks builds
    it, under a file lock in the session's shared temp folder, and the others wait for it; a failed build fails
    the other workers' tests at once, with its error. Readers share it; a test that changes a state copies it."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: <session>/popen-gwN
    home, failed = root / name, root / f"{name}.failed"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if failed.exists():
            pytest.fail(f"building the {name} state failed in another worker:\n{failed.read_text()[-3000:]}")
        if not (home / ".built").exists():
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            try:
                build(home)
            except BaseException as exc:
                failed.write_text(f"{type(exc).__name__}: {exc}")
                raise
            (home / ".built").touch()
    return home


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make run` end to end through Dagster (generate, ingest, dbt, spam lifecycle, evaluation, publish,
    report) on the reference extract in a fresh state dir."""
    home = tmp_path_factory.mktemp("sentinel_home")
    proc = run_pipeline(home, reference=True)
    (home / "run_stdout.txt").write_text(proc.stdout)
    return home


@pytest.fixture(scope="session")
def manifest(built_home: Path) -> dict:
    """The manifest `make run` parsed into the reference state's dbt target folder."""
    import json

    from ml.settings import Paths

    return json.loads((Paths(built_home).dbt_target / "manifest.json").read_text())


@pytest.fixture()
def warehouse(built_home: Path):
    con = duckdb.connect(str(built_home / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()
