"""Inputs that used to lie or crash (issue #10): a task naming a column that does not exist, and names and labels
holding quotes, backslashes and any unicode, which reach the generated scripts as data, never as code."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from conftest import make_classification_frame, run_cli, split_write, tree_digest
from mlwright.coding.recipe_coder import render_script
from mlwright.errors import DataError
from mlwright.explain import explain
from mlwright.schemas import AttemptPlan, TaskSpec

NASTY = "a'''b\\\" \\ ''' é 日本 \udcff\n\"x"


def test_the_spec_is_data_whatever_the_names_hold():
    spec = TaskSpec(problem_type="binary", target=NASTY, metric="accuracy", higher_is_better=True, train_table="t",
                    test_table="u", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", NASTY], output_kind="label", class_labels=["x'''", "y\\"],
                    feature_columns=[NASTY + "2"], n_train_rows=1, n_test_rows=1)
    plan = AttemptPlan(attempt_id=1, recipe="lightgbm_baseline", title="t\nimport os; os.system('x')",
                       time_budget_s=10)
    src = render_script(plan, spec)
    compile(src, "solution.py", "exec")  # one string literal, however the names try to close it
    assert src.isascii() or "\udcff" not in src
    assert not any(line.startswith("import os; os.system") for line in src.splitlines())  # the title stays a comment
    block = re.search(r"^CONFIG = json\.loads\(r'''.*?'''\)$", src, re.M | re.S).group(0)
    ns: dict = {}
    exec("import json\n" + block, ns)
    assert ns["CONFIG"]["spec"]["target"] == NASTY
    assert ns["CONFIG"]["spec"]["class_labels"] == ["x'''", "y\\"]


def test_a_task_naming_a_missing_column_is_refused(tmp_path):
    split_write(make_classification_frame(), tmp_path, "label")
    with pytest.raises(DataError, match="asks to predict 'attrition'") as e:
        explain(tmp_path, "Predict `attrition` for each customer; write predictions.csv with columns customer_id,"
                          "attrition")
    assert "customer_id, x1, x2, color, label" in e.value.render()
    # a near name is the user's word for a real column, not an error
    assert explain(tmp_path, "Predict `labels` for each customer").spec.target == "label"


def test_quotes_backslashes_and_unicode_in_names_and_labels_end_to_end(tmp_path):
    df = make_classification_frame(n=200, classes=("it's ''' \"no\"", "yes\\ 日本"))
    df = df.rename(columns={"x1": "x1 '''); import os #", "color": "cölör \\ \"q\"", "label": "lab'''el"})
    data = split_write(df, tmp_path / "data", "lab'''el")
    before = tree_digest(data)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict the label for each customer", "--target", "lab'''el",
                "--output", str(out), "--time-limit", "60", "--no-autogluon", "--llm", "none")
    assert r.returncode == 0, r.stderr[-3000:]
    assert tree_digest(data) == before
    pred = pd.read_csv(out / "predictions.csv", dtype=str, keep_default_na=False)
    assert list(pred.columns) == ["customer_id", "lab'''el"]
    assert set(pred["lab'''el"]) <= {"it's ''' \"no\"", "yes\\ 日本"}
    assert json.loads((out / "run.json").read_text())["status"] == "succeeded"


def test_a_quoted_class_label_is_not_taken_for_a_missing_column(tmp_path):
    split_write(make_classification_frame(), tmp_path, "label")
    assert explain(tmp_path, "Predict `yes` or `no` for each customer in test.csv").spec.target == "label"
