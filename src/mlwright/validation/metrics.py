"""The task metrics, computed by mlwright itself (never read from a script's or an LLM's output)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlwright.schemas import TaskSpec


def score_predictions(spec: TaskSpec, y_true: pd.Series, pred: pd.DataFrame) -> float:
    """pred: column `prediction` (regression) or one probability column per class (`p::<class>`)."""
    from sklearn import metrics as M  # here, not at import: reading a folder (explain) needs no scikit-learn

    m = spec.metric
    if spec.problem_type == "regression":
        yt = y_true.to_numpy(dtype=float)
        yp = pred["prediction"].to_numpy(dtype=float)
        if m == "rmse":
            return float(np.sqrt(np.mean((yt - yp) ** 2)))
        if m == "mse":
            return float(np.mean((yt - yp) ** 2))
        if m == "rmsle":
            return float(np.sqrt(np.mean((np.log1p(np.clip(yt, 0, None)) - np.log1p(np.clip(yp, 0, None))) ** 2)))
        if m == "mae":
            return float(np.mean(np.abs(yt - yp)))
        if m == "mape":
            return float(M.mean_absolute_percentage_error(yt, yp))
        if m == "r2":
            return float(M.r2_score(yt, yp))
        raise ValueError(f"metric {m} does not apply to regression")
    classes = spec.class_labels
    proba = pred[[f"p::{c}" for c in classes]].to_numpy(dtype=float)
    yt = y_true.astype(str).to_numpy()
    labels = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    if m == "accuracy":
        return float(np.mean(labels == yt))
    if m == "balanced_accuracy":
        return float(M.balanced_accuracy_score(yt, labels))
    if m == "macro_f1":
        return float(M.f1_score(yt, labels, average="macro", labels=classes))
    if m == "roc_auc":
        if spec.problem_type == "binary":
            pos = classes.index(spec.positive_class)
            return float(M.roc_auc_score((yt == spec.positive_class).astype(int), proba[:, pos]))
        return float(M.roc_auc_score(yt, proba / proba.sum(axis=1, keepdims=True), multi_class="ovr", labels=classes))
    if m == "log_loss":
        p = np.clip(proba, 1e-15, 1)
        return float(M.log_loss(yt, p / p.sum(axis=1, keepdims=True), labels=classes))
    raise ValueError(f"metric {m} does not apply to classification")


def forecast_score(spec: TaskSpec, frame: pd.DataFrame, pred: pd.Series) -> float:
    """frame: item, time (`__t__`), target, `__row__`, `__held__` (rows forecast); pred: row -> forecast.
    MASE: per series, MAE on the held rows over the in-sample seasonal-naive MAE, averaged over series."""
    ts = spec.timeseries
    m = max(1, ts.season_period)
    per_series = []
    for _, g in frame.sort_values("__t__").groupby(ts.item_column, sort=False):
        held = g[g["__held__"]]
        if held.empty:
            continue
        hist = g.loc[~g["__held__"], spec.target].to_numpy(dtype=float)
        yt = held[spec.target].to_numpy(dtype=float)
        yp = pred.loc[held["__row__"]].to_numpy(dtype=float)
        if spec.metric == "mase":
            lag = m if len(hist) > m else 1
            scale = np.nanmean(np.abs(hist[lag:] - hist[:-lag])) if len(hist) > lag else np.nan
            if not np.isfinite(scale) or scale == 0:
                scale = np.nanmean(np.abs(hist)) or 1.0
            per_series.append(np.mean(np.abs(yt - yp)) / scale)
        else:
            per_series.append((yt, yp))
    if spec.metric == "mase":
        return float(np.mean(per_series))
    yt = np.concatenate([a for a, _ in per_series])
    yp = np.concatenate([b for _, b in per_series])
    tmp = spec.model_copy(update={"problem_type": "regression", "timeseries": None})
    return score_predictions(tmp, pd.Series(yt), pd.DataFrame({"prediction": yp}))


def constant_baseline(spec: TaskSpec, y: pd.Series) -> float:
    """The score of predicting a constant (prior / mean): what a useful model must beat."""
    if spec.problem_type == "regression":
        c = float(np.expm1(np.log1p(y.clip(lower=0)).mean())) if spec.metric == "rmsle" else float(
            y.median() if spec.metric == "mae" else y.mean())
        return score_predictions(spec, y, pd.DataFrame({"prediction": np.full(len(y), c)}))
    freq = y.astype(str).value_counts(normalize=True)
    pred = pd.DataFrame({f"p::{c}": np.full(len(y), freq.get(c, 0.0)) for c in spec.class_labels})
    return score_predictions(spec, y, pred)


def is_better(spec: TaskSpec, a: float, b: float | None) -> bool:
    if b is None:
        return True
    return a > b if spec.higher_is_better else a < b
