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
from mlwright.planning.planner import TAIL_SEEDS_FACTOR
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
    # every recipe names what drove it, over the input columns (the API's and the report's feature importance)
    imp = pd.read_csv(tmp_path / "feature_importance.csv").set_index("feature")["importance"]
    strongest = "x1" if problem == "binary" else "area"
    assert imp.idxmax() == strongest and imp[strongest] > imp.get("note", 0.0) and (imp >= 0).all()
    if recipe in BOOSTED:  # early stopping stopped: fewer rounds than allowed, and the refit follows the folds
        best, most, refit = (json.loads((model / "training.json").read_text())[k] for k in BOOSTED[recipe])
        assert min(best) < most and refit <= 1.3 * max(best) + 1


@pytest.mark.slow  # a minute: the three recipes one after the other, CatBoost's five folds and refit
def test_with_no_autogluon_the_light_recipes_run_blend_and_their_models_predict(tmp_path):
    data = split_write(make_classification_frame(400, seed=4), tmp_path / "data", "label")  # tabular (no text)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict label as the probability of yes; metric AUC", "--output",
                str(out), "--time-limit", "90", "--no-autogluon", "--exclude-recipes", "")  # CatBoost too (conftest)
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


# ---- feature work (runtime/features.py): groups learned inside the folds, kept only when the screen says so
def _fit(mod, train, test, out):
    model = out / "model"
    model.mkdir(parents=True)
    mod.fit(train, test, str(out), str(model))
    oof = pd.read_csv(out / "oof_predictions.csv").sort_values("__row__")
    return oof, model


def _auc(train, oof):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(train["label"] == "yes", oof["p::yes"])


def _binary(columns: dict) -> TaskSpec:
    return _spec("binary").model_copy(update={"feature_columns": list(columns), "column_kinds": columns,
                                              "text_columns": [c for c, k in columns.items() if k == "text"]})


def test_target_encoding_never_reads_the_targets_of_the_rows_it_encodes(configured):
    """Out of fold: a row's own target never enters its value. A category unique to each row would otherwise
    give its target back exactly; learned_features' values of rows outside the fit rows do not move when those
    rows' targets change."""
    mod = configured("lightgbm_baseline", _binary({"x1": "numeric", "id": "categorical"}), {})
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=300), "id": [f"u{i % 100}" for i in range(300)]})
    y = pd.Series(rng.choice(["no", "yes"], 300))
    own = mod.TargetEncoding(["id"]).fit_transform(X, y)["id__te_yes"]
    leaky = mod.TargetEncoding(["id"]).fit(X, y).transform(X)["id__te_yes"]
    is_yes = (y == "yes").to_numpy()
    assert np.corrcoef(leaky, is_yes)[0, 1] > 0.3  # what reading the row's own target gives
    # out of fold, a row's value comes from the others of its level: no link to its own target (if anything a
    # slight negative one, the others' mean without it)
    assert np.corrcoef(own, is_yes)[0, 1] < 0.05
    fit_rows = np.arange(200)
    a, _ = mod.learned_features([mod.TargetEncoding(["id"])], X, y, fit_rows)
    flipped = y.where(np.arange(300) < 200, y.map({"no": "yes", "yes": "no"}))
    b, _ = mod.learned_features([mod.TargetEncoding(["id"])], X, flipped, fit_rows)
    pd.testing.assert_frame_equal(a, b)


def test_an_id_like_category_with_random_targets_stays_at_chance_and_its_encoding_is_dropped(configured, tmp_path):
    mod = configured("lightgbm_baseline", _binary({"x1": "numeric", "id": "categorical"}),
                     {"time_budget": 60, "n_folds": 3, "n_estimators": 300})
    rng = np.random.default_rng(1)
    n = 600
    train = pd.DataFrame({"customer_id": np.arange(n), "x1": rng.normal(size=n),
                          "id": [f"u{i}" for i in rng.integers(0, 150, n)], "label": rng.choice(["no", "yes"], n)})
    oof, _ = _fit(mod, train, train.drop(columns=["label"]).head(20), tmp_path)
    assert _auc(train, oof) < 0.6  # chance is 0.5; an encoding that read the scored rows' targets scores far above
    work = {g["group"]: g for g in json.loads((tmp_path / "feature_work.json").read_text())["groups"]}
    assert work["target"]["columns"] == ["id"] and not work["target"]["kept"]
    assert {"group", "columns", "score_without", "score_with", "kept"} <= set(work["target"])  # what the report reads


def _frequency_table(n: int, seed: int) -> pd.DataFrame:
    """The label follows how common a shop is (not which shop it is): big shops say yes."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 16, 200)
    shops = np.repeat([f"s{i}" for i in range(200)], sizes)[:n]
    big = np.repeat(sizes, sizes)[:n] >= 8
    label = np.where(rng.random(n) < np.where(big, 0.85, 0.15), "yes", "no")
    perm = rng.permutation(len(shops))
    return pd.DataFrame({"customer_id": np.arange(len(shops)), "x1": rng.normal(size=len(shops)),
                         "shop": shops[perm], "label": label[perm]})


def _text_table(n: int, seed: int) -> pd.DataFrame:
    """The label follows the words of a note (a complaint word or not), never its length."""
    rng = np.random.default_rng(seed)
    bad = rng.random(n) < 0.5
    notes = [" ".join(rng.choice(WORDS[:4], 1).tolist() + rng.choice(["broken", "poor"] if b else ["great", "fresh"],
                                                                       1).tolist() + rng.choice(WORDS, 3).tolist())
             for b in bad]
    label = np.where(rng.random(n) < np.where(bad, 0.85, 0.15), "yes", "no")
    return pd.DataFrame({"customer_id": np.arange(n), "x1": rng.normal(size=n), "note": notes, "label": label})


def _day_table(n: int, seed: int) -> pd.DataFrame:
    """The label follows the day a row falls on (some days go badly for every row of them: a storm, an outage),
    which no column records; the rows are drawn at random from 40 days."""
    rng = np.random.default_rng(seed)
    bad_day = rng.random(40) < 0.3
    day = rng.integers(0, 40, n)
    when = pd.Timestamp("2024-03-01") + pd.to_timedelta(day, unit="D") + pd.to_timedelta(rng.integers(0, 24, n),
                                                                                          unit="h")
    label = np.where(rng.random(n) < np.where(bad_day[day], 0.8, 0.2), "yes", "no")
    return pd.DataFrame({"customer_id": np.arange(n), "x1": rng.normal(size=n), "when": when, "label": label})


# (the table, its columns, a feature the group adds, the least out-of-fold AUC gain: the date's day of the year lets
# trees find a few bad days without the group, slowly)
CASES = {"frequency": (_frequency_table, {"x1": "numeric", "shop": "categorical"}, "shop__freq", 0.05),
         "text": (_text_table, {"x1": "numeric", "note": "text"}, "note__svd0", 0.05),
         "periods": (_day_table, {"x1": "numeric", "when": "datetime"}, "when__day__te_yes", 0.01)}


# (XGBoost's native category splits read the shops' sizes well enough here: counts do not help it, and are dropped)
@pytest.mark.parametrize("recipe,case", [("lightgbm_baseline", "frequency"), ("lightgbm_baseline", "text"),
                                         ("xgboost_light", "text"), ("lightgbm_baseline", "periods")])
def test_a_group_that_helps_is_kept_improves_the_oof_score_and_predict_applies_it(configured, tmp_path, recipe, case):
    make, kinds, name, gain = CASES[case]
    df = make(800, 10 if case == "frequency" else 3)
    train, test = df.iloc[100:].reset_index(drop=True), df.iloc[:100].drop(columns=["label"]).reset_index(drop=True)
    params = {"time_budget": 60, "n_folds": 3, "n_estimators": 300}
    mod = configured(recipe, _binary(kinds), dict(params, feature_work=False))
    plain, _ = _fit(mod, train, test, tmp_path / "plain")
    mod = configured(recipe, _binary(kinds), params)
    oof, model = _fit(mod, train, test, tmp_path / "work")
    work = {g["group"]: g for g in json.loads((tmp_path / "work" / "feature_work.json").read_text())["groups"]}
    assert work[case]["kept"] and work[case]["score_with"] > work[case]["score_without"]
    assert not (tmp_path / "plain" / "feature_work.json").exists()
    assert _auc(train, oof) > _auc(train, plain) + gain
    print(f"{recipe} {case}: OOF AUC {_auc(train, plain):.4f} without feature work, {_auc(train, oof):.4f} with")
    # predict on new rows: the saved groups are applied (the model's inputs include them) and give the test file
    import joblib

    bundle = joblib.load(model / "model.joblib")
    assert case in [g.name for g in bundle["work"]]
    again = mod.predict(str(model), test)
    np.testing.assert_allclose(again["yes"].to_numpy(), pd.read_csv(tmp_path / "work" / "p.csv")["yes"], rtol=1e-5)
    imp = pd.read_csv(tmp_path / "work" / "feature_importance.csv")
    assert name in imp["feature"].tolist()


def test_the_days_are_encoded_only_where_the_rows_to_predict_share_them(configured):
    """Rows to predict after the training rows' days (a forecast-like split): the screen's random folds share days
    and would keep the encoding, which those rows never get, so the periods group is not offered; were it fitted,
    every new day would get the training rows' overall rate, nothing read from a neighbouring day."""
    mod = configured("lightgbm_baseline", _binary({"x1": "numeric", "when": "datetime"}), {})
    df = _day_table(600, 4)
    later = df.assign(when=df["when"] + pd.Timedelta(days=60)).drop(columns=["label"])
    among = df.sample(100, random_state=0).drop(columns=["label"])
    assert "periods" in [g.name for g in mod.candidate_groups(mod.TreePrep().fit(df, among))]
    assert "periods" not in [g.name for g in mod.candidate_groups(mod.TreePrep().fit(df, later))]
    assert "periods" not in [g.name for g in mod.candidate_groups(mod.TreePrep().fit(df))]  # new rows unknown
    g = mod.DatePeriods(["when"]).fit(df, df["label"])
    assert np.allclose(g.transform(later)["when__day__te_yes"], (df["label"] == "yes").mean())
    assert g.transform(df)["when__day__te_yes"].nunique() > 20  # the training days get their own rates


def test_xgboost_light_learns_several_classes(configured, tmp_path):
    df = make_classification_frame(500, seed=5, classes=("a", "b", "c"))
    spec = _spec("binary").model_copy(update={
        "problem_type": "multiclass", "metric": "accuracy", "output_kind": "label", "class_labels": ["a", "b", "c"],
        "positive_class": None, "output_columns": ["customer_id", "label"], "feature_columns": ["x1", "x2", "color"],
        "column_kinds": {"color": "categorical"}, "text_columns": []})
    mod = configured("xgboost_light", spec, {"time_budget": 60, "n_folds": 3, "n_estimators": 300})
    train, test = df.iloc[60:].reset_index(drop=True), df.iloc[:60].drop(columns=["label"]).reset_index(drop=True)
    oof, model = _fit(mod, train, test, tmp_path)
    labels = np.asarray(["a", "b", "c"])[oof[["p::a", "p::b", "p::c"]].to_numpy().argmax(axis=1)]
    assert (labels == train["label"].to_numpy()).mean() > 0.6  # a constant scores about 1/3
    assert mod.predict(str(model), test.head(5)).shape == (5, 3)


def test_without_time_for_the_screen_the_groups_are_skipped_with_a_note(configured):
    mod = configured("lightgbm_baseline", _binary({"x1": "numeric", "shop": "categorical"}), {})
    df = _frequency_table(300, 1)
    prep = mod.TreePrep().fit(df)
    groups = mod.candidate_groups(prep)
    assert [g.name for g in groups] == ["frequency", "target"]

    def never(*args):
        raise AssertionError("no model is fitted without time")
    kept, records = mod.screen_groups(groups, prep.transform(df), df, df["label"], df["label"], never, budget_s=0.5)
    assert kept == [] and [r["kept"] for r in records] == [False, False]
    assert all(r["note"].startswith("skipped") for r in records)


@pytest.mark.slow  # two minutes: the light recipes, then further seeds in the time they leave
def test_time_left_after_the_recipes_goes_to_further_seeds_that_join_the_blend(tmp_path):
    """--seeds 1: after every planned recipe, the two best seeded recipes run once more with seed 1 and the feature
    groups their first attempt kept; each is an improve of that attempt, validated like any other, and a candidate
    of the blend."""
    data = split_write(make_classification_frame(400, seed=4), tmp_path / "data", "label")
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict label as the probability of yes; metric AUC", "--output",
                str(out), "--time-limit", "150", "--no-autogluon", "--seeds", "1", "--exclude-recipes", "")
    assert r.returncode == 0, r.stderr
    shown = json.loads(run_cli("show", str(out), "--json").stdout)
    by_id = {a["attempt_id"]: a for a in shown["attempts"]}
    variants = [a for a in shown["attempts"] if ", seed " in a["title"]]
    seeded = [a for a in variants if "seed 1 " in a["title"]]
    assert len(seeded) == 2 and {a["recipe"] for a in seeded} <= set(BOOSTED)
    # the time still left grows the same two bags, up to TAIL_SEEDS_FACTOR seeds each
    assert {a["parent_id"] for a in variants} == {a["parent_id"] for a in seeded}
    assert all(sum(1 for a in variants if a["parent_id"] == s["parent_id"]) <= TAIL_SEEDS_FACTOR for s in seeded)
    firsts = [a for a in shown["attempts"] if a["recipe"] in BOOSTED and a not in variants]
    ranked = sorted(firsts, key=lambda a: a["score"], reverse=True)[:2]
    assert sorted(a["parent_id"] for a in seeded) == sorted(a["attempt_id"] for a in ranked)
    for a in seeded:
        assert a["status"] == "succeeded" and a["kind"] == "improve" and by_id[a["parent_id"]]["recipe"] == a["recipe"]
        assert a["score"] > 0.85
        code = (out / "attempts" / f"{a['attempt_id']:03d}-{a['recipe']}" / "solution.py").read_text()
        assert '"seed": 1' in code
