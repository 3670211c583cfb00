"""The project's settings, read from the environment in one place (`Settings.from_env`), and the layout of the
state directory (`Paths`): one folder, $SENTINEL_HOME, holds all runtime state.

| variable | setting | default |
|---|---|---|
| SENTINEL_HOME | `home`: the state directory | `<project>/.sentinel` |
| SENTINEL_BENCHMARKS | `benchmarks`: the real labelled benchmarks, read in place | `<project>/../shared/benchmarks` |
| SENTINEL_DUCKDB_MEMORY | `duckdb_memory`: DuckDB's memory limit (profiles.yml reads it too) | 6GB |
| SENTINEL_ENGINE | `engine`: the warehouse Dagster's jobs run on, `duckdb` or `spark` (docs/scaling.md) | duckdb |
| SENTINEL_SPARK_MEMORY | `spark_memory`: the local Spark session's driver memory (`ml/spark.py`) | 6g |
| SENTINEL_DAGSTER_URL | `dagster_url`: the Dagster UI, for links in alerts and reports | http://127.0.0.1:3000 |
| SENTINEL_ALERT_WEBHOOK_URL | `alert_webhook_url`: a Slack-compatible webhook for alerts | none: alerts go to a file |
| SENTINEL_ALERT_FILE | `alert_file`: the JSON-lines alert file | `<home>/alerts/alerts.jsonl` |
| SENTINEL_VERBOSE | `verbose`: dbt's and Dagster's own output on the terminal | off |
| SENTINEL_CODE_VERSION | `code_version`: stamped on the run and test history | the git commit |

No other Python module reads these variables (dbt's profiles.yml reads SENTINEL_HOME and
SENTINEL_DUCKDB_MEMORY): code that needs one calls `Settings.from_env()` (or `paths()`, its
`Paths`). Functions that work on a state take a `Paths` or a home, so a test passes one instead of setting
variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

DEFAULT_SEED = 42  # the generators' and the models' seed
DEFAULT_N_BOOT = 200  # bootstrap resamples behind every interval of the spam gate
DEFAULT_DUCKDB_MEMORY = "6GB"  # profiles.yml's default is the same: env_var('SENTINEL_DUCKDB_MEMORY', '6GB')
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"  # `make ui`
DEFAULT_SPARK_MEMORY = "6g"  # the same budget as DuckDB's, in Spark's notation


@dataclass(frozen=True)
class Paths:
    home: Path

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def landing_api_logs(self) -> Path:
        return self.home / "landing" / "api_logs"

    @property
    def landing_calls(self) -> Path:
        return self.home / "landing" / "calls"

    @property
    def landing_call_labels(self) -> Path:
        return self.home / "landing" / "call_labels"

    @property
    def mlflow(self) -> Path:
        return self.home / "mlflow"

    @property
    def ground_truth(self) -> Path:
        return self.home / "ground_truth"

    @property
    def published(self) -> Path:
        return self.home / "published"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def dashboard(self) -> Path:
        """The static BI dashboard (`make dashboard`), rebuilt from the published snapshot."""
        return self.home / "dashboard"

    @property
    def dagster(self) -> Path:
        return self.home / "dagster"

    @property
    def dbt_target(self) -> Path:
        """dbt's artifacts for this state: manifest, partial-parse file, run results, compiled SQL."""
        return self.home / "dbt" / "target"

    @property
    def dbt_logs(self) -> Path:
        return self.home / "dbt" / "logs"

    def ensure(self) -> Paths:
        for d in (
            self.home,
            self.landing_api_logs,
            self.landing_calls,
            self.landing_call_labels,
            self.mlflow,
            self.ground_truth,
            self.published,
            self.reports,
        ):
            d.mkdir(parents=True, exist_ok=True)
        return self


ENGINES = ("duckdb", "spark")


def engine(value: str | None) -> str:
    """SENTINEL_ENGINE, checked: one of ENGINES (unset or empty: duckdb)."""
    name = (value or "duckdb").strip().lower()
    if name not in ENGINES:
        raise ValueError(f"SENTINEL_ENGINE={value!r}: the engine is one of {', '.join(ENGINES)}")
    return name


@dataclass(frozen=True)
class Settings:
    """Every SENTINEL_* setting (the table in this module's docstring)."""

    home: Path
    benchmarks: Path
    duckdb_memory: str = DEFAULT_DUCKDB_MEMORY
    spark_memory: str = DEFAULT_SPARK_MEMORY
    dagster_url: str = DEFAULT_DAGSTER_URL
    engine: str = "duckdb"
    alert_webhook_url: str | None = None
    alert_file: Path | None = None
    verbose: bool = False
    code_version: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        # absolute and normalised, but a link is kept as given: dbt reuses its saved parse only for the profile it
        # was made with, which holds this path (a state reached through a stable link keeps its parse valid)
        home = Path(os.path.abspath(env.get("SENTINEL_HOME") or PROJECT_DIR / ".sentinel"))
        return cls(
            home=home,
            benchmarks=Path(env.get("SENTINEL_BENCHMARKS") or PROJECT_DIR.parent / "shared" / "benchmarks").resolve(),
            duckdb_memory=env.get("SENTINEL_DUCKDB_MEMORY") or DEFAULT_DUCKDB_MEMORY,
            spark_memory=env.get("SENTINEL_SPARK_MEMORY") or DEFAULT_SPARK_MEMORY,
            dagster_url=(env.get("SENTINEL_DAGSTER_URL") or DEFAULT_DAGSTER_URL).rstrip("/"),
            engine=engine(env.get("SENTINEL_ENGINE")),
            alert_webhook_url=env.get("SENTINEL_ALERT_WEBHOOK_URL") or None,
            alert_file=Path(env["SENTINEL_ALERT_FILE"]) if env.get("SENTINEL_ALERT_FILE") else None,
            verbose=env.get("SENTINEL_VERBOSE", "") not in ("", "0"),
            code_version=env.get("SENTINEL_CODE_VERSION") or None,
        )

    @property
    def paths(self) -> Paths:
        return Paths(self.home)

    @property
    def alerts_file(self) -> Path:
        """Where alerts go when no webhook is set."""
        return self.alert_file or self.home / "alerts" / "alerts.jsonl"


def paths() -> Paths:
    """Paths under $SENTINEL_HOME (default: <project>/.sentinel): `Settings.from_env().paths`."""
    return Settings.from_env().paths


def use_state_dbt_dirs(p: Paths | None = None) -> Paths:
    """Point dbt's target and log folders at the state directory, for this process and its children.

    dbt reuses its parse (`partial_parse.msgpack`) only when the profile is unchanged, and the profile holds the
    warehouse path: two state directories sharing the project's `target/` re-parse the whole project on every
    switch, and two runs at once would write the same manifest. One target folder per state keeps each parse
    reusable and each run's artifacts its own. Exported as DBT_TARGET_PATH / DBT_LOG_PATH, which dbt in process,
    the dbt CLI and dagster-dbt's invocations all read; the entry points (`python -m ml`, `python -m
    orchestration`, the Dagster code location) call it once."""
    p = p or paths()
    os.environ["DBT_TARGET_PATH"] = str(p.dbt_target)
    os.environ["DBT_LOG_PATH"] = str(p.dbt_logs)
    return p


def benchmarks_dir() -> Path:
    """Real labelled benchmarks, read in place (never copied): $SENTINEL_BENCHMARKS or ../shared/benchmarks."""
    return Settings.from_env().benchmarks
