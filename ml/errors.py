"""The pipeline's expected failures, importable without the modules that raise them (pandas, scikit-learn): the
CLI catches them to print their message and exit non-zero, and a command that raises none of them pays no import."""


class IngestError(ValueError):
    """A landing file cannot be loaded; the message names the file and the line."""


class TrainingError(RuntimeError):
    """Training cannot proceed (no labelled rows, a single class, ...); the message says why."""
