"""mlwright recipe: BM25 (rank_bm25's Okapi BM25 over lower-cased words, plurals folded) ranks the whole corpus for
each query; nothing is learned, so every training query is a held-out query for validation."""
from mlwright.runtime.ranking import *  # noqa: F403 - inlined in the rendered script


def fit(train, test, corpus, out_dir, model_dir):
    r = Retriever(corpus)
    q = query_table(train)
    S = r.scores(q["query"])["bm25"]
    oof = top_frame(q["query_id"].to_numpy(), S, r.doc_ids, max(K, 20))
    log(f"BM25 on {len(q)} training queries: {SPEC['metric']}@{K} "
        f"{task_metric(judgements(train), rankings(q['query_id'].to_numpy(), S, r.doc_ids, K)):.4f}")
    save_model(model_dir, {"retriever": r})
    write_ranking(out_dir, test, for_rows(test, r.scores(test["query"])["bm25"], r.doc_ids), oof, r.doc_ids)


def predict(model_dir, new):
    r = load_model(model_dir)["retriever"]
    return for_rows(new, r.scores(new["query"])["bm25"], r.doc_ids), r.doc_ids


if __name__ == "__main__":
    ranking_cli(fit, predict)
