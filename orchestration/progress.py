"""What `python -m orchestration run` shows while it works: one line per step (what, how many rows, how long),
read live from the run's events in the Dagster instance, and a ticker on the running step when the output is a
terminal. Everything else (dbt's own lines, Dagster's DEBUG lines, the JSON events of the Python steps) goes to
the run's log file, whose path the run prints first. `SENTINEL_VERBOSE=1` keeps it all on the terminal."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ml.settings import Settings


def verbose() -> bool:
    return Settings.from_env().verbose


@contextmanager
def detail_to_file(path: Path) -> Iterator[TextIO]:
    """This process's stdout and stderr, and its children's (dbt), go to `path`; yields a stream on the terminal.
    With SENTINEL_VERBOSE set nothing is redirected and the stream is stdout."""
    if verbose():
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


def line(out: TextIO, ok: bool, what: str, seconds: float, facts: str = "") -> None:
    mark = "ok  " if ok else "FAIL"
    what = what if len(what) <= 34 else what[:33] + "~"
    out.write(f"  {mark} {what:<34} {seconds:6.1f} s  {facts}".rstrip()[:120] + "\n")


@contextmanager
def step(out: TextIO, what: str) -> Iterator[dict[str, str]]:
    """One line for a step that runs outside Dagster (generate, dbt parse); the caller may set facts['facts']."""
    facts: dict[str, str] = {}
    t0 = time.perf_counter()
    try:
        yield facts
    except BaseException:
        line(out, False, what, time.perf_counter() - t0, "see the log")
        raise
    line(out, True, what, time.perf_counter() - t0, facts.get("facts", ""))


@dataclass
class _Step:
    started: float
    assets: int = 0
    rows: int = 0
    names: list[str] = field(default_factory=list)  # the checks evaluated
    bad: list[str] = field(default_factory=list)  # "warn <check>" / "failed <check>"


# what a step reports as its rows: dbt's and the snapshot's row counts, or what a Python step appended or scored
ROW_KEYS = ("dagster/row_count", "rows_appended", "rows_scored", "rows")


def _facts(s: _Step) -> str:
    """'27 assets, 221,136 rows, 108 checks (warn no_missing_delivery)'; at most 120 columns in all."""
    checks = len(s.names)
    facts = [f"{s.assets} asset{'s' * (s.assets != 1)}" if s.assets else "", f"{s.rows:,} rows" if s.rows else ""]
    if checks and not (checks == 1 and not s.assets):
        facts.append(f"{checks} check{'s' * (checks != 1)}")
    if s.bad:
        facts.append(", ".join(s.bad[:2]) + (f" and {len(s.bad) - 2} more" if len(s.bad) > 2 else ""))
    elif checks == 1 and not s.assets:
        facts.append("passed")
    return ", ".join(f for f in facts if f)[:70]


def _label(key: str, s: _Step | None = None) -> str:
    """What a step is: dagster-dbt runs the dbt graph as as many steps as the ML steps cut it into
    (sentinel_dbt_models[_N]); a step that only evaluated one check is named after the check."""
    if "dbt_models" in key:
        return "dbt build" + (f" ({key.rsplit('_', 1)[1]})" if key[-1].isdigit() else "")
    return f"check {s.names[0]}" if s is not None and len(s.names) == 1 and not s.assets else key


class StepProgress(threading.Thread):
    """Polls the run's step, materialisation and check events (every half second) and prints a line per step."""

    def __init__(self, instance, run_id: str, out: TextIO, interval: float = 0.5) -> None:
        super().__init__(daemon=True, name="step-progress")
        self.instance, self.run_id, self.out, self.interval = instance, run_id, out, interval
        self.cursor: str | None = None
        self.steps: dict[str, _Step] = {}
        self.done = threading.Event()
        self.tty = out.isatty()

    def __enter__(self) -> StepProgress:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.join(timeout=10)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self._poll()
            self._tick()
        self._poll()  # the events stored after the last tick

    def _poll(self) -> None:
        from dagster import DagsterEventType as T

        kinds = {T.STEP_START, T.STEP_SUCCESS, T.STEP_FAILURE, T.ASSET_MATERIALIZATION, T.ASSET_CHECK_EVALUATION}
        try:
            conn = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=kinds)
        except Exception:  # the run is not stored yet, or the store is busy: next time
            return
        self.cursor = conn.cursor
        for record in conn.records:
            self._on(record.event_log_entry.dagster_event)

    def _on(self, event) -> None:
        key, kind = event.step_key, event.event_type_value
        if kind == "STEP_START":
            self.steps[key] = _Step(time.monotonic())
            return
        s = self.steps.setdefault(key, _Step(time.monotonic()))
        if kind == "ASSET_MATERIALIZATION":
            s.assets += 1
            metadata = event.event_specific_data.materialization.metadata
            count = next((metadata[k] for k in ROW_KEYS if k in metadata), None)
            s.rows += int(count.value) if count is not None and isinstance(count.value, int) else 0
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            s.names.append(evaluation.check_name)
            if not evaluation.passed:
                warn = evaluation.severity.value == "WARN"
                s.bad.append(("warn " if warn else "failed ") + evaluation.check_name)
        else:  # success or failure
            self._clear()
            line(self.out, kind == "STEP_SUCCESS", _label(key, s), time.monotonic() - s.started, _facts(s))
            del self.steps[key]

    def _tick(self) -> None:
        """A live line for the running step, on a terminal only (a log file gets the finished lines)."""
        if self.tty and self.steps:
            key, s = next(iter(self.steps.items()))
            self.out.write(f"\r  ...  {_label(key):<34} {time.monotonic() - s.started:6.0f} s\x1b[K")
            self.out.flush()

    def _clear(self) -> None:
        if self.tty:
            self.out.write("\r\x1b[K")
