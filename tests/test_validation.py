"""The checks that decide success: prediction-file schema and mlwright's own validation score."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlwright.schemas import TaskSpec
from mlwright.validation.checks import ValidationFailure, check_prediction_file, score_oof
from mlwright.validation.metrics import constant_baseline


def _spec(**kw) -> TaskSpec:
    base = dict(problem_type="binary", target="y", metric="roc_auc", higher_is_better=True, train_table="t",
                test_table="s", id_column="id", prediction_file="p.csv", output_id_column="id",
                output_columns=["id", "y"], output_kind="probability", class_labels=["no", "yes"],
                positive_class="yes", feature_columns=["a"], n_train_rows=6, n_test_rows=3)
    base.update(kw)
    return TaskSpec(**base)


TEST = pd.DataFrame({"id": [10, 11, 12], "a": [1, 2, 3]})


@pytest.mark.parametrize("content,needle", [
    ("id,y\n10,0.1\n11,0.2\n", "row count"),
    ("id,z\n10,0.1\n11,0.2\n12,0.3\n", "wrong columns"),
    ("id,y\n10,0.1\n11,0.2\n99,0.3\n", "missing"),
    ("id,y\n10,0.1\n11,\n12,0.3\n", "empty"),
    ("id,y\n10,0.1\n11,1.2\n12,0.3\n", "outside"),
    ("id,y\n10,0.1\n11,abc\n12,0.3\n", "non-numeric"),
    ("id,y\n10,0.1\n10,0.2\n12,0.3\n", "duplicated"),
])
def test_prediction_file_failures(tmp_path, content, needle):
    p = tmp_path / "p.csv"
    p.write_text(content)
    with pytest.raises(ValidationFailure, match=needle):
        check_prediction_file(_spec(), p, TEST)


def test_valid_file_and_label_set(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("id,y\n12,0.9\n10,0.1\n11,0.5\n")  # any order is fine
    check_prediction_file(_spec(), p, TEST)
    spec = _spec(output_kind="label", metric="accuracy")
    p.write_text("id,y\n10,no\n11,yes\n12,maybe\n")
    with pytest.raises(ValidationFailure, match="not seen in training"):
        check_prediction_file(spec, p, TEST)


def test_score_oof_uses_mlwrights_labels(tmp_path):
    y = pd.Series(["no", "yes", "no", "yes", "no", "yes"] * 5)
    p = tmp_path / "oof.csv"
    good = pd.DataFrame({"__row__": np.arange(30), "p::no": (y == "no") * 0.8 + 0.1,
                         "p::yes": (y == "yes") * 0.8 + 0.1})
    good.to_csv(p, index=False)
    score, n, _ = score_oof(_spec(n_train_rows=30), p, pd.DataFrame({'y': y}))
    assert score == 1.0 and n == 30
    flipped = good.rename(columns={"p::no": "p::yes", "p::yes": "p::no"})
    flipped.to_csv(p, index=False)
    assert score_oof(_spec(n_train_rows=30), p, pd.DataFrame({'y': y}))[0] == 0.0
    good.iloc[:2].to_csv(p, index=False)
    with pytest.raises(ValidationFailure, match="validation rows"):
        score_oof(_spec(n_train_rows=30), p, pd.DataFrame({'y': y}))


def test_constant_baseline_regression():
    spec = _spec(problem_type="regression", metric="rmse", higher_is_better=False, output_kind="value",
                 class_labels=[], positive_class=None)
    y = pd.Series([1.0, 2.0, 3.0, 4.0])
    assert constant_baseline(spec, y) == pytest.approx(np.std(y))
