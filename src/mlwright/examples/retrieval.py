"""A small retrieval task made by mlwright itself (no download, no copyrighted text): short documents on distinct
topics that share vocabulary, and questions that paraphrase them (synonyms instead of the documents' own words, so
word matching alone is not enough). Queries with relevance judgements train; the rest are to be ranked.

    queries.csv      qid, question                (every query; the judged ones train)
    corpus.csv       doc_id, title, body          (or docs/<doc_id>.txt with `corpus_as_files`)
    judgements.csv   qid, doc_id, grade           (2: the document the question is about; 1: a related one)"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

RETRIEVAL_TASK = ("Find the most relevant documents in the corpus for each question in queries.csv that has no "
                  "judgements: rank the top 10 documents per question. Write predictions.csv. Metric: NDCG@10.")

TOPICS = {
    "beekeeping": "bees hive honey beekeeper wax pollen colony queen",
    "volcanoes": "volcano lava eruption magma crater ash summit molten",
    "sailing": "sail boat wind mast crew deck anchor keel",
    "baking": "bread oven flour dough yeast crust baker knead",
    "chess": "chess board pawn knight bishop rook checkmate opening",
    "railways": "railway train locomotive track station steam carriage signal",
    "astronomy": "telescope planet star comet orbit moon galaxy astronomer",
    "gardening": "garden soil seed tomato compost weed harvest gardener",
}
# (the documents' word, the questions' word): the questions say it the other way
PAIRS = [("big", "large"), ("small", "tiny"), ("fast", "quick"), ("old", "ancient"), ("build", "construct"),
         ("repair", "fix"), ("cost", "price"), ("danger", "hazard"), ("begin", "start"), ("buy", "purchase"),
         ("help", "assist"), ("children", "kids"), ("doctor", "physician"), ("road", "street"), ("city", "town"),
         ("hill", "slope"), ("stone", "rock"), ("sea", "ocean"), ("forest", "woods"), ("rain", "precipitation"),
         ("food", "meal"), ("money", "cash"), ("job", "occupation"), ("teach", "instruct"), ("wealthy", "rich"),
         ("sick", "ill"), ("quiet", "silent"), ("strong", "powerful"), ("weak", "feeble"), ("answer", "reply"),
         ("mistake", "error"), ("gift", "present"), ("journey", "trip"), ("harbor", "port"), ("map", "chart"),
         ("storm", "tempest"), ("clothes", "garments"), ("home", "house"), ("picture", "image"), ("story", "tale"),
         ("smell", "odor"), ("enemy", "foe"), ("speed", "velocity"), ("weight", "mass"), ("shape", "form"),
         ("choose", "select"), ("finish", "end"), ("arrive", "reach"), ("discover", "find"), ("grow", "expand"),
         ("destroy", "ruin"), ("hide", "conceal"), ("festival", "celebration"), ("lake", "pond"), ("cold", "chilly"),
         ("heat", "warmth"), ("lamp", "lantern"), ("winter", "wintertime"), ("village", "hamlet"), ("law", "rule")]
FILLER = ("the of and in to a is that for it as with was on are by this be from at or have an they which one "
          "people often used known many during history time early also most later well first new").split()
FRAMES = ["how do {}", "what is {}", "why are {}", "where can {}", "tell me about {}", "{} explained",
          "which {}", "when does {}"]


def make_retrieval_frames(seed: int = 0, docs_per_topic: int = 6, queries_per_doc: int = 5
                          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """(queries, corpus, judgements of every query, the ids of the queries to rank)."""
    rng = np.random.default_rng(seed)
    docs, aspects, topic_of = [], {}, {}
    for t, (topic, words) in enumerate(TOPICS.items()):
        tw = words.split()
        for j in range(docs_per_topic):
            did = f"D{t * docs_per_topic + j + 101}"
            pick = rng.choice(len(PAIRS), 3, replace=False)
            aspects[did], topic_of[did] = [PAIRS[i] for i in pick], topic
            body = []
            for _ in range(5):  # sentences mixing topic words, the document's aspects and filler
                sent = list(rng.choice(tw, 3)) + [PAIRS[i][0] for i in rng.choice(pick, 2)] + \
                    list(rng.choice(FILLER, 5))
                rng.shuffle(sent)
                body.append(" ".join(sent).capitalize() + ".")
            title = f"{tw[j % len(tw)].capitalize()} and the {aspects[did][0][0]} {tw[(j + 3) % len(tw)]}"
            docs.append((did, title, " ".join(body)))
    corpus = pd.DataFrame(docs, columns=["doc_id", "title", "body"])
    ids = corpus["doc_id"].tolist()
    # some documents are asked about more often than others (what a learned ranker can use)
    weights = rng.pareto(3.0, len(ids)) + 1.0
    weights /= weights.sum()
    n_queries = queries_per_doc * len(ids)
    targets = list(ids) + list(rng.choice(ids, n_queries - len(ids), p=weights))
    rng.shuffle(targets)
    queries, judg = [], []
    for n, did in enumerate(targets):
        qid = f"q{n + 1:04d}"
        topic_words = TOPICS[topic_of[did]].split()
        qwords = [syn if rng.random() < 0.65 else own for own, syn in
                  (aspects[did][i] for i in rng.choice(3, 2, replace=False))]
        if rng.random() < 0.7:
            qwords.insert(int(rng.integers(0, len(qwords) + 1)), str(rng.choice(topic_words)))
        queries.append((qid, FRAMES[int(rng.integers(len(FRAMES)))].format(" ".join(qwords))))
        judg.append((qid, did, 2))
        shared = [d for d in ids if d != did and topic_of[d] == topic_of[did]
                  and {a for a, _ in aspects[d]} & {a for a, _ in aspects[did]}]
        for d in shared[:2]:
            judg.append((qid, d, 1))
    qdf = pd.DataFrame(queries, columns=["qid", "question"])
    jdf = pd.DataFrame(judg, columns=["qid", "doc_id", "grade"])
    test_ids = list(qdf["qid"].sample(frac=0.2, random_state=seed))
    return qdf, corpus, jdf, test_ids


def write_retrieval_example(folder: Path, seed: int = 0, corpus_as_files: bool = False) -> tuple[Path, pd.DataFrame]:
    """The task's folder (judgements of the queries to rank left out) and those held-back judgements."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    queries, corpus, judg, test_ids = make_retrieval_frames(seed)
    queries.to_csv(folder / "queries.csv", index=False)
    if corpus_as_files:
        (folder / "docs").mkdir(exist_ok=True)
        for did, title, body in corpus.itertuples(index=False):
            (folder / "docs" / f"{did}.txt").write_text(f"{title}\n\n{body}\n")
    else:
        corpus.to_csv(folder / "corpus.csv", index=False)
    judg[~judg["qid"].isin(test_ids)].to_csv(folder / "judgements.csv", index=False)
    (folder / "task.md").write_text(RETRIEVAL_TASK + "\n")
    return folder, judg[judg["qid"].isin(test_ids)].reset_index(drop=True)
