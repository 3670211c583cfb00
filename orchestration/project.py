"""The dbt project as Dagster sees it. `dagster dev` re-parses it on start (`prepare_if_dev`); every other
entry point (`python -m orchestration`, the tests) calls `prepare()` before loading the definitions."""

from __future__ import annotations

from dagster_dbt import DbtProject

from ml.settings import PROJECT_DIR

sentinel_project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR)
sentinel_project.prepare_if_dev()
