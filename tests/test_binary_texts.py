"""Two-class texts (reviews with a score): the text recipe compares plain and naive-Bayes-weighted n-grams and
averages the best two representations when that scores better out of fold; its saved model (the weighted
model included) predicts new rows exactly as it predicted the test rows. Synthetic reviews: neutral filler
words plus a few words whose tone decides the class, with noise, and a numeric column with negative values."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from conftest import run_cli


def make_reviews(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(400)]
    tone = {f"good{i}": 1.0 for i in range(30)} | {f"bad{i}": -1.0 for i in range(30)}
    words, rows, labels = list(tone), [], []
    for _ in range(n):
        chosen = list(rng.choice(words, size=rng.integers(1, 4)))
        text = list(rng.choice(filler, size=rng.integers(8, 30))) + chosen
        rng.shuffle(text)
        labels.append("great" if sum(tone[w] for w in chosen) + rng.normal(0, 1.2) > 0 else "other")
        rows.append(" ".join(text))
    return pd.DataFrame({"id": [f"r{i:05d}" for i in range(n)], "helpful": rng.normal(0, 1, n).round(3),
                         "review": rows, "score": labels})


def test_two_class_reviews_get_weighted_ngrams_and_a_model_that_predicts_new_rows(tmp_path):
    df = make_reviews(1500)
    train, test = df.iloc[:1200], df.iloc[1200:]
    data = tmp_path / "data"
    data.mkdir()
    train.to_csv(data / "train.csv", index=False)
    test.drop(columns=["score"]).to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    task = "predict the probability that a review's score is great; write predictions.csv with columns id,great. " \
           "Metric: ROC AUC"
    r = run_cli("run", str(data), "--task", task, "--output", str(out), "--time-limit", "40", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and s["task"]["problem_type"] == "binary"
    log = next((out / "attempts").glob("*text_tfidf_linear")).joinpath("stdout.txt").read_text()
    assert "word+char nb n-grams" in log  # the weighted representation was compared
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred["id"]) == list(test["id"])
    y = test["score"].eq("great")
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(train["review"])  # a plain reference
    ref = LogisticRegression(C=4.0).fit(vec.transform(train["review"]), train["score"].eq("great"))
    ref_auc = roc_auc_score(y, ref.predict_proba(vec.transform(test["review"]))[:, 1])
    auc = roc_auc_score(y, pred["great"])
    print(f"plain word TF-IDF reference AUC {ref_auc:.4f}, mlwright {auc:.4f}")
    assert auc >= ref_auc - 0.01
    test.head(30).drop(columns=["score"]).to_csv(tmp_path / "new.csv", index=False)
    r = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--output", str(tmp_path / "new_pred.csv"))
    assert r.returncode == 0, r.stderr
    again = pd.read_csv(tmp_path / "new_pred.csv")
    np.testing.assert_allclose(again["great"], pred["great"].head(30), rtol=1e-5)
