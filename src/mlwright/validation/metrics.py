"""The task metrics, computed by mlwright itself (never read from a script's or an LLM's output).

`METRICS` is the one registry: each metric's name, direction, what it scores (values, labels or class
probabilities), the problem kinds it applies to and its function. Perception (which metric a task gets and
which way is better), validation, ensembling and the report all read it; scikit-learn is imported only when a
score is computed (reading a folder needs none)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

import numpy as np
import pandas as pd

from mlwright.runtime import metrics as rm
from mlwright.schemas import TaskSpec


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    # what the function is given besides the truth
    scores: Literal["values", "labels", "probabilities", "tag_probabilities", "targets", "rankings", "masks"]
    # forecasts use the regression metrics (and MASE)
    kind: Literal["regression", "classification", "multilabel", "multioutput", "ranking", "segmentation"]
    # values: (y, pred); labels: (y, labels, classes); probabilities: (y, P, classes, pos); None: see forecast_score;
    # tag_probabilities: (Y 0/1 per tag, P per tag, threshold, at_least_one); targets: (Y frame, raw frame, targets);
    # rankings: (judgements {query: {doc: relevance}}, rankings {query: [doc, ...]}, k), see score_rankings;
    # masks: (true masks, predicted masks, number of classes), masks as arrays of class indices (score_masks)
    fn: Optional[Callable[..., float]]


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("rmse", False, "values", "regression", rm.rmse),
    Metric("mse", False, "values", "regression", rm.mse),
    Metric("rmsle", False, "values", "regression", rm.rmsle),
    Metric("mae", False, "values", "regression", rm.mae),
    Metric("mape", False, "values", "regression", rm.mape),
    Metric("r2", True, "values", "regression", rm.r2),
    # per series MAE over the in-sample seasonal-naive MAE: needs the series, so forecast_score computes it
    Metric("mase", False, "values", "regression", None),
    Metric("accuracy", True, "labels", "classification", rm.accuracy),
    Metric("balanced_accuracy", True, "labels", "classification", rm.balanced_accuracy),
    Metric("macro_f1", True, "labels", "classification", rm.macro_f1),
    Metric("roc_auc", True, "probabilities", "classification", rm.roc_auc),
    Metric("log_loss", False, "probabilities", "classification", rm.log_loss),
    Metric("micro_f1", True, "tag_probabilities", "multilabel", rm.micro_f1),
    Metric("tag_macro_f1", True, "tag_probabilities", "multilabel", rm.tag_macro_f1),
    Metric("tag_roc_auc", True, "tag_probabilities", "multilabel", rm.tag_roc_auc),
    Metric("mean_target_score", True, "targets", "multioutput", rm.mean_target_score),
    Metric("ndcg", True, "rankings", "ranking", rm.ndcg_at_k),
    Metric("mrr", True, "rankings", "ranking", rm.mrr_at_k),
    Metric("map", True, "rankings", "ranking", rm.map_at_k),
    Metric("recall", True, "rankings", "ranking", rm.recall_at_k),
    Metric("mean_iou", True, "masks", "segmentation", rm.mean_iou),
    Metric("dice", True, "masks", "segmentation", rm.dice),
]}
HIGHER_IS_BETTER = {n: m.higher_is_better for n, m in METRICS.items()}
CLASSIFICATION_METRICS = {n for n, m in METRICS.items() if m.kind == "classification"}
REGRESSION_METRICS = {n for n, m in METRICS.items() if m.kind == "regression"}
MULTILABEL_METRICS = {n for n, m in METRICS.items() if m.kind == "multilabel"}
MULTIOUTPUT_METRICS = {n for n, m in METRICS.items() if m.kind == "multioutput"}
SEGMENTATION_METRICS = {n for n, m in METRICS.items() if m.kind == "segmentation"}
RANKING_METRICS = {n for n, m in METRICS.items() if m.kind == "ranking"}
# the columns of a ranking attempt's validation predictions (oof_predictions.csv): documents retrieved for the
# held-out training queries, with their scores
RANKING_OOF_COLUMNS = ["query_id", "doc_id", "score"]


def _targets(spec: TaskSpec) -> list[dict]:
    return [t.model_dump() for t in spec.multioutput.targets] if spec.multioutput else []


def truth(spec: TaskSpec, train: pd.DataFrame):
    """The training rows' answers: the target column, or (several tags or targets) the frame of their columns."""
    return train[spec.target_columns] if spec.is_multi else train[spec.target]


def prediction_columns(spec: TaskSpec) -> list[str]:
    """The columns of raw (out-of-fold) predictions: `prediction`, or one `p::<class>` per class; per tag
    `p::<tag column>`; per target `<target>::prediction` or `<target>::p::<class>`."""
    if spec.ranking is not None:
        return ["score"]
    if spec.multilabel is not None:
        return [f"p::{c}" for c in spec.multilabel.columns]
    if spec.multioutput is not None:
        return [c for t in _targets(spec) for c in rm.target_raw_columns(t)]
    return ["prediction"] if spec.problem_type == "regression" else [f"p::{c}" for c in spec.class_labels]


def score_predictions(spec: TaskSpec, y_true: pd.Series | pd.DataFrame, pred: pd.DataFrame) -> float:
    """pred: column `prediction` (regression) or one probability column per class (`p::<class>`); several tags or
    targets: y_true is the frame of their columns, pred holds prediction_columns(spec)."""
    metric = METRICS.get(spec.metric)
    if spec.is_multi:
        if metric is None or metric.kind != spec.problem_type or metric.fn is None:
            raise ValueError(f"metric {spec.metric} does not apply to {spec.problem_type}")
        if spec.multilabel is not None:
            ml = spec.multilabel
            Y = y_true[ml.columns].to_numpy(dtype=int)
            return float(metric.fn(Y, pred[prediction_columns(spec)].to_numpy(dtype=float), ml.threshold,
                                   ml.at_least_one))
        return float(metric.fn(y_true.reset_index(drop=True), pred.reset_index(drop=True), _targets(spec)))
    scorer = Scorer(spec, exact=True)
    return scorer(scorer.answers(y_true), pred[prediction_columns(spec)].to_numpy(dtype=float))


class Scorer:
    """The task metric of a single-target task: `answers(y)` prepares the truth (labels as strings, or floats),
    `__call__(answers, P)` scores an array of the prediction_columns. Loops that score hundreds of predictions (the
    blend's greedy search, a bootstrap, a permutation test) prepare the answers once, and (unless `exact`) compute
    ROC AUC by the rank-sum identity (Mann-Whitney U, ties as average ranks), equal to scikit-learn's roc_auc_score
    (binary, and one-vs-rest macro for several classes: tested) without its per-call label checks, which are most
    of such a loop's time. Reported scores are `exact`: scikit-learn's own function."""

    def __init__(self, spec: TaskSpec, exact: bool = False):
        kind = "regression" if spec.problem_type == "regression" else "classification"
        metric = METRICS.get(spec.metric)
        if spec.is_multi or metric is None or metric.kind != kind or metric.fn is None:
            raise ValueError(f"metric {spec.metric} does not apply to {spec.problem_type if spec.is_multi else kind}")
        self.spec, self.metric, self.exact, self.regression = spec, metric, exact, kind == "regression"
        self.classes = list(spec.class_labels or [])
        self.positive = spec.positive_class

    def answers(self, y: pd.Series) -> np.ndarray:
        return y.to_numpy(dtype=float) if self.regression else y.astype(str).to_numpy()

    def __call__(self, answers: np.ndarray, P: np.ndarray) -> float:
        fn = self.metric.fn
        assert fn is not None
        if self.regression:
            return float(fn(answers, P[:, 0]))
        if self.metric.scores == "labels":
            return float(fn(answers, np.asarray(self.classes, dtype=object)[np.argmax(P, axis=1)], self.classes))
        if self.metric.name == "roc_auc" and not self.exact:
            if len(self.classes) == 2:
                pos = self.classes.index(self.positive)
                return rank_auc(answers == self.positive, P[:, pos])
            Q = P / P.sum(axis=1, keepdims=True)
            return float(np.mean([rank_auc(answers == c, Q[:, j]) for j, c in enumerate(self.classes)]))
        return float(fn(answers, P, self.classes, self.positive))


def rank_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC by the rank-sum identity: (sum of the positives' ranks - n1(n1+1)/2) / (n1 n0)."""
    from scipy.stats import rankdata

    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("ROC AUC needs both classes among the rows")
    return float((rankdata(score)[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def score_rankings(spec: TaskSpec, train: pd.DataFrame, retrieved: pd.DataFrame,
                   metric: Optional[str] = None, queries: Optional[list[str]] = None) -> float:
    """A ranking metric (the task's, or `metric`) at the task's k, over the training queries `retrieved` holds
    (or `queries`), against their judgements in `train` (query_id, doc_id, target)."""
    name = metric or spec.metric
    m = METRICS.get(name)
    if m is None or m.kind != "ranking" or m.fn is None or spec.ranking is None:
        raise ValueError(f"metric {name} does not apply to ranking")
    truth = rm.judgements_from_frame(train, rel_col=spec.target)
    ranked = rm.rankings_from_frame(retrieved)
    qs = queries if queries is not None else list(ranked)
    return float(m.fn({q: truth[q] for q in qs if q in truth}, ranked, spec.ranking.k))


def ranking_spread(spec: TaskSpec, train: pd.DataFrame, retrieved: pd.DataFrame, draws: int = 30,
                   seed: int = 0) -> Optional[float]:
    """The bootstrap spread of a ranking score over the held-out queries (resampled whole)."""
    rng = np.random.default_rng(seed)
    truth = rm.judgements_from_frame(train, rel_col=spec.target)
    ranked = rm.rankings_from_frame(retrieved)
    qs = [q for q in ranked if q in truth]
    fn = METRICS[spec.metric].fn
    if len(qs) < 3 or fn is None or spec.ranking is None:
        return None
    scores = []
    for _ in range(draws):
        pick = rng.choice(len(qs), len(qs))
        t = {f"{i}": truth[qs[j]] for i, j in enumerate(pick)}
        r = {f"{i}": ranked[qs[j]] for i, j in enumerate(pick)}
        scores.append(fn(t, r, spec.ranking.k))
    sd = float(np.nanstd(scores))
    return sd if np.isfinite(sd) else None


def score_spread(spec: TaskSpec, y_true: pd.Series | pd.DataFrame, pred: pd.DataFrame, draws: int = 30, seed: int = 0,
                 max_rows: int = 20_000) -> Optional[float]:
    """How much the score moves when the validation rows are resampled (bootstrap standard deviation): what a
    difference between two attempts must exceed to be more than noise. None when it cannot be computed."""
    rng = np.random.default_rng(seed)
    y, p = y_true.reset_index(drop=True), pred.reset_index(drop=True)
    if len(y) > max_rows:  # the spread of a large sample shrinks as 1/sqrt(n): estimate it on a subsample
        keep = rng.choice(len(y), max_rows, replace=False)
        y, p = y.iloc[keep].reset_index(drop=True), p.iloc[keep].reset_index(drop=True)
    if spec.is_multi:
        def score(idx: np.ndarray) -> float:
            return score_predictions(spec, y.iloc[idx].reset_index(drop=True), p.iloc[idx].reset_index(drop=True))
    else:
        scorer, P = Scorer(spec), p[prediction_columns(spec)].to_numpy(dtype=float)
        answers = scorer.answers(y)

        def score(idx: np.ndarray) -> float:
            return scorer(answers[idx], P[idx])
    scores = []
    for _ in range(draws):
        idx = rng.integers(0, len(y), len(y))
        try:
            scores.append(score(idx))
        except ValueError:  # a resample with one class only (AUC undefined)
            continue
    if len(scores) < draws // 2:
        return None
    sd = float(np.std(scores)) * (np.sqrt(len(y) / len(y_true)) if len(y_true) > len(y) else 1.0)
    return sd if np.isfinite(sd) else None


def forecast_score(spec: TaskSpec, frame: pd.DataFrame, pred: pd.Series) -> float:
    """frame: item, time (`__t__`), target, `__row__`, `__held__` (rows forecast); pred: row -> forecast.
    MASE: per series, MAE on the held rows over the in-sample seasonal-naive MAE, averaged over series."""
    ts = spec.timeseries
    m = max(1, ts.season_period)
    truth, forecast, series, scale = [], [], [], []
    for key, g in frame.sort_values("__t__").groupby(ts.item_column, sort=False):
        held = g[g["__held__"]]
        if held.empty:
            continue
        hist = g.loc[~g["__held__"], spec.target].to_numpy(dtype=float)
        truth.append(held[spec.target].to_numpy(dtype=float))
        forecast.append(pred.loc[held["__row__"]].to_numpy(dtype=float))
        series += [key] * len(held)
        scale += [rm.mase_scale(hist, m)] * len(held)
    yt, yp = np.concatenate(truth), np.concatenate(forecast)
    if spec.metric == "mase":
        return rm.mase(yt, yp, series, scale)
    tmp = spec.model_copy(update={"problem_type": "regression", "timeseries": None})
    return score_predictions(tmp, pd.Series(yt), pd.DataFrame({"prediction": yp}))


def constant_baseline(spec: TaskSpec, y: pd.Series | pd.DataFrame) -> float:
    """The score of predicting a constant (prior / mean): what a useful model must beat. Several tags: each
    tag's frequency as its probability; several targets: each target's mean or class frequencies."""
    if spec.ranking is not None:
        raise ValueError("a ranking has no constant baseline")
    if spec.multilabel is not None:
        freq = y[spec.multilabel.columns].astype(float).mean()
        pred = pd.DataFrame({f"p::{c}": np.full(len(y), freq[c]) for c in spec.multilabel.columns})
        return score_predictions(spec, y, pred)
    if spec.multioutput is not None:
        cols: dict[str, np.ndarray] = {}
        for t in _targets(spec):
            if t["problem_type"] == "regression":
                cols[f"{t['name']}::prediction"] = np.full(len(y), float(y[t["name"]].astype(float).mean()))
            else:
                share = y[t["name"]].astype(str).value_counts(normalize=True)
                for c, col in zip(t["class_labels"], rm.target_raw_columns(t)):
                    cols[col] = np.full(len(y), share.get(c, 0.0))
        return score_predictions(spec, y, pd.DataFrame(cols))
    if spec.problem_type == "regression":
        c = float(np.expm1(np.log1p(y.clip(lower=0)).mean())) if spec.metric == "rmsle" else float(
            y.median() if spec.metric == "mae" else y.mean())
        return score_predictions(spec, y, pd.DataFrame({"prediction": np.full(len(y), c)}))
    freq = y.astype(str).value_counts(normalize=True)
    pred = pd.DataFrame({f"p::{c}": np.full(len(y), freq.get(c, 0.0)) for c in spec.class_labels})
    return score_predictions(spec, y, pred)


def score_masks(spec: TaskSpec, true_masks: list, pred_masks: list, metric: Optional[str] = None) -> float:
    """A segmentation metric (the task's, or `metric`) over lists of class-index masks."""
    m = METRICS.get(metric or spec.metric)
    if m is None or m.kind != "segmentation" or m.fn is None:
        raise ValueError(f"metric {metric or spec.metric} does not apply to segmentation")
    n = len(spec.segmentation.classes) if spec.segmentation else 1 + max(int(np.max(t)) for t in true_masks)
    return float(m.fn(true_masks, pred_masks, n))


def is_better(spec: TaskSpec, a: float, b: float | None) -> bool:
    if b is None:
        return True
    return a > b if spec.higher_is_better else a < b
