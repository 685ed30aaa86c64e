"""One-document-per-file text folders: class-named folders of .txt files and a test folder."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from conftest import run_cli

POS = ["great taste, I loved it", "excellent quality and fresh", "wonderful, will buy again", "delicious and cheap",
       "the best snack ever", "très bon, j'adore", "perfect for my kids"]
NEG = ["awful, stale and bland", "terrible packaging, broken", "disgusting taste, threw it away", "never again",
       "the worst purchase", "horrible, trop salé", "arrived rotten"]


def _corpus(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "reviews"
    for label, pool in (("pos", POS), ("neg", NEG)):
        (root / "train" / label).mkdir(parents=True)
        for i in range(40):
            words = " ".join(rng.choice(pool, size=2))
            (root / "train" / label / f"{label}_{i:03d}.txt").write_text(words + " " + " ".join(rng.choice(
                ["ok", "the", "box", "item", "food"], size=3)))
    (root / "train" / "pos" / "empty_000.txt").write_text("")
    (root / "test").mkdir()
    truth = {}
    for i in range(20):
        label = "pos" if i % 2 else "neg"
        (root / "test" / f"doc_{i:03d}.txt").write_text(" ".join(rng.choice(POS if label == "pos" else NEG, size=2)))
        truth[f"doc_{i:03d}.txt"] = label
    (root / "test" / "doc_empty.txt").write_text("   ")
    return root, truth


def test_document_folders_end_to_end(tmp_path):
    root, truth = _corpus(tmp_path)
    out = tmp_path / "run"
    r = run_cli("run", str(root), "--task", "Classify each review in test/ as pos or neg. Write predictions.csv with "
                "columns filename,sentiment", "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["modality"] == "text" and s["task"]["target"] == "sentiment"
    assert any("empty or unreadable" in n for n in s["task"]["notes"])
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == ["filename", "sentiment"] and len(pred) == 21
    scored = pred[pred["filename"].isin(truth)]
    assert (scored["sentiment"] == scored["filename"].map(truth)).mean() >= 0.9


def test_predict_on_a_folder_of_new_documents(tmp_path):
    root, _ = _corpus(tmp_path)
    out = tmp_path / "run"
    r = run_cli("run", str(root), "--task",
                "Classify each review; write predictions.csv with columns filename,sentiment",
                "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    new = tmp_path / "new_docs"
    new.mkdir()
    for i, text in enumerate(POS[:3] + NEG[:3]):
        (new / f"n{i}.txt").write_text(text)
    r = run_cli("predict", str(out), str(new), "--output", str(tmp_path / "p.csv"))
    assert r.returncode == 0, r.stderr
    p = pd.read_csv(tmp_path / "p.csv").sort_values("filename")
    assert list(p["sentiment"]) == ["pos", "pos", "pos", "neg", "neg", "neg"]


def test_documents_listed_in_a_table_and_json_test_documents(tmp_path):
    """labels.csv names the training documents (docs/*.txt) and their labels; the documents to predict are
    .json / one-line .jsonl objects in test/ that no table lists."""
    rng = np.random.default_rng(1)
    root = tmp_path / "listed"
    (root / "docs").mkdir(parents=True)
    (root / "test").mkdir()
    rows = []
    for i in range(80):
        label = "pos" if i % 2 else "neg"
        text = " ".join(rng.choice(POS if label == "pos" else NEG, size=2)) + " the box"
        (root / "docs" / f"r{i:03d}.txt").write_text(text, encoding="utf-8")
        rows.append({"file": f"docs/r{i:03d}.txt", "stars": int(rng.integers(1, 6)), "sentiment": label})
    rows.append({"file": "docs/missing.txt", "stars": 3, "sentiment": "pos"})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    truth = {}
    for i in range(12):
        label = "pos" if i % 2 else "neg"
        doc = {"title": f"review {i}", "body": " ".join(rng.choice(POS if label == "pos" else NEG, size=2))}
        name = f"t{i:02d}.json" if i < 8 else f"t{i:02d}.jsonl"  # one-line .jsonl documents too
        (root / "test" / name).write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
        truth[name] = label
    out = tmp_path / "run"
    r = run_cli("run", str(root), "--task", "Predict the sentiment of each review in test/; write predictions.csv "
                "with columns file,sentiment", "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    notes = " ".join(s["task"]["notes"])
    assert "column 'file' of labels.csv names document files" in notes and "1 names match no file" in notes
    assert "12 unlisted documents in a test folder" in notes
    assert s["task"]["target"] == "sentiment" and "text" in s["task"]["feature_columns"]
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == ["file", "sentiment"] and sorted(pred["file"]) == sorted(truth)
    assert (pred["sentiment"] == pred["file"].map(truth)).mean() >= 0.9


def test_text_model_resolution_says_where_the_model_comes_from(tmp_path):
    from mlwright.knowledge.pretrained import _resolve

    folder = tmp_path / "model"
    folder.mkdir()
    assert _resolve(str(folder), True).path == str(folder.resolve())
    missing = _resolve("someone/not-a-cached-model", True)  # offline: never tries the network
    assert "not-a-cached-model" in missing.source
    assert "not in the local Hugging Face cache" in missing.source or "not installed" in missing.source
    # the shipped model (when the extra is installed) still serves, and the message says why it is used
    assert missing.path is None or "all-MiniLM-L6-v2" in missing.source


def test_kaggle_layout_with_the_same_file_names_in_train_and_test_folders(tmp_path):
    """train.csv / test.csv name documents by bare file names that exist in both train/ and test/; the sample
    submission keeps its columns (it is the output format)."""
    from mlwright.perception.documents import inline_referenced_documents
    from mlwright.perception.scan import load_folder

    root = tmp_path / "kaggle"
    for part in ("train", "test"):
        (root / part).mkdir(parents=True)
        for i in range(6):
            (root / part / f"{i:04d}.txt").write_text(f"{part} document {i}", encoding="utf-8")
    pd.DataFrame({"id": [f"{i:04d}.txt" for i in range(6)], "label": list("ababab")}).to_csv(root / "train.csv",
                                                                                              index=False)
    pd.DataFrame({"id": [f"{i:04d}.txt" for i in range(6)]}).to_csv(root / "test.csv", index=False)
    pd.DataFrame({"id": [f"{i:04d}.txt" for i in range(6)], "label": "a"}).to_csv(root / "sample_submission.csv",
                                                                                  index=False)
    folder = load_folder(root, tmp_path / "unpacked")
    notes = inline_referenced_documents(folder)
    assert len(notes) == 2 and not any("match no file" in n for n in notes)
    assert list(folder.tables["train.csv"]["text"]) == [f"train document {i}" for i in range(6)]
    assert list(folder.tables["test.csv"]["text"]) == [f"test document {i}" for i in range(6)]
    assert list(folder.tables["sample_submission.csv"].columns) == ["id", "label"]
