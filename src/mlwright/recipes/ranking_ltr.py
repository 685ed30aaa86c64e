"""mlwright recipe: learning to rank. A hybrid first stage (BM25, TF-IDF, embeddings when the model is there) picks
candidates per query; LightGBM's lambdarank re-ranks them on features of each (query, document) pair: the
retrievers' scores, per-query z-scores and ranks, word overlap, lengths, and how often the document was relevant to
other training queries (counted without the query's own fold). Validation: folds of whole queries."""
from mlwright.runtime.ranking import *  # noqa: F403 - inlined in the rendered script

N_CAND = max(30, 3 * K)


def candidates(S, n):
    return np.argsort(-S, axis=1, kind="stable")[:, :min(n, S.shape[1])]


def features(r, queries, scores, first, cand, prior):
    """One row per (query, candidate document)."""
    z = {k: zscore(v) for k, v in scores.items()}
    ranks = {k: np.argsort(np.argsort(-v, axis=1, kind="stable"), axis=1) for k, v in scores.items()}
    rows = []
    for i, q in enumerate(queries):
        qt = set(tokens(q))
        for j in cand[i]:
            f = [first[i, j]]
            for k in sorted(scores):
                f += [scores[k][i, j], z[k][i, j], ranks[k][i, j]]
            overlap = len(qt & r.doc_tokens[j])
            f += [overlap, overlap / max(1, len(qt)), len(qt), r.doc_len[j], np.log1p(prior.get(r.doc_ids[j], 0.0))]
            rows.append(f)
    return np.asarray(rows, dtype=np.float32)


def doc_prior(train, qids):
    """How many of these training queries found each document relevant."""
    t = train[train["query_id"].astype(str).isin(set(qids)) & (train[TARGET] > 0)]
    return t["doc_id"].astype(str).value_counts().to_dict()


def labels(truth, qids, cand, doc_ids):
    return np.array([int(round(truth.get(q, {}).get(str(doc_ids[j]), 0.0))) for q, row in zip(qids, cand)
                     for j in row])


def fit_ranker(X, y, group, n_estimators):
    from lightgbm import LGBMRanker

    model = LGBMRanker(objective="lambdarank", n_estimators=n_estimators, learning_rate=0.08, num_leaves=15,
                       min_child_samples=5, subsample=0.9, subsample_freq=1, colsample_bytree=0.9,
                       n_jobs=cores(), verbose=-1, random_state=0)
    return model.fit(X, y, group=group)


def rerank(r, model, queries, scores, weights, prior, n_cand):
    """Scores (queries x documents): the re-ranker's on the candidates, above every other document's first-stage
    score."""
    first = blend(scores, weights)
    cand = candidates(first, n_cand)
    pred = model.predict(features(r, queries, scores, first, cand, prior)).reshape(cand.shape)
    out = zscore(first) - 1e6  # the documents that are no candidate rank after every candidate
    for i in range(len(cand)):
        out[i, cand[i]] = pred[i]
    return out


def fit(train, test, corpus, out_dir, model_dir):
    r = Retriever(corpus, PARAMS.get("text_model"))
    truth = judgements(train)
    q = query_table(train)
    qids, texts = q["query_id"].to_numpy(), q["query"].tolist()
    scores = r.scores(texts)
    weights, m = choose_weights(truth, qids, scores, r.doc_ids)
    log(f"first stage: weights {weights} ({SPEC['metric']}@{K} {m:.4f}); {N_CAND} candidates per query")
    n_est = 80 if PARAMS.get("light") else 150
    parts, fold_scores = [], []
    for tr, va in query_folds(qids):
        if time.time() - T0 > 0.75 * BUDGET:
            stop_for_time("error: the cross-validated re-ranker would not fit the time budget")
        prior = doc_prior(train, qids[tr])
        sub = {k: v[tr] for k, v in scores.items()}
        first = blend(sub, weights)
        cand = candidates(first, N_CAND)
        model = fit_ranker(features(r, [texts[i] for i in tr], sub, first, cand, prior),
                           labels(truth, qids[tr], cand, r.doc_ids), [cand.shape[1]] * len(tr), n_est)
        held = {k: v[va] for k, v in scores.items()}
        S = rerank(r, model, [texts[i] for i in va], held, weights, prior, N_CAND)
        parts.append(top_frame(qids[va], S, r.doc_ids, max(K, 20)))
        held_truth = {x: truth[x] for x in qids[va] if x in truth}
        fold_scores.append(task_metric(held_truth, rankings(qids[va], S, r.doc_ids, K)))
        alone = task_metric(held_truth, rankings(qids[va], blend(held, weights), r.doc_ids, K))
        log(f"fold {len(parts)}: {SPEC['metric']}@{K} {fold_scores[-1]:.4f} (first stage alone: {alone:.4f})")
    prior = doc_prior(train, qids)
    first = blend(scores, weights)
    cand = candidates(first, N_CAND)
    model = fit_ranker(features(r, texts, scores, first, cand, prior), labels(truth, qids, cand, r.doc_ids),
                       [cand.shape[1]] * len(qids), n_est)
    save_model(model_dir, {"retriever": r, "weights": weights, "model": model, "prior": prior})
    S = rerank(r, model, test["query"].tolist(), r.scores(test["query"].tolist()), weights, prior, N_CAND)
    write_ranking(out_dir, test, for_rows(test, S, r.doc_ids), pd.concat(parts, ignore_index=True), r.doc_ids)


def predict(model_dir, new):
    b = load_model(model_dir)
    r = b["retriever"]
    texts = new["query"].tolist()
    S = rerank(r, b["model"], texts, r.scores(texts), b["weights"], b["prior"], N_CAND)
    return for_rows(new, S, r.doc_ids), r.doc_ids


if __name__ == "__main__":
    ranking_cli(fit, predict)
