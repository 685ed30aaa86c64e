"""Crash safety and the re-checked final answer (issue #10, items 3 and 7), with real mlwright processes:
kill -9 at each stage, then `mlwright resume`; an attempt left running by a dead mlwright is killed on resume;
a prediction file changed after its validation never reaches the run folder as a success.
MLWRIGHT_TEST_PAUSE_AT (test-only) stops a run at a stage until the test removes its marker file."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from conftest import ROOT, run_cli
from mlwright.planning.planner import INTERRUPTED

LIMIT = 20  # seconds: the baseline attempt (~2 s) and a finish fit; a resume has what is left


def start(data: Path, out: Path, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlwright", "run", str(data), "--task", "predict label", "--output",
                             str(out), "--time-limit", str(LIMIT), "--no-autogluon", "--llm", "none"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **env})


def wait_for(cond, timeout: float = 40.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def running_attempt(out: Path):
    """The process record of the attempt running now, from the journal."""
    try:
        with sqlite3.connect(out / "journal.sqlite") as con:
            row = con.execute("SELECT process FROM attempts WHERE process IS NOT NULL").fetchone()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


def kill9(p: subprocess.Popen) -> float:
    os.kill(p.pid, signal.SIGKILL)  # mlwright only: its attempts run in their own sessions
    p.wait()
    return time.time()


def summary(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def resume_events(out: Path) -> list[dict]:
    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = con.execute("SELECT message, data FROM events WHERE stage = 'resume' ORDER BY id").fetchall()
    return [{"message": m, **json.loads(d or "{}")} for m, d in rows]


def check_result(out: Path, data: Path) -> None:
    """The run succeeded with a valid file: one row per test id, known labels, and run.json's checksums."""
    s = summary(out)
    assert s["status"] == "succeeded", s["error"]
    pred = pd.read_csv(out / "predictions.csv", dtype=str)
    test = pd.read_csv(data / "test.csv", dtype=str)
    assert list(pred["customer_id"]) == list(test["customer_id"])
    assert set(pred["label"]) <= {"yes", "no"}
    assert s["checksums"]["predictions.csv"] == hashlib.sha256((out / "predictions.csv").read_bytes()).hexdigest()
    assert s["checksums"]["solution.py"] == hashlib.sha256((out / "solution.py").read_bytes()).hexdigest()
    assert s["checksums"]["model/"] and (out / "model").is_dir()
    assert not (out / ".finish").exists()


def test_kill_during_an_attempt_then_resume(churn_dir, tmp_path):
    out = tmp_path / "run"
    p = start(churn_dir, out)
    proc = wait_for(lambda: running_attempt(out))
    time.sleep(0.3)
    kill9(p)
    s = summary(out)
    assert s["status"] == "running"
    if s["sandbox"]["kind"] == "bubblewrap":  # --die-with-parent; in the basic mode the resume below kills it
        wait_for(lambda: not psutil.pid_exists(proc["pid"]), timeout=5)
    r = run_cli("resume", str(out), "--no-autogluon")
    assert r.returncode == 0, r.stderr
    assert not psutil.pid_exists(proc["pid"]) or psutil.Process(proc["pid"]).create_time() != proc["started"]
    check_result(out, churn_dir)
    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = con.execute("SELECT status, error, process FROM attempts ORDER BY attempt_id").fetchall()
    assert rows[0][:2] == ("interrupted", INTERRUPTED) and rows[1][0] == "succeeded"
    assert all(r[2] is None for r in rows)


def test_kill_during_perception_then_resume(churn_dir, tmp_path):
    out = tmp_path / "run"
    p = start(churn_dir, out)
    wait_for(lambda: (out / "run.json").exists())  # written before anything else happens in the folder
    kill9(p)
    r = run_cli("resume", str(out), "--no-autogluon")
    assert r.returncode == 0, r.stderr
    check_result(out, churn_dir)


def test_attempt_left_running_is_killed_on_resume(churn_dir, tmp_path):
    # the basic isolation has no --die-with-parent: the attempt outlives mlwright; frozen here so that it is
    # surely still there when the resume starts
    out = tmp_path / "run"
    p = start(churn_dir, out, MLWRIGHT_SANDBOX="basic")
    proc = wait_for(lambda: running_attempt(out))
    kill9(p)
    os.killpg(proc["pid"], signal.SIGSTOP)
    assert psutil.Process(proc["pid"]).create_time() == pytest.approx(proc["started"], abs=0.01)
    r = run_cli("resume", str(out), "--no-autogluon", env={"MLWRIGHT_SANDBOX": "basic"})
    assert r.returncode == 0, r.stderr
    assert not psutil.pid_exists(proc["pid"]) or psutil.Process(proc["pid"]).status() == psutil.STATUS_ZOMBIE
    assert any("left running" in e["message"] for e in resume_events(out))
    check_result(out, churn_dir)


@pytest.mark.parametrize("stage", ["finish", "report"])
def test_kill_during_finish_then_resume(churn_dir, tmp_path, stage):
    # "report": the final files are already in place (model/ too) and run.json does not say "succeeded" yet
    out = tmp_path / "run"
    p = start(churn_dir, out, MLWRIGHT_TEST_PAUSE_AT=stage)
    wait_for(lambda: (out / f".test-paused-{stage}").exists())
    time.sleep(2 * 2.0 + 0.5)  # two heartbeats: run.json's elapsed time keeps up while the run waits here
    killed_at = kill9(p)
    if stage == "report":
        assert (out / "model").is_dir() and (out / "predictions.csv").is_file()
    s = summary(out)
    assert s["status"] == "running"
    assert killed_at - (out / "run.json").stat().st_mtime < 2.0 + 1.0  # run.json at most a heartbeat old
    (out / f".test-paused-{stage}").unlink()
    r = run_cli("resume", str(out), "--no-autogluon")
    assert r.returncode == 0, r.stderr
    check_result(out, churn_dir)
    left = resume_events(out)[-1]["time_left"]
    assert LIMIT - s["wall_seconds"] - 2 < left <= LIMIT - s["wall_seconds"] + 0.1  # only what was left
    assert summary(out)["wall_seconds"] >= s["wall_seconds"]


def test_prediction_changed_after_validation_is_caught(churn_dir, tmp_path):
    out = tmp_path / "run"
    p = start(churn_dir, out, MLWRIGHT_TEST_PAUSE_AT="finish")
    marker = wait_for(lambda: (out / ".test-paused-finish").exists() and out / ".test-paused-finish")
    n = len(pd.read_csv(churn_dir / "test.csv"))
    for f in out.glob("attempts/*/predictions.csv"):  # what a later attempt did to the validated file
        f.write_text("customer_id,label\n" + "TAMPERED,TAMPERED\n" * n)
    marker.unlink()
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0
    s = summary(out)
    assert s["status"] == "failed" and "changed after validation" in s["error"], (s["error"], err)
    assert not (out / "predictions.csv").exists() and not (out / "model").exists()
    assert "Traceback" not in err
    # the tampered attempt is no longer valid: a resume finishes with another attempt or fails, never with it
    r = run_cli("resume", str(out), "--no-autogluon")
    s = summary(out)
    assert (r.returncode == 0) == (s["status"] == "succeeded")
    if r.returncode == 0:
        assert "TAMPERED" not in (out / "predictions.csv").read_text()
        check_result(out, churn_dir)


def test_a_link_in_the_winners_files_is_refused_not_followed(churn_dir, tmp_path):
    secret = tmp_path / "secret.txt"  # readable by mlwright, never by the attempt
    secret.write_text("root-only secret")
    out = tmp_path / "run"
    p = start(churn_dir, out, MLWRIGHT_TEST_PAUSE_AT="finish")
    marker = wait_for(lambda: (out / ".test-paused-finish").exists() and out / ".test-paused-finish")
    for f in out.glob("attempts/*/solution.py"):
        f.unlink()
        f.symlink_to(secret)
    marker.unlink()
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "Traceback" not in err
    s = summary(out)
    assert s["status"] == "failed" and "is a link" in s["error"], (s["error"], err)
    assert not any("root-only secret" in f.read_text(errors="replace")
                   for f in out.rglob("*") if f.is_file() and not f.is_symlink())


def test_outputs_must_be_plain_files(tmp_path):
    from mlwright.validation.checks import ValidationFailure, check_plain_files

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    (tmp_path / "predictions.csv").write_text("id,y\n1,2\n")
    check_plain_files(tmp_path, ["predictions.csv", "model", "absent.csv"])
    (tmp_path / "model" / "stolen").symlink_to("/etc/hostname")
    with pytest.raises(ValidationFailure, match="model/stolen is a link"):
        check_plain_files(tmp_path, ["predictions.csv", "model"])
    os.mkfifo(tmp_path / "oof_predictions.csv")
    with pytest.raises(ValidationFailure, match="not a regular file"):
        check_plain_files(tmp_path, ["oof_predictions.csv"])


def test_journal_from_an_older_mlwright_gets_the_new_columns(tmp_path):
    from mlwright.journal.store import Journal
    from mlwright.schemas import AttemptRecord

    with sqlite3.connect(tmp_path / "j.sqlite") as con:  # the attempts table before checksums and processes
        con.execute("CREATE TABLE attempts (attempt_id INTEGER PRIMARY KEY, parent_id INTEGER, kind TEXT, recipe TEXT, "
                    "title TEXT, status TEXT, started_at REAL, ended_at REAL, seconds REAL, time_budget_s REAL, "
                    "metric TEXT, score REAL, validation_rows INTEGER, error TEXT, workdir TEXT, returncode INTEGER, "
                    "peak_memory_mb REAL, code TEXT, params TEXT, diagnosis TEXT)")
    j = Journal(tmp_path / "j.sqlite")
    j.save_attempt(AttemptRecord(attempt_id=1, kind="draft", recipe="r", title="t", status="succeeded", started_at=0,
                                 time_budget_s=1, workdir="w", prediction_sha256="ab"))
    j.set_process(1, {"pid": 1})
    assert j.attempts()[0].prediction_sha256 == "ab" and j.processes() == {1: {"pid": 1}}
