"""The Dagster code location: assets wrapping `ml/` and the dbt project, checks, schedules, sensors.

One module per concern: `project` (the dbt project), `resources`, `assets/` (ingestion, dbt, spam model,
publish and report), `jobs`, `schedules`, `sensors`, and `definitions` (the one `Definitions`).
`python -m orchestration run` is what `make run` calls; `make ui` opens the same definitions in `dagster dev`.
"""
