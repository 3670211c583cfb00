"""The warehouse side of the spam model lifecycle: tables in schema `ml`, written by ml/spam, read by dbt.

dbt reads them as the `ml` source (models/staging/ml/_ml__sources.yml) to build the monitoring marts; MLflow
stays the system of record for runs, artifacts and aliases, these tables mirror what the marts need.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

DDL = """
create schema if not exists ml;
create table if not exists ml.spam_model_versions (
    model_version integer primary key,   -- MLflow registered-model version
    run_id varchar not null,
    feature_version integer not null,    -- fct_spam_features_v<N>
    model_family varchar not null,       -- logistic_regression | hist_gradient_boosting
    fingerprint varchar not null,        -- hash of data window, features, params, code: no duplicate versions
    code_version varchar not null,
    trained_at timestamp not null,
    train_start date not null,
    train_end date not null,
    test_start date not null,
    test_end date not null,
    train_rows bigint not null,
    test_rows bigint not null,
    threshold double not null,           -- operating point: score >= threshold flags a number
    fpr_target double not null,
    test_pr_auc double not null,
    test_roc_auc double not null,
    test_precision double not null,
    test_recall double not null
);
create table if not exists ml.spam_model_aliases (
    alias varchar primary key,           -- champion | challenger | previous
    model_version integer not null,
    set_at timestamp not null
);
create table if not exists ml.spam_gate_decisions (
    decided_at timestamp not null,
    challenger_version integer not null,
    champion_version integer,            -- null when there was no champion
    promoted boolean not null,
    reason varchar not null,
    evidence varchar not null            -- JSON: metrics, deltas, confidence intervals
);
create table if not exists ml.spam_scores (
    number_id varchar not null,
    week_start date not null,
    model_version integer not null,
    feature_version integer not null,
    score double not null,
    is_flagged boolean not null,
    scored_at timestamp not null
);
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def set_alias(con: duckdb.DuckDBPyConnection, alias: str, version: int | None) -> None:
    con.execute("delete from ml.spam_model_aliases where alias = ?", [alias])
    if version is not None:
        set_at = datetime.now(UTC).replace(tzinfo=None)  # UTC, as every stamp (current_timestamp: the machine's zone)
        con.execute("insert into ml.spam_model_aliases values (?, ?, ?)", [alias, version, set_at])
