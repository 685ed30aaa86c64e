"""mlwright recipe: a hybrid of BM25, TF-IDF (words and character n-grams) and, when the sentence-embeddings model
is there (PARAMS["text_model"]), dense cosine similarity: per-query z-scores, weighted. The weighting is chosen on
the judged training queries; validation is cross-fitted (each fold of queries ranked with the weighting chosen on
the other folds)."""
from mlwright.runtime.ranking import *  # noqa: F403 - inlined in the rendered script


def fit(train, test, corpus, out_dir, model_dir):
    r = Retriever(corpus, PARAMS.get("text_model"))
    truth = judgements(train)
    q = query_table(train)
    qids = q["query_id"].to_numpy()
    scores = r.scores(q["query"])
    parts = []
    for tr, va in query_folds(qids):
        w, _ = choose_weights(truth, qids[tr], {k: v[tr] for k, v in scores.items()}, r.doc_ids,
                              log_each=False)
        parts.append(top_frame(qids[va], blend({k: v[va] for k, v in scores.items()}, w), r.doc_ids, max(K, 20)))
    oof = pd.concat(parts, ignore_index=True)
    w, m = choose_weights(truth, qids, scores, r.doc_ids)
    log(f"chosen weights {w} ({SPEC['metric']}@{K} {m:.4f} on the training queries)")
    save_model(model_dir, {"retriever": r, "weights": w})
    write_ranking(out_dir, test, for_rows(test, blend(r.scores(test["query"]), w), r.doc_ids), oof, r.doc_ids)


def predict(model_dir, new):
    b = load_model(model_dir)
    r = b["retriever"]
    return for_rows(new, blend(r.scores(new["query"]), b["weights"]), r.doc_ids), r.doc_ids


if __name__ == "__main__":
    ranking_cli(fit, predict)
