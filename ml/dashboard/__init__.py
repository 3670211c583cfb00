"""The BI dashboard as code: SQL in `queries/`, Vega-Lite charts (Altair) in `charts.py`, one Jinja template,
built into static HTML pages over the current published snapshot (`make dashboard`; docs/bi.md)."""
