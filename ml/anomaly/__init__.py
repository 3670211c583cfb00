"""KPI anomaly detection: evaluation against ground truth and real benchmarks, and benchmarks of speed."""
