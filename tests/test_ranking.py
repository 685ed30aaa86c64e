"""Retrieval / ranking (issue #15 item 1): perception of queries + corpus + judgements, the ranking metrics, the
output checks, bad inputs, and the whole run through the CLI on mlwright's generated retrieval example, scored on
held-back judgements against a trivial baseline (the most often relevant documents for every query) and a
hand-written BM25 reference."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from mlwright.errors import DataError
from mlwright.examples.retrieval import RETRIEVAL_TASK, write_retrieval_example
from mlwright.perception.ranking import detect_ranking_task
from mlwright.perception.scan import load_folder
from mlwright.perception.task_text import parse_task_text
from mlwright.runtime import metrics as rm
from mlwright.validation.checks import ValidationFailure, check_ranking_file


def _detect(folder: Path, task: str, tmp: Path):
    loaded = load_folder(folder, tmp / "unpacked", 4000, require_data=True)
    return detect_ranking_task(loaded, parse_task_text(task, loaded.files))


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- metrics ---------------------------------------------------------------------------------------------------
def test_ranking_metrics_by_hand():
    truth = {"a": {"d1": 2, "d2": 1, "d9": 0}, "b": {"d3": 1}, "c": {"d4": 0}}  # c: nothing relevant, not counted
    ranked = {"a": ["d2", "d5", "d1"], "b": ["d6", "d7"]}
    k = 3
    # a: DCG = 1/log2(2) + 2/log2(4) = 2; ideal 2 + 1/log2(3)
    ndcg_a = 2 / (2 + 1 / np.log2(3))
    assert rm.ndcg_at_k(truth, ranked, k) == pytest.approx((ndcg_a + 0) / 2)
    assert rm.mrr_at_k(truth, ranked, k) == pytest.approx((1.0 + 0) / 2)
    assert rm.map_at_k(truth, ranked, k) == pytest.approx(((1 / 1 + 2 / 3) / 2 + 0) / 2)
    assert rm.recall_at_k(truth, ranked, k) == pytest.approx((1.0 + 0) / 2)
    assert rm.recall_at_k(truth, ranked, 1) == pytest.approx((0.5 + 0) / 2)
    # every judged document retrieved: scikit-learn's ndcg_score agrees
    from sklearn.metrics import ndcg_score
    full = {"a": {"d1": 2, "d2": 1, "d3": 0, "d4": 3}}
    assert rm.ndcg_at_k(full, {"a": ["d2", "d3", "d1", "d4"]}, 3) == pytest.approx(
        ndcg_score([[2, 1, 0, 3]], [[2, 4, 3, 1]], k=3))
    # a relevant document outside the list earns nothing, even when the list is shorter than k
    assert rm.ndcg_at_k({"a": {"d1": 1}}, {"a": ["d2"]}, 10) == 0.0
    assert rm.ndcg_at_k({"a": {"d1": 1}}, {"a": ["d1"]}, 10) == 1.0


# -- perception --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_files", [False, True])
def test_perception_reads_queries_corpus_and_judgements(tmp_path, as_files):
    folder, held = write_retrieval_example(tmp_path / "data", corpus_as_files=as_files)
    found = _detect(folder, RETRIEVAL_TASK, tmp_path)
    assert found is not None
    spec, r = found.spec, found.spec.ranking
    assert spec.problem_type == "ranking" and spec.metric == "ndcg" and r.k == 10
    assert (r.query_id_column, r.judgements_table, r.relevance_column) == ("qid", "judgements.csv", "grade")
    assert r.corpus_source == ("docs/" if as_files else "corpus.csv") and r.n_documents == 48
    assert spec.output_columns == ["qid", "doc_id", "rank", "score"] and r.layout == "long"
    assert set(found.test["query_id"]) == set(held["qid"])  # the queries without judgements are ranked
    assert list(found.train.columns) == ["query_id", "query", "doc_id", "relevance"]
    assert list(found.corpus.columns) == ["doc_id", "document"] and found.corpus["doc_id"].is_unique


def test_words_and_output_format(tmp_path):
    folder, _ = write_retrieval_example(tmp_path / "data")
    # no ranking words: not read as a ranking (the usual inference takes the folder)
    assert _detect(folder, "Predict the grade of each pair.", tmp_path) is None
    found = _detect(folder, "Retrieve the top 5 passages for every unjudged question; write ranked.csv with "
                            "columns qid, doc_ids. Metric: MRR.", tmp_path)
    r = found.spec.ranking
    assert (r.k, r.layout, found.spec.metric, found.spec.prediction_file) == (5, "per_query", "mrr", "ranked.csv")
    assert found.spec.output_columns == ["qid", "doc_ids"]


def test_pairs_to_score(tmp_path):
    folder, held = write_retrieval_example(tmp_path / "data")
    held[["qid", "doc_id"]].to_csv(folder / "pairs_to_score.csv", index=False)
    found = _detect(folder, "Score how well each document matches the queries in pairs_to_score.csv (rank them).",
                    tmp_path)
    assert found.spec.ranking.layout == "pairs" and len(found.test) == len(held)
    assert list(found.test.columns) == ["query_id", "query", "doc_id"]


def test_queries_without_a_corpus_is_a_clear_error(tmp_path):
    folder, _ = write_retrieval_example(tmp_path / "data")
    (folder / "corpus.csv").unlink()
    before = _tree(folder)
    res = run_cli("run", str(folder), "--task", RETRIEVAL_TASK, "--output", str(tmp_path / "out"),
                  "--time-limit", "30")
    assert res.returncode != 0
    assert "no corpus holds those documents" in res.stderr and "doc_id" in res.stderr
    assert _tree(folder) == before  # nothing written to the data folder


def test_judgements_naming_unknown_documents_is_a_clear_error(tmp_path):
    folder, _ = write_retrieval_example(tmp_path / "data")
    j = pd.read_csv(folder / "judgements.csv")
    j.loc[:2, "doc_id"] = ["D999", "D998", "D999"]
    j.to_csv(folder / "judgements.csv", index=False)
    with pytest.raises(DataError, match=r"2 document ids in column 'doc_id' of judgements.csv are not in the corpus"):
        _detect(folder, RETRIEVAL_TASK, tmp_path)
    before = _tree(folder)
    res = run_cli("run", str(folder), "--task", RETRIEVAL_TASK, "--output", str(tmp_path / "out"),
                  "--time-limit", "30")
    assert res.returncode != 0 and "'D998'" in res.stderr
    assert _tree(folder) == before


# -- output checks -----------------------------------------------------------------------------------------------
def test_ranking_file_checks(tmp_path):
    folder, _ = write_retrieval_example(tmp_path / "data")
    found = _detect(folder, RETRIEVAL_TASK.replace("top 10", "top 3"), tmp_path)
    spec, test, corpus = found.spec, found.test, found.corpus
    docs = corpus["doc_id"].tolist()
    good = pd.DataFrame([(q, docs[i], i + 1, 1.0 - i / 10) for q in test["query_id"] for i in range(3)],
                        columns=spec.output_columns).astype(str)
    check_ranking_file(spec, good, test, corpus)
    bad_cases = {
        "missing from the predictions": good[good["qid"] != test["query_id"][0]],
        "not in the corpus": good.assign(doc_id=good["doc_id"].where(good.index != 0, "NOPE")),
        "expected 3 per query": good.drop(index=1),
        "must be 1..3": good.assign(rank=good["rank"].where(good.index != 0, "7")),
        "increase with the rank": good.assign(score=good["score"].where(good.index != 0, "-5")),
        "duplicated (query, document)": good.assign(doc_id=good["doc_id"].where(good.index != 1, docs[0])),
    }
    for why, df in bad_cases.items():
        with pytest.raises(ValidationFailure, match=why.replace("(", r"\(").replace(")", r"\)")):
            check_ranking_file(spec, df.reset_index(drop=True), test, corpus)


# -- the whole run -----------------------------------------------------------------------------------------------
def _ndcg(pred: pd.DataFrame, held: pd.DataFrame, k: int = 10) -> dict[str, float]:
    truth = rm.judgements_from_frame(held.astype({"qid": str, "doc_id": str}), "qid", "doc_id", "grade")
    ranked = rm.rankings_from_frame(pred.assign(score=-pred["rank"].astype(float)), "qid", "doc_id", "score")
    return {name: fn(truth, ranked, k) for name, fn in rm.RANKING_METRICS.items()}


def _frame(ranked: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame([(q, d, i + 1) for q, docs in ranked.items() for i, d in enumerate(docs)],
                        columns=["qid", "doc_id", "rank"])


def _references(folder: Path, queries: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trivial baseline: the documents most often judged relevant, the same for every query; hand-written
    reference: BM25 over title and body, lower-cased whitespace words)."""
    from rank_bm25 import BM25Okapi

    j = pd.read_csv(folder / "judgements.csv")
    corpus = pd.read_csv(folder / "corpus.csv")
    qtext = pd.read_csv(folder / "queries.csv").set_index("qid")["question"]
    popular = j[j["grade"] > 0]["doc_id"].value_counts().index.tolist()[:10]
    trivial = _frame({q: popular for q in queries})
    bm25 = BM25Okapi([(t + " " + b).lower().split() for t, b in zip(corpus["title"], corpus["body"])])
    ids = corpus["doc_id"].to_numpy()
    ref = _frame({q: list(ids[np.argsort(-bm25.get_scores(qtext[q].lower().split()), kind="stable")[:10]])
                  for q in queries})
    return trivial, ref


def _run_and_score(tmp_path: Path, time_limit: int) -> tuple[dict, dict, dict, Path, pd.DataFrame]:
    folder, held = write_retrieval_example(tmp_path / "data")
    before = _tree(folder)
    out = tmp_path / "out"
    res = run_cli("run", str(folder), "--task-file", str(folder / "task.md"), "--output", str(out),
                  "--time-limit", str(time_limit))
    assert res.returncode == 0, res.stderr[-3000:]
    assert _tree(folder) == before
    pred = pd.read_csv(out / "predictions.csv", dtype={"qid": str, "doc_id": str})
    assert list(pred.columns) == ["qid", "doc_id", "rank", "score"]
    assert set(pred["qid"]) == set(held["qid"]) and (pred.groupby("qid").size() == 10).all()
    queries = sorted(held["qid"].unique())
    trivial, ref = _references(folder, queries)
    ours, base, hand = _ndcg(pred, held), _ndcg(trivial, held), _ndcg(ref, held)
    summary = json.loads((out / "run.json").read_text())
    print(f"\nheld-out queries: {len(queries)}; validation {summary['best']['metric']}="
          f"{summary['best']['validation_score']:.4f} ({summary['best']['recipe']})")
    for name in ours:
        print(f"{name}@10: mlwright {ours[name]:.4f}  trivial {base[name]:.4f}  reference BM25 {hand[name]:.4f}  "
              f"ratio to reference {ours[name] / hand[name]:.3f}")
    assert ours["ndcg"] > base["ndcg"] + 0.25  # clearly better than the trivial baseline
    return ours, base, hand, out, held


def test_cli_ranking_run_quick(tmp_path):
    """A short budget: the BM25 baseline at least; valid, far above the trivial baseline, near the reference."""
    ours, _, hand, out, _ = _run_and_score(tmp_path, 25)
    assert ours["ndcg"] >= 0.95 * hand["ndcg"]
    assert "Retrieved examples" in (out / "report.html").read_text()


@pytest.mark.slow
def test_cli_ranking_run_full_and_predict(tmp_path):
    """The full budget: the hybrid and the re-ranker run; the best beats the hand-written BM25 reference, and the
    saved model ranks new queries with `mlwright predict`."""
    ours, _, hand, out, held = _run_and_score(tmp_path, 150)
    assert ours["ndcg"] > 1.05 * hand["ndcg"]
    new = pd.read_csv(tmp_path / "data" / "queries.csv")
    new = new[new["qid"].isin(set(held["qid"]))].head(7)
    new.to_csv(tmp_path / "new_queries.csv", index=False)
    res = run_cli("predict", str(out), str(tmp_path / "new_queries.csv"), "--output", str(tmp_path / "ranked.csv"))
    assert res.returncode == 0, res.stderr[-2000:]
    ranked = pd.read_csv(tmp_path / "ranked.csv", dtype=str)
    assert list(ranked.columns) == ["qid", "doc_id", "rank", "score"] and len(ranked) == 70
    shutil.rmtree(out / "attempts", ignore_errors=True)


def test_an_llm_attempt_on_a_ranking_task(tmp_path):
    """A scripted LLM writes a ranking attempt from the ranking contract and the BM25 example; it runs in the
    sandbox and is validated on held-out queries like any attempt."""
    from fake_llm_server import FakeLLMServer
    from mlwright.coding.llm_coder import example_script
    from test_llm_modalities import _llm_attempts, _run, _scripted

    folder, _ = write_retrieval_example(tmp_path / "data")
    code = example_script("ranking").replace('["bm25"]', '["chars"]')  # a variant: character n-gram TF-IDF
    assert "# <<common>>" in code and "from mlwright" not in code and '["chars"]' in code
    prompts: list[str] = []
    out = tmp_path / "run"
    with FakeLLMServer(default=_scripted(code, prompts)) as srv:
        r = _run(folder, RETRIEVAL_TASK, out, srv, limit="60")
    assert r.returncode == 0, r.stderr[-2000:]
    [(kind, status, score, error)] = _llm_attempts(out)
    assert (kind, status) == ("draft", "succeeded"), error
    assert 0 < score <= 1
    assert "ranking_cli(fit, predict)" in prompts[0] and "write_ranking" in prompts[0]
    assert "Ranking: 192 judged training queries" in prompts[0]


def test_cli_documents_folder_and_one_row_per_query(tmp_path):
    """The corpus as one file per document, the output one row per query with space-separated ids."""
    folder, held = write_retrieval_example(tmp_path / "data", corpus_as_files=True)
    out = tmp_path / "out"
    task = ("Rank the top 5 documents for each question without judgements. Write ranked.csv with columns "
            "qid, doc_ids. Metric: recall@5.")
    res = run_cli("run", str(folder), "--task", task, "--output", str(out), "--time-limit", "20")
    assert res.returncode == 0, res.stderr[-2000:]
    pred = pd.read_csv(out / "ranked.csv", dtype=str)
    assert list(pred.columns) == ["qid", "doc_ids"] and set(pred["qid"]) == set(held["qid"])
    lists = pred["doc_ids"].str.split()
    assert (lists.str.len() == 5).all() and set(sum(lists, [])) <= {p.stem for p in (folder / "docs").glob("*.txt")}
    summary = json.loads((out / "run.json").read_text())
    assert summary["task"]["metric"] == "recall" and summary["best"]["validation_score"] > 0.5


def test_cli_pairs_to_score_and_predict_new_pairs(tmp_path):
    """A second pair table without relevance: its pairs are scored; new pairs need their queries' text."""
    folder, held = write_retrieval_example(tmp_path / "data")
    held[["qid", "doc_id"]].to_csv(folder / "pairs_to_score.csv", index=False)
    out = tmp_path / "out"
    res = run_cli("run", str(folder), "--task", "Score how well each document matches the queries in "
                  "pairs_to_score.csv (rank them). Write scores.csv", "--output", str(out), "--time-limit", "20")
    assert res.returncode == 0, res.stderr[-2000:]
    scores = pd.read_csv(out / "scores.csv", dtype={"qid": str, "doc_id": str})
    assert list(scores.columns) == ["qid", "doc_id", "score"] and len(scores) == len(held)
    new = held[["qid", "doc_id"]].head(4)
    new.to_csv(tmp_path / "bare.csv", index=False)
    res = run_cli("predict", str(out), str(tmp_path / "bare.csv"), "--output", str(tmp_path / "p1.csv"))
    assert res.returncode != 0 and "lack the columns 'qid' and 'question'" in res.stderr
    new.merge(pd.read_csv(folder / "queries.csv"), on="qid").to_csv(tmp_path / "new.csv", index=False)
    res = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--output", str(tmp_path / "p2.csv"))
    assert res.returncode == 0, res.stderr[-2000:]
    again = pd.read_csv(tmp_path / "p2.csv", dtype={"qid": str, "doc_id": str})
    assert again.merge(scores, on=["qid", "doc_id"]).pipe(lambda m: np.allclose(m["score_x"], m["score_y"]))


# -- the query texts inside the judgements table ---------------------------------------------------------------
def _inline_folder(folder: Path, with_ids: bool) -> tuple[Path, pd.DataFrame, dict[str, str]]:
    """judged.csv: (question[, qid], doc_id, grade), no queries table; to_answer_test.csv: the questions to rank
    (with their qid when the judgements have it); the corpus table. Returns the folder, the held-back judgements
    and qid -> question."""
    from mlwright.examples.retrieval import make_retrieval_frames

    folder.mkdir(parents=True)
    queries, corpus, judg, test_ids = make_retrieval_frames(0)
    corpus.to_csv(folder / "corpus.csv", index=False)
    train = judg[~judg["qid"].isin(test_ids)].merge(queries, on="qid")
    train[["question", "qid", "doc_id", "grade"] if with_ids else ["question", "doc_id", "grade"]].to_csv(
        folder / "judged.csv", index=False)
    ask = queries[queries["qid"].isin(test_ids)]
    ask[["qid", "question"] if with_ids else ["question"]].to_csv(folder / "to_answer_test.csv", index=False)
    return folder, judg[judg["qid"].isin(test_ids)].reset_index(drop=True), dict(zip(queries["qid"],
                                                                                     queries["question"]))


INLINE_TASK = "Rank the 10 most relevant documents of the corpus for every question to answer. Metric: NDCG@10."


@pytest.mark.parametrize("with_ids", [False, True])
def test_queries_given_inside_the_judgements(tmp_path, with_ids):
    folder, held, text = _inline_folder(tmp_path / "data", with_ids)
    found = _detect(folder, INLINE_TASK, tmp_path)
    spec, r = found.spec, found.spec.ranking
    assert spec.problem_type == "ranking" and r.judgements_table == "judged.csv" and r.relevance_column == "grade"
    assert r.corpus_source == "corpus.csv" and r.query_text_column == "question"
    assert r.query_id_column == ("qid" if with_ids else "question") and spec.output_columns[0] == r.query_id_column
    assert sorted(found.test["query"]) == sorted({text[q] for q in held["qid"]})  # the questions to answer
    assert found.train["query_id"].nunique() == 192 and set(found.train["doc_id"]) <= set(found.corpus["doc_id"])
    if with_ids:
        assert set(found.test["query_id"]) == set(held["qid"].astype(str))


def test_cli_ranks_questions_given_only_as_text(tmp_path):
    """Judgements holding the question text, a table of questions to answer: the run ranks each question (keyed
    by its text), far above the trivial baseline."""
    folder, held, text = _inline_folder(tmp_path / "data", with_ids=False)
    before = _tree(folder)
    out = tmp_path / "out"
    res = run_cli("run", str(folder), "--task", INLINE_TASK, "--output", str(out), "--time-limit", "20")
    assert res.returncode == 0, res.stderr[-3000:]
    assert _tree(folder) == before
    pred = pd.read_csv(out / "predictions.csv", dtype=str)
    assert list(pred.columns) == ["question", "doc_id", "rank", "score"]
    assert (pred.groupby("question").size() == 10).all()
    qid = {t: q for q, t in text.items()}
    pred = pred.assign(qid=pred["question"].map(qid))
    assert pred["qid"].notna().all() and set(pred["qid"]) == set(held["qid"])
    j = pd.read_csv(folder / "judged.csv")
    popular = j[j["grade"] > 0]["doc_id"].value_counts().index.tolist()[:10]
    trivial = _frame({q: popular for q in held["qid"].unique()})
    ours, base = _ndcg(pred, held)["ndcg"], _ndcg(trivial, held)["ndcg"]
    print(f"\nquestions as text: NDCG@10 {ours:.3f} (trivial {base:.3f})")
    assert ours > base + 0.25
