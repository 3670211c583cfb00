"""The two model families, as scikit-learn pipelines with fixed seeds.

* `logistic_regression`: the linear baseline. Counts (`*_count`) go through log1p, every numeric feature is
  standardised, the country is one-hot encoded (rare countries pooled, unseen ones ignored).
* `hist_gradient_boosting`: gradient-boosted trees; the country is a native categorical feature.
Both take a pandas frame with exactly the feature-set columns and return P(spam) from `predict_proba`.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from ml.settings import DEFAULT_SEED
from ml.spam.features import FeatureSet

FAMILIES = ("logistic_regression", "hist_gradient_boosting")


def make_pipeline(family: str, fs: FeatureSet, seed: int = DEFAULT_SEED) -> Pipeline:
    counts = [c for c in fs.numeric if c.endswith("_count")]
    others = [c for c in fs.numeric if c not in counts]
    if family == "logistic_regression":
        pre = ColumnTransformer(
            [
                ("counts", Pipeline([("log1p", FunctionTransformer(np.log1p)), ("scale", StandardScaler())]), counts),
                ("numeric", StandardScaler(), others),
                (
                    "country",
                    OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=100, sparse_output=False),
                    list(fs.categorical),
                ),
            ]
        )
        clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    elif family == "hist_gradient_boosting":
        pre = ColumnTransformer(
            [
                (
                    "country",
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
                    list(fs.categorical),
                ),
                ("numeric", "passthrough", list(fs.numeric)),
            ]
        )
        clf = HistGradientBoostingClassifier(  # regularised: a new feature version starts with few weeks of data
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=100,
            l2_regularization=1.0,
            categorical_features=list(range(len(fs.categorical))),
            early_stopping=False,
            random_state=seed,
        )
    else:
        raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}")
    return Pipeline([("features", pre), ("model", clf)])
