"""The script runtime and the recipes as modules, in-process: the runtime's output contract and fold helpers on
a configured task, a recipe's fit/predict called as functions, and the renderer's standalone script (the
runtime inlined, no import of mlwright left, the configuration as data)."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from conftest import make_classification_frame, reload_runtime
from mlwright.coding.recipe_coder import render_script
from mlwright.planning.planner import NO_TIME_EXIT
from mlwright.schemas import AttemptPlan, TaskSpec


def _spec(kind: str = "probability") -> TaskSpec:
    return TaskSpec(problem_type="binary", target="label", metric="roc_auc", higher_is_better=True,
                    train_table="train.csv", test_table="test.csv", id_column="customer_id", prediction_file="p.csv",
                    output_id_column="customer_id", output_columns=["customer_id", "yes" if kind == "probability"
                                                                   else "label"], output_kind=kind,
                    class_labels=["no", "yes"], positive_class="yes", feature_columns=["x1", "x2", "color"],
                    n_train_rows=240, n_test_rows=60)


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """Configure the runtime for a task (as a rendered script's inline configuration would) and load it fresh."""
    def configure(spec: TaskSpec, params: dict | None = None):
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "params": params or {}}))
        monkeypatch.setenv("MLWRIGHT_CONFIG", str(cfg))
        return reload_runtime()
    return configure


def test_a_timed_plan_does_not_follow_the_machines_momentary_load(runtime):
    """Boosting steps planned from a timed probe land on a coarse grid: a few percent of timing noise gives the same
    plan (the same model on a cluster's node as here), and never more steps than the time affords."""
    rt = runtime(_spec())
    assert rt.affordable_steps(100.0, 5, 0.0217) == rt.affordable_steps(100.0, 5, 0.0217 * 1.03) == 800
    for seconds in (0.5, 3.0, 47.0, 100.0, 2500.0):
        n = rt.affordable_steps(seconds, 4, 0.01)
        assert n <= seconds / 0.04 < n * 1.25 + 1
    assert rt.affordable_steps(0.01, 4, 0.01) == 0


def test_the_output_contract_in_every_kind(runtime):
    rt = runtime(_spec("probability"))
    test = pd.DataFrame({"customer_id": ["a", "b"], "x1": [0.1, 0.2]})
    proba = pd.DataFrame({"no": [0.9, 0.2], "yes": [0.1, 1.3]})
    out = rt.format_predictions(test, proba)
    assert list(out.columns) == ["customer_id", "yes"] and out["yes"].tolist() == [0.1, 1.0]  # clipped to [0, 1]
    rt = runtime(_spec("label"))
    assert rt.format_predictions(test, proba)["label"].tolist() == ["no", "yes"]
    raw = rt.raw_frame(proba, rows=np.array([5, 7]))
    assert list(raw.columns) == ["__row__", "p::no", "p::yes"]
    # a class the model never saw gets probability 0, in CLASSES order
    assert rt.as_class_frame([[1.0], [1.0]], ["yes"]).to_dict("list") == {"no": [0.0, 0.0], "yes": [1.0, 1.0]}


def test_feature_kinds_follow_perception_and_every_recipe_reads_them(runtime, tmp_path):
    """TaskSpec.column_kinds (perception's reading) decides what is free text; types decide numbers and dates.
    The spec comes from perception itself, so recipe and perception cannot disagree."""
    from mlwright.perception.infer import infer_task
    from mlwright.perception.task_text import parse_task_text

    rng = np.random.default_rng(0)
    n = 120
    words = ["good", "bad", "fine", "slow", "fast", "great", "poor", "nice", "cheap", "late", "broken", "fresh"]
    train = pd.DataFrame({
        "id": range(n),
        "review": [" ".join(rng.choice(words, 6)) + f" item {i}" for i in range(n)],  # free text
        "remark": rng.choice(["Nest never observed.", "No sample taken.", "Fine."], n),  # repeated sentences
        "when": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),  # ISO date strings
        "size": rng.normal(size=n), "label": rng.choice(["no", "yes"], n)})
    test = train.drop(columns="label").assign(id=range(n, 2 * n))
    inferred = infer_task({"train.csv": train.copy(), "test.csv": test.copy()}, parse_task_text("predict label", []))
    spec = inferred.spec
    assert spec.column_kinds["review"] == "text" and spec.column_kinds["remark"] == "categorical"
    assert spec.text_columns == ["review"] and "when" in spec.date_columns  # ISO dates are read as timestamps too
    assert pd.api.types.is_datetime64_any_dtype(inferred.train["when"])
    rt = runtime(spec)
    kinds = rt.feature_kinds(inferred.train)
    assert kinds == {"review": "text", "remark": "categorical", "when": "datetime", "size": "numeric"}
    days = rt.as_numbers(inferred.train, ["when"])["when"]
    assert days.iloc[0] == (pd.Timestamp("2020-01-01") - pd.Timestamp(0)).days and days.diff().iloc[1] == 1.0
    # a configuration made by hand, without kinds: several words a value is text
    rt = runtime(spec.model_copy(update={"column_kinds": {}}))
    assert rt.feature_kinds(inferred.train)["review"] == "text"
    assert rt.feature_kinds(inferred.train)["remark"] == "categorical"


def test_folds_follow_the_rarest_class_and_the_stop_for_time_exit_is_the_planners(runtime):
    rt = runtime(_spec())
    y = pd.Series(["no"] * 20 + ["yes"] * 3)
    splits = rt.cv_splits(np.zeros((23, 1)), y, n_folds=5)
    assert len(splits) == 3 and all(y.iloc[va].eq("yes").sum() == 1 for _, va in splits)
    assert rt.NO_TIME_EXIT == NO_TIME_EXIT
    with pytest.raises(SystemExit) as e:
        rt.stop_for_time("no time")
    assert e.value.code == NO_TIME_EXIT


def test_a_recipe_is_a_module_whose_fit_and_predict_are_functions(runtime, tmp_path):
    runtime(_spec(), {"time_budget": 60, "n_folds": 3, "n_estimators": 50})
    import mlwright.recipes.lightgbm_baseline as recipe

    recipe = importlib.reload(recipe)
    df = make_classification_frame(300)
    train, test = df.iloc[60:].reset_index(drop=True), df.iloc[:60].drop(columns=["label"]).reset_index(drop=True)
    model = tmp_path / "model"
    model.mkdir()
    recipe.fit(train, test, str(tmp_path), str(model))
    pred = pd.read_csv(tmp_path / "p.csv")
    oof = pd.read_csv(tmp_path / "oof_predictions.csv")
    assert pred["customer_id"].tolist() == test["customer_id"].tolist() and pred["yes"].between(0, 1).all()
    assert sorted(oof["__row__"]) == list(range(len(train)))
    again = recipe.predict(str(model), test.head(10))
    np.testing.assert_allclose(again["yes"].to_numpy(), pred["yes"].head(10).to_numpy(), rtol=1e-6)


def test_the_naive_bayes_text_model_is_an_estimator(runtime):
    runtime(_spec())
    import mlwright.recipes.text_tfidf_linear as recipe

    recipe = importlib.reload(recipe)
    X = sparse.csr_matrix(np.array([[1, 0, 0.5], [0, 1, -0.5], [1, 0, 0.2], [0, 1, -0.1]], dtype=np.float32))
    y = np.array(["no", "yes", "no", "yes"])
    m = recipe.NBLogistic(C=10.0).fit(X, y)
    p = m.predict_proba(X)
    assert list(m.classes_) == ["no", "yes"] and p.shape == (4, 2) and (p[:, 1] > 0.5).tolist() == [0, 1, 0, 1]


def test_the_rendered_script_is_standalone(tmp_path):
    code = render_script(AttemptPlan(attempt_id=3, recipe="timeseries_naive", title="t", time_budget_s=10),
                         _spec().model_copy(update={"target": "it's \"quoted\""}))
    assert "from mlwright" not in code and "import mlwright" not in code and "<<config>>" not in code
    assert code.count("def load_table(") == 1 and code.count("def elapsed(") == 1  # each module pasted once
    path = tmp_path / "solution.py"
    path.write_text(code)
    compile(code, str(path), "exec")
    r = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "fit" in r.stdout


def test_task_score_is_the_task_metric_with_higher_better(runtime):
    reg = _spec().model_copy(update={"problem_type": "regression", "metric": "mae", "higher_is_better": False,
                                     "class_labels": [], "positive_class": None, "output_kind": "value"})
    rt = runtime(reg)
    assert rt.task_score([1.0, 2.0], [2.0, 4.0]) == pytest.approx(-1.5)
    rt = runtime(reg.model_copy(update={"metric": "mase"}))  # needs the series: -RMSE on the rows instead
    assert rt.task_score([1.0, 2.0], [2.0, 4.0]) == pytest.approx(-np.sqrt(2.5))
    rt = runtime(_spec())
    proba = pd.DataFrame({"no": [0.8, 0.3, 0.6], "yes": [0.2, 0.7, 0.4]})
    assert rt.task_score(["no", "yes", "yes"], proba) == pytest.approx(1.0)  # ROC AUC of the positive class


def test_llm_code_importing_a_runtime_module_that_does_not_exist_fails_as_an_attempt():
    body = "# <<common>>\nfrom mlwright.runtime.nothing_here import *\nprint(SPEC['target'])\n"
    code = render_script(AttemptPlan(attempt_id=1, recipe="llm", title="t", time_budget_s=10), _spec(), body=body)
    assert "from mlwright.runtime.nothing_here import *" in code and code.count("def load_table(") == 1
