"""--parallel-attempts on one machine, through the real CLI: the baseline and AutoGluon run side by side, each
with its share of the cores (the thread count the script reports), and the run's overhead counts the time when
attempts ran once."""
from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import run_cli
from mlwright.execution.limits import usable_cores

pytest.importorskip("autogluon.tabular", reason="needs the autogluon extra")
pytestmark = pytest.mark.slow


def test_the_recipes_run_side_by_side_each_with_its_share_of_the_cores(churn_dir, tmp_path):
    out = tmp_path / "run"
    r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(out), "--time-limit", "60",
                "--parallel-attempts", "2")
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = con.execute("SELECT attempt_id, recipe, status, started_at, ended_at, workdir FROM attempts "
                           "ORDER BY attempt_id").fetchall()
    assert [(a, rec, st) for a, rec, st, *_ in rows[:2]] == [(1, "lightgbm_baseline", "succeeded"),
                                                           (2, "autogluon_tabular", "succeeded")]
    (_, _, _, s1, e1, w1), (_, _, _, s2, e2, w2) = rows[:2]
    assert s1 < e2 and s2 < e1  # at the same time
    for w in (w1, w2):
        assert f"cores: {max(1, usable_cores() // 2)}" in (out / w / "stdout.txt").read_text()
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and s["sandbox"]["parallel_attempts"] == 2
    assert 0 <= s["overhead_seconds"] < s["wall_seconds"]


def test_a_cancel_stops_every_attempt_running_side_by_side(churn_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from conftest import ROOT

    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "mlwright", "run", str(churn_dir), "--task", "predict label",
                          "--output", str(out), "--time-limit", "120", "--parallel-attempts", "2"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())

    def running() -> list[str]:
        try:
            with sqlite3.connect(out / "journal.sqlite") as con:
                return [r for (r,) in con.execute("SELECT recipe FROM attempts WHERE status = 'running'")]
        except sqlite3.Error:
            return []

    deadline = time.time() + 120
    while "autogluon_tabular" not in running() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # inside AutoGluon's fit
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    assert time.time() - t0 < 30  # the other thread's attempt did not run on to its end
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "cancelled"
    with sqlite3.connect(out / "journal.sqlite") as con:
        statuses = dict(con.execute("SELECT recipe, status FROM attempts").fetchall())
    assert statuses["autogluon_tabular"] == "cancelled" and "running" not in statuses.values()
    time.sleep(1)
    assert not [q for q in psutil.process_iter(["cmdline"]) if str(out) in " ".join(q.info["cmdline"] or [])]
