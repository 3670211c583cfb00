"""One state directory, chosen by one environment variable (SENTINEL_HOME), holds all runtime state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


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


def paths() -> Paths:
    """Paths under $SENTINEL_HOME (default: <project>/.sentinel)."""
    return Paths(Path(os.environ.get("SENTINEL_HOME", PROJECT_DIR / ".sentinel")).resolve())


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
    return Path(os.environ.get("SENTINEL_BENCHMARKS", PROJECT_DIR.parent / "shared" / "benchmarks")).resolve()
