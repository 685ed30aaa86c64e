"""report.html from a real journal, real out-of-fold predictions and real optional files."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_predict

from mlwright.journal.store import JOURNAL_NAME, Journal
from mlwright.report.html import write_report
from mlwright.schemas import AttemptRecord, BestAttempt, RunSummary, TaskSpec
from mlwright.validation.metrics import score_predictions

PNG = "data:image/png;base64,"
EVIL_ERROR = 'exit code 1: KeyError: <script>alert("x")</script> & column \'petal\' missing'


def _record(run: Path, attempt_id: int, recipe: str, status: str, **kw) -> AttemptRecord:
    wd = run / "attempts" / f"{attempt_id:03d}-{recipe}"
    wd.mkdir(parents=True)
    now = time.time()
    return AttemptRecord(attempt_id=attempt_id, kind="draft", recipe=recipe, title=f"{recipe} draft", status=status,
                         started_at=now - 5, ended_at=now, seconds=4.2, time_budget_s=60, workdir=str(wd), **kw)


def _spec(**kw) -> TaskSpec:
    base = dict(train_table="train.csv", test_table="test.csv", id_column="id", prediction_file="submission.csv",
                output_id_column="id", n_test_rows=10, notes=["target named in the task text"])
    return TaskSpec(**(base | kw))


def test_classification_report(tmp_path: Path) -> None:
    iris = load_iris(as_frame=True)
    X = iris.data
    train = X.assign(species=iris.target.map(dict(enumerate(iris.target_names))))
    classes = sorted(train["species"].unique())
    spec = _spec(problem_type="multiclass", target="species", metric="accuracy", higher_is_better=True,
                 output_columns=["id", "species"], output_kind="label", class_labels=classes,
                 feature_columns=list(X.columns), dropped_columns={"row_id": "an identifier <unique per row>"},
                 n_train_rows=len(train))
    journal = Journal(tmp_path / JOURNAL_NAME)
    journal.event("perception", "task: multiclass on 'species'")

    good = _record(tmp_path, 1, "lightgbm_baseline", "succeeded", metric="accuracy")
    wd = Path(good.workdir)
    proba = cross_val_predict(LogisticRegression(max_iter=1000), X, train["species"], cv=5, method="predict_proba")
    oof = pd.DataFrame({"__row__": np.arange(len(train))} | {f"p::{c}": proba[:, i] for i, c in enumerate(classes)})
    oof.to_csv(wd / "oof_predictions.csv", index=False)
    rf = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, train["species"])
    pd.DataFrame({"feature": X.columns, "importance": rf.feature_importances_}).to_csv(
        wd / "feature_importance.csv", index=False)
    pd.DataFrame({"model": ["WeightedEnsemble_L2", "LightGBM_BAG_L1"], "score_val": [0.966666, 0.953333],
                  "eval_metric": ["accuracy", "accuracy"], "pred_time_val": [0.0123456, 0.01],
                  "fit_time": [1.23456, 1.1], "stack_level": [2, 1]}).to_csv(wd / "leaderboard.csv", index=False)
    score = score_predictions(spec, train["species"], oof.drop(columns="__row__"))
    good.score, good.validation_rows = score, len(oof)
    journal.save_attempt(good)
    journal.save_attempt(_record(tmp_path, 2, "autogluon_tabular", "failed", parent_id=1, error=EVIL_ERROR))

    pd.DataFrame({"id": range(10), "species": ["setosa"] * 10}).to_csv(tmp_path / "submission.csv", index=False)
    summary = RunSummary(status="succeeded", data_dir="/data/iris", output_dir=str(tmp_path),
                         task_text="## Goal\nPredict the **species** of <each> flower", time_limit_s=120, task=spec,
                         best=BestAttempt(attempt_id=1, recipe="lightgbm_baseline", metric="accuracy",
                                          validation_score=score, higher_is_better=True),
                         attempts=2, attempts_failed=1, wall_seconds=12.5,
                         prediction_path=str(tmp_path / "submission.csv"))
    path = write_report(tmp_path, summary, journal, train)

    assert path == tmp_path / "report.html"
    html = path.read_text()
    assert html.count(PNG) == 3  # importance, confusion matrix (labels are the output), attempts timeline
    assert "the confusion matrix of the predicted labels" in html
    assert "<h2>Data profile</h2>" in html and "<code>sepal length (cm)</code>" in html and "150 training rows" in html
    assert "<h2>Predictions preview</h2>" in html and "The first rows of submission.csv" in html
    assert "## Goal" not in html and "**" not in html  # the task as text, not markdown
    for internal in ("oof_predictions", "feature_importance.csv", "leaderboard.csv", "stdout.txt"):
        assert internal not in html
    assert "species" in html and "higher is better" in html
    assert "lightgbm_baseline draft" in html and "autogluon_tabular draft" in html
    assert 'class="best"' in html and "WeightedEnsemble_L2" in html
    assert "&lt;script&gt;alert(" in html and "<script>" not in html
    assert "Predict the species of &lt;each&gt; flower" in html
    assert "an identifier &lt;unique per row&gt;" in html
    assert f"{score:.5g}" in html
    assert "not available" not in html
    assert "http://" not in html and "https://" not in html  # self-contained


def test_regression_report_without_optional_files(tmp_path: Path) -> None:
    d = load_diabetes(as_frame=True)
    train = d.data.assign(progression=d.target)
    spec = _spec(problem_type="regression", target="progression", metric="rmse", higher_is_better=False,
                 output_columns=["id", "progression"], output_kind="value", feature_columns=list(d.data.columns),
                 n_train_rows=len(train))
    journal = Journal(tmp_path / JOURNAL_NAME)
    rec = _record(tmp_path, 1, "linear", "succeeded", metric="rmse")
    rows = np.arange(0, len(train), 2)  # a holdout-like subset: __row__ must index into train
    pred = cross_val_predict(Ridge(alpha=0.1), d.data.iloc[rows], d.target.iloc[rows], cv=5)
    pd.DataFrame({"__row__": rows, "prediction": pred}).to_csv(Path(rec.workdir) / "oof_predictions.csv", index=False)
    rec.score = score_predictions(spec, d.target.iloc[rows].reset_index(drop=True), pd.DataFrame({"prediction": pred}))
    journal.save_attempt(rec)
    summary = RunSummary(status="succeeded", data_dir="/data", output_dir=str(tmp_path), task_text="predict it",
                         time_limit_s=60, task=spec, attempts=1,
                         best=BestAttempt(attempt_id=1, recipe="linear", metric="rmse",
                                          validation_score=rec.score, higher_is_better=False))

    html = write_report(tmp_path, summary, journal, train).read_text()

    assert html.count(PNG) == 2  # predicted vs actual with the residuals, the attempts timeline
    assert "predicted against actual values, and the residuals" in html
    assert "Leaderboard not available" in html and "Feature importance not available" in html
    assert "model gives no feature importance" in html
    assert "lower is better" in html and f"rmse = {rec.score:.5g}" in html


def test_corrupt_files_degrade_to_a_line(tmp_path: Path) -> None:
    train = pd.DataFrame({"x": np.arange(20.0), "y": ["a", "b"] * 10})
    spec = _spec(problem_type="binary", target="y", metric="roc_auc", higher_is_better=True,
                 output_columns=["id", "y"], output_kind="probability", class_labels=["a", "b"],
                 positive_class="b", feature_columns=["x"], n_train_rows=20)
    journal = Journal(tmp_path / JOURNAL_NAME)
    rec = _record(tmp_path, 1, "lgbm", "succeeded", score=0.5)
    wd = Path(rec.workdir)
    (wd / "oof_predictions.csv").write_text("__row__,p::a\n0,0.3\n")  # lacks p::b
    (wd / "feature_importance.csv").write_bytes(b"\x00\xff\xfe garbage")
    (wd / "leaderboard.csv").write_text("")
    journal.save_attempt(rec)
    summary = RunSummary(status="succeeded", data_dir="/d", output_dir=str(tmp_path), task_text="t", time_limit_s=60,
                         task=spec, best=BestAttempt(attempt_id=1, recipe="lgbm", metric="roc_auc",
                                                     validation_score=0.5, higher_is_better=True))

    html = write_report(tmp_path, summary, journal, train).read_text()

    assert html.count(PNG) == 1  # the attempts timeline only
    for name in ("Leaderboard", "Feature importance", "Validation plot"):
        assert f"{name} not available" in html


def test_a_probability_task_gets_roc_pr_and_calibration_curves_not_a_cut_off(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = np.where(x + rng.normal(scale=0.8, size=400) > 0, "yes", "no")
    train = pd.DataFrame({"x": x, "churn": y})
    spec = _spec(problem_type="binary", target="churn", metric="roc_auc", higher_is_better=True,
                 output_columns=["id", "churn"], output_kind="probability", class_labels=["no", "yes"],
                 positive_class="yes", feature_columns=["x"], n_train_rows=400)
    journal = Journal(tmp_path / JOURNAL_NAME)
    rec = _record(tmp_path, 1, "lgbm", "succeeded", metric="roc_auc")
    p = cross_val_predict(LogisticRegression(), train[["x"]], train["churn"], cv=5, method="predict_proba")
    pd.DataFrame({"__row__": np.arange(400), "p::no": p[:, 0], "p::yes": p[:, 1]}).to_csv(
        Path(rec.workdir) / "oof_predictions.csv", index=False)
    rec.score = 0.8
    journal.save_attempt(rec)
    summary = RunSummary(status="succeeded", data_dir="/d", output_dir=str(tmp_path), task_text="t", time_limit_s=60,
                         task=spec, best=BestAttempt(attempt_id=1, recipe="lgbm", metric="roc_auc",
                                                     validation_score=0.8, higher_is_better=True))
    html = write_report(tmp_path, summary, journal, train).read_text()
    assert "ROC and precision-recall curves, and the calibration of the probabilities" in html
    assert "confusion matrix" not in html


def test_feature_work_table_for_each_attempt_that_screened_groups(tmp_path: Path) -> None:
    """feature_work.json (runtime/features.py) as a table: group, columns, score without and with, the change in
    the metric's good direction, kept or not; attempts without the file add nothing, and none at all: no section."""
    d = load_diabetes(as_frame=True)
    train = d.data.assign(progression=d.target)
    spec = _spec(problem_type="regression", target="progression", metric="rmse", higher_is_better=False,
                 output_columns=["id", "progression"], output_kind="value", feature_columns=list(d.data.columns),
                 n_train_rows=len(train))
    journal = Journal(tmp_path / JOURNAL_NAME)
    pred = cross_val_predict(Ridge(alpha=0.1), d.data, d.target, cv=5)
    recs = [_record(tmp_path, 1, "lightgbm_baseline", "succeeded", metric="rmse"),
            _record(tmp_path, 2, "linear_model", "succeeded", metric="rmse")]
    for rec in recs:
        pd.DataFrame({"__row__": np.arange(len(train)), "prediction": pred}).to_csv(
            Path(rec.workdir) / "oof_predictions.csv", index=False)
        rec.score = score_predictions(spec, d.target, pd.DataFrame({"prediction": pred}))
        journal.save_attempt(rec)
    summary = RunSummary(status="succeeded", data_dir="/data", output_dir=str(tmp_path), task_text="predict it",
                         time_limit_s=60, task=spec, attempts=2,
                         best=BestAttempt(attempt_id=2, recipe="linear_model", metric="rmse",
                                          validation_score=recs[1].score, higher_is_better=False))
    assert "Feature work" not in write_report(tmp_path, summary, journal, train).read_text()

    (Path(recs[0].workdir) / "feature_work.json").write_text(json.dumps({
        "metric": "rmse", "higher_is_better": False, "screen_folds": 3, "screen_rows": 442, "groups": [
            {"group": "frequency", "columns": ["sex"], "score_without": 60.0, "score_with": 58.5, "kept": True},
            {"group": "target", "columns": ["sex", "<b>zip</b>"], "score_without": 58.5, "score_with": 59.25,
             "kept": False},
            {"group": "text", "columns": ["note"], "score_without": None, "score_with": None, "kept": False,
             "note": "skipped: the screen's 12s were spent"}]}))
    html = write_report(tmp_path, summary, journal, train).read_text()

    table = html[html.index("<h2>Feature work</h2>"):html.index("<h2>Validation plot</h2>")]
    assert "#1 lightgbm_baseline" in table and "#2 linear_model" not in table
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(<td.*?)</tr>", table)]
    assert rows == [["frequency", "sex", "60", "58.5", "+1.5", "yes", ""],  # rmse down by 1.5: better
                    ["target", "sex, &lt;b&gt;zip&lt;/b&gt;", "58.5", "59.25", "-0.75", "no", ""],
                    ["text", "note", "", "", "", "no", "skipped: the screen&#39;s 12s were spent"]]
    assert "Feature work not available" not in html and "feature_work.json" not in html
