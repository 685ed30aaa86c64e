"""mlwright recipe: CatBoost with native categorical (and text) features, ordered boosting on small tables,
k-fold out-of-fold validation with early stopping on rows held out of each fold's training rows, refit on all
rows with the folds' best iteration counts."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
import joblib
from catboost import CatBoostClassifier, CatBoostError, CatBoostRegressor

N_FOLDS = int(PARAMS.get("n_folds", 5))
SEED = int(PARAMS.get("seed", 0))
BUDGET = float(PARAMS.get("time_budget", 600))
MAX_ITERATIONS = int(PARAMS.get("n_estimators", 3000))  # early stopping decides how many are used
MISSING = "__missing__"


class Prep:
    """Columns as CatBoost reads them: numbers, dates split into parts, categories as strings, free text as
    CatBoost text features (plus its length and word count)."""

    def fit(self, X):
        kinds = feature_kinds(X)
        self.nums, self.dates, self.cats, self.texts = (columns_of(kinds, k) for k in
                                                        ("numeric", "datetime", "categorical", "text"))
        self.use_text = True  # CatBoost's text features; off when its tokenizer finds nothing to learn from
        return self

    def transform(self, X):
        out = {}
        for c in self.nums:
            out[c] = pd.to_numeric(X[c], errors="coerce").astype(float)
        for c in self.dates:
            d = pd.to_datetime(X[c], errors="coerce")
            out[c + "__days"] = as_numbers(X, [c])[c]
            out[c + "__month"], out[c + "__dow"] = d.dt.month, d.dt.dayofweek
        for c in self.cats:
            out[c] = X[c].astype(str).where(X[c].notna(), MISSING)
        for c in self.texts:
            t = X[c].fillna("").astype(str)
            out[c + "__len"], out[c + "__words"] = t.str.len(), t.str.count(" ") + 1
            if self.use_text:
                out[c] = t.where(t.str.strip() != "", MISSING)
        return pd.DataFrame(out, index=X.index)

    def features(self):
        """(categorical, text) feature names of the transformed frame."""
        return list(self.cats), (list(self.texts) if self.use_text else [])


def settings(n_rows):
    """CatBoost settings by data size: ordered boosting (less target leakage from its own statistics: better on
    small tables, slower) and a low learning rate on small tables, plain boosting and a larger rate on big ones."""
    if n_rows < 1000:
        return dict(learning_rate=0.03, depth=6, l2_leaf_reg=5.0, boosting_type="Ordered")
    if n_rows < 10000:
        return dict(learning_rate=0.04, depth=6, l2_leaf_reg=3.0, boosting_type="Ordered")
    if n_rows < 100000:
        return dict(learning_rate=0.06, depth=6, l2_leaf_reg=3.0, boosting_type="Plain")
    return dict(learning_rate=0.1, depth=8, l2_leaf_reg=3.0, boosting_type="Plain")


def make_model(prep, plan):
    """plan: settings() with the iterations and learning rate the budget allows."""
    cats, texts = prep.features()
    loss = "RMSE" if PROBLEM == "regression" else ("Logloss" if len(CLASSES) == 2 else "MultiClass")
    if SPEC["metric"] == "mae":
        loss = "MAE"
    params = dict(plan, loss_function=loss, random_seed=SEED, thread_count=cores(), verbose=0,
                  allow_writing_files=False, cat_features=cats, text_features=texts or None)
    if PROBLEM == "regression":
        return CatBoostRegressor(**params)
    return CatBoostClassifier(**params)


class Deadline:
    """CatBoost callback: stops boosting at the deadline (the budget's guard); the iterations so far are kept."""

    def __init__(self, at):
        self.at = at

    def after_iteration(self, info):
        return time.time() < self.at


def fit_model(prep, plan, X, y, rows, deadline, stop_rows=None):
    m = make_model(prep, plan)
    if stop_rows is None:
        return m.fit(X.iloc[rows], y.iloc[rows], callbacks=[Deadline(deadline)])
    patience = max(50, int(round(5 / plan["learning_rate"])))
    return m.fit(X.iloc[rows], y.iloc[rows], eval_set=(X.iloc[stop_rows], y.iloc[stop_rows]),
                 early_stopping_rounds=patience, use_best_model=True, callbacks=[Deadline(deadline)])


def plan_for_budget(prep, X, y, rows, n_fits, probe=30):
    """settings() with the most iterations and the learning rate that let n_fits fits end in 80% of the budget,
    timed on a few iterations of one fold's rows. Ordered boosting costs several times plain boosting: when it
    would leave fewer than 400 iterations a fit, plain boosting is timed instead (on a 2,200-row table ordered
    boosting with 717 iterations at a raised rate still beat plain boosting: RMSLE 0.1305 against 0.1348).
    Fewer iterations than MAX_ITERATIONS get a larger rate (up to 0.3). Stops the attempt when even 50
    iterations a fit do not fit."""
    plan = settings(len(X))
    # fewer than 1000 iterations allowed (the lighter retry's n_estimators): a larger rate, the same total step size
    plan["learning_rate"] = min(0.3, plan["learning_rate"] * max(1.0, 1000 / MAX_ITERATIONS))
    while True:
        t = time.time()
        fit_model(prep, dict(plan, iterations=probe), X, y, rows, time.time() + BUDGET)
        per_it = (time.time() - t) / probe
        affordable = affordable_steps(0.8 * BUDGET - (time.time() - T0), n_fits, per_it)
        if plan["boosting_type"] != "Ordered" or affordable >= min(MAX_ITERATIONS, 400):
            break
        log(f"ordered boosting: {per_it * 1000:.1f} ms an iteration, {affordable} iterations a fit: plain instead")
        plan["boosting_type"] = "Plain"
    if affordable < 50:
        stop_for_time(f"CatBoost needs {per_it * 1000:.0f} ms an iteration here: {n_fits} fits of 50 iterations "
                      f"do not fit the {BUDGET:.0f}s budget")
    lr = plan["learning_rate"]
    if affordable < MAX_ITERATIONS:
        lr = min(0.3, max(lr, lr * min(MAX_ITERATIONS, 1000) / affordable))
    plan.update(iterations=min(affordable, MAX_ITERATIONS), learning_rate=lr)
    log(f"{plan['boosting_type'].lower()} boosting, {per_it * 1000:.1f} ms an iteration: at most "
        f"{plan['iterations']} iterations at learning rate {lr:.3f} in the {BUDGET:.0f}s budget")
    return plan


def fit(train, test, out_dir, model_dir):
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    prep = Prep().fit(train)
    X = prep.transform(train)
    log(f"{len(X)} rows, {X.shape[1]} features ({len(prep.cats)} categorical, {len(prep.texts)} text)")
    folds = cv_splits(X, y, N_FOLDS, SEED)
    n_fits = len(folds) + 2  # the refit on all rows costs about two fold fits (more rows, more iterations)
    try:
        plan = plan_for_budget(prep, X, y_fit, folds[0][0], n_fits)
    except CatBoostError as e:
        if not prep.texts:
            raise
        log(f"text features dropped to lengths and word counts: {e}")
        prep.use_text = False
        X = prep.transform(train)
        plan = plan_for_budget(prep, X, y_fit, folds[0][0], n_fits)
    oof_parts, rows, best, fit_sizes = [], [], [], []
    for i, (tr, va) in enumerate(folds):
        deadline = time.time() + (0.9 * BUDGET - (time.time() - T0)) / (n_fits - i)
        fit_rows, stop_rows = stopping_split(tr, y_fit, seed=SEED)
        m = fit_model(prep, plan, X, y_fit, fit_rows, deadline, stop_rows)
        n_best = max(1, int(m.get_best_iteration() or 0) + 1)
        oof_parts.append(model_predictions(m, X.iloc[va]))
        rows.append(va)
        best.append(n_best)
        fit_sizes.append(len(fit_rows))
        log(f"fold {i + 1} done: early stopping kept {n_best} of at most {plan['iterations']} iterations")
    rows = np.concatenate(rows)
    oof = np.concatenate(oof_parts) if PROBLEM == "regression" else pd.concat(oof_parts, ignore_index=True)
    final = rounds_for_refit(best, np.mean(fit_sizes), len(X))
    log(f"refit on all {len(X)} rows with {final} iterations")
    model = fit_model(prep, dict(plan, iterations=final), X, y_fit, np.arange(len(X)), T0 + 0.9 * BUDGET)
    joblib.dump({"prep": prep, "model": model}, os.path.join(model_dir, "model.joblib"))
    with open(os.path.join(model_dir, "training.json"), "w") as f:
        json.dump({"fold_best_iterations": best, "max_iterations": plan["iterations"], "refit_iterations": final,
                   "learning_rate": plan["learning_rate"], "boosting_type": plan["boosting_type"]}, f, indent=1)
    imp = pd.DataFrame({"feature": X.columns, "importance": model.get_feature_importance()})
    imp.sort_values("importance", ascending=False).to_csv(os.path.join(out_dir, "feature_importance.csv"), index=False)
    write_outputs(out_dir, test, model_predictions(model, prep.transform(test)), rows, oof)


def predict(model_dir, new):
    bundle = joblib.load(os.path.join(model_dir, "model.joblib"))
    return model_predictions(bundle["model"], bundle["prep"].transform(new))


if __name__ == "__main__":
    cli(fit, predict)
