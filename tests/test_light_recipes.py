"""The light recipes (issue #16, item 2): LightGBM with early stopping and settings by data size, CatBoost, and a
regularised linear model. Each one in-process on small generated tables (fit, out-of-fold score well above a
constant, predict on new rows, early stopping that stops), then one real run through the CLI with --no-autogluon
where all three run, blend and their saved models predict."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import make_classification_frame, make_regression_frame, reload_runtime, run_cli, split_write
from mlwright.schemas import TaskSpec

RECIPES = ["lightgbm_baseline", "catboost_light", "linear_model", "xgboost_light"]
BOOSTED = {"lightgbm_baseline": ("fold_best_rounds", "max_rounds", "refit_rounds"),
           "catboost_light": ("fold_best_iterations", "max_iterations", "refit_iterations"),
           "xgboost_light": ("fold_best_rounds", "max_rounds", "refit_rounds")}
WORDS = ["late", "fine", "broken", "great", "slow", "cheap", "fresh", "poor"]


def _with_text(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A free-text column of a few words: every recipe must read it (CatBoost text features, TF-IDF, lengths)."""
    rng = np.random.default_rng(seed)
    return df.assign(note=[" ".join(rng.choice(WORDS, 5)) for _ in range(len(df))])


def _spec(problem: str) -> TaskSpec:
    kinds = {"color": "categorical", "note": "text"}
    if problem == "binary":
        return TaskSpec(problem_type="binary", target="label", metric="roc_auc", higher_is_better=True,
                        train_table="train.csv", test_table="test.csv", id_column="customer_id",
                        prediction_file="p.csv", output_id_column="customer_id", output_columns=["customer_id", "yes"],
                        output_kind="probability", class_labels=["no", "yes"], positive_class="yes",
                        feature_columns=["x1", "x2", "color", "note"], column_kinds=kinds, text_columns=["note"],
                        n_train_rows=340, n_test_rows=60)
    return TaskSpec(problem_type="regression", target="price", metric="rmsle", higher_is_better=False,
                    train_table="train.csv", test_table="test.csv", id_column="Id", prediction_file="p.csv",
                    output_id_column="Id", output_columns=["Id", "price"], output_kind="value",
                    feature_columns=["area", "rooms", "city", "note"], column_kinds={"city": "categorical",
                                                                                      "note": "text"},
                    text_columns=["note"], n_train_rows=340, n_test_rows=60)


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """The runtime configured for a task (as a rendered script's inline configuration is), the recipe reloaded."""
    def load(recipe: str, spec: TaskSpec, params: dict):
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "params": params}))
        monkeypatch.setenv("MLWRIGHT_CONFIG", str(cfg))
        reload_runtime()
        return importlib.reload(importlib.import_module(f"mlwright.recipes.{recipe}"))
    return load


@pytest.mark.parametrize("problem", ["binary", "regression"])
@pytest.mark.parametrize("recipe", RECIPES)
def test_each_light_recipe_learns_predicts_and_stops_early(configured, tmp_path, recipe, problem):
    from sklearn.metrics import roc_auc_score

    df = (make_classification_frame(400) if problem == "binary" else make_regression_frame(400))
    df = _with_text(df, 3)
    target = "label" if problem == "binary" else "price"
    # the lighter retry's settings (planner.default_params light=True): 3 folds, at most 300 rounds
    mod = configured(recipe, _spec(problem), {"time_budget": 60, "n_folds": 3, "n_estimators": 300})
    train, test = df.iloc[60:].reset_index(drop=True), df.iloc[:60].drop(columns=[target]).reset_index(drop=True)
    model = tmp_path / "model"
    model.mkdir()
    mod.fit(train, test, str(tmp_path), str(model))
    oof = pd.read_csv(tmp_path / "oof_predictions.csv").sort_values("__row__")
    assert oof["__row__"].tolist() == list(range(len(train)))  # every training row scored out of fold
    y = train[target]
    if problem == "binary":
        assert roc_auc_score(y == "yes", oof["p::yes"]) > 0.85  # a constant scores 0.5
    else:
        rmse = float(np.sqrt(np.mean((oof["prediction"].to_numpy() - y.to_numpy()) ** 2)))
        assert rmse < 0.35 * y.std()  # a constant scores about y.std()
    pred = pd.read_csv(tmp_path / "p.csv")
    again = mod.predict(str(model), test.head(10))  # the saved model, reloaded
    col = "yes" if problem == "binary" else "price"
    got = again["yes"].to_numpy() if problem == "binary" else np.asarray(again)
    np.testing.assert_allclose(got, pred[col].head(10).to_numpy(), rtol=1e-5)
    if recipe in BOOSTED:  # early stopping stopped: fewer rounds than allowed, and the refit follows the folds
        best, most, refit = (json.loads((model / "training.json").read_text())[k] for k in BOOSTED[recipe])
        assert min(best) < most and refit <= 1.3 * max(best) + 1


@pytest.mark.slow  # a minute: the three recipes one after the other, CatBoost's five folds and refit
def test_with_no_autogluon_the_light_recipes_run_blend_and_their_models_predict(tmp_path):
    data = split_write(make_classification_frame(400, seed=4), tmp_path / "data", "label")  # tabular (no text)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict label as the probability of yes; metric AUC", "--output",
                str(out), "--time-limit", "90", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    shown = json.loads(run_cli("show", str(out), "--json").stdout)
    attempts = {a["recipe"]: a for a in shown["attempts"]}
    for recipe in RECIPES:
        assert attempts[recipe]["status"] == "succeeded", attempts[recipe]
        assert attempts[recipe]["score"] > 0.85, attempts[recipe]
    new = make_classification_frame(40, seed=9).drop(columns=["label"])
    new.to_csv(tmp_path / "new.csv", index=False)
    for recipe in RECIPES:  # each attempt's own standalone script reloads its saved model
        d = out / "attempts" / next(p.name for p in (out / "attempts").iterdir() if p.name.endswith(recipe))
        p = subprocess.run([sys.executable, str(d / "solution.py"), "predict", "--model", str(d / "model"), "--input",
                            str(tmp_path / "new.csv"), "--output", str(tmp_path / f"{recipe}.csv")],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert pd.read_csv(tmp_path / f"{recipe}.csv")["label"].between(0, 1).all()
    r = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--output", str(tmp_path / "best.csv"))
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path / "best.csv")) == 40


def test_lightgbm_reads_a_category_of_many_levels_as_counts(configured):
    """Hundreds of levels (a tail number, a street) overfit native category splits: they become counts."""
    spec = _spec("binary").model_copy(update={"feature_columns": ["x1", "color", "plane"],
                                              "column_kinds": {"color": "categorical", "plane": "categorical"}})
    mod = configured("lightgbm_baseline", spec, {"time_budget": 60})
    X = pd.DataFrame({"x1": np.arange(900.0), "color": ["red", "blue", "green"] * 300,
                      "plane": [f"N{i % 300}" if i < 600 else "N7" for i in range(900)]})
    prep = mod.TreePrep().fit(X)
    assert list(prep.cats) == ["color"] and list(prep.counts) == ["plane"]
    out = prep.transform(pd.DataFrame({"x1": [1.0, 2.0], "color": ["red", "pink"], "plane": ["N7", "N999"]}))
    assert out["plane__count"].tolist()[0] == 302 and np.isnan(out["plane__count"].tolist()[1])
