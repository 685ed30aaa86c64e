"""The Python API runs the real pipeline in-process: on in-memory tables and on a folder, and the result
predicts new rows with the saved model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlwright
from conftest import make_classification_frame, make_regression_frame, split_write, tree_digest
from mlwright.errors import MlwrightError


def test_solve_on_a_dict_of_dataframes_and_predict_new_rows(tmp_path):
    df = make_classification_frame()
    train, test = df.iloc[60:], df.iloc[:60].drop(columns=["label"])
    result = mlwright.solve({"train.csv": train, "test.csv": test},
                            "predict label as the probability of yes; write churn.csv with customer_id,label",
                            output=tmp_path / "run", time_limit=30, use_autogluon=False)
    assert isinstance(result, mlwright.Result)
    assert result.metric == "roc_auc" and result.score > 0.8
    assert result.spec.target == "label" and result.spec.problem_type == "binary"
    assert list(result.predictions.columns) == ["customer_id", "label"]
    assert sorted(result.predictions["customer_id"]) == sorted(test["customer_id"])
    assert result.run_dir == (tmp_path / "run").resolve() and result.summary.status == "succeeded"
    assert result.report_path.is_file() and "def " in result.best_script
    new = make_classification_frame(n=25, seed=5).drop(columns=["label"])
    pred = result.predict(new)
    assert len(pred) == 25 and list(pred.columns) == ["customer_id", "label"]
    assert pred["label"].between(0, 1).all()
    again = mlwright.Result.load(result.run_dir)  # a run folder is a reusable result
    assert again.score == result.score and len(again.predictions) == 60


def test_solve_on_a_folder(tmp_path):
    data = split_write(make_regression_frame(), tmp_path / "houses", "price")
    before = tree_digest(data)
    events = []
    result = mlwright.solve(data, "predict the price. Metric: MAE", output=tmp_path / "run", time_limit=30,
                            use_autogluon=False, on_event=lambda stage, msg, d: events.append(stage))
    assert result.metric == "mae" and result.spec.problem_type == "regression"
    assert len(result.predictions) == 60 and "done" in events
    assert tree_digest(data) == before
    pred = result.predict(make_regression_frame(n=10, seed=3).drop(columns=["price"]))
    assert len(pred) == 10


def test_solve_refuses_bad_input(tmp_path):
    with pytest.raises(MlwrightError, match="empty"):
        mlwright.solve(tmp_path, " ")
    with pytest.raises(MlwrightError, match="ask"):
        mlwright.solve(tmp_path, "predict y", interactive=True)
    with pytest.raises(MlwrightError, match="llm_settings"):
        mlwright.solve(tmp_path, "predict y", llm="openai")
    with pytest.raises(TypeError, match="unknown options: colour"):
        mlwright.solve(tmp_path, "predict y", colour="red")
    with pytest.raises(MlwrightError, match="plain file name"):
        mlwright.solve({"../x.csv": pd.DataFrame({"a": [1]})}, "predict a", output=tmp_path / "r")
    with pytest.raises(MlwrightError, match="not empty"):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("x")
        mlwright.solve(tmp_path / "nowhere", "predict y", output=tmp_path / "full")


def test_task_fit_in_autogluons_shape_with_training_rows_only(tmp_path):
    """Task(words).fit(train_df): the target named in the words is found in the training frame alone; the
    predictor gives labels, probabilities, the leaderboard and feature importance as frames, and survives
    save/load; errors speak Python (argument names), not CLI flags."""
    import mlwright
    from conftest import make_classification_frame

    train = make_classification_frame(n=240)
    predictor = mlwright.Task("predict label", verbosity=0).fit(train, time_limit=40, output=tmp_path / "run",
                                                                use_autogluon=False)
    assert predictor.target == "label" and predictor.problem_type == "binary" and predictor.score > 0.8
    new = make_classification_frame(n=30, seed=5).drop(columns=["label"])
    labels = predictor.predict(new)
    assert isinstance(labels, pd.Series) and len(labels) == 30 and set(labels) <= {"no", "yes"}
    proba = predictor.predict_proba(new)
    assert list(proba.columns) == ["no", "yes"] and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.idxmax(axis=1) == labels).all()
    board = predictor.leaderboard()
    assert isinstance(board, pd.DataFrame) and board.loc[0, "status"] == "succeeded"
    imp = predictor.feature_importance()
    assert list(imp.columns[:2]) == ["feature", "importance"] and imp["importance"].is_monotonic_decreasing
    assert predictor.report().is_file()
    again = mlwright.Predictor.load(predictor.save(tmp_path / "saved"))
    assert (again.predict(new) == labels).all()
    with pytest.raises(ValueError, match='target="COLUMN"'):
        mlwright.Task("predict something", verbosity=0).fit(train, time_limit=30)
    with pytest.raises(MlwrightError) as e:
        mlwright.solve(train, "predict the churn risk", output=tmp_path / "amb", time_limit=30)
    assert 'target="COLUMN"' in str(e.value) and "--target" not in str(e.value)
