"""`mlwright batch`: a folder of task folders, one real run each (two at a time), one summary table; folders that
are not tasks are listed as skipped, and an earlier batch is never written over."""
from __future__ import annotations

import csv
import json

from conftest import make_classification_frame, make_regression_frame, run_cli, split_write
from mlwright.execution.limits import usable_cores


def test_batch_runs_every_task_folder_and_writes_one_summary(tmp_path):
    tasks = tmp_path / "tasks"
    split_write(make_classification_frame(), tasks / "churn" / "data", "label")
    (tasks / "churn" / "description.md").write_text("Predict label (the probability of yes) for each test row.")
    split_write(make_regression_frame(), tasks / "houses", "price")  # the data beside its description
    (tasks / "houses" / "task.txt").write_text("Predict the price of each house in test.csv.")
    (tasks / "notes").mkdir()  # no description: not a task
    out = tmp_path / "batch"
    r = run_cli("batch", str(tasks), "--output", str(out), "--time-limit", "30", "--no-autogluon",
                "--parallel", "2")
    assert r.returncode == 0, r.stderr
    rows = {row["task"]: row for row in json.loads((out / "batch.json").read_text())}
    assert rows["churn"]["status"] == "succeeded" and rows["churn"]["metric"] == "roc_auc"
    assert rows["churn"]["validation_score"] > 0.8
    assert rows["houses"]["status"] == "succeeded" and rows["houses"]["metric"] in ("rmse", "r2", "mae")
    assert rows["notes"]["status"] == "skipped" and "no task description" in rows["notes"]["error"]
    for name in ("churn", "houses"):  # each run is a complete run folder of its own, its console kept
        assert (out / name / "run.json").is_file() and (out / name / "predictions.csv").is_file()
        assert (out / "logs" / f"{name}.txt").stat().st_size > 0
        # two runs share the machine: each attempt gets half of its cores
        share = max(1, usable_cores() // 2)
        assert all(f"cores: {share}" in f.read_text() for f in (out / name / "attempts").glob("*/stdout.txt"))
    with open(out / "batch.csv") as f:
        assert {row["task"] for row in csv.DictReader(f)} == {"churn", "houses", "notes"}
    assert "churn" in r.stdout and "succeeded" in r.stdout  # the table
    # an earlier batch is never written over; a folder without tasks is a clear error
    again = run_cli("batch", str(tasks), "--output", str(out), "--time-limit", "30")
    assert again.returncode != 0 and "not empty" in again.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = run_cli("batch", str(empty), "--output", str(tmp_path / "b2"))
    assert none.returncode != 0 and "No task folders" in none.stderr
