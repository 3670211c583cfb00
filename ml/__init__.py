"""Sentinel's plain-Python layer: generators, ingestion, evaluation, benchmarks (no Dagster imports)."""
