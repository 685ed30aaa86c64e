# ---- mlwright ranking helpers: retrieval and ranking recipes share these (inlined by the recipe coder) ----
# Model layout: train (query_id, query, doc_id, relevance: one row per judgement), test (query_id, query[, doc_id]:
# the queries to rank, or the pairs to score), corpus.parquet beside the training table (doc_id, document).
# Outputs: the task's file (write_ranking) and oof_predictions.csv: (query_id, doc_id, score) for held-out training
# queries, the top documents of each, which mlwright scores against their judgements.
from mlwright.runtime.common import *  # noqa: F403

import pickle
import re

RANK = SPEC.get("ranking") or {}
K = max(1, int(RANK.get("k") or 10))
LAYOUT = RANK.get("layout", "long")
BUDGET = float(PARAMS.get("time_budget", 120))
CORPUS_FILE = "corpus.parquet"
_WORD = re.compile(r"[^\W_]+", re.U)


def tokens(text):
    """Lower-case words, a plural's final s removed (a light stemmer: 'bees' and 'bee' agree)."""
    out = []
    for w in _WORD.findall(str(text).lower()):
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def load_corpus(path):
    corpus = load_table(path)
    return pd.DataFrame({"doc_id": corpus["doc_id"].astype(str), "document": corpus["document"].fillna("").astype(str)})


def judgements(train):
    """{query: {doc: relevance}} of the training rows."""
    keyed = train.assign(query_id=train["query_id"].astype(str), doc_id=train["doc_id"].astype(str))
    return judgements_from_frame(keyed, rel_col=TARGET)


def query_table(train):
    """One row per training query (query_id, query)."""
    return train[["query_id", "query"]].assign(query_id=train["query_id"].astype(str)).drop_duplicates(
        "query_id").reset_index(drop=True)


def query_folds(qids, n_folds=5, seed=0):
    """Folds of whole queries: [(train positions, held-out positions)] over `qids`."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(qids))
    n = max(2, min(n_folds, len(qids)))
    return [(np.sort(np.setdiff1d(order, part)), np.sort(part)) for part in np.array_split(order, n)]


def task_metric(truth, ranked):
    """The task's metric (at the task's k) of these rankings: what mlwright scores the held-out queries with."""
    return RANKING_METRICS[SPEC["metric"]](truth, ranked, K)


class Retriever:
    """First-stage scores of every document for a query: BM25 (rank_bm25), TF-IDF cosine (words and character
    n-grams) and, when a local sentence-embedding model is given, the embeddings' cosine."""

    def __init__(self, corpus, text_model=None):
        from rank_bm25 import BM25Okapi
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.doc_ids = corpus["doc_id"].astype(str).to_numpy()
        docs = corpus["document"].tolist()
        self.bm25 = BM25Okapi([tokens(d) or [""] for d in docs])
        self.words = TfidfVectorizer(tokenizer=tokens, token_pattern=None, ngram_range=(1, 2), sublinear_tf=True,
                                     min_df=1)
        self.W = self.words.fit_transform(docs)
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1,
                                     max_features=200000)
        self.C = self.chars.fit_transform(docs)
        self.doc_len = np.array([len(tokens(d)) for d in docs], dtype=float)
        self.doc_tokens = [set(tokens(d)) for d in docs]
        self.text_model, self.E, self.note = None, None, "no sentence-embedding model"
        if text_model:
            try:
                self.E = self._encode(text_model, docs)
                self.text_model = text_model
                self.note = f"embeddings from {text_model}"
            except Exception as e:  # noqa: BLE001 - the extra or its weights missing: BM25 and TF-IDF only
                self.note = f"embeddings unavailable ({type(e).__name__}: {str(e)[:120]}); BM25 and TF-IDF only"
        log(f"retriever over {len(docs)} documents: {self.note}")

    _encoder = None

    def _encode(self, path, texts):
        from sentence_transformers import SentenceTransformer

        if Retriever._encoder is None or Retriever._encoder[0] != path:
            Retriever._encoder = (path, SentenceTransformer(path, device="cpu"))
        return Retriever._encoder[1].encode(list(texts), batch_size=64, normalize_embeddings=True,
                                            show_progress_bar=False).astype(np.float32)

    def scores(self, queries):
        """{name: array (queries x documents)} for a list of query texts."""
        qs = [str(q) for q in queries]
        out = {"bm25": np.vstack([self.bm25.get_scores(tokens(q) or [""]) for q in qs]) if qs
               else np.zeros((0, len(self.doc_ids)))}
        out["tfidf"] = (self.words.transform(qs) @ self.W.T).toarray()
        out["chars"] = (self.chars.transform(qs) @ self.C.T).toarray()
        if self.E is not None and self.text_model:
            out["dense"] = self._encode(self.text_model, qs) @ self.E.T
        return out


def zscore(S):
    mu, sd = S.mean(axis=1, keepdims=True), S.std(axis=1, keepdims=True)
    return (S - mu) / np.where(sd > 0, sd, 1.0)


def blend(scores, weights):
    """A hybrid: the per-query z-scores of the retrievers, weighted."""
    total = None
    for name, w in weights.items():
        if name in scores and w:
            part = w * zscore(scores[name])
            total = part if total is None else total + part
    return total if total is not None else zscore(scores["bm25"])


def rankings(qids, S, doc_ids, n):
    """{query: [doc, ...]}: each query's n best documents."""
    n = min(n, S.shape[1])
    top = np.argsort(-S, axis=1, kind="stable")[:, :n]
    return {str(q): [str(doc_ids[j]) for j in row] for q, row in zip(qids, top)}


def top_frame(qids, S, doc_ids, n):
    """Long frame (query_id, doc_id, score, rank) of each query's n best documents."""
    n = min(n, S.shape[1])
    top = np.argsort(-S, axis=1, kind="stable")[:, :n]
    rows = [(str(q), str(doc_ids[j]), float(S[i, j]), r + 1) for i, q in enumerate(qids) for r, j in enumerate(top[i])]
    return pd.DataFrame(rows, columns=["query_id", "doc_id", "score", "rank"])


def candidate_weights(scores):
    """Hybrid weightings to choose among (on the training queries' judgements)."""
    cands = [{"bm25": 1.0}, {"bm25": 1.0, "tfidf": 0.5, "chars": 0.5}]
    if "dense" in scores:
        cands += [{"dense": 1.0}, {"bm25": 1.0, "dense": 1.0}, {"bm25": 0.5, "dense": 1.0, "chars": 0.5},
                  {"bm25": 1.0, "dense": 2.0, "tfidf": 0.5}]
    return cands


def for_rows(rows, S, doc_ids):
    """Scores in the task's shape for `rows` (its queries' scores S, one row per row): the matrix itself, or for
    pairs each row's own document's score."""
    if LAYOUT != "pairs":
        return S
    pos = {d: j for j, d in enumerate(doc_ids)}
    return np.array([S[i, pos[str(d)]] if str(d) in pos else float(S[i].min()) - 1.0
                     for i, d in enumerate(rows["doc_id"])])


def choose_weights(truth, qids, scores, doc_ids, log_each=True):
    """The hybrid weighting with the best task metric on these queries (their judgements in `truth`)."""
    best = None
    for w in candidate_weights(scores):
        sub = {k: v for k, v in scores.items()}
        m = task_metric({q: truth[q] for q in qids if q in truth}, rankings(qids, blend(sub, w), doc_ids, K))
        if log_each:
            log(f"  weights {w}: {SPEC['metric']}@{K} {m:.4f}")
        if best is None or m > best[1] + 1e-9:
            best = (w, m)
    return best


def user_frame(test, S_or_frame, doc_ids=None):
    """The prediction file in the task's layout, from scores (queries x documents) or, for pairs, a frame of
    (query_id, doc_id, score) in the test rows' order."""
    cols = SPEC["output_columns"]
    qcol, dcol = cols[0], cols[1]
    if LAYOUT == "pairs":
        out = pd.DataFrame({qcol: test["query_id"].to_numpy(), dcol: test["doc_id"].to_numpy()})
        score_col = RANK.get("score_column") or cols[-1]
        out[score_col] = np.asarray(S_or_frame, dtype=float)
        for c in cols:
            if c not in out.columns:
                out[c] = out[score_col]
        return out[cols]
    top = top_frame(test["query_id"].to_numpy(), S_or_frame, doc_ids, K)
    if LAYOUT == "per_query":
        lists = top.groupby("query_id", sort=False)["doc_id"].agg(" ".join)
        return pd.DataFrame({qcol: test["query_id"].to_numpy(),
                             dcol: lists.reindex(test["query_id"].astype(str)).fillna("").to_numpy()})
    out = pd.DataFrame({qcol: top["query_id"], dcol: top["doc_id"]})
    for c in cols[2:]:
        out[c] = top["rank"] if c == RANK.get("rank_column") else top["score"] if c == RANK.get("score_column") \
            else top["score"]
    return out[cols]


def write_ranking(out_dir, test, test_scores, oof, doc_ids=None):
    """The prediction file and oof_predictions.csv (query_id, doc_id, score of the held-out training queries)."""
    sub = user_frame(test, test_scores, doc_ids)
    sub.to_csv(os.path.join(out_dir, SPEC["prediction_file"]), index=False)
    oof[["query_id", "doc_id", "score"]].to_csv(os.path.join(out_dir, "oof_predictions.csv"), index=False)
    log(f"wrote {SPEC['prediction_file']} ({len(sub)} rows) and oof_predictions.csv ({oof['query_id'].nunique()} "
        "held-out queries)")


def save_model(model_dir, obj):
    with open(os.path.join(model_dir, "ranker.pkl"), "wb") as f:
        pickle.dump(obj, f)


def load_model(model_dir):
    with open(os.path.join(model_dir, "ranker.pkl"), "rb") as f:
        return pickle.load(f)


def ranking_cli(fit, predict):
    """fit(train, test, corpus, out_dir, model_dir); predict(model_dir, new) -> scores (queries x documents, or one
    per pair) and the document ids, written in the task's layout."""
    a = solution_args("mlwright ranking solution: fit on judged queries or rank new ones",
                      "(query_id, doc_id, score) of the top documents",
                      [("--corpus", "the documents (doc_id, document); default: corpus.parquet beside --train")])
    if a.cmd == "fit":
        log(f"cores: {cores()}")
        os.makedirs(a.model, exist_ok=True)
        corpus = load_corpus(a.corpus or os.path.join(os.path.dirname(os.path.abspath(a.train)), CORPUS_FILE))
        train, test = load_table(a.train), load_table(a.test)
        fit_started = time.time()
        fit(train, test, corpus, a.out, a.model)
        write_timings(a.out, fit_started)
        return
    new = load_table(a.input)
    need = ["query_id", "query"] + (["doc_id"] if LAYOUT == "pairs" else [])
    missing = [c for c in need if c not in new.columns]
    if missing:
        sys.exit(f"error: new queries lack column(s) {missing}")
    new = new.assign(query_id=new["query_id"].astype(str))
    scores, doc_ids = predict(a.model, new)
    if a.raw and LAYOUT != "pairs":
        top_frame(new["query_id"].to_numpy(), scores, doc_ids, K).to_csv(a.output, index=False)
    else:
        user_frame(new, scores, doc_ids).to_csv(a.output, index=False)
    log(f"wrote {a.output} ({len(new)} queries)")
# ---- end of ranking helpers ----
