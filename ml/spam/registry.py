"""MLflow tracking and model registry in the state directory (SQLite backend, local artifact store).

Registered model `spam_classifier`; aliases `champion` (scores production), `challenger` (the last model
evaluated against it) and `previous` (the champion before the last promotion, the rollback target). Every
version carries tags: feature version, data window, code version and a fingerprint of all of these plus the
parameters, so the same training never registers twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from pathlib import Path

from ml.settings import PROJECT_DIR, Paths

MODEL_NAME = "spam_classifier"
EXPERIMENT = "spam_classifier"
ALIASES = ("champion", "challenger", "previous")
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"

# What loading a registered model needs (a scikit-learn pipeline pickled with cloudpickle), pinned to the versions
# that fitted it. Stated, not inferred: MLflow's inference imports the model in a subprocess (about 5 s a model)
# and listed `rich`, which the model never imports.
MODEL_REQUIREMENTS = ("cloudpickle", "numpy", "pandas", "scikit-learn", "scipy")


def pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def tracking_uri(p: Paths) -> str:
    """The registry's SQLite file, links resolved: MLflow keeps one SQLAlchemy engine per URI for the life of the
    process, so a URI through a link kept reading the file the link named when the engine was made (the suite
    reaches its copied states through one link)."""
    return f"sqlite:///{(p.mlflow / 'mlflow.db').resolve()}"


def code_version() -> str:
    """Git commit of the project (+ '-dirty' when the work tree has changes), or 'unknown' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Registry:
    def __init__(self, p: Paths) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import mlflow
        from mlflow import MlflowClient

        # MLflow configures its loggers on import; keep our JSON logs readable (its warnings about pickled
        # models and its "Created version" chatter are not actionable here)
        warnings.filterwarnings("ignore", module="mlflow")
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.ERROR)

        p.mlflow.mkdir(parents=True, exist_ok=True)
        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri(p))
        mlflow.set_registry_uri(tracking_uri(p))
        self.client = MlflowClient()
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        artifacts = (p.mlflow / "artifacts").resolve()
        self.experiment_id = (
            exp.experiment_id
            if exp
            else self.client.create_experiment(EXPERIMENT, artifact_location=Path(artifacts).as_uri())
        )
        if not exp or exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            # a classical model's experiment: the MLflow UI opens it on its runs, not on the GenAI trace views
            self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)

    def alias(self, alias: str) -> int | None:
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client.get_model_version_by_alias(MODEL_NAME, alias).version)
        except MlflowException:
            return None

    def set_alias(self, alias: str, version: int | None) -> None:
        from mlflow.exceptions import MlflowException

        if version is None:
            with contextlib.suppress(MlflowException):
                self.client.delete_registered_model_alias(MODEL_NAME, alias)
            return
        self.client.set_registered_model_alias(MODEL_NAME, alias, str(version))

    def find(self, fingerprint: str) -> int | None:
        from mlflow.exceptions import MlflowException

        try:
            versions = self.client.search_model_versions(f"name = '{MODEL_NAME}'")
        except MlflowException:
            return None
        hits = [int(v.version) for v in versions if (v.tags or {}).get("fingerprint") == fingerprint]
        return min(hits) if hits else None

    def log_and_register(
        self,
        model,
        params: dict,
        metrics: dict,
        tags: dict,
        example,
        artifacts: dict,
        figures: dict | None = None,
        dataset: tuple | None = None,
    ) -> int:
        """One MLflow run with the fitted pipeline, its parameters, metrics and evidence (JSON artifacts, figures,
        the training rows as its dataset: `dataset` = (frame, the relation it was read from)); registered."""
        from mlflow.models import infer_signature

        with self.mlflow.start_run(experiment_id=self.experiment_id, run_name=tags.get("run_name")) as run:
            self.mlflow.log_params(params)
            self.mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})  # drop NaN
            self.mlflow.set_tags(tags)
            for name, obj in artifacts.items():
                self.mlflow.log_dict(obj, name)
            for name, fig in (figures or {}).items():
                self.mlflow.log_figure(fig, name)
            if dataset is not None:
                frame, relation = dataset
                data = self.mlflow.data.from_pandas(frame, source=relation, name=relation, targets="is_spam")
                self.mlflow.log_input(data, context="training")
            signature = infer_signature(example, model.predict_proba(example)[:, 1])
            info = self.mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example.head(3),
                serialization_format="cloudpickle",
                pip_requirements=pip_requirements(),
                registered_model_name=MODEL_NAME,
            )
            version = int(info.registered_model_version)
            for k, v in tags.items():
                self.client.set_model_version_tag(MODEL_NAME, str(version), k, str(v))
            self.client.set_model_version_tag(MODEL_NAME, str(version), "run_id", run.info.run_id)
        return version

    def delete(self, version: int) -> None:
        """Remove a version (used only for one whose warehouse mirror was never committed: a crashed step)."""
        self.client.delete_model_version(MODEL_NAME, str(version))

    def run_id(self, version: int) -> str:
        return self.client.get_model_version(MODEL_NAME, str(version)).run_id

    def load(self, version: int):
        return self.mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")

    def tags(self, version: int) -> dict:
        return dict(self.client.get_model_version(MODEL_NAME, str(version)).tags or {})
