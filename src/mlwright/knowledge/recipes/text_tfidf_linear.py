"""mlwright recipe: free text (any language) as word and character n-gram TF-IDF, other columns one-hot /
scaled, a regularized linear model chosen by out-of-fold score; refit on all rows."""
# <<common>>
import joblib
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import OneHotEncoder, StandardScaler

N_FOLDS = int(PARAMS.get("n_folds", 5))
BUDGET = float(PARAMS.get("time_budget", 120))


def column_roles(df):
    texts, cats, nums = [], [], []
    for c in FEATURES:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            nums.append(c)
            continue
        v = s.dropna().astype(str)
        if len(v) and (v.str.count(" ").mean() >= 3 or v.str.len().mean() >= 40):
            texts.append(c)
        else:
            cats.append(c)
    return texts, cats, nums


def make_features(df):
    texts, cats, nums = column_roles(df)
    parts = []
    for c in texts:
        # word 1-2 grams; character n-grams for languages without spaces (few word tokens per document)
        sample = df[c].dropna().astype(str).head(2000)
        spaced = sample.str.count(" ").sum() / max(sample.str.len().sum(), 1) > 0.05
        word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=300000, sublinear_tf=True,
                               strip_accents="unicode", dtype=np.float32)
        vec = word if spaced else make_union(word, TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2,
                                                                   max_features=200000, sublinear_tf=True,
                                                                   dtype=np.float32))
        parts.append((f"text_{c}", vec, c))
    if cats:
        parts.append(("cats", make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"),
                                            OneHotEncoder(handle_unknown="ignore", min_frequency=3)), cats))
    if nums:
        parts.append(("nums", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums))
    log(f"text columns {texts}, categorical {len(cats)}, numeric {len(nums)}")
    return ColumnTransformer(parts, sparse_threshold=1.0)


def prepare(df):
    X = df[FEATURES].copy()
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = X[c].astype(object).where(X[c].notna(), None).astype(str).where(X[c].notna(), "")
    return X


def make_model(c):
    if PROBLEM == "regression":
        return Ridge(alpha=1.0 / c)
    return LogisticRegression(C=c, max_iter=2000, solver="liblinear" if PROBLEM == "binary" else "lbfgs")


def fold_score(y_true, pred):
    if PROBLEM == "regression":
        return -float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(pred)) ** 2)))
    p = np.clip(pred[CLASSES].to_numpy(), 1e-9, 1)
    idx = np.searchsorted(CLASSES, np.asarray(y_true))
    return float(np.mean(np.log(p[np.arange(len(idx)), idx])))  # mean log-likelihood


def fit(train, test, out_dir, model_dir):
    X, Xt = prepare(train), prepare(test)
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    splits = cv_splits(X, y, N_FOLDS)
    # the vocabulary and IDF weights are fitted once on the training texts (unsupervised: no labels involved)
    feats = make_features(X)
    M = feats.fit_transform(X).tocsr()
    mats = [(M[tr], M[va]) for tr, va in splits]
    best_c, best_s, best_oof = None, -np.inf, None
    for c in PARAMS.get("c_grid", [2.0, 0.7, 6.0]):
        if time.time() - T0 > 0.6 * BUDGET and best_c is not None:
            break
        parts = []
        for (tr, va), (Mtr, Mva) in zip(splits, mats):
            m = make_model(c).fit(Mtr, y_fit.iloc[tr])
            parts.append(model_predictions(m, Mva))
        oof = np.concatenate(parts) if PROBLEM == "regression" else pd.concat(parts, ignore_index=True)
        rows = np.concatenate([va for _, va in splits])
        s = fold_score(y.iloc[rows] if PROBLEM != "regression" else y_fit.iloc[rows], np.log1p(oof) if LOG_TARGET else oof)
        log(f"C={c}: out-of-fold score {s:.5f}")
        if s > best_s:
            best_c, best_s, best_oof = c, s, oof
    rows = np.concatenate([va for _, va in splits])
    model = make_model(best_c).fit(M, y_fit)
    joblib.dump({"features": feats, "model": model}, os.path.join(model_dir, "model.joblib"))
    write_outputs(out_dir, test, model_predictions(model, feats.transform(Xt)), rows, best_oof)


def predict(model_dir, new):
    b = joblib.load(os.path.join(model_dir, "model.joblib"))
    return model_predictions(b["model"], b["features"].transform(prepare(new)))


if __name__ == "__main__":
    cli(fit, predict)
