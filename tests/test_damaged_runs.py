"""Faults the fault suite (scripts/fault_suite.py) found to end in a traceback: a resume of a run folder whose
run.json or journal is damaged, and a disk that fills up during a run. Each must end in a clear error."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from conftest import run_cli


def test_resume_with_a_truncated_run_json_is_a_clear_error(tmp_path):
    (tmp_path / "run.json").write_text('{"status": "runn')
    r = run_cli("resume", str(tmp_path), "--no-autogluon")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "run.json cannot be read" in r.stderr


def test_resume_with_a_damaged_journal_is_a_clear_error(churn_dir, tmp_path):
    out = tmp_path / "run"
    r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(out), "--time-limit", "20",
                "--no-autogluon", "--llm", "none")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    s["status"] = "running"  # as if killed
    (out / "run.json").write_text(json.dumps(s))
    (out / "journal.sqlite").write_bytes(b"not a database" * 100)
    r = run_cli("resume", str(out), "--no-autogluon")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "journal cannot be opened" in r.stderr


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 __import__("sqlite3").OperationalError("database or disk is full")])
def test_a_full_disk_is_a_clear_error(churn_dir, tmp_path, monkeypatch, exc):
    from mlwright import cli, engine

    def full(self):
        raise exc
    monkeypatch.setattr(engine.Run, "execute", full)
    r = CliRunner().invoke(cli.app, ["run", str(churn_dir), "--task", "predict label", "--output",
                                     str(tmp_path / "out"), "--llm", "none"])
    assert r.exit_code == 2 and "No space left on the disk" in r.output, (r.output, r.exception)


def test_other_os_errors_still_surface(churn_dir, tmp_path, monkeypatch):
    from mlwright import cli, engine

    def broken(self):
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(engine.Run, "execute", broken)
    r = CliRunner().invoke(cli.app, ["run", str(churn_dir), "--task", "predict label", "--output",
                                     str(tmp_path / "out"), "--llm", "none"])
    assert isinstance(r.exception, OSError) and r.exception.errno == errno.EIO


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="a small tmpfs needs root")
def test_a_real_full_disk_during_a_run(churn_dir, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(small / "out"),
                    "--time-limit", "20", "--no-autogluon", "--llm", "none")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert "No space left on the disk" in r.stderr
        assert not (small / "out" / "predictions.csv").exists()
    finally:
        subprocess.run(["umount", "-l", str(small)])
