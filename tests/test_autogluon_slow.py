"""Slow: the full engine with AutoGluon on the bundled example (real fit, real budget)."""
from __future__ import annotations

import importlib.util
import json
import os

import pandas as pd
import pytest

from conftest import run_cli
from mlwright.examples import DEMO_TASK, write_demo


@pytest.mark.slow
def test_demo_with_autogluon_within_budget(tmp_path):
    data = write_demo(tmp_path / "demo")
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", DEMO_TASK, "--output", str(out), "--time-limit", "120", timeout=400)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and s["wall_seconds"] <= 1.1 * 120
    import sqlite3

    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = dict(con.execute("SELECT recipe, score FROM attempts WHERE status = 'succeeded'").fetchall())
    assert "autogluon_tabular" in rows and "lightgbm_baseline" in rows  # both fitted within the budget
    ag_log = next(out.glob("attempts/*-autogluon_tabular/stderr.txt")).read_text()
    if (os.cpu_count() or 1) >= 2:  # the folds side by side in the attempt's own Ray, inside the sandbox
        assert "ParallelLocalFoldFittingStrategy" in ag_log, ag_log[-3000:]
    if importlib.util.find_spec("fastai") is None:  # a model type whose library is missing is never started
        assert "NeuralNetFastAI" not in ag_log, ag_log[-3000:]
    # AutoGluon's weighted ensemble is scored on rows its weights did not see: never above its own in-sample score
    board = pd.read_csv(next(out.glob("attempts/*-autogluon_tabular/leaderboard.csv")))
    if board["model"].iloc[0].startswith("WeightedEnsemble"):
        ag_out = next(out.glob("attempts/*-autogluon_tabular/stdout.txt")).read_text()
        assert "out-of-fold predictions cross-fitted over" in ag_out, ag_out
        assert rows["autogluon_tabular"] <= board["score_val"].iloc[0] + 1e-9
    assert s["best"]["validation_score"] == max(rows.values())  # the best validated attempt wins
    assert s["best"]["validation_score"] > 0.95  # breast-cancer ROC AUC; a constant scores 0.5
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == ["id", "diagnosis"] and pred["diagnosis"].between(0, 1).all()
    assert "data:image/png;base64," in (out / "report.html").read_text()
    # the model folder keeps what predicting needs: no copy of the training data, no model the best one does not use
    assert not (out / "model" / "utils" / "data").exists()
    new = pd.read_csv(data / "test.csv").head(10)
    new.to_csv(tmp_path / "new.csv", index=False)
    r = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--output", str(tmp_path / "p.csv"), timeout=300)
    assert r.returncode == 0, r.stderr
    again = pd.read_csv(tmp_path / "p.csv")
    merged = again.merge(pred, on="id", suffixes=("_new", "_run"))
    assert len(merged) == 10 and (merged["diagnosis_new"] - merged["diagnosis_run"]).abs().max() < 1e-6
