"""Data observability that reads what dbt's run-history hook and the monitor marts store: alerts (alerts.py)
and the data-health report (health.py). See docs/observability.md."""
