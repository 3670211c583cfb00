"""Dagster errors as text, for the console and for alerts."""


def error_text(error) -> str:
    """A Dagster error with its chain of causes: the wrapper says which step, the cause says why."""
    parts = []
    while error is not None:
        parts.append(error.message.strip())
        error = error.cause
    return "\n  caused by: ".join(parts)
