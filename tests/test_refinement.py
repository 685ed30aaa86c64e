"""The ablation study's code transformations (the deterministic fallback of the refinement agent)."""
from __future__ import annotations

import ast

import pytest

from mlwright.planning.refinement import (changed_outside, decide_focus, deterministic_ablations, replace_block,
                                          top_level_blocks)
from mlwright.schemas import AblationResult

SCRIPT = '''# <<common>>
import lightgbm as lgb


def features(df):
    X = df[FEATURES].copy()
    X["ratio"] = X["a"] / (X["b"] + 1)
    X[c] = X[c].astype("category")
    return X


def make_model():
    return lgb.LGBMRegressor(n_estimators=400, learning_rate=-0.03, num_leaves=15, random_state=0, n_jobs=1)


def fit(train, test, out_dir, model_dir):
    folds = KFold(5, shuffle=True, random_state=0)
    params = {}
    params["objective"] = "l1"  # not a feature block: such statements stay
    train = train.sample(frac=1, random_state=0).rolling(window=7).mean()  # not tuning keywords
    return folds


if __name__ == "__main__":
    cli(fit, predict)
'''


def test_deterministic_ablations_simplify_each_block_that_has_something_to_simplify():
    abl = {a.block: a for a in deterministic_ablations(SCRIPT)}
    assert set(abl) == {"features", "make_model"}  # fit holds only non-tuning constants
    feats = abl["features"].code
    assert '"ratio"' not in feats and "astype('category')" in feats  # derived column gone, dtype fix kept
    call = ast.parse(abl["make_model"].code).body[0].body[0].value
    assert {k.arg for k in call.keywords} == {"random_state", "n_jobs"}  # tuned constants back to defaults
    assert "2 derived" not in abl["features"].what and "1 derived column" in abl["features"].what


def test_replace_block_changes_exactly_one_block():
    new = replace_block(SCRIPT, "make_model", "def make_model():\n    return lgb.LGBMRegressor()")
    assert changed_outside(SCRIPT, new, "make_model") == []
    assert changed_outside(SCRIPT, new, "fit") == ["make_model"]
    assert top_level_blocks(new)["make_model"].endswith("LGBMRegressor()")
    with pytest.raises(ValueError, match="exactly the one block"):
        replace_block(SCRIPT, "make_model", "def other():\n    pass")
    with pytest.raises(ValueError, match="no top-level block"):
        replace_block(SCRIPT, "nothing", "def nothing():\n    pass")


def test_focus_is_the_largest_measured_effect_either_way():
    r = [AblationResult(block="a", what="", attempt_id=3, status="succeeded", score=0.8, delta=-0.01),
         AblationResult(block="b", what="", attempt_id=4, status="succeeded", score=0.85, delta=+0.04),
         AblationResult(block="c", what="", attempt_id=5, status="failed")]
    assert decide_focus(r, guess="c") == ("b", "ablation")  # simplifying b helps: b is where the problem is
    assert decide_focus(r[2:], guess="c") == ("c", "llm guess")
