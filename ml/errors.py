"""The pipeline's expected failures, defined apart from the modules that raise them (ingestion loads pandas, training
scikit-learn): the command line catches them to print their message and exit non-zero, and importing them loads
neither. Import them from here."""


class IngestError(ValueError):
    """A landing file cannot be loaded; the message names the file and the line."""


class TrainingError(RuntimeError):
    """Training cannot proceed (no labelled rows, a single class, ...); the message says why."""
