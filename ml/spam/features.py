"""Feature sets come from the versioned dbt feature mart, not from a list in Python.

`marts.fct_spam_features_v<N>` is version N. Its columns are: the keys (`number_id`, `week_start`),
availability flags (`<name>_observed`), and features (text columns are categorical, the rest numeric). A new
version of the mart is therefore a new feature set the lifecycle can train a challenger on, with no code change.

Missing-feature rule (v2 and later): a row whose availability flag is false (its weekly file did not carry
the column) is **excluded** from training and evaluation of a feature set that uses that column; it is never
imputed as zero. Scoring such a row with that feature set raises an error instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import pandas as pd

KEYS = ("number_id", "week_start")
FLAG_SUFFIX = "_observed"
TRAINING_MART = "marts.fct_spam_training_examples"
_VERSION = re.compile(r"^fct_spam_features_v(\d+)$")


class FeatureSchemaError(ValueError):
    """A batch does not have the columns the model was trained on; the message names them."""


@dataclass(frozen=True)
class FeatureSet:
    version: int
    relation: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    flags: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [*self.categorical, *self.numeric]


def feature_sets(con: duckdb.DuckDBPyConnection) -> dict[int, FeatureSet]:
    """Every built version of the feature mart, by version number."""
    rows = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name like 'fct_spam_features_v%' order by table_name, ordinal_position"
    ).fetchall()
    by_table: dict[str, list[tuple[str, str]]] = {}
    for table, col, dtype in rows:
        by_table.setdefault(table, []).append((col, dtype.upper()))
    out = {}
    for table, cols in by_table.items():
        m = _VERSION.match(table)
        if not m:
            continue
        names = [c for c, _ in cols if c not in KEYS]
        flags = tuple(c for c in names if c.endswith(FLAG_SUFFIX))
        feats = [(c, t) for c, t in cols if c not in KEYS and c not in flags]
        out[int(m.group(1))] = FeatureSet(
            version=int(m.group(1)),
            relation=f"marts.{table}",
            numeric=tuple(c for c, t in feats if t not in ("VARCHAR", "TEXT")),
            categorical=tuple(c for c, t in feats if t in ("VARCHAR", "TEXT")),
            flags=flags,
        )
    return dict(sorted(out.items()))


def _observed_filter(fs: FeatureSet, alias: str = "f") -> str:
    return " and ".join(f"{alias}.{flag}" for flag in fs.flags) or "true"


def load_examples(con: duckdb.DuckDBPyConnection, fs: FeatureSet, splits: tuple[str, ...]) -> pd.DataFrame:
    """Labelled rows of the given splits with the features of `fs`, the missing-feature rule applied."""
    cols = ", ".join(f"f.{c}" for c in fs.columns)
    placeholders = ", ".join("?" for _ in splits)
    return con.execute(
        f"""
        select t.number_id, t.week_start, t.split, t.is_spam, {cols}
        from {TRAINING_MART} as t
        inner join {fs.relation} as f using (number_id, week_start)
        where t.split in ({placeholders}) and {_observed_filter(fs)}
        order by t.week_start, t.number_id
        """,
        list(splits),
    ).df()


def count_unobserved(con: duckdb.DuckDBPyConnection, fs: FeatureSet, splits: tuple[str, ...]) -> int:
    """Labelled rows that the missing-feature rule leaves out for `fs` (0 for a set without flags)."""
    if not fs.flags:
        return 0
    placeholders = ", ".join("?" for _ in splits)
    return con.execute(
        f"select count(*) from {TRAINING_MART} as t inner join {fs.relation} as f using (number_id, week_start) "
        f"where t.split in ({placeholders}) and not ({_observed_filter(fs)})",
        list(splits),
    ).fetchall()[0][0]


def load_week(con: duckdb.DuckDBPyConnection, fs: FeatureSet, week_start) -> pd.DataFrame:
    """Every number of one week with the features of `fs` (for scoring), in no particular order: a score depends
    on its own row only, and readers order the scores themselves (the sort took 4.5 of 12 s for 10M numbers)."""
    flags = "".join(f", {flag}" for flag in fs.flags)
    return con.execute(
        f"select number_id, week_start, {', '.join(fs.columns)}{flags} from {fs.relation} where week_start = ?",
        [week_start],
    ).df()


def check_batch(frame: pd.DataFrame, expected: list[str]) -> pd.DataFrame:
    """The batch must carry exactly the model's features (keys and flags aside); name what is wrong."""
    present = [c for c in frame.columns if c not in KEYS and not c.endswith(FLAG_SUFFIX)]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in present if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        raise FeatureSchemaError(
            f"scoring batch does not match the model's features: {'; '.join(parts)} (expected {', '.join(expected)})"
        )
    return frame[expected]
