"""A run folder can move: every path inside it is stored relative to it (run.json, the journal's attempt folders),
so a run killed in one place resumes in another, and a finished one moved elsewhere still shows and predicts."""
from __future__ import annotations

import json
import shutil
import sqlite3

from conftest import run_cli
from test_crash_safety import check_result, kill9, start, wait_for


def test_a_run_folder_moved_elsewhere_resumes_shows_and_predicts(churn_dir, tmp_path):
    first = tmp_path / "here" / "run"
    p = start(churn_dir, first, MLWRIGHT_TEST_PAUSE_AT="finish")
    wait_for(lambda: (first / ".test-paused-finish").exists())
    kill9(p)
    (first / ".test-paused-finish").unlink()
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(str(first), str(moved))  # e.g. copied off a cluster node, or to a shared disk
    r = run_cli("resume", str(moved), "--no-autogluon")
    assert r.returncode == 0, r.stderr
    check_result(moved, churn_dir)
    old = str(tmp_path / "here")
    assert old not in (moved / "run.json").read_text()  # nothing in run.json points at the old place
    stored = json.loads((moved / "run.json").read_text())
    assert stored["prediction_path"] == "predictions.csv" and stored["output_dir"] == "."
    with sqlite3.connect(moved / "journal.sqlite") as con:
        workdirs = [w for (w,) in con.execute("SELECT workdir FROM attempts")]
    assert workdirs and all(w.startswith("attempts/") for w in workdirs)
    # moved once more, finished: show and predict read it where it is
    final = tmp_path / "final"
    shutil.move(str(moved), str(final))
    shown = run_cli("show", str(final))
    assert shown.returncode == 0 and "succeeded" in shown.stdout + shown.stderr
    out_csv = tmp_path / "new_predictions.csv"
    r = run_cli("predict", str(final), str(churn_dir / "test.csv"), "--output", str(out_csv))
    assert r.returncode == 0, r.stderr
    assert out_csv.read_text().startswith("customer_id,label")
