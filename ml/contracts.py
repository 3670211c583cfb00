"""The landing feeds' column contracts: the columns a delivered file must carry.

Ingestion enforces them (`ml/ingest.py`); the synthetic generators write files that
follow them and import them from here, so a generator can never define what production accepts. A weekly call
file may carry more columns than these (schema evolution, e.g. `manual_spam_count`); the other feeds may not.
"""

API_LOG_COLUMNS = ("date", "country", "os", "count")

CALL_COLUMNS = (
    "id",
    "country",
    "call_count",
    "unique_call_count",
    "total_duration",
    "answered_call_count",
    "rejected_call_count",
    "missed_call_count",
    "weekdays_call_count",
    "weekend_call_count",
    "overtime_call_count",
    "out_of_work_call_count",
)

LABEL_COLUMNS = ("id", "week_start", "label", "label_source", "labelled_at")
