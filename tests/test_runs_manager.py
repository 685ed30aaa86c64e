"""The RunManager behind the web UI and the MCP server: allowed roots, the queue, guidance through the
journal, and a clean cancel (SIGTERM) of a real run with its attempt processes gone."""
from __future__ import annotations

import json
import time

import psutil
import pytest

from conftest import make_classification_frame, run_cli, split_write
from mlwright.errors import MlwrightError
from mlwright.planning.planner import autogluon_available
from mlwright.runs_manager import AccessRefused, RunManager, RunStateError, UnknownRun


def _wait(m: RunManager, run_id: str, until, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = m.status(run_id)
        if until(info):
            return info
        time.sleep(0.2)
    raise AssertionError(f"timed out: {m.status(run_id)}")


def test_paths_outside_the_allowed_roots_and_bad_ids_are_refused(tmp_path):
    (tmp_path / "allowed").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "allowed" / "link").symlink_to(tmp_path / "other")
    m = RunManager(tmp_path / "runs", [tmp_path / "allowed"])
    for bad in (tmp_path / "other", tmp_path / "allowed" / ".." / "other", tmp_path / "allowed" / "link"):
        with pytest.raises(AccessRefused, match="outside the allowed folders"):
            m.start(bad, "predict y", time_limit=30)
    with pytest.raises(MlwrightError, match="does not exist"):
        m.start(tmp_path / "allowed" / "missing", "predict y")
    for bad_id in ("../x", "", ".mlwright-launcher", "a/b", "nope"):
        with pytest.raises(UnknownRun):
            m.status(bad_id)
    assert m.list_runs() == []


@pytest.mark.skipif(not autogluon_available(), reason="needs a second, longer attempt (AutoGluon) to cancel")
def test_queue_guidance_and_cancel_of_a_real_run(tmp_path):
    data = split_write(make_classification_frame(), tmp_path / "data" / "churn", "label")
    m = RunManager(tmp_path / "runs", [tmp_path / "data"], max_concurrent=1)
    try:
        run = m.start(data, "predict label", time_limit=90)
        queued = m.start(data, "predict label", time_limit=30)
        assert m.status(queued.run_id)["status"] == "queued" and m.status(queued.run_id)["queue_position"] == 1
        with pytest.raises(RunStateError, match="queued"):
            m.send_guidance(queued.run_id, "hello")
        assert m.cancel(queued.run_id).status == "cancelled"
        assert not queued.run_dir.exists()  # a queued run never started, so it has no folder

        def attempt_running(n):
            return lambda info: any(e.stage == "execution" and f"attempt {n}" in e.message
                                    for e in m.events(run.run_id)) or info["status"] != "running"

        _wait(m, run.run_id, attempt_running(1))
        m.send_guidance(run.run_id, "prefer simple models")
        _wait(m, run.run_id, attempt_running(2))
        guided = [e for e in m.events(run.run_id) if e.stage == "guidance"]  # typed events (mlwright.catalog.Event)
        assert guided and "prefer simple models" in guided[0].message  # read before attempt 2
        time.sleep(2)
        m.cancel(run.run_id)
        info = _wait(m, run.run_id, lambda i: i["status"] != "running", timeout=40)
        assert info["status"] == "cancelled", info
        summary = json.loads((run.run_dir / "run.json").read_text())
        assert "cancelled" in (summary.get("error") or summary["status"])
        assert (run.run_dir / "journal.sqlite").is_file()  # kept
        leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(run.run_dir) in " ".join(
            p.info["cmdline"] or [])]
        assert not leftovers
        with pytest.raises(RunStateError, match="ended"):
            m.cancel(run.run_id)
        statuses = {r["id"]: r["status"] for r in m.list_runs()}
        assert statuses == {run.run_id: "cancelled", queued.run_id: "cancelled"}
        # one state everywhere: the cancelled attempt is 'cancelled' in the journal (not left 'running')
        attempts = {a.attempt_id: a for a in m.attempts(run.run_id)}
        assert attempts[2].status == "cancelled" and all(a.status != "running" for a in attempts.values())
        shown = run_cli("show", str(run.run_dir))
        assert "cancelled" in shown.stdout
        # a resume runs the cancelled attempt again as it was, never as a "lighter retry"
        r = run_cli("resume", str(run.run_dir))
        assert r.returncode == 0, r.stderr
        again = [a for a in m.attempts(run.run_id) if a.attempt_id > 2]
        assert again and again[0].recipe == attempts[2].recipe and again[0].kind != "debug"
        assert "lighter" not in again[0].title
        assert m.status(run.run_id)["status"] == "succeeded"
    finally:
        m.shutdown()


def test_a_run_that_fails_before_its_run_json_reports_its_console_error(tmp_path):
    # the CLI refuses the argument before any run folder exists: the launcher's error is the console's last lines
    data = split_write(make_classification_frame(), tmp_path / "data" / "churn", "label")
    m = RunManager(tmp_path / "runs", [tmp_path / "data"], extra_args=["--no-such-option"])
    run = m.start(data, "predict label", time_limit=30)
    info = _wait(m, run.run_id, lambda i: i["status"] not in ("queued", "running"), timeout=60)
    assert info["status"] == "failed" and "no-such-option" in info["error"], info


def test_an_admission_decides_when_a_queued_run_starts(tmp_path):
    """The launcher asks its admission (here one local slot, as a cluster's envelopes would) before starting a
    queued run; the run waits queued, its clock not started, until the first one ends and frees it."""
    from mlwright.execution.admission import LocalSlots

    data = split_write(make_classification_frame(), tmp_path / "data" / "churn", "label")
    m = RunManager(tmp_path / "runs", [tmp_path / "data"], max_concurrent=5, extra_args=("--no-autogluon",),
                   admission=LocalSlots(1))
    try:
        first = m.start(data, "predict label", time_limit=30)
        second = m.start(data, "predict label", time_limit=30)
        assert m.status(first.run_id)["status"] == "running" and m.status(second.run_id)["status"] == "queued"
        info = _wait(m, second.run_id, lambda i: i["status"] not in ("queued", "running"), timeout=120)
        assert info["status"] == "succeeded" and m.status(first.run_id)["status"] == "succeeded"
        assert second.started_at >= first.ended_at  # admitted only once the first had freed its slot
    finally:
        m.shutdown()
