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
    def dagster(self) -> Path:
        return self.home / "dagster"

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


def benchmarks_dir() -> Path:
    """Real labelled benchmarks, read in place (never copied): $SENTINEL_BENCHMARKS or ../shared/benchmarks."""
    return Path(os.environ.get("SENTINEL_BENCHMARKS", PROJECT_DIR.parent / "shared" / "benchmarks")).resolve()
