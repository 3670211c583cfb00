"""The spam classifier's answer from the warehouse, as text: the comparison, the decision, the champion, the top
numbers of the latest week, and the monitoring verdict."""

from __future__ import annotations

import json

import duckdb

METRICS = (
    ("pr_auc", "PR-AUC"),
    ("roc_auc", "ROC-AUC"),
    ("recall_at_fpr_0.01", "recall@FPR1e-2"),
    ("recall_at_fpr_0.001", "recall@FPR1e-3"),
    ("recall_at_fpr_0.0001", "recall@FPR1e-4"),
    ("precision", "precision@thr"),
    ("recall", "recall@thr"),
    ("fpr", "FPR@thr"),
    ("brier", "Brier"),
)


def _fmt(iv: dict | None) -> str:
    if not iv:
        return "-"
    return f"{iv['estimate']:.4f} [{iv['low']:.4f}, {iv['high']:.4f}]"


def format_comparison(evidence: dict, champion_label: str, challenger_label: str) -> str:
    out: list[str] = []
    overall = evidence.get("overall", {})
    zero = evidence.get("zero_report_slice") or {}
    rep = evidence.get("report", {})
    out.append(
        f"  test split: weeks {rep.get('test_start')}..{rep.get('test_end')}, {rep.get('test_rows')} labelled "
        f"number-weeks ({rep.get('test_positives')} spam); 95% CI from a paired bootstrap over numbers"
    )
    head = f"  {'metric':<16}{champion_label:>30}{challenger_label:>30}{'difference':>30}"
    out.append(head)
    for key, label in METRICS:
        out.append(
            f"  {label:<16}{_fmt(overall.get('champion', {}).get(key)):>30}"
            f"{_fmt(overall.get('challenger', {}).get(key)):>30}{_fmt(overall.get('delta', {}).get(key)):>30}"
        )
    if zero:
        out.append(f"  numbers with no report (manual_spam_count = 0, {rep.get('zero_report_rows')} rows):")
        for key, label in METRICS[:4]:
            out.append(
                f"  {label:<16}{_fmt(zero.get('champion', {}).get(key)):>30}"
                f"{_fmt(zero.get('challenger', {}).get(key)):>30}{_fmt(zero.get('delta', {}).get(key)):>30}"
            )
    countries = rep.get("countries", {})
    if countries.get("challenger"):
        champ = {r["slice"]: r for r in countries.get("champion", [])}
        rows = sorted(countries["challenger"], key=lambda r: -r["rows"])
        out.append("  per country (PR-AUC at the test rows of the country; countries with >= 5 spam labels):")
        out.append(f"  {'country':<9}{'rows':>7}{'spam':>6}{champion_label:>16}{challenger_label:>16}")
        for r in rows:
            if "pr_auc" in r:
                c = champ.get(r["slice"], {}).get("pr_auc")
                out.append(
                    f"  {r['slice']:<9}{r['rows']:>7}{r['positives']:>6}{'-' if c is None else f'{c:.4f}':>16}"
                    f"{r['pr_auc']:>16.4f}"
                )
    truth = rep.get("against_ground_truth")
    if truth:
        out.append(
            f"  against the generator's true classes (labels disagree with them on "
            f"{truth['label_disagreement']:.1%} of these rows; informational, the gate uses labels):"
        )
        for key, label in METRICS[:4]:
            c, h = truth.get("champion", {}).get(key), truth.get("challenger", {}).get(key)
            out.append(f"  {label:<16}{'-' if c is None else f'{c:.4f}':>30}{'-' if h is None else f'{h:.4f}':>30}")
    cal = rep.get("calibration", {})
    if cal:
        out.append(
            "  calibration (expected calibration error): " + ", ".join(f"{k} {v['ece']:.4f}" for k, v in cal.items())
        )
    return "\n".join(out) + "\n"


def format_spam_answer(con: duckdb.DuckDBPyConnection, top: int = 10) -> str:
    registered = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'ml' and table_name = 'spam_model_versions'"
    ).fetchone()[0]
    if not registered:  # a state where nothing was trained yet: say so, not a catalog error
        return "\n=== Spam classifier ===\nno model trained yet: `make run` (or `python -m ml spam train`) trains one\n"
    out: list[str] = []
    versions = {
        r[0]: r
        for r in con.execute(
            "select model_version, feature_version, model_family, train_start, train_end, threshold, test_pr_auc, "
            "test_roc_auc, test_precision, test_recall from ml.spam_model_versions"
        ).fetchall()
    }
    decisions = con.execute(
        "select decided_at, challenger_version, champion_version, promoted, reason, evidence "
        "from ml.spam_gate_decisions order by decided_at"
    ).fetchall()
    out.append("\n=== Spam classifier: champion / challenger ===")
    for _, chal, champ, promoted, reason, evidence in decisions:
        ev = json.loads(evidence) if evidence else {}
        cv = versions.get(chal)
        label = f"v{chal} (features v{cv[1]}, {cv[2]})" if cv else f"v{chal}"
        if champ is None:
            out.append(f"\n{label}: {reason}")
        else:
            pv = versions.get(champ)
            out.append(f"\n{label} against champion v{champ} (features v{pv[1] if pv else '?'}):")
            if ev.get("overall"):
                out.append(format_comparison(ev, f"champion v{champ}", f"challenger v{chal}").rstrip("\n"))
            out.append(f"  decision: {'PROMOTED' if promoted else 'NOT PROMOTED'} - {reason}")
    champ = con.execute("select model_version from ml.spam_model_aliases where alias = 'champion'").fetchall()
    if not champ:
        out.append("no champion registered")
        return "\n".join(out) + "\n"
    v = versions[champ[0][0]]
    out.append(
        f"\nChampion: model v{v[0]} ({v[2]}, feature mart v{v[1]}, trained on weeks {v[3]}..{v[4]}), "
        f"threshold {v[5]:.4f}; test PR-AUC {v[6]:.4f}, ROC-AUC {v[7]:.4f}, precision {v[8]:.3f}, recall {v[9]:.3f}"
    )
    rows = con.execute(
        "select score_rank, number_id, country_code, score, call_count, answer_rate, manual_spam_count, week_start "
        "from marts.fct_spam_scores_latest order by score_rank limit ?",
        [top],
    ).fetchall()
    flagged = con.execute(
        "select count(*), sum(case when is_flagged then 1 else 0 end) from marts.fct_spam_scores_latest"
    )
    n, n_flag = flagged.fetchall()[0]
    if rows:
        out.append(f"\nTop {top} spam numbers of the week {rows[0][7]} ({n} numbers scored, {n_flag} flagged):")
        out.append(f"  {'rank':>4}  {'number':<12}{'country':<8}{'score':>8}{'calls':>8}{'answered':>10}{'reports':>9}")
        for r in rows:
            out.append(
                f"  {r[0]:>4}  {r[1]:<12}{r[2]:<8}{r[3]:>8.4f}{r[4]:>8}{r[5]:>10.2f}{'-' if r[6] is None else r[6]:>9}"
            )
    dec = con.execute("select retrain_trigger, reason from marts.fct_spam_retrain_decision").fetchall()
    if dec:
        out.append(f"\nRetraining decision: {dec[0][0]} - {dec[0][1]}")
    changes = con.execute(
        "select file_name, column_name, change_type from marts.fct_source_schema_changes "
        "where source_name = 'calls' order by loaded_at"
    ).fetchall()
    for f, c, t in changes:
        out.append(f"Schema change in the weekly call feed: {t} {c} in {f}")
    return "\n".join(out) + "\n"


def spam_section(con: duckdb.DuckDBPyConnection) -> str:
    """The answer's spam summary, or why there is none: an extract without call files left the section out
    without a word."""
    if con.execute("select count(*) from marts.fct_spam_scores_latest").fetchall()[0][0]:
        return format_spam_answer(con)
    return (
        "\n=== Spam classifier ===\nno number scored: no weekly call file was loaded. Put "
        "calls_<monday>.csv files into $SENTINEL_HOME/landing/calls/ (labels: landing/call_labels/) and run again\n"
    )
