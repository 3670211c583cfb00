"""Structured (JSON-lines) logs on stderr: what ran, on how many rows, how long it took."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any


def log_event(event: str, **fields: Any) -> None:
    record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
    print(json.dumps(record, default=str), file=sys.stderr, flush=True)


@contextmanager
def timed(step: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log start/end of a step; the caller may add facts (e.g. rows=...) to the yielded dict."""
    extra: dict[str, Any] = {}
    log_event(f"{step}.start", **fields)
    t0 = time.perf_counter()
    try:
        yield extra
    except Exception as exc:
        log_event(f"{step}.failed", seconds=round(time.perf_counter() - t0, 3), error=str(exc), **fields)
        raise
    log_event(f"{step}.done", seconds=round(time.perf_counter() - t0, 3), **fields, **extra)
