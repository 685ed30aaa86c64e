"""mlwright recipe: free text (any language or script, long documents or one short sentence per row) as
character and word n-gram TF-IDF, other columns one-hot / scaled, a regularized linear model; the text
representation (characters, words, or both; for two classes also naive-Bayes-weighted) and the regularization C
are chosen by out-of-fold score within the time budget, and the best two different representations are averaged
when their average scores better out of fold; refit on all rows."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
import pickle
import warnings

from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

N_FOLDS = int(PARAMS.get("n_folds", 5))
BUDGET = float(PARAMS.get("time_budget", 120))
VEC_SHARE = 0.25  # of the budget for the n-grams of train + test texts: longer documents are cut to fit
warnings.filterwarnings("ignore", category=ConvergenceWarning)  # a loose tol is enough to rank candidates


def column_roles(X):
    """(texts, categories, numbers) of a prepare()d frame, as perception read the columns."""
    kinds = feature_kinds(X)
    return columns_of(kinds, "text"), columns_of(kinds, "categorical"), columns_of(kinds, "numeric")


def prepare(df):
    X = df[FEATURES].copy()
    for c in X.columns:
        if pd.api.types.is_datetime64_any_dtype(X[c]):
            X[c] = as_numbers(X, [c])[c]
        elif not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = X[c].astype(object).where(X[c].notna(), None).astype(str).where(X[c].notna(), "")
    return X


def char_vectorizer(min_df=2):
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), min_df=min_df, max_features=300000,
                           sublinear_tf=True, dtype=np.float32)


def word_vectorizer(min_df=2):
    # no strip_accents: it deletes combining marks, which are letters in Indic, Thai or Arabic scripts
    return TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, max_features=200000, sublinear_tf=True,
                           dtype=np.float32)


def text_cuts(texts, seconds):
    """Characters per document for the word and the character n-grams (None: whole texts) so that vectorizing
    these texts (train and test) takes about `seconds`, timed on a sample; long documents keep their start."""
    lens = texts.str.len().to_numpy()
    sample = texts.sample(min(len(texts), 300), random_state=0)
    rate = {}  # characters per second
    for kind, vec in (("word", word_vectorizer(1)), ("char", char_vectorizer(1))):
        t = time.time()
        try:
            vec.fit_transform(sample)
        except ValueError:  # no word tokens: costs nothing
            pass
        rate[kind] = max(sample.str.len().sum(), 1) / max(time.time() - t, 1e-3)

    def cut_for(allowed_chars, floor):
        if lens.sum() <= allowed_chars:
            return None
        lo, hi = 1, int(lens.max())
        while lo < hi:  # the longest cut with sum(min(len, cut)) <= allowed_chars
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if np.minimum(lens, mid).sum() <= allowed_chars else (lo, mid - 1)
        return max(lo, floor)

    # words are cheap (several times faster per character): they get at most half, characters the rest
    word_cut = cut_for(0.5 * seconds * rate["word"], 1000)
    left = seconds - np.minimum(lens, word_cut or lens.max()).sum() / rate["word"]
    return word_cut, cut_for(max(left, 0.0) * rate["char"], 100)


def block_input(b, X):
    x = X[b["cols"]]
    return x.str[: b["cut"]] if b.get("cut") else x


def block_output(b, m):
    """Each block scaled to rows of about unit norm, like TF-IDF rows: one large row norm (an outlier, many
    columns) shrinks saga's step size for every row and multiplies its iterations."""
    if b.get("clip"):
        m = np.clip(m, -b["clip"], b["clip"])
    return sparse.csr_matrix(m * b.get("scale", 1.0), dtype=np.float32)


def fit_blocks(X, Xt, budget):
    """Fitted feature blocks {name: {cols, tf (a fitted transformer), cut, scale, clip}} and their training
    matrices. Vocabularies and IDF weights are fitted once on the training texts (no labels involved)."""
    texts, cats, nums = column_roles(X)
    min_df = 2 if len(X) >= 50 else 1
    blocks, mats, shapes = {}, {}, []
    for c in texts:
        s = X[c][X[c] != ""]
        spaced = s.head(2000).str.count(" ").sum() / max(s.head(2000).str.len().sum(), 1) > 0.05
        # one sentence per row, or a script written without spaces: character n-grams carry the signal
        shapes.append(not spaced or s.str.len().mean() < 80)
        word_cut, char_cut = text_cuts(pd.concat([s, Xt[c]]), VEC_SHARE * budget / len(texts))
        for kind, cut in (("char", char_cut), ("word", word_cut)):
            vec = char_vectorizer(min_df) if kind == "char" else word_vectorizer(min_df)
            b = {"cols": c, "tf": vec, "cut": cut}
            try:
                mats[f"{kind}:{c}"] = block_output(b, vec.fit_transform(block_input(b, X)))
                vec.stop_words_ = None  # every pruned n-gram: large, slow to save, not needed to transform
                blocks[f"{kind}:{c}"] = b
            except ValueError as e:  # empty vocabulary (e.g. no token of two word characters)
                log(f"{kind} n-grams of {c!r} skipped: {e}")
        cut = [f", {k} n-grams of the first {n} characters" for k, n in (("word", word_cut), ("char", char_cut)) if n]
        log(f"text column {c!r}: {'short or unspaced' if shapes[-1] else 'long'} texts" + "".join(cut))
    if cats:
        blocks["cats"] = {"cols": cats, "scale": len(cats) ** -0.5,
                          "tf": make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"),
                                              OneHotEncoder(handle_unknown="ignore", min_frequency=3))}
    if nums:
        blocks["nums"] = {"cols": nums, "scale": len(nums) ** -0.5, "clip": 3.0,
                          "tf": make_pipeline(SimpleImputer(strategy="median"), StandardScaler())}
    for name in ("cats", "nums"):
        if name in blocks:
            mats[name] = block_output(blocks[name], blocks[name]["tf"].fit_transform(X[blocks[name]["cols"]]))
    log(f"text columns {texts}, categorical {len(cats)}, numeric {len(nums)}")
    return blocks, mats, any(shapes)


def candidates(blocks, char_first):
    """Feature sets to compare, the likelier first: character n-grams alone, words and characters, words alone;
    for two classes also words and characters weighted by their naive-Bayes ratio (the `nb` model)."""
    other = [b for b in ("cats", "nums") if b in blocks]
    char = [b for b in blocks if b.startswith("char:")] + other
    word = [b for b in blocks if b.startswith("word:")] + other
    both = [b for b in blocks if b.startswith(("char:", "word:"))] + other
    out = {"char": char, "word+char": both} if char_first else {"word+char": both, "char": char}
    out["word"] = word
    uniq = {}
    for name, bl in out.items():
        if bl and bl not in uniq.values():
            uniq[name] = bl
    if PROBLEM == "binary" and len(both) > len(other):
        uniq["word+char nb"] = both
    return uniq


class NBLogistic(BaseEstimator, ClassifierMixin):
    """Logistic regression on features scaled by their naive-Bayes log-count ratio (NB-SVM, Wang & Manning
    2012): strong on sentiment and topic text, and different enough from plain TF-IDF to average well with it."""

    def __init__(self, C=1.0, n_text=None):
        self.C = C
        self.n_text = n_text  # the first n_text columns are n-grams; the rest (one-hot, numbers) keep weight 1

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        pos = y == self.classes_[-1]
        present = (X > 0).astype(np.float32)  # the ratio of each feature's document counts in the two classes
        p, q = (np.asarray(present[rows].sum(axis=0)).ravel() + 1.0 for rows in (pos, ~pos))
        self.r_ = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        if self.n_text is not None:
            self.r_[self.n_text:] = 1.0
        self.lr_ = LogisticRegression(C=self.C, solver="liblinear").fit(self._weigh(X), y)
        return self

    def _weigh(self, X):
        return sparse.csr_matrix(X.multiply(self.r_), dtype=np.float32)

    def predict_proba(self, X):
        return self.lr_.predict_proba(self._weigh(X))


def stack(mats):
    return sparse.hstack(mats, format="csr", dtype=np.float32)


def transform(blocks, names, X):
    return stack([block_output(blocks[b], blocks[b]["tf"].transform(block_input(blocks[b], X))) for b in names])


def make_model(c, cand="", n_text=None):
    if cand.endswith(" nb"):
        return NBLogistic(C=c, n_text=n_text)
    if PROBLEM == "regression":
        return Ridge(alpha=1.0 / c)
    if PROBLEM == "binary":
        return LogisticRegression(C=c, solver="liblinear")
    # saga: fast on L2-normalized sparse rows with many features and classes, where lbfgs takes minutes
    return LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=300, random_state=0)


def fold_score(y_true, pred):
    """Higher is better: -RMSE (in log space for rmsle) for values; the task's ROC AUC for two classes; else the
    mean log-likelihood, which ranks C values more smoothly than a label metric."""
    if PROBLEM == "regression":
        return -rmse(y_true, pred)
    if SPEC["metric"] == "roc_auc" and PROBLEM == "binary":
        return task_score(y_true, pred)
    p = np.clip(pred[CLASSES].to_numpy(), 1e-9, 1)
    idx = np.searchsorted(CLASSES, np.asarray(y_true))
    return float(np.mean(np.log(p[np.arange(len(idx)), idx])))  # mean log-likelihood


def fit(train, test, out_dir, model_dir):
    X, Xt = prepare(train), prepare(test)
    y = target_series(train)
    y_fit = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    y_score = y if PROBLEM != "regression" else y_fit
    splits = cv_splits(X, y, N_FOLDS)
    k = len(splits)
    t_start, budget = fit_window(BUDGET)  # several tags or targets: this one's share of the time
    blocks, mats, char_first = fit_blocks(X, Xt, budget)
    cands = candidates(blocks, char_first)
    # (candidate, C) -> {fold: validation predictions}, and -> seconds of its last fold fit; the first fold model
    preds, costs, fallback = {}, {}, []

    def n_text(cand):  # the n-gram columns come first in a candidate's matrix
        return sum(mats[b].shape[1] for b in cands[cand] if b.startswith(("char:", "word:")))

    def run(key, folds):
        M = stack([mats[b] for b in cands[key[0]]])
        t0, todo = time.time(), [i for i in folds if i not in preds.setdefault(key, {})]
        for i in todo:
            t = time.time()
            tr, va = splits[i]
            m = make_model(key[1], key[0], n_text(key[0])).fit(M[tr], y_fit.iloc[tr])
            preds[key][i] = model_predictions(m, M[va])
            costs[key] = time.time() - t
            if not fallback:
                fallback.append(m)  # predicts the test rows when there is no time to refit on all rows
        s = score(key, folds)
        if todo:
            log(f"{key[0]} n-grams, C={key[1]:g}: out-of-fold score {s:.5f} on {len(folds)}/{k} folds "
                f"({M.shape[1]} features, {time.time() - t0:.1f}s)")
        return s

    def oof_of(key, folds):
        parts = [preds[key][i] for i in folds]
        return np.concatenate(parts) if PROBLEM == "regression" else pd.concat(parts, ignore_index=True)

    def score_of(keys, folds):
        """The out-of-fold score of these candidates' averaged predictions on these folds."""
        oof = average([oof_of(key, folds) for key in keys])
        rows = np.concatenate([splits[i][1] for i in folds])
        return fold_score(y_score.iloc[rows], np.log1p(oof) if LOG_TARGET else oof)

    def score(key, folds):
        return score_of([key], folds)

    def affordable(n_fits):
        # n more fold fits, then the refit on all rows and the test predictions (about two fold fits)
        return time.time() - t_start + max(costs.values()) * (n_fits + 2) < 0.75 * budget

    c0 = float(PARAMS.get("c", 3.0))
    first = (next(iter(cands)), c0)
    run(first, [0])
    # every fold when about five evaluations fit, else the first two (large data): the candidates and C values
    # are compared on the same folds, and the winner gets the other folds when there is time left
    rank = list(range(k)) if affordable(5 * k) else list(range(min(2, k))) if affordable(k) else [0]
    run(first, rank)

    def trial(cand, c):
        key = (cand, c)
        if key not in preds:
            if not affordable(k):  # this one on the ranking folds and, at worst, the winner's other folds
                return None
            run(key, rank)
        return score(key, rank)

    for cand in list(cands)[1:]:
        trial(cand, c0)
    best = max((key for key in preds if key[1] == c0), key=lambda key: score(key, rank))[0]
    grid = PARAMS.get("c_grid")
    if grid:
        for c in grid:
            trial(best, c)
    else:  # factor-3 line search from c0: upwards while the score improves, else downwards (3 steps at most)
        for step in (3.0, 1 / 3.0):
            c = c0
            for _ in range(3):
                s = trial(best, c * step)
                if s is None or s <= score((best, c), rank):
                    break
                c *= step
            if c != c0:
                break
    key = max(preds, key=lambda key: score(key, rank))
    members = [key]
    # the best other representation, averaged with the winner, when the average scores better on the same folds
    others = [o for o in preds if o[0] != key[0] and set(rank) <= set(preds[o])]
    if others:
        partner = max(others, key=lambda o: score_of([key, o], rank))
        if score_of([key, partner], rank) > score(key, rank) + 1e-4:
            members = [key, partner]
            log(f"averaging {key[0]} (C={key[1]:g}) with {partner[0]} (C={partner[1]:g}): out-of-fold "
                f"{score_of(members, rank):.5f} against {score(key, rank):.5f}")
    done = rank
    if len(rank) < k and affordable(len(members) * (k - len(rank))):
        done = list(range(k))
        for m in members:
            run(m, done)
    if time.time() - t_start + 1.5 * sum(costs[m] for m in members) < 0.85 * budget:
        models = [(cands[m[0]], make_model(m[1], m[0], n_text(m[0])).fit(stack([mats[b] for b in cands[m[0]]]),
                                                                          y_fit))
                  for m in members]
    else:  # the first candidate's first fold model, trained on (k-1)/k of the rows, with its folds' predictions
        log("no time to refit on all rows: the first fold's model predicts the test rows")
        members, done, models = [first], rank, [(cands[first[0]], fallback[0])]
    rows = np.concatenate([splits[i][1] for i in done])
    best_oof = average([oof_of(m, done) for m in members])
    log("chosen: " + " + ".join(f"{m[0]} n-grams, C={m[1]:g}" for m in members)
        + f" (out-of-fold {score_of(members, done):.5f} on {len(done)}/{k} folds)")
    keep = {b: blocks[b] for names, _ in models for b in names}
    # pickle, not joblib: joblib's pure-python pickler takes seconds on vocabularies of 10^5 n-grams
    with open(os.path.join(model_dir, "model.pkl"), "wb") as f:
        pickle.dump({"blocks": keep, "models": models}, f, protocol=pickle.HIGHEST_PROTOCOL)
    write_outputs(out_dir, test, predict_with(keep, models, Xt), rows, best_oof)


def average(preds):
    return preds[0] if len(preds) == 1 else sum(preds[1:], preds[0]) / len(preds)


def predict_with(blocks, models, X):
    return average([model_predictions(model, transform(blocks, names, X)) for names, model in models])


def predict(model_dir, new):
    with open(os.path.join(model_dir, "model.pkl"), "rb") as f:
        b = pickle.load(f)
    return predict_with(b["blocks"], b["models"], prepare(new))


if __name__ == "__main__":
    cli(fit, predict)
