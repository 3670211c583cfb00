"""The dbt project as Dagster sees it. `dagster dev` re-parses it on start (`prepare_if_dev`); every other
entry point (`python -m orchestration`, the tests) calls `prepare()` before loading the definitions."""

from __future__ import annotations

from dagster_dbt import DbtProject

from ml.settings import PROJECT_DIR, use_state_dbt_dirs

# dbt's artifacts live in the state directory ($SENTINEL_HOME/dbt/target), one parse per state
sentinel_project = DbtProject(
    project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR, target_path=use_state_dbt_dirs().dbt_target
)
sentinel_project.prepare_if_dev()
