"""The metric registry (issue #11, item 6): one entry per metric, used by perception, validation, ensembling and
the report. Each metric is checked on a small hand-made example against scikit-learn or its textbook formula."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlwright.perception.task_text import _METRIC_PATTERNS, parse_task_text
from mlwright.schemas import TaskSpec
from mlwright.validation.metrics import (CLASSIFICATION_METRICS, HIGHER_IS_BETTER, METRICS, RANKING_METRICS,
                                         REGRESSION_METRICS, Scorer, constant_baseline, is_better,
                                         score_predictions)

Y = pd.Series([3.0, -0.5, 2.0, 7.0, 4.0])
P = np.array([2.5, 0.0, 2.0, 8.0, 3.0])


def _spec(problem: str, metric: str, classes=(), positive=None) -> TaskSpec:
    return TaskSpec(problem_type=problem, target="y", metric=metric, higher_is_better=HIGHER_IS_BETTER[metric],
                    train_table="t", test_table="u", id_column="id", prediction_file="p.csv",
                    output_id_column="id", output_columns=["id", "y"], output_kind="label",
                    class_labels=list(classes), positive_class=positive, feature_columns=["a"], n_train_rows=5,
                    n_test_rows=5)


@pytest.mark.parametrize("metric, want", [
    ("rmse", np.sqrt(skm.mean_squared_error(Y, P))), ("mse", skm.mean_squared_error(Y, P)),
    ("mae", skm.mean_absolute_error(Y, P)), ("r2", skm.r2_score(Y, P)),
    ("mape", skm.mean_absolute_percentage_error(Y, P)),
    ("rmsle", np.sqrt(skm.mean_squared_log_error(Y.clip(lower=0), np.clip(P, 0, None))))])
def test_regression_metrics(metric, want):
    got = score_predictions(_spec("regression", metric), Y, pd.DataFrame({"prediction": P}))
    assert got == pytest.approx(want)


YC = pd.Series(["a", "b", "c", "a", "b", "c"])
PROBA = np.array([[.7, .2, .1], [.2, .5, .3], [.1, .6, .3], [.4, .4, .2], [.3, .3, .4], [.2, .2, .6]])


@pytest.mark.parametrize("metric, want", [
    ("accuracy", 4 / 6), ("balanced_accuracy", skm.balanced_accuracy_score(YC, ["a", "b", "b", "a", "c", "c"])),
    ("macro_f1", skm.f1_score(YC, ["a", "b", "b", "a", "c", "c"], average="macro")),
    ("log_loss", skm.log_loss(YC, PROBA, labels=["a", "b", "c"])),
    ("roc_auc", skm.roc_auc_score(YC, PROBA, multi_class="ovr", labels=["a", "b", "c"]))])
def test_classification_metrics(metric, want):
    pred = pd.DataFrame(PROBA, columns=["p::a", "p::b", "p::c"])
    got = score_predictions(_spec("multiclass", metric, ("a", "b", "c")), YC, pred)
    assert got == pytest.approx(want)  # ties (row 4: .4/.4) go to the first class, as argmax does


def test_binary_roc_auc_scores_the_positive_class():
    y = pd.Series(["no", "yes", "yes", "no"])
    pred = pd.DataFrame({"p::no": [.9, .2, .4, .3], "p::yes": [.1, .8, .6, .7]})
    spec = _spec("binary", "roc_auc", ("no", "yes"), positive="yes")
    assert score_predictions(spec, y, pred) == pytest.approx(skm.roc_auc_score([0, 1, 1, 0], [.1, .8, .6, .7]))


def test_the_registry_is_the_one_list():
    from mlwright.validation.metrics import MULTILABEL_METRICS, MULTIOUTPUT_METRICS, SEGMENTATION_METRICS

    assert set(HIGHER_IS_BETTER) == set(METRICS) == (CLASSIFICATION_METRICS | REGRESSION_METRICS | MULTILABEL_METRICS
                                                     | MULTIOUTPUT_METRICS | RANKING_METRICS | SEGMENTATION_METRICS)
    assert not CLASSIFICATION_METRICS & REGRESSION_METRICS
    assert {m for m, _ in _METRIC_PATTERNS} <= set(METRICS)  # every metric a task can name is scored
    assert parse_task_text("Metric: macro F1").metric == "macro_f1"
    for name, m in METRICS.items():
        assert m.higher_is_better == (name in {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "r2",
                                               "micro_f1", "tag_macro_f1", "tag_roc_auc", "mean_target_score",
                                               "mean_iou", "dice"} | RANKING_METRICS)


def test_a_metric_of_the_wrong_kind_is_refused_and_direction_decides_better():
    with pytest.raises(ValueError, match="does not apply"):
        score_predictions(_spec("regression", "accuracy"), Y, pd.DataFrame({"prediction": P}))
    assert is_better(_spec("regression", "rmse"), 1.0, 2.0) and not is_better(_spec("regression", "r2"), 0.1, 0.2)
    assert constant_baseline(_spec("regression", "mae"), Y) == pytest.approx(np.mean(np.abs(Y - Y.median())))


def test_the_scripts_and_mlwright_score_with_the_same_functions():
    """The registry's functions are the script runtime's (mlwright.runtime.metrics, pasted into every script)."""
    from mlwright.runtime import metrics as rm

    for name, m in METRICS.items():
        if m.fn is not None:  # ranking metrics: named by their cut-off (ndcg_at_k...), never `map` over the builtin
            assert m.fn is (rm.RANKING_METRICS[name] if m.kind == "ranking" else getattr(rm, name)), name
    table = {**rm.VALUE_METRICS, **rm.LABEL_METRICS, **rm.PROBA_METRICS, **rm.TAG_METRICS, **rm.TARGET_METRICS,
             **rm.RANKING_METRICS, **rm.MASK_METRICS}
    assert set(table) == {n for n, m in METRICS.items() if m.fn is not None}


def test_mase_is_finite_for_flat_and_short_series():
    """One MASE: a flat history (seasonal-naive MAE 0) falls back to the mean absolute value, then 1, and so does
    an empty one (where the validation's own copy of the formula gave NaN)."""
    from mlwright.runtime.metrics import mase, mase_scale
    from mlwright.schemas import TimeSeriesSpec
    from mlwright.validation.metrics import forecast_score

    assert mase_scale([5, 5, 5, 5], 2) == 5.0 and mase_scale([0, 0, 0], 1) == 1.0 and mase_scale([], 4) == 1.0
    assert mase_scale([1, 3, 2, 4], 1) == pytest.approx(np.mean([2, 1, 2]))
    assert mase([1, 2, 3, 4], [1, 2, 5, 5], ["a", "a", "b", "b"], [1, 1, 2, 2]) == pytest.approx((0 + 0.75) / 2)
    spec = _spec("regression", "mase").model_copy(update={"timeseries": TimeSeriesSpec(
        item_column="item", timestamp_column="t", horizon=1, season_period=1)})
    frame = pd.DataFrame({"item": ["a"] * 3 + ["b"] * 3, "__t__": [1, 2, 3] * 2, "y": [0.0, 0.0, 0.0, 1, 3, 2],
                          "__row__": range(6), "__held__": [False, False, True] * 2})
    got = forecast_score(spec.model_copy(update={"target": "y"}), frame, pd.Series([0, 0, 1.0, 0, 0, 4.0]))
    assert got == pytest.approx((1.0 / 1.0 + 2.0 / 2.0) / 2)


def test_a_forecast_with_missing_values_is_invalid_not_flattered(tmp_path):
    from mlwright.runtime.metrics import mase
    from mlwright.schemas import TimeSeriesSpec
    from mlwright.validation.checks import ValidationFailure, score_oof

    assert np.isnan(mase([1.0, 2.0], [1.0, np.nan], ["a", "a"], [1.0, 1.0]))
    spec = _spec("regression", "mase").model_copy(update={"target": "y", "timeseries": TimeSeriesSpec(
        item_column="item", timestamp_column="t", horizon=1, season_period=1)})
    train = pd.DataFrame({"item": ["a"] * 3 + ["b"] * 3, "t": ["2020-01-01", "2020-02-01", "2020-03-01"] * 2,
                          "y": [1.0, 2.0, 3.0, 1.0, 3.0, 2.0]})
    oof = tmp_path / "oof.csv"
    pd.DataFrame({"__row__": [2, 5], "prediction": [3.0, np.nan]}).to_csv(oof, index=False)
    with pytest.raises(ValidationFailure, match="NaN"):
        score_oof(spec, oof, train)
    pd.DataFrame({"__row__": [2, 5], "prediction": [3.0, 2.5]}).to_csv(oof, index=False)
    assert score_oof(spec, oof, train)[0] == pytest.approx((0 / 1 + 0.5 / 2) / 2)


def test_score_spread_shrinks_with_more_rows_and_is_zero_for_perfect_predictions():
    """The bootstrap spread the planner and the ablation study read as noise: about 1/sqrt(n)."""
    from mlwright.validation.metrics import score_spread

    spec = TaskSpec(problem_type="binary", target="y", metric="roc_auc", higher_is_better=True, train_table="t",
                    test_table=None, id_column=None, prediction_file="p.csv", output_id_column=None,
                    output_columns=["y"], output_kind="probability", class_labels=["0", "1"], positive_class="1",
                    feature_columns=["x"], n_train_rows=10, n_test_rows=1)
    rng = np.random.default_rng(0)

    def spread(n, noise):
        y = rng.integers(0, 2, n)
        p = np.clip(y + rng.normal(0, noise, n), 0, 1)
        return score_spread(spec, pd.Series(y.astype(str)), pd.DataFrame({"p::0": 1 - p, "p::1": p}))

    small, large = spread(200, 0.8), spread(20_000, 0.8)
    assert 0 < large < small and 5 < small / large < 20  # sqrt(100) = 10
    assert spread(200, 0.0) == 0.0


@pytest.mark.parametrize("metric, classes, positive", [
    ("roc_auc", ("no", "yes"), "yes"), ("roc_auc", ("a", "b", "c"), None), ("log_loss", ("a", "b", "c"), None),
    ("accuracy", ("a", "b", "c"), None), ("balanced_accuracy", ("no", "yes"), "yes"),
    ("macro_f1", ("a", "b", "c"), None), ("rmse", (), None), ("rmsle", (), None), ("r2", (), None)])
def test_the_prepared_scorer_equals_the_metric_on_every_resample(metric, classes, positive):
    """The blend's search and the bootstrap score hundreds of predictions with Scorer: it must give the metric's own
    value (scikit-learn's), ties in the scores included (the rank-sum ROC AUC averages tied ranks)."""
    rng = np.random.default_rng(3)
    n = 600
    problem = "regression" if not classes else ("binary" if len(classes) == 2 else "multiclass")
    spec = _spec(problem, metric, classes, positive)
    if classes:
        y = pd.Series(rng.choice(list(classes), n))
        P = rng.dirichlet(np.ones(len(classes)), n).round(1) + 1e-3  # rounded: many tied scores
        P = P / P.sum(axis=1, keepdims=True)
    else:
        y = pd.Series(rng.gamma(2.0, 3.0, n))
        P = (y.to_numpy() + rng.normal(0, 2, n)).clip(0)[:, None]
    cols = [f"p::{c}" for c in classes] or ["prediction"]
    scorer = Scorer(spec)
    answers = scorer.answers(y)
    for _ in range(5):
        idx = rng.integers(0, n, n)
        want = score_predictions(spec, y.iloc[idx].reset_index(drop=True), pd.DataFrame(P[idx], columns=cols))
        assert scorer(answers[idx], P[idx]) == pytest.approx(want, rel=1e-12, abs=1e-12)
    if metric == "roc_auc":  # a resample of one class: undefined, as in scikit-learn
        with pytest.raises(ValueError):
            scorer(answers[answers == answers[0]], P[answers == answers[0]])
