"""The planner divides the time budget among attempts: a fast baseline first so there is always a valid
answer, then the strongest recipe with what is left; a failed attempt gets a cheaper debug retry."""
from __future__ import annotations

import importlib.util
from typing import Optional

from mlwright.knowledge.library import recipes_for
from mlwright.schemas import AttemptPlan, AttemptRecord, TaskSpec

# seconds a finished run needs after the last attempt: copy the best model, write the report and run.json
FINISH_RESERVE_S = 6.0


def autogluon_available() -> bool:
    try:
        return importlib.util.find_spec("autogluon.tabular") is not None
    except (ImportError, ValueError):
        return False


def finish_reserve(time_limit: float) -> float:
    return FINISH_RESERVE_S + 0.02 * time_limit


def autogluon_params(spec: TaskSpec, budget: float, n_features: int) -> dict:
    """Settings for one AutoGluon attempt that must finish (fit, predict, save) within `budget` seconds."""
    overhead = 12 + 0.06 * budget + spec.n_test_rows / 20000  # import, predicting the test set, saving
    importance = min(20.0, 0.05 * budget) if budget > 90 else 0.0
    fit_time = max(10.0, budget - overhead - importance)
    rows = spec.n_train_rows
    folds = 8 if rows < 20000 else 5
    if fit_time < 90 or rows * max(n_features, 1) > 5e6:
        folds = 5
    return {"time_limit": round(fit_time, 1), "presets": "best_quality", "num_bag_folds": folds,
            "num_stack_levels": 0, "importance_time": round(importance, 1)}


class Planner:
    def __init__(self, spec: TaskSpec, time_limit: float, use_autogluon: Optional[bool] = None):
        self.spec = spec
        self.time_limit = time_limit
        self.use_autogluon = autogluon_available() if use_autogluon is None else use_autogluon
        self.recipes = [c.recipe for c in recipes_for(spec)]
        if not self.use_autogluon and "autogluon_tabular" in self.recipes:
            self.recipes.remove("autogluon_tabular")

    def next_attempt(self, history: list[AttemptRecord], time_left: float) -> Optional[AttemptPlan]:
        usable = time_left - finish_reserve(self.time_limit)
        next_id = len(history) + 1
        tried = {h.recipe for h in history}
        valid = [h for h in history if h.status == "succeeded"]
        if usable < 8:
            return None
        if not history:
            # the baseline gets a slice of the budget; it usually needs far less
            budget = min(usable, max(20.0, 0.25 * self.time_limit)) if self.use_autogluon else usable
            return AttemptPlan(attempt_id=next_id, recipe="lightgbm_baseline", title="fast LightGBM baseline",
                               time_budget_s=budget, params={"n_folds": 5})
        last = history[-1]
        if "autogluon_tabular" in self.recipes and "autogluon_tabular" not in tried and usable >= 45:
            return AttemptPlan(attempt_id=next_id, recipe="autogluon_tabular", kind="improve" if valid else "draft",
                               parent_id=valid[0].attempt_id if valid else None,
                               title="AutoGluon bagged ensemble", time_budget_s=usable,
                               params=autogluon_params(self.spec, usable, len(self.spec.feature_columns)))
        # one cheaper retry of a failed attempt (debug), when there is time for it
        if last.status != "succeeded" and last.kind != "debug" and usable >= 30:
            params = {"n_folds": 3, "n_estimators": 300} if last.recipe == "lightgbm_baseline" else {
                **autogluon_params(self.spec, usable * 0.7, len(self.spec.feature_columns)),
                "presets": "medium_quality", "num_bag_folds": 5, "excluded_model_types": ["KNN", "NN_TORCH", "FASTAI"]}
            return AttemptPlan(attempt_id=next_id, parent_id=last.attempt_id, kind="debug", recipe=last.recipe,
                               title=f"retry of attempt {last.attempt_id} with a lighter configuration",
                               time_budget_s=usable * (0.7 if last.recipe == "autogluon_tabular" else 1.0), params=params)
        return None
