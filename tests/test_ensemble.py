"""Ensembling: greedy selection on out-of-fold predictions blends attempts only when it helps."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlwright.planning.ensemble import select_blend
from mlwright.schemas import AttemptRecord, TaskSpec


def _spec():
    return TaskSpec(problem_type="binary", target="y", metric="roc_auc", higher_is_better=True, train_table="t",
                    test_table="s", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", "y"], output_kind="probability", class_labels=["0", "1"],
                    positive_class="1", feature_columns=["a"], n_train_rows=400, n_test_rows=10)


def _attempt(tmp_path, i, p, score, rows=None):
    d = tmp_path / f"a{i}"
    d.mkdir()
    rows = np.arange(len(p)) if rows is None else rows
    pd.DataFrame({"__row__": rows, "p::0": 1 - p, "p::1": p}).to_csv(d / "oof_predictions.csv", index=False)
    pd.DataFrame({"p::0": [0.5] * 10, "p::1": [0.5] * 10}).to_csv(d / "test_predictions_raw.csv", index=False)
    return AttemptRecord(attempt_id=i, kind="draft", recipe=f"r{i}", title="t", status="succeeded",
                         started_at=time.time(), time_budget_s=1, score=score, workdir=str(d))


def test_blend_of_complementary_attempts(tmp_path):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    signal = rng.normal(size=400)
    y = (signal > 0).astype(int)
    p1 = 1 / (1 + np.exp(-(signal + rng.normal(scale=1.5, size=400))))
    p2 = 1 / (1 + np.exp(-(signal + rng.normal(scale=1.5, size=400))))
    train = pd.DataFrame({"y": y.astype(str)})
    h = [_attempt(tmp_path, 1, p1, roc_auc_score(y, p1)), _attempt(tmp_path, 2, p2, roc_auc_score(y, p2))]
    chosen = select_blend(_spec(), train, h)
    assert chosen is not None
    assert {m.attempt_id for m in chosen.members} == {1, 2} and abs(sum(chosen.weights) - 1) < 1e-9
    assert len(chosen.fold_weights) == 5 and all(abs(sum(w) - 1) < 1e-9 for w in chosen.fold_weights)
    # the cross-fitted score: honest, so at most the score of weights chosen on all rows
    blended = sum(p * w for p, w in zip((p1, p2), chosen.weights))
    assert max(h[0].score, h[1].score) < chosen.score <= roc_auc_score(y, blended) + 1e-9
    # a useless second attempt is not blended in
    h[1] = _attempt(tmp_path, 3, rng.random(400), 0.5)
    assert select_blend(_spec(), train, h) is None


def test_a_member_validated_on_a_holdout_is_blended_on_the_rows_every_member_has(tmp_path):
    """A member with out-of-fold predictions for its holdout rows only (a CNN) joins a cross-validated one on those
    rows, when they are enough to choose weights on; with fewer there is no blend."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    signal = rng.normal(size=1000)
    y = (signal > 0).astype(int)
    train = pd.DataFrame({"y": y.astype(str)})
    p1 = 1 / (1 + np.exp(-(signal + rng.normal(scale=1.5, size=1000))))
    held = np.sort(rng.choice(1000, 300, replace=False))
    p2 = 1 / (1 + np.exp(-(signal[held] + rng.normal(scale=1.5, size=300))))
    h = [_attempt(tmp_path, 1, p1, roc_auc_score(y, p1)), _attempt(tmp_path, 2, p2, roc_auc_score(y[held], p2), held)]
    chosen = select_blend(_spec(), train, h)
    assert chosen is not None and {m.attempt_id for m in chosen.members} == {1, 2}
    assert chosen.score > max(roc_auc_score(y[held], p1[held]), h[1].score)  # on the shared rows, cross-fitted
    few = _attempt(tmp_path, 3, p2[:150], roc_auc_score(y[held[:150]], p2[:150]), held[:150])
    assert select_blend(_spec(), train, [h[0], few]) is None


def test_ensemble_recipe_reproduces_the_cross_fitted_score(tmp_path):
    """The rendered ensemble script blends each fold with the weights chosen without it: mlwright's score of its
    out-of-fold file equals the selection's cross-fitted score."""
    import subprocess
    import sys

    from sklearn.metrics import roc_auc_score

    from mlwright.coding.recipe_coder import write_script
    from mlwright.schemas import AttemptPlan
    from mlwright.validation.checks import score_oof

    rng = np.random.default_rng(1)
    signal = rng.normal(size=400)
    y = (signal > 0).astype(int)
    ps = [1 / (1 + np.exp(-(signal + rng.normal(scale=s, size=400)))) for s in (1.2, 1.5, 2.0)]
    train = pd.DataFrame({"a": signal, "y": y.astype(str)})
    history = [_attempt(tmp_path, i + 1, p, roc_auc_score(y, p)) for i, p in enumerate(ps)]
    for h in history:  # members carry their own script and model
        (tmp_path / f"a{h.attempt_id}" / "model").mkdir()
        (tmp_path / f"a{h.attempt_id}" / "solution.py").write_text("# member\n")
    blend = select_blend(_spec(), train, history)
    assert blend is not None
    work = tmp_path / "ens"
    (work / "model").mkdir(parents=True)
    plan = AttemptPlan(attempt_id=9, recipe="ensemble", title="blend", time_budget_s=60,
                       params={"time_budget": 60, "folds": len(blend.fold_weights),
                               "members": [{"dir": m.workdir, "weight": w, "fold_weights": [f[j] for f in
                                                                                            blend.fold_weights]}
                                           for j, (m, w) in enumerate(zip(blend.members, blend.weights))]})
    write_script(plan, _spec(), work)
    train.to_parquet(work / "train.parquet")
    pd.DataFrame({"id": range(10), "a": 0.0}).to_parquet(work / "test.parquet")
    r = subprocess.run([sys.executable, "solution.py", "fit", "--train", "train.parquet", "--test", "test.parquet",
                        "--out", ".", "--model", "model"], cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    score, n_rows, _ = score_oof(_spec(), work / "oof_predictions.csv", train)
    assert n_rows == 400 and abs(score - blend.score) < 1e-9


@pytest.mark.parametrize("n", [4000, 25000])
def test_a_weaker_attempt_joins_at_the_weight_that_helps_even_when_an_even_blend_does_not(tmp_path, n):
    """Errors of spread 1 and 2: the half-half blend is worse than the better attempt alone (1.25 against 1 in
    squared error) but four-to-one is better (0.8): greedy selection must not stop at the first even blend. With
    more rows than CHOICE_ROWS the weights are chosen on a sample of them and come out the same."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=n)
    spec = TaskSpec(problem_type="regression", target="y", metric="rmse", higher_is_better=False, train_table="t",
                    test_table="s", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", "y"], output_kind="value", feature_columns=["a"], n_train_rows=n,
                    n_test_rows=10)
    history = []
    for i, spread in ((1, 1.0), (2, 2.0)):
        d = tmp_path / f"a{i}"
        d.mkdir()
        pred = y + spread * rng.normal(size=len(y))
        pd.DataFrame({"__row__": np.arange(len(y)), "prediction": pred}).to_csv(d / "oof_predictions.csv", index=False)
        pd.DataFrame({"prediction": np.zeros(10)}).to_csv(d / "test_predictions_raw.csv", index=False)
        history.append(AttemptRecord(attempt_id=i, kind="draft", recipe=f"r{i}", title="t", status="succeeded",
                                     started_at=time.time(), time_budget_s=1, score=spread, workdir=str(d)))
    blend = select_blend(spec, pd.DataFrame({"y": y}), history)
    assert blend is not None and [m.attempt_id for m in blend.members] == [1, 2]
    assert 0.7 <= blend.weights[0] <= 0.9  # the best mix is 0.8 of the better attempt
    assert blend.score < 0.95  # about sqrt(0.8) = 0.89, against 1.0 for the better attempt alone


def test_the_blend_candidates_are_the_best_of_each_recipe_then_the_next_best():
    """Seeds of one recipe score alike: the best of every recipe is a candidate before a recipe's second seed."""
    from mlwright.planning.ensemble import MAX_MEMBERS, candidates

    def rec(i, recipe, score):
        return AttemptRecord(attempt_id=i, kind="draft", recipe=recipe, title="t", status="succeeded",
                             started_at=0.0, time_budget_s=1, score=score, workdir="w")

    seeds = [rec(i, "xgboost_light", 0.90 - i / 1000) for i in range(1, 6)]  # five drafts, each better than the rest
    others = [rec(10, "linear_model", 0.85), rec(11, "bayes", 0.80), rec(12, "ensemble", 0.99)]
    chosen = candidates(_spec(), seeds + others)
    assert [[h.attempt_id for h in bag] for bag in chosen] == [[1], [10], [11], [2], [3]][:MAX_MEMBERS]
    # further seeds of an attempt (Planner.variant: improves of their own seeded recipe) are one candidate with it
    variants = [r.model_copy(update={"kind": "improve", "parent_id": 1}) for r in seeds[1:]]
    chosen = candidates(_spec(), [seeds[0], *variants, *others])
    assert [[h.attempt_id for h in bag] for bag in chosen] == [[1, 2, 3, 4, 5], [10], [11]]
    # a seed clearly below its first attempt (beyond the first's bootstrap spread) is not averaged into its bag
    spread = [seeds[0].model_copy(update={"score_sd": 0.005}), *variants[:3],
              variants[3].model_copy(update={"score": 0.89})]
    chosen = candidates(_spec(), spread + others)
    assert [[h.attempt_id for h in bag] for bag in chosen] == [[1, 2, 3, 4], [10], [11], [5]]
    # LLM-written attempts improving one another are other code, each its own candidate, never averaged
    llm = [r.model_copy(update={"recipe": "llm"}) for r in [seeds[0], *variants]]
    chosen = candidates(_spec(), llm + others)
    assert [[h.attempt_id for h in bag] for bag in chosen] == [[1], [10], [11], [2], [3]][:MAX_MEMBERS]


def test_seeds_of_one_recipe_are_averaged_before_they_are_blended(tmp_path):
    """Three seeds whose noise differs: their mean beats each, so the blend is the bag, each seed a third of it,
    even though no other recipe is there to blend with; the cross-fitted score is the bag's."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    signal = rng.normal(size=600)
    y = (signal > 0).astype(int)
    train = pd.DataFrame({"y": y.astype(str)})
    history = []
    for i in (1, 2, 3):
        p = 1 / (1 + np.exp(-(signal + rng.normal(scale=1.5, size=600))))
        rec = _attempt(tmp_path, i, p, roc_auc_score(y, p))
        rec = rec.model_copy(update={"recipe": "lightgbm_baseline"})
        history.append(rec if i == 1 else rec.model_copy(update={"kind": "improve", "parent_id": 1}))
    blend = select_blend(_spec(), train, history)
    assert blend is not None and [m.attempt_id for m in blend.members] == [1, 2, 3]
    assert np.allclose(blend.weights, 1 / 3) and all(np.allclose(w, 1 / 3) for w in blend.fold_weights)
    bag = np.mean([pd.read_csv(tmp_path / f"a{i}" / "oof_predictions.csv")["p::1"] for i in (1, 2, 3)], axis=0)
    assert blend.score == pytest.approx(roc_auc_score(y, bag), abs=0.01)
    assert blend.score > max(h.score for h in history)
