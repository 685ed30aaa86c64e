"""mlwright recipe: a regularised linear model for wide or sparse tables: one-hot categories, standardised numbers
(with missing-value indicators), TF-IDF words of free-text columns; LogisticRegressionCV / RidgeCV choose the
regularisation by inner cross-validation inside each fold, so the out-of-fold score stays honest; refit on all
rows. Different errors from the tree models: a useful ensemble member and a fallback of its own."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
import warnings

import joblib
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

N_FOLDS = int(PARAMS.get("n_folds", 5))
SEED = int(PARAMS.get("seed", 0))
BUDGET = float(PARAMS.get("time_budget", 300))
warnings.filterwarnings("ignore", category=ConvergenceWarning)  # the inner CV's weakest settings may not converge
# scikit-learn's notices of coming parameter changes (LogisticRegressionCV in 1.8+): the defaults used here stay
warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")


def prepare(df):
    """Dates as numbers (days, month, day of week); categories and texts as strings; numbers as floats."""
    kinds = feature_kinds(df)
    out = {}
    for c in columns_of(kinds, "numeric"):
        out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in columns_of(kinds, "datetime"):
        d = pd.to_datetime(df[c], errors="coerce")
        out[c + "__days"] = as_numbers(df, [c])[c]
        out[c + "__month"], out[c + "__dow"] = d.dt.month.astype(str), d.dt.dayofweek.astype(str)
    for c in columns_of(kinds, "categorical", "text"):
        out[c] = df[c].astype(str).where(df[c].notna(), "")
    return pd.DataFrame(out, index=df.index)


def signed_log(x):
    """Long-tailed numbers (prices, counts, areas) on a log scale keeping their sign: a linear model then sees
    ratios instead of being dragged by the largest values."""
    return np.sign(x) * np.log1p(np.abs(x))


def make_features(X, texts):
    nums = [c for c in X.columns if pd.api.types.is_float_dtype(X[c])]
    cats = [c for c in X.columns if c not in nums and c not in texts]
    skewed = [c for c in nums if X[c].notna().any() and abs(float(X[c].skew(skipna=True) or 0.0)) > 2]
    plain = [c for c in nums if c not in skewed]
    parts = []
    if plain:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                           StandardScaler()), plain))
    if skewed:
        parts.append(("log", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                           FunctionTransformer(signed_log), StandardScaler()), skewed))
    if cats:
        parts.append(("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=3), cats))
    for c in texts:
        parts.append((f"text:{c}", TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=20000,
                                                   sublinear_tf=True, dtype=np.float32), c))
    return ColumnTransformer(parts, sparse_threshold=1.0)


def scoring():
    """The inner CV's choice of regularisation follows the task: AUC for AUC, log loss for the other
    classification metrics (smoother than accuracy on few rows), squared error for regression."""
    if PROBLEM == "regression":
        return None
    return "roc_auc" if SPEC["metric"] == "roc_auc" and len(CLASSES) == 2 else "neg_log_loss"


def make_model(n_rows):
    inner = 3 if n_rows >= 300 else 2
    if PROBLEM == "regression":
        return RidgeCV(alphas=np.logspace(-2, 4, 13))
    return LogisticRegressionCV(Cs=np.logspace(-3, 2, 8), cv=inner, scoring=scoring(), max_iter=500,
                                random_state=SEED)


def fit_pipeline(X, y, texts):
    return make_pipeline(make_features(X, texts), make_model(len(X))).fit(X, y)


def fit(train, test, out_dir, model_dir):
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    X, Xt = prepare(train), prepare(test)
    texts = columns_of(feature_kinds(train), "text")
    log(f"{len(X)} rows, {X.shape[1]} columns before encoding")
    folds = cv_splits(X, y, N_FOLDS, SEED)
    oof_parts, rows = [], []
    started = time.time()
    for i, (tr, va) in enumerate(folds):
        m = fit_pipeline(X.iloc[tr], y_fit.iloc[tr], texts)
        oof_parts.append(model_predictions(m, X.iloc[va]))
        rows.append(va)
        fold_s = time.time() - started
        # the other folds and the refit (about 1.5 folds: more rows), after what imports and reading took
        if i == 0 and time.time() - T0 + fold_s * (len(folds) - 1 + 1.5) > 0.9 * BUDGET:
            stop_for_time(f"one fold took {fold_s:.1f}s: {len(folds)} folds and the refit do not fit the "
                          f"{BUDGET:.0f}s budget")
        log(f"fold {i + 1} done: {regularisation(m)}")
    rows = np.concatenate(rows)
    oof = np.concatenate(oof_parts) if PROBLEM == "regression" else pd.concat(oof_parts, ignore_index=True)
    model = fit_pipeline(X, y_fit, texts)
    log(f"refit on all {len(X)} rows: {regularisation(model)}")
    joblib.dump(model, os.path.join(model_dir, "model.joblib"))
    importance(model, X).to_csv(os.path.join(out_dir, "feature_importance.csv"), index=False)
    write_outputs(out_dir, test, model_predictions(model, Xt), rows, oof)


def importance(pipeline, X):
    """Each input column's weight: the spread (standard deviation over the training rows) of its contribution to
    the model's decision function, the sum over the features the column became (one-hot levels, words, missing
    indicators) times their coefficients; averaged over classes. Noise spread over many words partly cancels, as
    it does in the model, instead of adding up as summed |coefficients| would."""
    features, est = pipeline[0], pipeline[-1]
    Z = features.transform(X)
    Z = Z.tocsc() if hasattr(Z, "tocsc") else np.asarray(Z)
    coef = np.atleast_2d(est.coef_)
    owner = np.empty(coef.shape[1], dtype=object)
    for name, trans, cols in features.transformers_:
        span = features.output_indices_[name]
        if name == "remainder" or span.stop <= span.start:
            continue
        if isinstance(cols, str):  # a text column: all its words
            owner[span] = cols
        elif isinstance(trans, OneHotEncoder):
            widths = [len(c) - (len(i) - 1 if i is not None else 0)
                      for c, i in zip(trans.categories_, trans.infrequent_categories_)]
            owner[span] = np.repeat(cols, widths)
        else:  # numbers: the imputer puts the columns first, then one indicator per column with missing values
            ind = trans[0].indicator_
            owner[span] = list(cols) + ([cols[i] for i in ind.features_] if ind is not None else [])
    rows = []
    for col in pd.unique(owner[owner != None]):  # noqa: E711 - an object array's elementwise test
        idx = np.flatnonzero(owner == col)
        part = Z[:, idx] @ coef[:, idx].T
        rows.append((col, float(np.asarray(part).std(axis=0).mean())))
    imp = pd.DataFrame(rows, columns=["feature", "importance"])
    return imp.sort_values("importance", ascending=False)


def regularisation(pipeline):
    est = pipeline[-1]
    if PROBLEM == "regression":
        return f"alpha {est.alpha_:.3g}"
    return f"C {float(np.ravel(est.C_)[0]):.3g}"


def predict(model_dir, new):
    return model_predictions(joblib.load(os.path.join(model_dir, "model.joblib")), prepare(new))


if __name__ == "__main__":
    cli(fit, predict)
