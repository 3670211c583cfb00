"""`make bench` builds the contracted detection mart with every method and times the model, not a hook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from ml.anomaly.bench import model_seconds
from ml.settings import PROJECT_DIR


def test_model_seconds_skips_the_hooks() -> None:
    hook = SimpleNamespace(node=SimpleNamespace(resource_type="operation", name="on-run-start"), execution_time=0.16)
    model = SimpleNamespace(
        node=SimpleNamespace(resource_type="model", name="fct_api_request_anomalies"), execution_time=76.0
    )
    assert model_seconds([hook, model], "fct_api_request_anomalies") == 76.0
    with pytest.raises(ValueError):
        model_seconds([hook], "fct_api_request_anomalies")


@pytest.mark.parametrize("method", ["iqr", "zscore", "robust_seasonal"])
def test_every_method_builds_the_contracted_mart_on_the_bench_table(tmp_path: Path, method: str) -> None:
    code = (
        "import json; from pathlib import Path; from ml.anomaly.bench import worker; "
        f"p = Path({str(tmp_path)!r}); worker('prepare', p, 30, 60, {method!r}); "
        f"print(json.dumps(worker('duckdb', p, 30, 60, {method!r})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["seconds"] > 0
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        rows, detector = con.execute("select count(*), min(detector) from marts.fct_api_request_anomalies").fetchone()
    assert rows == 30 * 60 and detector == method
