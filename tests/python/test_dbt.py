"""One way to run dbt (`ml/dbt.py`): the argument builder is pure, the runner raises dbt's own message."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from ml.dbt import DbtError, dbt_args, run_dbt
from ml.settings import PROJECT_DIR

PROJECT = ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]


def test_a_build_with_selection_vars_and_full_refresh() -> None:
    args = dbt_args(
        "build", select=["+fct_spam_features", "tag:monitoring"], exclude=["tag:evaluation"],
        dbt_vars={"spam_test_weeks": 1, "anomaly_method": "iqr"}, full_refresh=True,
    )  # fmt: skip
    assert args == [
        "build",
        "--select",
        "+fct_spam_features",
        "tag:monitoring",
        "--exclude",
        "tag:evaluation",
        "--vars",
        '{"anomaly_method": "iqr", "spam_test_weeks": 1}',  # sorted: the same vars give the same command line
        "--full-refresh",
        *PROJECT,
    ]


def test_extra_arguments_target_paths_and_a_vars_string_pass_through() -> None:
    args = dbt_args(
        "compile", "--inline", "select 1", dbt_vars="{anomaly_method: iqr}", target="detect",
        target_path=Path("/tmp/t"), log_path=Path("/tmp/t/logs"), quiet=True,
    )  # fmt: skip
    assert args == [
        "compile",
        "--inline",
        "select 1",
        "--vars",
        "{anomaly_method: iqr}",
        "--target",
        "detect",
        "--target-path",
        "/tmp/t",
        "--log-path",
        "/tmp/t/logs",
        "--quiet",
        *PROJECT,
    ]
    assert dbt_args("parse") == ["parse", *PROJECT]  # nothing optional is added unless asked
    assert dbt_args("build", write_json=False) == ["build", "--no-write-json", *PROJECT]


def test_a_failing_command_raises_dbt_s_own_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):  # run_dbt points them at the state; restored afterwards
        monkeypatch.setenv(name, str(tmp_path / name))
    with pytest.raises(DbtError, match=r"dbt parse --no-such-flag failed: .*no-such-flag"):
        run_dbt(dbt_args("parse", "--no-such-flag"))


def test_another_process_can_open_the_warehouse_once_dbt_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt-duckdb keeps its DuckDB database open in the process after an invocation; `run_dbt` releases it, or a
    Dagster step, a second CLI or a test's own process got "Could not set lock on file" until this one exited."""
    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):
        monkeypatch.setenv(name, str(tmp_path / name))
    run_dbt(dbt_args("debug", quiet=True))  # opens the warehouse (a new file here) to test the connection
    write = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('create table t as select 1 as x')"
    warehouse = str(tmp_path / "warehouse.duckdb")
    proc = subprocess.run([sys.executable, "-c", write, warehouse], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-500:]


def test_the_warehouse_is_closed_even_while_dbt_s_environment_is_still_referenced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dbt connection left open, and so dbt-duckdb's environment, can outlive an in-process invocation in a
    reference cycle until the garbage collector runs. The suite once failed that way: a test's read-only open of a
    warehouse its fixture had just built in process raised "Can't open a connection to same database file with a
    different configuration". `run_dbt` closes the database itself instead of waiting for Python to free it."""
    from dbt.adapters.duckdb.environments.local import LocalEnvironment

    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):
        monkeypatch.setenv(name, str(tmp_path / name))
    kept = []  # what the cycle would hold: the environment, with a handle dbt never gave back
    handle = LocalEnvironment.handle

    def leaking_handle(self):
        kept.append(self)
        self.handle_count += 1  # one more than dbt returns: the environment never closes itself
        return handle(self)

    monkeypatch.setattr(LocalEnvironment, "handle", leaking_handle)
    run_dbt(dbt_args("debug", quiet=True))
    assert kept  # dbt did open the warehouse through the environment
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select 1").fetchall() == [(1,)]


@pytest.mark.slow  # five dbt compiles of a copy of the project (about 20 s)
def test_a_new_version_of_the_detector_code_changes_the_fingerprint(tmp_path: Path) -> None:
    """The fingerprint on every row of the detection mart covers the SQL the detector renders, in both forms the mart
    runs, and the mart's own SQL around it: an upgrade that computes otherwise judges the days again with no
    --full-refresh (before, it covered the settings alone, then the detector's SQL but not the mart's final select,
    and the mart kept the old version's verdicts). Measured on a copy of the project, with one line of each form's
    SQL changed, then one of the mart's own, read from the compiled mart."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    for name in ("macros", "models", "seeds", "analyses"):
        shutil.copytree(PROJECT_DIR / name, project / name)
    shutil.copytree(PROJECT_DIR / "tests", project / "tests", ignore=shutil.ignore_patterns("python", "spark", "__*"))
    home = tmp_path / "home"
    home.mkdir()
    mart = "fct_api_request_anomalies"

    def fingerprint() -> str:
        subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "compile", "--select", mart,
             "--quiet", "--project-dir", str(project), "--profiles-dir", str(project),
             "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
            env={**os.environ, "SENTINEL_HOME": str(home)}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        compiled = next((tmp_path / "target" / "compiled").rglob(f"{mart}.sql")).read_text()
        found = re.findall(r"'([0-9a-f]{32})' as detector_settings", compiled)
        assert len(found) == 1, "the compiled mart stores one fingerprint"
        return found[0]

    def change(path: Path, old: str, new: str) -> None:
        text = path.read_text()
        assert text.count(old) == 1
        path.write_text(text.replace(old, new))

    macros = project / "macros" / "anomaly"
    first = fingerprint()
    assert first == fingerprint()  # the same code and settings, the same fingerprint
    change(macros / "anomaly_finalize.sql", "    bounded as (", "    bounded as (  -- a new version")  # both forms
    second = fingerprint()
    change(macros / "anomaly_stored.sql", "when is_stored then", "when is_stored = true then")  # the daily run's form
    third = fingerprint()
    change(next((project / "models").rglob(f"{mart}.sql")), "        detected.explanation,",
           "        coalesce(detected.explanation, '') as explanation,")  # fmt: skip
    assert len({first, second, third, fingerprint()}) == 4


def test_the_detector_settings_fingerprint_covers_every_setting_the_detector_reads() -> None:
    """The detection mart's daily run judges again the days judged under other settings, found by the fingerprint of
    `anomaly_settings` (macros/anomaly/anomaly_settings.sql): a setting the detector reads that is not in it would
    leave stale verdicts after a change. Every key read through `anomaly_option` is in it, and every anomaly_* var
    is in it or read outside the detector, where the mart's input checksum (the holiday flag) or a table rebuilt on
    every run (the detection period, the incident explanations) covers its change."""
    settings_sql = (PROJECT_DIR / "macros" / "anomaly" / "anomaly_settings.sql").read_text()
    settings = set(re.findall(r"'(\w+)': anomaly_option\(options, '\1'\)", settings_sql))
    read = set()
    for path in [*PROJECT_DIR.glob("macros/**/*.sql"), *PROJECT_DIR.glob("models/**/*.sql")]:
        read |= set(re.findall(r"anomaly_option\(options, '(\w+)'\)", path.read_text()))
    assert read and read <= settings, f"read through anomaly_option but not fingerprinted: {read - settings}"
    project_vars = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    anomaly_vars = {name.removeprefix("anomaly_") for name in project_vars if name.startswith("anomaly_")}
    outside = {"detection_days", "detection_end", "holiday_share", "explain_share", "explain_breadth"}
    assert anomaly_vars - outside == settings
