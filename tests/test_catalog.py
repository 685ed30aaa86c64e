"""The run-folder catalog (mlwright.catalog): a real run folder read back as typed models, read-only, without
importing the pipeline; cancelled is a status (an older run.json's error text still reads as cancelled)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, make_classification_frame, run_cli, split_write, tree_digest
from mlwright.catalog import (JOURNAL_NAME, STAGES, Event, RunFolder, find_runs, load_summary, open_inside,
                              run_status)
from mlwright.errors import MlwrightError

LIGHT = {"mlwright.engine", "mlwright.perception", "mlwright.knowledge", "mlwright.coding", "pandas", "sklearn",
         "lightgbm", "numpy"}


def _imported(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


@pytest.mark.parametrize("module", ["mlwright.catalog", "mlwright.runs_manager"])
def test_reading_a_run_folder_imports_no_pipeline_and_no_heavy_library(module):
    assert not (_imported(module) & LIGHT)


@pytest.mark.parametrize("module", ["mlwright.server.app", "mlwright.mcp_server", "mlwright.api"])
def test_the_servers_and_the_api_do_not_import_the_pipeline(module):
    assert not (_imported(module) & {"mlwright.engine", "mlwright.knowledge", "mlwright.coding", "sklearn"})


def test_the_journal_name_is_the_journals():
    from mlwright.journal.store import JOURNAL_NAME as STORE_NAME

    assert JOURNAL_NAME == STORE_NAME


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("catalog")
    data = split_write(make_classification_frame(), base / "churn", "label")
    out = base / "runs" / "r1"
    r = run_cli("run", str(data), "--task", "predict label", "--output", str(out), "--time-limit", "40",
                "--no-autogluon")
    assert r.returncode == 0, r.stderr
    return out


def test_a_real_run_folder_reads_back_as_typed_models(run_dir):
    before = tree_digest(run_dir)
    folder = RunFolder(run_dir)
    s = folder.summary()
    assert s.status == "succeeded" and run_status(s) == "succeeded" and s.task.target == "label"
    attempts = folder.attempts()
    assert attempts and attempts[0].recipe == "lightgbm_baseline"
    assert s.best.attempt_id in {a.attempt_id for a in attempts}
    events = folder.events()
    assert events and all(isinstance(e, Event) for e in events)
    assert events[0].stage == "perception" and events[-1].stage == "done" == folder.last_stage()
    assert {e.stage for e in events} <= set(STAGES)
    assert [e.id for e in events] == sorted(e.id for e in events)
    validated = [e for e in events if e.stage == "validation" and e.attempt_id is not None]
    assert validated and validated[0].status in ("succeeded", "failed", "invalid", "timeout")
    assert any(e.score is not None for e in validated)
    # pages: after an id, at most `limit`
    assert folder.events(after_id=events[0].id, limit=2) == events[1:3]
    assert folder.events(after_id=events[-1].id) == []
    files = {f.path: f for f in folder.files()}
    assert files["run.json"].kind == "file" and files["run.json"].size > 0
    assert files["model"].kind == "dir" and files[JOURNAL_NAME].kind == "file"
    assert any(p.startswith("attempts/001-") and p.endswith("/stdout.txt") for p in files)
    assert folder.attempt_dirs()[0].startswith("001-")
    # find_runs and load_summary see the same run
    assert [p for p, _ in find_runs(run_dir.parent.parent)] == [run_dir]
    assert load_summary(run_dir) == s
    assert tree_digest(run_dir) == before  # reading wrote nothing (not even the journal)
    # the report's run log is the same typed events (Journal.events uses the catalog's parser)
    assert f"[perception] {events[0].message}" in (run_dir / "report.html").read_text()


def test_a_journal_that_cannot_be_written_is_still_read(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "ro"
    shutil.copytree(run_dir, copy)
    modes = []
    for p in [copy, *copy.rglob("*")]:
        if not p.is_symlink():
            modes.append(p)
    for p in reversed(modes):
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        folder = RunFolder(copy)
        # the same attempts, each in the copy's own folder (paths are stored relative to the run folder)
        assert [a.model_copy(update={"workdir": ""}) for a in folder.attempts()] == \
            [a.model_copy(update={"workdir": ""}) for a in RunFolder(run_dir).attempts()]
        assert all(a.workdir.startswith(str(copy / "attempts")) for a in folder.attempts())
        assert folder.events() == RunFolder(run_dir).events()
        assert not (copy / (JOURNAL_NAME + "-journal")).exists()
    finally:
        for p in modes:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_show_and_runs_read_through_the_catalog(run_dir):
    r = run_cli("show", str(run_dir))
    assert r.returncode == 0, r.stderr
    assert "succeeded" in r.stdout and "lightgbm_baseline" in r.stdout
    r = run_cli("runs", str(run_dir.parent), env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    assert "r1" in r.stdout and "succeeded" in r.stdout


def test_a_damaged_journal_is_a_clear_error(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "damaged"
    shutil.copytree(run_dir, copy)
    (copy / JOURNAL_NAME).write_bytes(b"not a database" * 100)
    with pytest.raises(MlwrightError, match="journal cannot be opened"):
        RunFolder(copy).attempts()
    r = run_cli("show", str(copy))
    assert r.returncode != 0 and "journal cannot be opened" in r.stderr and "Traceback" not in r.stderr


def test_an_old_run_json_with_the_cancelled_error_text_reads_as_cancelled(run_dir, tmp_path):
    old = json.loads((run_dir / "run.json").read_text())
    old.update(status="failed", error="cancelled (interrupted before the end)")
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(old))
    s = RunFolder(folder).summary()
    assert s.status == "cancelled" and run_status(s) == "cancelled"
    r = run_cli("show", str(folder))
    assert r.returncode == 0 and "cancelled" in r.stdout, r.stderr
    old.update(status="failed", error="internal error: ValueError: cancelled is not this")
    (folder / "run.json").write_text(json.dumps(old))
    assert RunFolder(folder).summary().status == "failed"


def test_a_cancelled_run_has_the_cancelled_status_and_no_error(tmp_path):
    data = split_write(make_classification_frame(n=2000), tmp_path / "churn", "label")
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "mlwright", "run", str(data), "--task", "predict label", "--output",
                             str(out), "--time-limit", "120", "--no-autogluon"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            if (out / JOURNAL_NAME).is_file() and any(e.stage == "execution" for e in RunFolder(out).events()):
                break
            assert proc.poll() is None, "the run ended before it could be cancelled"
            time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    s = RunFolder(out).summary()
    assert s.status == "cancelled" and s.error is None, (s.status, s.error)
    assert RunFolder(out).attempts()  # the journal is kept


def test_open_inside_is_what_the_catalog_serves_with(run_dir, tmp_path):
    with open_inside(run_dir, "run.json") as f:
        assert json.loads(f.read())["status"] == "succeeded"
    from mlwright.runs_manager import open_inside as served

    assert served is open_inside


def test_mcp_uploads_without_the_web_servers_code(tmp_path):
    """MCP's upload_data stores files through mlwright.uploads, as the web server does, without importing the web
    server's upload module or fastapi."""
    code = """
import base64, sys
from pathlib import Path
import mlwright.mcp_server as m
from mlwright.runs_manager import RunManager
root = Path(sys.argv[1])
mgr = RunManager(root / "runs", [root])
out = m._upload(mgr, {"data/train.csv": base64.b64encode(b"x,y\\n1,2\\n").decode()})
assert out["files"] == ["data/train.csv"] and Path(out["data_path"], "data/train.csv").read_bytes() == b"x,y\\n1,2\\n"
try:
    m._upload(mgr, {"../evil.csv": base64.b64encode(b"x").decode()})
    raise SystemExit("a '..' name was stored")
except m.ToolError as e:
    assert "Refusing the uploaded file name" in str(e)
assert "fastapi" not in sys.modules and "mlwright.server.uploads" not in sys.modules
"""
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
