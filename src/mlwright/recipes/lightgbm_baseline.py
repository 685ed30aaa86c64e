"""mlwright recipe: fast LightGBM baseline with k-fold out-of-fold validation, refit on all rows."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
import joblib
import lightgbm as lgb

N_FOLDS = int(PARAMS.get("n_folds", 5))
SEED = int(PARAMS.get("seed", 0))
BUDGET = float(PARAMS.get("time_budget", 600))
N_TREES, LEARNING_RATE = int(PARAMS.get("n_estimators", 600)), 0.03


class Prep:
    """Column handling learned on the training rows: categories, dates, text lengths."""

    def fit(self, X):
        kinds = feature_kinds(X)
        self.nums, self.dates, self.texts = (columns_of(kinds, k) for k in ("numeric", "datetime", "text"))
        self.cats = {}
        for c in columns_of(kinds, "categorical"):
            top = X[c].dropna().astype(str).value_counts()
            self.cats[c] = list(top[top >= 2].index[:500])
        return self

    def transform(self, X):
        out = {}  # built in one go: a frame grown column by column is slow on wide tables
        for c in self.nums:
            out[c] = pd.to_numeric(X[c], errors="coerce")
        for c in self.dates:
            d = pd.to_datetime(X[c], errors="coerce")  # timestamps already (perception read the dates)
            out[c + "__year"], out[c + "__month"] = d.dt.year, d.dt.month
            out[c + "__dow"], out[c + "__doy"] = d.dt.dayofweek, d.dt.dayofyear
        for c in self.texts:
            t = X[c].fillna("").astype(str)
            out[c + "__len"], out[c + "__words"] = t.str.len(), t.str.count(" ") + 1
        for c, levels in self.cats.items():
            out[c] = pd.Series(pd.Categorical(X[c].astype(str).where(X[c].notna(), None), categories=levels),
                               index=X.index)
        frame = pd.DataFrame(out, index=X.index)
        frame.columns = safe_names(frame.columns)
        return frame


def safe_names(cols):
    """Feature names LightGBM accepts (it refuses JSON punctuation such as quotes, commas and brackets), unique."""
    out, seen = [], set()
    for c in cols:
        n = "".join("_" if ch in '"\',:[]{}\\' or not ch.isprintable() else ch for ch in str(c)) or "_"
        while n in seen:
            n += "_"
        seen.add(n)
        out.append(n)
    return out


def make_model(n_rows, n_features=0, trees=(N_TREES, LEARNING_RATE)):
    # wide tables: each tree sees about 500 columns (a tree's cost grows with the columns it scans)
    colsample = 0.7 if n_features <= 700 else max(0.1, 500 / n_features)
    params = dict(n_estimators=trees[0], learning_rate=trees[1],
                  num_leaves=15 if n_rows < 2000 else 31, min_child_samples=5 if n_rows < 500 else 20,
                  subsample=0.8, subsample_freq=1, colsample_bytree=colsample, reg_lambda=1.0,
                  random_state=SEED, n_jobs=1 if n_rows < 20000 else min(4, cores()), verbose=-1)
    if PROBLEM == "regression":
        return lgb.LGBMRegressor(**params)
    return lgb.LGBMClassifier(**params)


def trees_for_budget(X, y, n_fits, probe=40):
    """(trees, learning rate): time a few trees on one fold's rows; when the (n_folds + 1) fits would not end in
    80% of the budget, fewer trees with a larger learning rate (the same total step size, up to a rate of 0.3)."""
    t = time.time()
    make_model(len(X), X.shape[1], (probe, LEARNING_RATE)).fit(X, y)
    per_tree = (time.time() - t) / probe
    affordable = int((0.8 * BUDGET - (time.time() - T0)) / (n_fits * max(per_tree, 1e-6)))
    if affordable >= N_TREES:
        return N_TREES, LEARNING_RATE
    n = max(20, affordable)
    lr = min(0.3, LEARNING_RATE * N_TREES / n)
    log(f"{per_tree * 1000:.1f} ms a tree: {n} trees at learning rate {lr:.3f} fit the {BUDGET:.0f}s budget "
        f"({N_TREES} wanted)")
    return n, lr


def fit(train, test, out_dir, model_dir):
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    prep = Prep().fit(train)
    X, Xt = prep.transform(train), prep.transform(test)
    log(f"{len(X)} rows, {X.shape[1]} features after preparation")
    folds = cv_splits(X, y, N_FOLDS, SEED)
    trees = (trees_for_budget(X.iloc[folds[0][0]], y_fit.iloc[folds[0][0]], len(folds) + 1)
             if X.shape[0] * X.shape[1] > 200_000 else (N_TREES, LEARNING_RATE))
    oof_parts, rows = [], []
    for i, (tr, va) in enumerate(folds):
        m = make_model(len(tr), X.shape[1], trees).fit(X.iloc[tr], y_fit.iloc[tr])
        oof_parts.append(model_predictions(m, X.iloc[va]))
        rows.append(va)
        log(f"fold {i + 1} done")
    rows = np.concatenate(rows)
    if PROBLEM == "regression":
        oof = np.concatenate(oof_parts)
    else:
        oof = pd.concat(oof_parts, ignore_index=True)
    model = make_model(len(X), X.shape[1], trees).fit(X, y_fit)
    joblib.dump({"prep": prep, "model": model}, os.path.join(model_dir, "model.joblib"))
    imp = pd.DataFrame({"feature": X.columns, "importance": model.booster_.feature_importance("gain")})
    imp.sort_values("importance", ascending=False).to_csv(os.path.join(out_dir, "feature_importance.csv"), index=False)
    write_outputs(out_dir, test, model_predictions(model, Xt), rows, oof)


def predict(model_dir, new):
    bundle = joblib.load(os.path.join(model_dir, "model.joblib"))
    return model_predictions(bundle["model"], bundle["prep"].transform(new))


if __name__ == "__main__":
    cli(fit, predict)
