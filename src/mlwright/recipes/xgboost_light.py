"""mlwright recipe: XGBoost (histogram trees, native categorical splits) with settings chosen by data size, k-fold
out-of-fold validation with early stopping on rows held out of each fold's training rows, refit on all rows with
the folds' best round counts; the same screened feature groups as the LightGBM recipe (runtime/features.py).
Depth-wise trees where LightGBM grows leaf-wise: different errors, which is what a blend of the two gains from."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from mlwright.runtime.features import *  # noqa: F403 - inlined in the rendered script
import joblib
import xgboost as xgb

N_FOLDS = int(PARAMS.get("n_folds", 5))
SEED = int(PARAMS.get("seed", 0))
BUDGET = float(PARAMS.get("time_budget", 600))
MAX_ROUNDS = int(PARAMS.get("n_estimators", 3000))  # early stopping decides how many are used
QUICK_RATE, QUICK_ROUNDS = 0.1, 300  # the feature screen's cheap models


def size_settings(n_rows):
    """XGBoost settings by data size: shallow, regularised trees and a low rate on small tables; deeper trees, a
    larger rate on large ones (their rounds cost more)."""
    if n_rows < 1000:
        return dict(learning_rate=0.03, max_depth=4, min_child_weight=2.0, reg_lambda=3.0, colsample_bytree=0.6)
    if n_rows < 10000:
        return dict(learning_rate=0.03, max_depth=6, min_child_weight=3.0, reg_lambda=2.0, colsample_bytree=0.7)
    if n_rows < 100000:
        return dict(learning_rate=0.05, max_depth=7, min_child_weight=5.0, reg_lambda=1.0, colsample_bytree=0.7)
    return dict(learning_rate=0.08, max_depth=8, min_child_weight=10.0, reg_lambda=1.0, colsample_bytree=0.7)


class Deadline(xgb.callback.TrainingCallback):
    """Ends boosting at the deadline (the budget's guard): the rounds so far are kept."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def after_iteration(self, model, epoch, evals_log):
        return time.time() > self.at


class Booster:
    """An XGBoost model fitted on string class labels (XGBoost wants the codes 0..k-1 of the classes it sees)."""

    def __init__(self, n_rows, rounds, lr, deadline, patience=None):
        params = dict(size_settings(n_rows), n_estimators=rounds, learning_rate=lr, subsample=0.8,
                      tree_method="hist", enable_categorical=True, max_cat_to_onehot=4, random_state=SEED,
                      n_jobs=1 if n_rows < 20000 else min(4, cores()), early_stopping_rounds=patience,
                      callbacks=[Deadline(deadline)])
        if SPEC["metric"] == "mae":
            params["eval_metric"] = "mae"  # stop on the task's error; the squared loss still fits
        self.model = xgb.XGBRegressor(**params) if PROBLEM == "regression" else xgb.XGBClassifier(**params)

    def fit(self, X, y, stop=None):
        if PROBLEM != "regression":
            self.classes = sorted(set(y))
            codes = {c: i for i, c in enumerate(self.classes)}
            y = y.map(codes)
            stop = None if stop is None else (stop[0], stop[1].map(codes))
        self.model.fit(X, y, eval_set=None if stop is None else [stop], verbose=False)
        return self

    def best_rounds(self):
        return int(getattr(self.model, "best_iteration", self.model.n_estimators - 1)) + 1

    def predictions(self, X):
        if PROBLEM == "regression":
            p = self.model.predict(X)
            return np.expm1(p) if LOG_TARGET else p
        return as_class_frame(self.model.predict_proba(X), self.classes)


def fit_fold(X, y_fit, tr, rounds, lr, deadline):
    """A model fitted on part of the fold's training rows, stopped on the rest; its best round count."""
    fit_rows, stop_rows = stopping_split(tr, y_fit, seed=SEED)
    patience = max(50, int(round(5 / lr)))  # about the same total step size whatever the rate
    m = Booster(len(X), rounds, lr, deadline, patience).fit(
        X.iloc[fit_rows], y_fit.iloc[fit_rows], (X.iloc[stop_rows], y_fit.iloc[stop_rows]))
    return m, max(1, m.best_rounds()), len(fit_rows)


def quick_predictions(X, y_fit, fit_rows, score_rows, deadline):
    """The feature screen's model: a fast rate, few rounds, stopped on part of its fit rows."""
    m, _, _ = fit_fold(X, y_fit, fit_rows, QUICK_ROUNDS, QUICK_RATE, deadline)
    return m.predictions(X.iloc[score_rows])


def fit(train, test, out_dir, model_dir):
    y, y_fit, prep, X, Xt = prepared_tables(train, test)
    groups = chosen_feature_work(prep, X, train, y, y_fit, quick_predictions, out_dir, SEED)
    folds = cv_splits(X, y, N_FOLDS, SEED)
    # fewer than 1000 rounds allowed (the lighter retry's n_estimators): a larger rate, the same total step size
    lr = min(0.3, size_settings(len(X))["learning_rate"] * max(1.0, 1000 / MAX_ROUNDS))
    n_fits = len(folds) + 2  # the refit on all rows costs about two fold fits (more rows, more rounds)

    def fit_one(Xf, tr, i):
        # each fit may run until its share of what is left of 90% of the budget
        deadline = time.time() + (0.9 * BUDGET - (time.time() - T0)) / (n_fits - i)
        m, n_best, n_fit = fit_fold(Xf, y_fit, tr, MAX_ROUNDS, lr, deadline)
        log(f"fold {i + 1} done: early stopping kept {n_best} of at most {MAX_ROUNDS} rounds")
        return m, n_best, n_fit

    rows, oof, best, fit_sizes = cross_fit(X, train, y_fit, groups, folds, fit_one, lambda m, Xv: m.predictions(Xv))
    final = rounds_for_refit(best, np.mean(fit_sizes), len(X))
    log(f"refit on all {len(X)} rows with {final} rounds at learning rate {lr:.3f}")
    extra, work = learned_features(groups, train, y_fit, np.arange(len(X)))
    X = with_features(X, extra)
    model = Booster(len(X), final, lr, T0 + 0.9 * BUDGET).fit(X, y_fit)
    joblib.dump({"prep": prep, "work": work, "model": model}, os.path.join(model_dir, "model.joblib"))
    with open(os.path.join(model_dir, "training.json"), "w") as f:
        json.dump({"fold_best_rounds": best, "max_rounds": MAX_ROUNDS, "refit_rounds": final, "learning_rate": lr,
                   "feature_groups": [g.name for g in work]}, f, indent=1)
    gain = model.model.get_booster().get_score(importance_type="total_gain")
    imp = pd.DataFrame({"feature": X.columns, "importance": [gain.get(c, 0.0) for c in X.columns]})
    imp.sort_values("importance", ascending=False).to_csv(os.path.join(out_dir, "feature_importance.csv"), index=False)
    write_outputs(out_dir, test, model.predictions(with_features(Xt, applied_features(work, test))), rows, oof)


def predict(model_dir, new):
    bundle = joblib.load(os.path.join(model_dir, "model.joblib"))
    X = with_features(bundle["prep"].transform(new), applied_features(bundle["work"], new))
    return bundle["model"].predictions(X)


if __name__ == "__main__":
    cli(fit, predict)
