"""Task understanding: text hints and TaskSpec inference on generated tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import make_classification_frame, make_regression_frame
from mlwright.errors import AmbiguousTaskError, DataError
from mlwright.perception.infer import infer_task
from mlwright.perception.task_text import parse_task_text


def _tables(df, target, n_test=50, train="train.csv", test="test.csv"):
    return {train: df.iloc[n_test:].reset_index(drop=True),
            test: df.iloc[:n_test].drop(columns=[target]).reset_index(drop=True)}


@pytest.mark.parametrize("text,file,cols,metric,proba", [
    ("predict the sale price; write submission.csv with Id,SalePrice", "submission.csv", ["Id", "SalePrice"], None,
     False),
    ("Write `out.csv` with columns `id,species`. Metric: accuracy.", "out.csv", ["id", "species"], "accuracy", False),
    ("save them as preds.csv with columns customer_id and churn (churn = probability)", "preds.csv",
     ["customer_id", "churn"], None, True),
    ("Evaluated with RMSE on the log of the price (RMSLE).", None, [], "rmsle", False),
    ("Metric: ROC AUC", None, [], "roc_auc", False),
    ("we score by mean absolute error", None, [], "mae", False),
    ("macro F1 please", None, [], "macro_f1", False),
])
def test_text_hints(text, file, cols, metric, proba):
    h = parse_task_text(text, ["train.csv"])
    assert h.prediction_file == file
    assert h.output_columns == cols
    assert h.metric == metric
    assert h.wants_probabilities == proba


def test_binary_with_probabilities_and_named_output():
    df = make_classification_frame()
    h = parse_task_text("which customers say yes? write probs.csv with columns customer_id,label (probability of yes)")
    spec = infer_task(_tables(df, "label"), h).spec
    assert (spec.problem_type, spec.target, spec.metric) == ("binary", "label", "roc_auc")
    assert spec.output_kind == "probability" and spec.positive_class == "yes"
    assert spec.id_column == "customer_id" and spec.output_columns == ["customer_id", "label"]
    assert "customer_id" not in spec.feature_columns and set(spec.feature_columns) == {"x1", "x2", "color"}
    assert spec.prediction_file == "probs.csv"


def test_output_column_named_differently_from_target():
    df = make_classification_frame().rename(columns={"label": "left_company"})
    h = parse_task_text("give me probabilities; predictions.csv with columns customer_id and churn")
    spec = infer_task({"history.csv": df.iloc[50:], "current.csv": df.iloc[:50].drop(columns=["left_company"])}, h).spec
    assert spec.target == "left_company" and spec.output_columns == ["customer_id", "churn"]
    assert spec.train_table == "history.csv" and spec.test_table == "current.csv"


def test_a_task_naming_no_column_warns_which_column_was_chosen_and_why():
    from mlwright.perception.infer import WARNING

    df = make_classification_frame()
    spec = infer_task(_tables(df, "label"), parse_task_text("predict which customers leave")).spec
    warned = [n for n in spec.notes if n.startswith(WARNING)]
    assert spec.target == "label" and len(warned) == 1
    assert "'which customers leave'" in warned[0] and "'label', the only column" in warned[0]
    named = infer_task(_tables(df, "label"), parse_task_text("predict label from x1 and color")).spec
    assert not [n for n in named.notes if n.startswith(WARNING)]  # the words name a column: nothing to warn of


def test_regression_multiclass_and_defaults():
    spec = infer_task(_tables(make_regression_frame(), "price"), parse_task_text("predict the price")).spec
    assert (spec.problem_type, spec.metric, spec.id_column) == ("regression", "rmse", "Id")
    assert spec.output_columns == ["Id", "price"] and spec.prediction_file == "predictions.csv"
    df = make_classification_frame(classes=("a", "b", "c"))
    spec = infer_task(_tables(df, "label"), parse_task_text("classify each row")).spec
    assert (spec.problem_type, spec.metric, spec.output_kind) == ("multiclass", "accuracy", "label")
    assert spec.class_labels == ["a", "b", "c"]


def test_sample_submission_sets_format():
    df = make_regression_frame()
    tables = _tables(df, "price")
    tables["sample_submission.csv"] = pd.DataFrame({"Id": df["Id"].iloc[:50], "price": 0.0})
    spec = infer_task(tables, parse_task_text("predict prices")).spec
    assert spec.sample_submission == "sample_submission.csv" and spec.output_columns == ["Id", "price"]
    assert spec.test_table == "test.csv"


def test_ambiguous_target_lists_candidates():
    df = make_classification_frame()
    df["other_outcome"] = np.arange(len(df)) % 3
    tables = {"train.csv": df.iloc[50:], "test.csv": df.iloc[:50].drop(columns=["label", "other_outcome"])}
    with pytest.raises(AmbiguousTaskError) as e:
        infer_task(tables, parse_task_text("predict something useful"))
    assert set(e.value.candidates) == {"label", "other_outcome"}
    assert "--target" in str(e.value)
    # the user's answer (interactive) or --target resolves it
    spec = infer_task(tables, parse_task_text("predict something useful"), ask=lambda q, c: "label").spec
    assert spec.target == "label" and "other_outcome" in spec.dropped_columns
    assert infer_task(tables, parse_task_text("x"), forced_target="other_outcome").spec.target == "other_outcome"


def test_single_table_uses_unlabeled_rows_as_test():
    df = make_regression_frame()
    df.loc[:39, "price"] = np.nan
    spec = infer_task({"all.csv": df}, parse_task_text("predict price")).spec
    assert spec.n_test_rows == 40 and spec.n_train_rows == len(df) - 40


def test_one_class_target_is_refused():
    df = make_classification_frame()
    df["label"] = "yes"
    with pytest.raises(DataError, match="single value"):
        infer_task(_tables(df, "label"), parse_task_text("predict label"))


def test_mismatched_test_columns_are_refused():
    df = make_classification_frame()
    tables = {"train.csv": df, "test.csv": pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]})}
    with pytest.raises(DataError, match="do not match"):
        infer_task(tables, parse_task_text("predict label"))
