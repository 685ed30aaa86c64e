"""mlwright recipe: LightGBM with settings chosen by data size, k-fold out-of-fold validation with early stopping
on rows held out of each fold's training rows, refit on all rows with the folds' best round counts. Feature groups
(category counts, target encodings, text components, date spans, days target-encoded) are screened first and the
ones that help are learned inside each fold (runtime/features.py)."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from mlwright.runtime.features import *  # noqa: F403 - inlined in the rendered script
import warnings

import joblib
import lightgbm as lgb

# LightGBM 4.6+ names the early-stopping rows eval_X/eval_y; eval_set still works there and in 4.3 (the oldest here)
warnings.filterwarnings("ignore", message=".*'eval_set' is deprecated")

N_FOLDS = int(PARAMS.get("n_folds", 5))
SEED = int(PARAMS.get("seed", 0))
BUDGET = float(PARAMS.get("time_budget", 600))
# most rounds a fit may take; early stopping on rows held out of each fold's training rows picks how many it uses
MAX_ROUNDS = int(PARAMS.get("n_estimators", 3000))
QUICK_RATE, QUICK_ROUNDS = 0.1, 300  # the feature screen's cheap models


def size_settings(n_rows, n_features):
    """LightGBM settings by data size: small tables get small, regularised trees, a low learning rate and small
    leaves (min_child_samples); large ones bigger trees and a larger rate (their rounds cost more)."""
    if n_rows < 1000:
        s = dict(learning_rate=0.03, num_leaves=8, min_child_samples=5, reg_lambda=3.0, min_data_per_group=5,
                 cat_smooth=5.0)
    elif n_rows < 10000:
        s = dict(learning_rate=0.03, num_leaves=15, min_child_samples=10, reg_lambda=2.0, min_data_per_group=20,
                 cat_smooth=10.0)
    elif n_rows < 100000:
        s = dict(learning_rate=0.05, num_leaves=31, min_child_samples=20, reg_lambda=1.0)
    else:
        s = dict(learning_rate=0.08, num_leaves=63, min_child_samples=50, reg_lambda=1.0)
    # wide tables: each tree sees about 500 columns (a tree's cost grows with the columns it scans)
    s["colsample_bytree"] = (0.5 if n_rows < 1000 else 0.7) if n_features <= 700 else max(0.1, 500 / n_features)
    return s


def make_model(n_rows, n_features, rounds, learning_rate):
    params = dict(size_settings(n_rows, n_features), n_estimators=rounds, learning_rate=learning_rate,
                  subsample=0.8, subsample_freq=1, random_state=SEED,
                  n_jobs=1 if n_rows < 20000 else min(4, cores()), verbose=-1)
    if PROBLEM == "regression":
        return lgb.LGBMRegressor(**params)
    return lgb.LGBMClassifier(**params)


def stopping_metric():
    """The metric early stopping watches: the training loss (log loss, squared error: smooth, so the best round on
    a small stopping set is not noise, as it is with AUC or accuracy; on a 22,500-row table stopping on AUC scored
    no better), absolute error for MAE."""
    return "l1" if SPEC["metric"] == "mae" else None


def rounds_for_budget(X, y, n_rows, lr, n_fits, probe=40):
    """(most rounds, learning rate): time a few rounds on one fold's rows; when (n_fits) fits of MAX_ROUNDS would
    not end in 80% of the budget, fewer rounds with a larger learning rate (the same total step size, up to a
    rate of 0.3). Early stopping usually ends the fits well before the most rounds."""
    t = time.time()
    make_model(n_rows, X.shape[1], probe, lr).fit(X, y)
    per_round = (time.time() - t) / probe
    affordable = affordable_steps(0.8 * BUDGET - (time.time() - T0), n_fits, per_round)
    if affordable >= MAX_ROUNDS:
        return MAX_ROUNDS, lr
    n = max(20, affordable)
    # n rounds take the step size 1000 would (early stopping rarely keeps more)
    new_lr = min(0.3, max(lr, lr * min(MAX_ROUNDS, 1000) / n))
    log(f"{per_round * 1000:.1f} ms a round: at most {n} rounds at learning rate {new_lr:.3f} fit the "
        f"{BUDGET:.0f}s budget")
    return n, new_lr


def deadline_callback(deadline):
    """Ends boosting at the deadline (the budget's guard): the rounds so far are kept."""
    def callback(env):
        if time.time() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)
    callback.order = 40  # after early stopping's own check (order 30)
    return callback


def fit_fold(X, y_fit, tr, rounds, lr, deadline):
    """A model fitted on part of the fold's training rows, stopped on the rest; its best round count. The settings
    are the whole table's (those of the refit), so that the folds' round counts carry over to it."""
    fit_rows, stop_rows = stopping_split(tr, y_fit, seed=SEED)
    m = make_model(len(X), X.shape[1], rounds, lr)
    patience = max(50, int(round(5 / lr)))  # about the same total step size whatever the rate
    m.fit(X.iloc[fit_rows], y_fit.iloc[fit_rows], eval_set=[(X.iloc[stop_rows], y_fit.iloc[stop_rows])],
          eval_metric=stopping_metric(),
          callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False), deadline_callback(deadline)])
    return m, max(1, int(m.best_iteration_ or rounds)), len(fit_rows)


def quick_predictions(X, y_fit, fit_rows, score_rows, deadline):
    """The feature screen's model: a fast rate, few rounds, stopped on part of its fit rows."""
    m, _, _ = fit_fold(X, y_fit, fit_rows, QUICK_ROUNDS, QUICK_RATE, deadline)
    return model_predictions(m, X.iloc[score_rows])


def fit(train, test, out_dir, model_dir):
    y, y_fit, prep, X, Xt = prepared_tables(train, test)
    groups = chosen_feature_work(prep, X, train, y, y_fit, quick_predictions, out_dir, SEED)
    folds = cv_splits(X, y, N_FOLDS, SEED)
    # fewer than 1000 rounds allowed (the lighter retry's n_estimators): a larger rate, the same total step size
    lr = min(0.3, size_settings(len(X), X.shape[1])["learning_rate"] * max(1.0, 1000 / MAX_ROUNDS))
    rounds = MAX_ROUNDS
    n_fits = len(folds) + 2  # the refit on all rows costs about two fold fits (more rows, more rounds)
    if X.shape[0] * X.shape[1] > 200_000:
        rounds, lr = rounds_for_budget(X.iloc[folds[0][0]], y_fit.iloc[folds[0][0]], len(X), lr, n_fits)

    def fit_one(Xf, tr, i):
        # each fit may run until its share of what is left of 90% of the budget
        deadline = time.time() + (0.9 * BUDGET - (time.time() - T0)) / (n_fits - i)
        m, n_best, n_fit = fit_fold(Xf, y_fit, tr, rounds, lr, deadline)
        log(f"fold {i + 1} done: early stopping kept {n_best} of at most {rounds} rounds")
        return m, n_best, n_fit

    rows, oof, best, fit_sizes = cross_fit(X, train, y_fit, groups, folds, fit_one, model_predictions)
    final = rounds_for_refit(best, np.mean(fit_sizes), len(X))
    log(f"refit on all {len(X)} rows with {final} rounds at learning rate {lr:.3f}")
    extra, work = learned_features(groups, train, y_fit, np.arange(len(X)))
    X = with_features(X, extra)
    model = make_model(len(X), X.shape[1], final, lr).fit(X, y_fit, callbacks=[deadline_callback(T0 + 0.9 * BUDGET)])
    joblib.dump({"prep": prep, "work": work, "model": model}, os.path.join(model_dir, "model.joblib"))
    with open(os.path.join(model_dir, "training.json"), "w") as f:
        json.dump({"fold_best_rounds": best, "max_rounds": rounds, "refit_rounds": final, "learning_rate": lr,
                   "stopping_metric": stopping_metric() or "loss", "feature_groups": [g.name for g in work]}, f,
                  indent=1)
    imp = pd.DataFrame({"feature": X.columns, "importance": model.booster_.feature_importance("gain")})
    imp.sort_values("importance", ascending=False).to_csv(os.path.join(out_dir, "feature_importance.csv"), index=False)
    write_outputs(out_dir, test, model_predictions(model, with_features(Xt, applied_features(work, test))), rows, oof)


def predict(model_dir, new):
    bundle = joblib.load(os.path.join(model_dir, "model.joblib"))
    X = with_features(bundle["prep"].transform(new), applied_features(bundle.get("work", []), new))
    return model_predictions(bundle["model"], X)


if __name__ == "__main__":
    cli(fit, predict)
