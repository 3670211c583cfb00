"""The dbt project as Dagster sees it. `dagster dev` re-parses it on start (`prepare_if_dev`); every other
entry point (`python -m orchestration`, the tests) calls `prepare()` before loading the definitions."""

from __future__ import annotations

import os

from dagster_dbt import DbtProject

from ml.settings import PROJECT_DIR, Settings, use_state_dbt_dirs

# The state directory, resolved once for the code location: exported so that dbt (profiles.yml), the dbt
# subprocesses and the resources' EnvVar("SENTINEL_HOME") all see the same absolute path, default or not.
settings = Settings.from_env()
os.environ["SENTINEL_HOME"] = str(settings.home)

# dbt's artifacts live in the state directory ($SENTINEL_HOME/dbt/target), one parse per state
sentinel_project = DbtProject(
    project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR, target_path=use_state_dbt_dirs(settings.paths).dbt_target
)
sentinel_project.prepare_if_dev()
