"""End to end through the real CLI in a subprocess, with the light recipe (fast); AutoGluon runs in the
slow suite. Each bad input gets a specific message and a non-zero exit, and the data is never touched."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_classification_frame, run_cli, split_write, tree_digest


def test_run_produces_everything_and_predict_reuses_the_model(churn_dir, tmp_path):
    before = tree_digest(churn_dir)
    out = tmp_path / "run"
    r = run_cli("run", str(churn_dir), "--task", "predict label as the probability of yes; write churn.csv with "
                "customer_id,label", "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    assert tree_digest(churn_dir) == before
    # piped: progress on stderr, one plain line per event; the result once, on stdout
    assert r.stdout.startswith("done in ") and r.stdout.count("churn.csv") == 1 and "report: " in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == len(set(lines)) and "done in" not in r.stderr
    assert any(ln.startswith("validation: attempt 1 succeeded") for ln in lines)
    summary = json.loads((out / "run.json").read_text())
    assert summary["status"] == "succeeded"
    assert summary["task"]["target"] == "label" and summary["task"]["metric"] == "roc_auc"
    assert summary["best"]["validation_score"] > 0.8  # a learnable signal, scored by mlwright on OOF rows
    assert summary["llm"]["calls"] == 0 and summary["wall_seconds"] < 66
    assert summary["peak_memory_mb"] > 50  # the largest process of the run (python with pandas: > 50 MB)
    pred = pd.read_csv(out / "churn.csv")
    test = pd.read_csv(churn_dir / "test.csv")
    assert list(pred.columns) == ["customer_id", "label"]
    assert sorted(pred["customer_id"]) == sorted(test["customer_id"])
    assert pred["label"].between(0, 1).all()
    for f in ("report.html", "solution.py", "journal.sqlite", "model"):
        assert (out / f).exists(), f
    assert "attempt" in (out / "report.html").read_text().lower()
    # the saved model on new rows
    new = make_classification_frame(n=40, seed=9).drop(columns=["label"])
    new.to_csv(tmp_path / "new.csv", index=False)
    r = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--output", str(tmp_path / "new_pred.csv"))
    assert r.returncode == 0, r.stderr
    new_pred = pd.read_csv(tmp_path / "new_pred.csv")
    assert len(new_pred) == 40 and list(new_pred.columns) == ["customer_id", "label"]
    # show prints the summary from the journal; --json for scripts, on show and runs alike
    r = run_cli("show", str(out))
    assert r.returncode == 0 and "lightgbm_baseline" in r.stdout
    shown = json.loads(run_cli("show", str(out), "--json").stdout)
    assert shown["run"]["status"] == "succeeded" and shown["attempts"][0]["recipe"] == "lightgbm_baseline"
    # the attempt's own timings (timings.json): the run learns its overheads from them (planning/budget.py)
    assert 0 < shown["attempts"][0]["start_overhead_s"] < shown["attempts"][0]["seconds"]
    assert 0 < shown["attempts"][0]["validation_s"] < 10  # mlwright's checks after it: the gap kept between attempts
    if summary["wall_seconds"] < 0.8 * 60:  # a run that leaves its budget unused says why
        assert "of the 60s limit left" in summary["ended_early"]
    listed = json.loads(run_cli("runs", str(tmp_path), "--json").stdout)
    assert [(Path(x["run"]).name, x["status"]) for x in listed] == [("run", "succeeded")]
    assert run_cli("--version").stdout.startswith("mlwright ")


def test_regression_run_and_output_folder_is_never_overwritten(house_dir, tmp_path):
    out = tmp_path / "run"
    r = run_cli("run", str(house_dir), "--task", "predict the price. Metric: MAE", "--output", str(out),
                "--time-limit", "40", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["problem_type"] == "regression" and s["task"]["metric"] == "mae"
    assert len(pd.read_csv(out / "predictions.csv")) == 60
    before = tree_digest(out)
    r = run_cli("run", str(house_dir), "--task", "predict the price", "--output", str(out), "--time-limit", "40")
    assert r.returncode != 0 and "not empty" in r.stderr
    assert tree_digest(out) == before


def test_interactive_question_answers_ambiguity(tmp_path):
    df = make_classification_frame()
    df["score2"] = (df["x1"] > 0).astype(int)
    folder = tmp_path / "amb"
    folder.mkdir()
    df.iloc[50:].to_csv(folder / "train.csv", index=False)
    df.iloc[:50].drop(columns=["label", "score2"]).to_csv(folder / "test.csv", index=False)
    r = run_cli("run", str(folder), "--task", "make a model", "--output", str(tmp_path / "o1"), "--time-limit", "30",
                "--no-autogluon")
    assert r.returncode == 2
    assert "label" in r.stderr and "score2" in r.stderr and "--target" in r.stderr
    r = run_cli("run", str(folder), "--task", "make a model", "--output", str(tmp_path / "o2"), "--time-limit", "30",
                "--no-autogluon", "--interactive", input_text="label\n")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "o2" / "run.json").read_text())["task"]["target"] == "label"
    r = run_cli("run", str(folder), "--task", "make a model", "--output", str(tmp_path / "o3"), "--time-limit", "30",
                "--no-autogluon", "--target", "score2")
    assert r.returncode == 0, r.stderr


def _bad(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    return d


@pytest.mark.parametrize("case,needle", [
    ("empty", "empty"),
    ("corrupt", "Cannot read"),
    ("one_class", "single value"),
    ("mismatch", "do not match"),
    ("too_large", "too large"),
    ("missing", "does not exist"),
    ("unknown_recipe", "Unknown recipe name 'catbost_light'"),
    ("all_recipes_excluded", "No recipe is left to run"),
])
def test_bad_input_gives_specific_error(tmp_path, case, needle):
    d = tmp_path / case
    extra = []
    df = make_classification_frame(n=120)
    if case != "missing":
        d.mkdir()
    if case == "corrupt":
        (d / "train.xlsx").write_bytes(b"PK\x03\x04not a workbook at all")
        df.drop(columns=["label"]).to_csv(d / "test.csv", index=False)
    elif case == "one_class":
        df["label"] = "yes"
        split_write(df, d, "label")
    elif case == "mismatch":
        df.to_csv(d / "train.csv", index=False)
        pd.DataFrame({"q": [1, 2], "r": [3, 4], "s": [5, 6]}).to_csv(d / "test.csv", index=False)
    elif case == "too_large":
        split_write(df, d, "label")
        extra = ["--memory-limit", "0.001"]
    elif case == "unknown_recipe":  # a typo: the error lists the recipes
        split_write(df, d, "label")
        extra = ["--exclude-recipes", "catbost_light"]
    elif case == "all_recipes_excluded":
        split_write(df, d, "label")
        extra = ["--exclude-recipes", "lightgbm_baseline,catboost_light,xgboost_light,linear_model"]
    before = tree_digest(d) if d.exists() else None
    r = run_cli("run", str(d), "--task", "predict label from train.xlsx" if case == "corrupt" else "predict label",
                "--output", str(tmp_path / f"out-{case}"), "--time-limit", "30", "--no-autogluon", *extra)
    assert r.returncode not in (0, None)
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    if before:
        assert tree_digest(d) == before
    if case == "unknown_recipe":
        assert "lightgbm_baseline" in r.stderr and not (tmp_path / f"out-{case}").exists()
    if case == "missing":  # a failed pre-check leaves no run folder behind, and says it once
        assert not (tmp_path / f"out-{case}").exists() and r.stderr.count(needle) == 1
    if (tmp_path / f"out-{case}" / "run.json").exists():
        s = json.loads((tmp_path / f"out-{case}" / "run.json").read_text())
        assert s["status"] == "failed" and needle in s["error"]


def test_failed_attempts_leave_a_clear_failure(tmp_path, churn_dir):
    # a time limit too short for any attempt: the run fails with a reason, not a crash
    r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(tmp_path / "o"),
                "--time-limit", "10", "--no-autogluon")
    s = json.loads((tmp_path / "o" / "run.json").read_text())
    assert (r.returncode == 0) == (s["status"] == "succeeded")
    if r.returncode:
        assert "No attempt" in s["error"]


def test_killed_run_resumes(churn_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "mlwright", "run", str(churn_dir), "--task", "predict label",
                          "--output", str(out), "--time-limit", "90", "--no-autogluon"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    import sqlite3

    def first_attempt_running() -> bool:  # journaled as running (its script is written just before)
        try:
            with sqlite3.connect(out / "journal.sqlite") as con:
                return bool(con.execute("SELECT 1 FROM attempts WHERE status = 'running'").fetchall())
        except sqlite3.Error:  # not created yet
            return False

    deadline = time.time() + 60
    while time.time() < deadline and not ((out / "journal.sqlite").is_file() and first_attempt_running()):
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGKILL)  # as if the machine died mid-attempt
    p.wait()
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    r = run_cli("resume", str(out), "--no-autogluon")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and (out / "predictions.csv").is_file()
    with sqlite3.connect(out / "journal.sqlite") as con:
        statuses = [r[0] for r in con.execute("SELECT status FROM attempts ORDER BY attempt_id")]
    assert statuses[0] == "interrupted" and "succeeded" in statuses[1:]  # cut short by the kill, not failed
    r = run_cli("resume", str(out))
    assert r.returncode != 0 and "already succeeded" in r.stderr


def test_the_cluster_address_comes_from_the_settings_file_and_a_bad_one_fails_clearly(churn_dir, tmp_path):
    cfg = tmp_path / "mlwright.yaml"
    cfg.write_text("cluster:\n  address: 127.0.0.1:1\n")  # nothing listens there
    r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(tmp_path / "a"), "--config",
                str(cfg), timeout=60)
    # with the ray extra: the head does not answer (in seconds); without it: how to get it
    assert r.returncode != 0 and ("Cannot connect to the Ray cluster at 127.0.0.1:1" in r.stderr
                                  or "needs Ray" in r.stderr), r.stderr
    cfg.write_text("cluster:\n  adress: 127.0.0.1:6379\n")  # a typo is an error, not a silent local run
    r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(tmp_path / "b"), "--config",
                str(cfg), timeout=60)
    assert r.returncode != 0 and "Invalid cluster settings" in r.stderr
