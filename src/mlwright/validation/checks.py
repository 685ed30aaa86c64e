"""Code decides success: the prediction file is checked against the TaskSpec and the test set, and the
validation score is computed from out-of-fold predictions against labels mlwright holds itself."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.schemas import TaskSpec
from mlwright.validation.metrics import score_predictions

MIN_VALIDATION_FRACTION = 0.1


class ValidationFailure(Exception):
    """The attempt's outputs break the contract; the message says how."""


def _keys(values) -> pd.Index:
    s = pd.Series(values).astype(str).str.strip()
    return pd.Index(s.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True))


def expected_ids(spec: TaskSpec, test: pd.DataFrame) -> pd.Index:
    if spec.id_column and spec.id_column in test.columns:
        return _keys(test[spec.id_column])
    return _keys(np.arange(len(test)))


def check_prediction_file(spec: TaskSpec, path: Path, test: pd.DataFrame) -> pd.DataFrame:
    if not path.is_file():
        raise ValidationFailure(f"prediction file {spec.prediction_file} was not written")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "nan", "NaN", "NA", "null", "None"])
    except Exception as e:  # noqa: BLE001
        raise ValidationFailure(f"prediction file is not a readable CSV: {type(e).__name__}: {e}") from e
    if list(df.columns) != spec.output_columns:
        raise ValidationFailure(f"wrong columns: expected {spec.output_columns}, got {list(df.columns)[:20]}")
    if len(df) != len(test):
        raise ValidationFailure(f"wrong row count: expected {len(test)} (one per test row), got {len(df)}")
    ids = _keys(df[spec.output_id_column])
    want = expected_ids(spec, test)
    if df[spec.output_id_column].isna().any():
        raise ValidationFailure("empty values in the id column")
    if ids.duplicated().any() and not want.duplicated().any():
        raise ValidationFailure(f"duplicated ids, e.g. {ids[ids.duplicated()][0]!r}")
    missing = want.difference(ids)
    if len(missing):
        raise ValidationFailure(f"{len(missing)} test ids missing from the predictions, e.g. {missing[0]!r}")
    unknown = ids.difference(want)
    if len(unknown):
        raise ValidationFailure(f"{len(unknown)} ids that are not in the test set, e.g. {unknown[0]!r}")
    value_cols = [c for c in spec.output_columns if c != spec.output_id_column]
    for c in value_cols:
        if df[c].isna().any():
            raise ValidationFailure(f"{int(df[c].isna().sum())} empty/NaN values in {c!r}")
    if spec.output_kind == "label":
        allowed = set(spec.class_labels)
        bad = ~df[value_cols[0]].str.strip().isin(allowed)
        if spec.problem_type != "regression" and bad.any():
            raise ValidationFailure(f"{int(bad.sum())} labels not seen in training, e.g. "
                                    f"{df[value_cols[0]][bad].iloc[0]!r} (allowed: {sorted(allowed)[:10]})")
    else:
        for c in value_cols:
            v = pd.to_numeric(df[c].str.strip(), errors="coerce")
            if v.isna().any():
                raise ValidationFailure(f"non-numeric values in {c!r}, e.g. {df[c][v.isna()].iloc[0]!r}")
            if not np.isfinite(v.to_numpy()).all():
                raise ValidationFailure(f"infinite values in {c!r}")
            if spec.output_kind in ("probability", "class_probabilities") and ((v < 0) | (v > 1)).any():
                raise ValidationFailure(f"probabilities outside [0, 1] in {c!r}")
            if spec.metric == "rmsle" and (v < 0).any():
                raise ValidationFailure(f"negative values in {c!r}, not allowed for RMSLE")
    return df


def score_oof(spec: TaskSpec, path: Path, y: pd.Series) -> tuple[float, int, pd.DataFrame]:
    """Score out-of-fold (or holdout) predictions against the true labels of those training rows."""
    if not path.is_file():
        raise ValidationFailure("no validation predictions (oof_predictions.csv) were written")
    oof = pd.read_csv(path)
    if "__row__" not in oof.columns:
        raise ValidationFailure("oof_predictions.csv lacks the __row__ column")
    need = ["prediction"] if spec.problem_type == "regression" else [f"p::{c}" for c in spec.class_labels]
    missing = [c for c in need if c not in oof.columns]
    if missing:
        raise ValidationFailure(f"oof_predictions.csv lacks columns {missing}")
    rows = oof["__row__"].to_numpy()
    if oof["__row__"].duplicated().any() or rows.min() < 0 or rows.max() >= len(y):
        raise ValidationFailure("oof_predictions.csv has duplicated or out-of-range __row__ values")
    if len(oof) < max(10, MIN_VALIDATION_FRACTION * len(y)):
        raise ValidationFailure(f"only {len(oof)} validation rows; at least {MIN_VALIDATION_FRACTION:.0%} of the "
                                f"{len(y)} training rows are needed")
    vals = oof[need].to_numpy(dtype=float)
    if not np.isfinite(vals).all():
        raise ValidationFailure("validation predictions contain NaN or infinite values")
    score = score_predictions(spec, y.iloc[rows].reset_index(drop=True), oof[need].reset_index(drop=True))
    if not np.isfinite(score):
        raise ValidationFailure(f"validation score is not finite ({score})")
    return score, len(oof), oof


def compare_columns(spec: TaskSpec, new: pd.DataFrame) -> Optional[str]:
    missing = [c for c in spec.feature_columns if c not in new.columns]
    if missing:
        return f"new data lacks {len(missing)} feature column(s) the model needs: {missing[:10]}"
    return None
