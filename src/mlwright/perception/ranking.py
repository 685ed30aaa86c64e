"""Retrieval / ranking: queries, a corpus (a table of documents or a folder of one file per document) and relevance
judgements (query, document[, relevance]). Recognised from the data's shape - a table whose two id columns name
the rows of two other sources, one of them a corpus of texts - together with the task's words (rank, retrieve,
search, find / most relevant, match, top k). The queries without judgements are the ones to rank (or the pairs of a
pair table without relevance are the ones to score). The model's layout is fixed (see schemas.RankingSpec)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.errors import DataError
from mlwright.perception.documents import _read
from mlwright.perception.infer import _TEST_WORDS, _TRAIN_WORDS, Inferred, _is_sample_submission
from mlwright.perception.profile import key_text
from mlwright.perception.scan import LoadedFolder
from mlwright.perception.task_text import TextHints
from mlwright.schemas import RankingSpec, TaskSpec
from mlwright.validation.metrics import HIGHER_IS_BETTER

RANKING_WORDS = re.compile(r"\b(rank\w*|re-?rank\w*|retriev\w*|search\w*|most relevant|relevan(?:t|ce) documents?|"
                           r"find (?:the )?(?:most )?(?:relevant|similar|matching)|top[- ]?\d+|match\w* "
                           r"(?:queries|questions|documents|passages|articles))\b", re.I)
_K = [r"\btop[- ]?(\d{1,4})\b", r"\b(\d{1,4}) (?:most relevant|best|highest[- ]ranked|top)\b", r"@(\d{1,4})\b",
      r"\bk\s*=\s*(\d{1,4})\b"]
_METRICS = [("ndcg", r"\bn?dcg\b|normali[sz]ed discounted"), ("mrr", r"\bmrr\b|mean reciprocal rank"),
            ("map", r"\bmap(?:@\d+)?\b(?! of)|mean average precision"), ("recall", r"\brecall(?:@\d+| at \d+)?\b")]
_RANK_NAME = re.compile(r"rank|position|pos$", re.I)
_SCORE_NAME = re.compile(r"score|relevance|similarity|prob", re.I)
SAMPLE_ROWS = 5000  # rows of a table whose ids are compared with a source's (the whole column when it is judged)
MAX_ID_COLUMNS = 20  # columns of a table tried as its unique id
CORPUS = "corpus.parquet"  # inputs/corpus.parquet: the documents (doc_id, document), beside train and test


@dataclass
class _Source:
    name: str  # table name, or "folder/" for documents
    ids: pd.Series  # key text
    texts: pd.Series
    id_column: str
    text_column: str


def _text_cols(df: pd.DataFrame, id_col: str) -> list[str]:
    """The columns of texts (several words on average), the longest first."""
    found = []
    for c in df.columns:
        if c == id_col or df[c].dtype != object:
            continue
        v = df[c].dropna().astype(str).head(500)
        if v.empty:
            continue
        words = float(v.str.split().str.len().mean())
        if words >= 2:
            found.append((words, str(c)))
    return [c for _, c in sorted(found, reverse=True)]


def _sources(folder: LoadedFolder) -> list[_Source]:
    """Tables (and the documents folder) with a column of unique ids and a column of texts."""
    out = []
    for name, df in folder.tables.items():
        if _is_sample_submission(name, df) or len(df) < 2:
            continue
        for c in list(df.columns)[:MAX_ID_COLUMNS]:
            if not (df[c].dtype == object or pd.api.types.is_integer_dtype(df[c])):
                continue
            keys = key_text(df[c])
            if keys.is_unique and keys.ne("").all():
                ts = _text_cols(df, c)
                if ts:  # several text columns (title, body): one text, in the table's column order
                    ts = [t for t in map(str, df.columns) if t in ts]
                    text = df[ts].fillna("").astype(str).agg("\n".join, axis=1) if len(ts) > 1 else \
                        df[ts[0]].fillna("").astype(str)
                    out.append(_Source(name, keys.reset_index(drop=True), text.reset_index(drop=True), str(c),
                                       " + ".join(ts)))
                    break
    if folder.documents:
        rels = sorted(folder.documents)
        names = [r.split("/")[-1] for r in rels]
        stems = [n.rsplit(".", 1)[0] for n in names]
        ids = stems if len(set(stems)) == len(stems) else names
        top = {r.split("/")[0] for r in rels}
        where = (next(iter(top)) + "/") if len(top) == 1 and "/" in rels[0] else "documents/"
        out.append(_Source(where, pd.Series(ids), pd.Series([_read(folder.documents[r]) or "" for r in rels]),
                           "file name", "text"))
    return out


def _match(values: pd.Series, src: _Source) -> float:
    """The share of these values (the first 5000) that are ids of `src`."""
    ids = set(src.ids)
    vals = key_text(values.head(SAMPLE_ROWS))
    return float(vals.isin(ids).mean()) if len(vals) else 0.0


@dataclass
class _PairTable:
    name: str
    df: pd.DataFrame
    qcol: str
    dcol: str
    queries: list[_Source]
    corpus: Optional[_Source]
    relevance: Optional[str]


def _mean_len(src: _Source) -> float:
    return float(src.texts.head(500).str.len().mean() or 0.0)


def _pair_tables(folder: LoadedFolder, sources: list[_Source]) -> list[_PairTable]:
    """Tables with a column naming query ids (of a text source) and another naming document ids (of another text
    source, the corpus: its texts are the longer ones when both columns could name either)."""
    found = []
    for name, df in folder.tables.items():
        if _is_sample_submission(name, df) or df.shape[1] < 2:
            continue
        own = {s.id_column for s in sources if s.name == name}
        others = [s for s in sources if s.name != name]
        cols = [c for c in df.columns if c not in own and (df[c].dtype == object or
                                                           pd.api.types.is_integer_dtype(df[c]))]
        match = {(c, i): _match(df[c], s) for c in cols for i, s in enumerate(others)}
        best = None
        for qc in cols:
            for dc in cols:
                if qc == dc:
                    continue
                for qi, q in enumerate(others):
                    if match[(qc, qi)] < 0.8:
                        continue
                    for ci, c in enumerate(others):
                        if ci == qi or match[(dc, ci)] == 0:
                            continue
                        score = match[(qc, qi)] + match[(dc, ci)] + 0.5 * (_mean_len(c) > _mean_len(q))
                        if best is None or score > best[0]:
                            best = (score, qc, dc, q, c)
        if best is None:  # queries found, documents in no source: the corpus is missing
            qc = next((c for c in cols if any(match[(c, i)] >= 0.8 for i in range(len(others)))), None)
            dc = next((c for c in cols if c != qc and df[c].nunique() > 3 and
                       not any(match[(c, i)] for i in range(len(others)))), None)
            if qc is not None and dc is not None:
                best = (0.0, qc, dc, next(s for i, s in enumerate(others) if match[(qc, i)] >= 0.8), None)
        if best is None:
            continue
        _, qc, dc, q, corpus = best
        qsrc = [q] + [s for s in others if s is not q and s is not corpus and s.id_column == q.id_column
                      and s.text_column == q.text_column]
        found.append(_PairTable(name, df, str(qc), str(dc), qsrc, corpus, _relevance_column(df, {qc, dc} | own)))
    return found


def _relevance_column(df: pd.DataFrame, skip: set) -> Optional[str]:
    rel = [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c]) and df[c].notna().all()
           and (df[c] >= 0).all()]
    return str(rel[0]) if rel else None


def _one_to_one(df: pd.DataFrame, a: str, b: str) -> bool:
    """Each value of column a goes with one value of b, and back."""
    return bool(df.groupby(a)[b].nunique().max() == 1 and df.groupby(b)[a].nunique().max() == 1)


def _key_column(df: pd.DataFrame, text: str, skip: set) -> Optional[str]:
    """The column of query ids beside a column of query texts: a key column that goes one to one with the texts."""
    for c in df.columns:
        if c in skip or c == text or not (df[c].dtype == object or pd.api.types.is_integer_dtype(df[c])):
            continue
        if df[c].notna().all() and _one_to_one(df, str(c), text):
            return str(c)
    return None


def _queries_to_rank(folder: LoadedFolder, text: str, exclude: set[str]) -> Optional[tuple[str, pd.DataFrame]]:
    """Another table holding query texts under the same column name (a test table of queries)."""
    found = [(n, d) for n, d in folder.tables.items() if n not in exclude and text in d.columns
             and not _is_sample_submission(n, d)]
    found.sort(key=lambda nd: not _TEST_WORDS.search(nd[0].split("/")[-1]))
    return found[0] if found else None


def _inline_query_tables(folder: LoadedFolder, sources: list[_Source]) -> list[_PairTable]:
    """Judgements that hold the query text itself (query text, document id, relevance; a query id column
    optional): the query texts are their own source, and a table with the same text column lists the queries to
    rank (with its ids when the judgements have none)."""
    found = []
    for name, df in folder.tables.items():
        if _is_sample_submission(name, df) or df.shape[1] < 2:
            continue
        corpora = [s for s in sources if s.name != name]
        docs = [(c, s) for c in df.columns for s in corpora if (df[c].dtype == object or
                pd.api.types.is_integer_dtype(df[c])) and _match(df[c], s) >= 0.8]
        if not docs:
            continue
        dcol, corpus = max(docs, key=lambda cs: _mean_len(cs[1]))
        texts = [t for t in _text_cols(df, str(dcol)) if df[t].nunique() < len(df)] or _text_cols(df, str(dcol))
        if not texts:
            continue
        text = texts[0]
        rank = _queries_to_rank(folder, text, {name, corpus.name})
        key = _key_column(df, text, {dcol})
        if key is None and rank is not None:  # ids only beside the queries to rank: the key of those
            key = next((str(c) for c in rank[1].columns if c != text and key_text(rank[1][c]).is_unique
                        and key_text(rank[1][c]).ne("").all()), None)
        key = key or text
        df = df.assign(**{key: df[text]}) if key not in df.columns else df
        own = df.drop_duplicates(key)
        queries = [_Source(name, key_text(own[key]).reset_index(drop=True),
                           own[text].fillna("").astype(str).reset_index(drop=True), key, text)]
        if rank is not None:
            tname, tdf = rank
            ids = tdf[key] if key in tdf.columns else tdf[text]
            queries.append(_Source(tname, key_text(ids).reset_index(drop=True),
                                   tdf[text].fillna("").astype(str).reset_index(drop=True), key, text))
        found.append(_PairTable(name, df, key, str(dcol), queries, corpus,
                                _relevance_column(df, {key, dcol, text})))
    return found


def _k(text: str) -> int:
    for pat in _K:
        m = re.search(pat, text, re.I)
        if m:
            return max(1, int(m.group(1)))
    return 10


def _metric(text: str) -> Optional[str]:
    for name, pat in _METRICS:
        if re.search(pat, text, re.I):
            return name
    return None


def _output(hints: TextHints, qcol: str, dcol: str, pairs: bool) -> tuple[list[str], str, Optional[str],
                                                                          Optional[str]]:
    """(output columns, layout, rank column, score column)."""
    cols = list(hints.output_columns)
    if pairs:
        cols = cols if len(cols) >= 3 else [qcol, dcol, "score"]
        return cols, "pairs", None, next((c for c in cols[2:] if _SCORE_NAME.search(c)), cols[2])
    if len(cols) == 2:
        return cols, "per_query", None, None
    if len(cols) >= 3:
        rank = next((c for c in cols[2:] if _RANK_NAME.search(c)), None)
        score = next((c for c in cols[2:] if c != rank and _SCORE_NAME.search(c)), None)
        return cols, "long", rank, score
    return [qcol, dcol, "rank", "score"], "long", "rank", "score"


def detect_ranking_task(folder: LoadedFolder, hints: TextHints) -> Optional[Inferred]:
    """An Inferred ranking task, None when the folder and words are not one; a DataError when the words ask for a
    ranking and the data is one but broken (queries without a corpus, judgements naming unknown documents)."""
    if not RANKING_WORDS.search(hints.text) or not folder.tables:
        return None
    sources = _sources(folder)
    pairs = _pair_tables(folder, sources)
    if not any(p.corpus is not None for p in pairs):  # the judgements may hold the query texts themselves
        pairs = _inline_query_tables(folder, sources) or pairs
    if not pairs:
        return None
    # the judgements: a pair table with relevance, else the one named like training data, else the first
    pairs.sort(key=lambda p: (p.relevance is None, not _TRAIN_WORDS.search(p.name.split("/")[-1]),
                              bool(_TEST_WORDS.search(p.name.split("/")[-1]))))
    judg = pairs[0]
    if judg.corpus is None:
        raise DataError(f"The task asks for a ranking and {judg.name} pairs queries ({judg.qcol!r}) with documents "
                        f"({judg.dcol!r}), but no corpus holds those documents: no table with their ids and texts, "
                        "and no folder of documents named by them.", where=judg.name,
                        hint="Add the corpus: a table with a document id column and a text column (or a folder with "
                             "one text file per document, named by its id).")
    corpus = judg.corpus
    doc_keys = key_text(judg.df[judg.dcol])
    unknown = sorted(set(doc_keys) - set(corpus.ids))
    if unknown:
        raise DataError(f"{len(unknown)} document ids in column {judg.dcol!r} of {judg.name} are not in the corpus "
                        f"{corpus.name} (e.g. {', '.join(map(repr, unknown[:5]))}).", where=judg.name,
                        hint=f"Every judged document must be in the corpus ({len(corpus.ids)} documents, ids in "
                             f"{corpus.id_column!r}); fix the ids or add the documents.")
    queries = pd.concat([pd.DataFrame({"query_id": s.ids, "query": s.texts, "__src__": s.name})
                         for s in judg.queries], ignore_index=True).drop_duplicates("query_id")
    q_keys = key_text(judg.df[judg.qcol])
    unknown_q = sorted(set(q_keys) - set(queries["query_id"]))
    if unknown_q:
        raise DataError(f"{len(unknown_q)} query ids in column {judg.qcol!r} of {judg.name} are not among the "
                        f"queries (e.g. {', '.join(map(repr, unknown_q[:5]))}).", where=judg.name,
                        hint="Every judged query needs its text in the queries table.")
    rel = judg.df[judg.relevance].astype(float) if judg.relevance else pd.Series(np.ones(len(judg.df)))
    train = pd.DataFrame({"query_id": q_keys.to_numpy(), "doc_id": doc_keys.to_numpy(),
                          "relevance": rel.to_numpy(dtype=float)})
    train = train.merge(queries[["query_id", "query"]], on="query_id", how="left")[
        ["query_id", "query", "doc_id", "relevance"]]
    notes = [f"ranking: {judg.name} judges (query {judg.qcol!r}, document {judg.dcol!r}"
             + (f", relevance {judg.relevance!r})" if judg.relevance else ", every listed pair relevant)")
             + f"; queries from {', '.join(s.name for s in judg.queries)} ({judg.queries[0].text_column!r}); corpus "
             f"{corpus.name} ({len(corpus.ids)} documents, text {corpus.text_column!r})"]
    if not (train["relevance"] > 0).any():
        raise DataError(f"No judgement in {judg.name} marks a document relevant (all relevance values are 0).",
                        where=judg.name, hint="Give the relevant (query, document) pairs a relevance above 0.")
    to_score = [p for p in pairs[1:] if p.relevance is None and p.corpus is corpus]
    judged = set(train["query_id"])
    if to_score:  # a second pair table without relevance: the pairs to score
        p = to_score[0]
        test = pd.DataFrame({"query_id": key_text(p.df[p.qcol]).to_numpy(), "doc_id": key_text(p.df[p.dcol])
                             .to_numpy()}).merge(queries[["query_id", "query"]], on="query_id", how="left")[
            ["query_id", "query", "doc_id"]]
        test_name = p.name
        notes.append(f"ranking: the {len(test)} (query, document) pairs of {p.name} are to be scored")
    else:
        test = queries[~queries["query_id"].isin(judged)][["query_id", "query"]].reset_index(drop=True)
        test_srcs = [s for s in judg.queries if _TEST_WORDS.search(s.name.split("/")[-1])]
        if test_srcs:  # a queries table named as the test set: its queries, judged or not
            test = queries[queries["__src__"].isin([s.name for s in test_srcs])][["query_id", "query"]]
            test = test.reset_index(drop=True)
            train = train[~train["query_id"].isin(set(test["query_id"]))].reset_index(drop=True)
        test_name = ", ".join(s.name for s in (test_srcs or judg.queries)) + " (queries without judgements)"
        notes.append(f"ranking: the {len(test)} queries without judgements are the ones to rank")
    if test.empty:
        raise DataError("Every query has judgements, so there is no query to rank.", where=judg.name,
                        hint="Add the queries to rank to the queries table (without judgements), or a table of "
                             "queries to rank.")
    n_train_q = train["query_id"].nunique()
    if n_train_q < 5:
        raise DataError(f"Only {n_train_q} queries have judgements; at least 5 are needed to learn and validate a "
                        "ranking.", where=judg.name, hint="Add relevance judgements for more queries.")
    k = _k(hints.text)
    metric = _metric(hints.text) or "ndcg"
    notes.append(f"metric {metric}@{k}: " + ("named in the task" if _metric(hints.text) else "default for a "
                                               "ranking") + f"; k = {k}" + (" (from the task)" if any(
                                                   re.search(p, hints.text, re.I) for p in _K) else " (default)"))
    out_cols, layout, rank_col, score_col = _output(hints, judg.qcol, judg.dcol, bool(to_score))
    notes.append(f"output: {layout} layout, columns {out_cols}"
                 + {"long": f", the top {k} documents per query, one row each",
                    "per_query": f", one row per query with its top {k} document ids space-separated, best first",
                    "pairs": ", one score per given pair"}[layout])
    corpus_df = pd.DataFrame({"doc_id": corpus.ids, "document": corpus.texts})
    graded = bool(train["relevance"].max() > 1)
    ranking = RankingSpec(
        queries_table=", ".join(s.name for s in judg.queries), query_id_column=judg.queries[0].id_column,
        query_text_column=judg.queries[0].text_column, corpus_source=corpus.name, doc_id_column=corpus.id_column,
        doc_text_column=corpus.text_column, judgements_table=judg.name, relevance_column=judg.relevance, k=k,
        layout=layout,  # type: ignore[arg-type]
        rank_column=rank_col, score_column=score_col, n_documents=len(corpus_df),
        n_queries_train=int(n_train_q), graded=graded)
    spec = TaskSpec(
        problem_type="ranking", target="relevance", metric=metric, higher_is_better=HIGHER_IS_BETTER[metric],
        train_table=judg.name, test_table=test_name, id_column="query_id",
        prediction_file=hints.prediction_file or "predictions.csv", output_id_column=out_cols[0],
        output_columns=out_cols, output_kind="ranking", feature_columns=["query"], column_kinds={"query": "text"},
        dropped_columns={"query_id": "the query key", "doc_id": "the document key (of the corpus)"},
        n_train_rows=len(train), n_test_rows=len(test), modality="text", ranking=ranking, notes=notes)
    return Inferred(spec=spec, train=train, test=test, corpus=corpus_df)
