"""`make bench-api`: load test of the API from a second process on loopback, while the pipeline republishes.

1. Two warehouses: the built one (A) and a copy that lost its total-level anomaly rows (B), so every response
   can be told apart: a response mixing two publishes is a torn read.
2. The API runs in its own process (uvicorn, one worker) on the published folder of a scratch home.
3. A publisher thread republishes A, B, A, ... in a loop (`ml.publish.publish`, the pipeline's own step).
4. Client threads (this process) send a bounded number of requests, bounded in time: GET /anomalies (a page of
   the total level, a page of flagged days) and POST /spam/score (a batch of the latest week's features).
5. It prints requests per second and p50/p95 latency per endpoint, errors and torn reads, as JSON lines.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from ml.logs import log_event
from ml.publish import publish
from ml.settings import PROJECT_DIR, paths

RELATIONS = [
    "marts.fct_api_request_anomalies",
    "marts.fct_spam_scores_latest",
    "ml.spam_model_aliases",
    "ml.spam_model_versions",
    "ml.spam_gate_decisions",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the API exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the API did not answer within 120 s")


def _batch(warehouse: Path, features: list[str], n: int) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return (
            con.execute(
                f"select number_id, {', '.join(features)} from marts.fct_spam_features_v2 "
                "where week_start = (select max(week_start) from marts.fct_spam_features_v2) "
                f"order by number_id limit {n}"
            )
            .fetchdf()
            .to_dict("records")
        )


def two_versions(warehouse: Path, scratch: Path) -> tuple[Path, Path, int]:
    """Two copies of the warehouse that every response can tell apart: A, and B without its total-level anomaly
    rows; with A's count of those rows. A response that mixes two publishes is a torn read (`is_torn`)."""
    a, b = scratch / "a.duckdb", scratch / "b.duckdb"
    shutil.copy(warehouse, a)
    shutil.copy(a, b)
    with duckdb.connect(str(b)) as con:
        con.execute("delete from marts.fct_api_request_anomalies where level = 'total'")
    with duckdb.connect(str(a), read_only=True) as con:
        (n_total,) = con.execute(
            "select count(*) from marts.fct_api_request_anomalies where level = 'total'"
        ).fetchone()
    return a, b, n_total


def is_torn(page: dict, n_total: int, limit: int) -> bool:
    """A `GET /anomalies?level=total` page whose count or rows belong to neither version, or to both."""
    return page["total"] not in (0, n_total) or len(page["items"]) != min(limit, page["total"])


class Republisher(threading.Thread):
    """The pipeline's publish step in a loop, alternating two warehouses, until `stop()`."""

    def __init__(self, versions: tuple[Path, Path], published: Path, relations: list[str]):
        super().__init__(daemon=True)
        self.versions, self.published, self.relations = versions, published, relations
        self.count = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            publish(self.versions[(self.count + 1) % 2], self.published, self.relations)
            self.count += 1

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)


def run(requests: int, seconds: float, concurrency: int, batch_rows: int) -> dict:
    src = paths()
    if not (src.warehouse.exists() and (src.published / "current.json").exists()):
        raise SystemExit(f"no built warehouse in {src.home}: run `make run` first")
    scratch = Path(tempfile.mkdtemp(prefix="sentinel-load-"))
    a, b, n_total = two_versions(src.warehouse, scratch)
    home = scratch / "home"
    (home / "published").mkdir(parents=True)
    shutil.copytree(src.mlflow, home / "mlflow")  # the champion's model, for batch scoring
    publish(a, home / "published", RELATIONS)

    port = _free_port()
    env = {**os.environ, "SENTINEL_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ml.serving.app:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=PROJECT_DIR, env=env,
    )  # fmt: skip
    writer = Republisher((a, b), home / "published", RELATIONS)
    try:
        _wait(port, server)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/spam/champion")
        features = [f["name"] for f in json.loads(c.getresponse().read())["features"]]
        body = json.dumps({"rows": _batch(a, features, batch_rows)}, default=str)
        calls = [
            ("anomalies", "GET", "/anomalies?level=total&limit=20", None),
            ("anomalies", "GET", "/anomalies?only_flagged=true&country=IN&limit=50", None),
            ("batch_score", "POST", "/spam/score", body),
        ]
        lat: dict[str, list[float]] = {"anomalies": [], "batch_score": []}
        problems = {"errors": 0, "torn_reads": 0}
        sent = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def client(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            k = i
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= requests:
                        return
                    sent[0] += 1
                name, method, url, data = calls[k % len(calls)]
                k += 1
                t0 = time.perf_counter()
                try:
                    conn.request(method, url, body=data, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    payload = json.loads(resp.read())
                except (OSError, http.client.HTTPException, ValueError):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    with lock:
                        problems["errors"] += 1
                    continue
                took = time.perf_counter() - t0
                with lock:
                    if resp.status != 200:
                        problems["errors"] += 1
                        continue
                    lat[name].append(took)
                    if "level=total" in url and is_torn(payload, n_total, limit=20):
                        problems["torn_reads"] += 1
                    if name == "batch_score" and len(payload["scores"]) != batch_rows:
                        problems["torn_reads"] += 1

        writer.start()
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        writer.stop()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)

    def pct(xs: list[float], q: float) -> float:
        return round(1000 * statistics.quantiles(xs, n=100)[q - 1], 1) if len(xs) > 1 else float("nan")

    out = {
        "requests": sum(len(v) for v in lat.values()) + problems["errors"],
        "seconds": round(wall, 2),
        "requests_per_second": round(sum(len(v) for v in lat.values()) / wall, 1),
        "concurrency": concurrency,
        "republished": writer.count,
        **problems,
    }
    for name, xs in lat.items():
        out[name] = {"requests": len(xs), "rps": round(len(xs) / wall, 1), "p50_ms": pct(xs, 50), "p95_ms": pct(xs, 95)}
    out["batch_rows"] = batch_rows
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.serving.loadtest", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="stop after this many requests")
    parser.add_argument("--seconds", type=float, default=60, help="... or after this long")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--batch-rows", type=int, default=100, help="feature rows per batch-scoring request")
    args = parser.parse_args(argv)
    result = run(args.requests, args.seconds, args.concurrency, args.batch_rows)
    log_event("api_load_test.done", **result)
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and result["torn_reads"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
