"""The AttemptExecutor contract, checked on the local sandbox (a cluster executor must pass the same checks):
the job's command runs in its folder and its logs are written there; the exit code comes back; a job past its
time limit is killed and says so; the job reads its read-only inputs and cannot write them; a failing script
is a result, never an exception."""
from __future__ import annotations

import sys
from pathlib import Path

from mlwright.execution.executor import AttemptExecutor, AttemptJob, LocalSandbox
from mlwright.execution.sandbox import isolation


def check_executor(executor: AttemptExecutor, tmp_path: Path, isolates: bool = True) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "data.txt").write_text("41")
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(
        "import sys, pathlib\n"
        "n = int(pathlib.Path(sys.argv[1]).read_text())\n"
        "pathlib.Path('answer.txt').write_text(str(n + 1))\n"
        "print('done')\n"
        "try:\n"
        "    open(sys.argv[1], 'w').write('0')\n"
        "    print('wrote the input')\n"
        "except OSError:\n"
        "    print('input is read-only')\n")
    started: list[dict] = []
    res = executor.run(AttemptJob([sys.executable, "job.py", str(inputs / "data.txt")], work, timeout_s=60,
                                  read_only=[inputs], on_start=started.append))
    assert res.returncode == 0 and not res.timed_out
    assert (work / "answer.txt").read_text() == "42"
    if isolates:  # without bubblewrap the basic fallback cannot mount the inputs read-only (and says so)
        assert (inputs / "data.txt").read_text() == "41" and "input is read-only" in res.stdout_path.read_text()
    assert "done" in res.stdout_path.read_text() and res.stdout_path.parent == work
    assert started, "on_start is told how to find the process"

    (work / "fail.py").write_text("raise SystemExit('error: no luck')\n")
    res = executor.run(AttemptJob([sys.executable, "fail.py"], work, timeout_s=60))
    assert res.returncode == 1 and "no luck" in res.tail()

    (work / "slow.py").write_text("import time\ntime.sleep(60)\n")
    res = executor.run(AttemptJob([sys.executable, "slow.py"], work, timeout_s=2))
    assert res.timed_out and res.seconds < 30


def test_the_local_sandbox_meets_the_executor_contract(tmp_path):
    check_executor(LocalSandbox(), tmp_path, isolates=isolation().kind == "bubblewrap")


class FlakyMachine:
    """The local sandbox behind a machine that fails the first `lose` jobs it gets (a node lost mid-attempt)."""

    def __init__(self, lose: int):
        self.lose, self.calls, self.inner = lose, [], LocalSandbox()

    def run(self, job: AttemptJob):
        from mlwright.execution.sandbox import ExecResult

        work = Path(job.workdir)
        self.calls.append(work.name)
        if len(self.calls) <= self.lose:
            (work / "stderr.txt").write_text("error: node lost\n")
            (work / "stdout.txt").touch()
            return ExecResult(returncode=-1, seconds=0.1, timed_out=False, killed_for_memory=False, peak_memory_mb=0,
                              stdout_path=work / "stdout.txt", stderr_path=work / "stderr.txt",
                              infrastructure="infrastructure failure: node lost")
        return self.inner.run(job)


def test_an_attempt_lost_to_the_machine_runs_the_identical_script_once_more(churn_dir, tmp_path):
    import sqlite3

    from mlwright.engine import Run, RunOptions

    machine = FlakyMachine(lose=1)
    opts = RunOptions(data_dir=churn_dir, task_text="predict label", output_dir=tmp_path / "run", time_limit=60,
                      use_autogluon=False)
    summary = Run(opts, executor=machine).execute()
    assert summary.status == "succeeded"
    assert machine.calls[:2] == ["001-lightgbm_baseline", "001-lightgbm_baseline"]  # the same attempt, again
    with sqlite3.connect(tmp_path / "run" / "journal.sqlite") as con:
        assert con.execute("SELECT status FROM attempts WHERE attempt_id = 1").fetchone() == ("succeeded",)
        msgs = [m for (m,) in con.execute("SELECT message FROM events")]
    assert any("node lost; running the identical script once more" in m for m in msgs)

    machine = FlakyMachine(lose=2)  # lost twice: the attempt fails as an infrastructure failure, not the script's
    opts = opts.model_copy(update={"output_dir": tmp_path / "run2"})
    Run(opts, executor=machine).execute()
    with sqlite3.connect(tmp_path / "run2" / "journal.sqlite") as con:
        assert con.execute("SELECT status, error FROM attempts WHERE attempt_id = 1").fetchone() == (
            "failed", "infrastructure failure: node lost")


class TooSlowFirst:
    """The local sandbox behind a machine whose first job is a script that logs its progress, then says on stderr
    that its work cannot fit its time and exits with the recipes' NO_TIME_EXIT (runtime.common.stop_for_time)."""

    def __init__(self):
        self.calls, self.inner = 0, LocalSandbox()

    def run(self, job: AttemptJob):
        from mlwright.execution.sandbox import ExecResult
        from mlwright.planning.planner import NO_TIME_EXIT

        self.calls += 1
        if self.calls > 1:
            return self.inner.run(job)
        work = Path(job.workdir)
        (work / "stderr.txt").write_text("one fold took 9.0s: 5 folds and the refit do not fit the 14s budget\n")
        (work / "stdout.txt").write_text("[    0.9s] 22500 rows, 47 columns before encoding\n")
        return ExecResult(returncode=NO_TIME_EXIT, seconds=1.0, timed_out=False, killed_for_memory=False,
                          peak_memory_mb=0, stdout_path=work / "stdout.txt", stderr_path=work / "stderr.txt")


def test_a_script_that_says_its_work_cannot_fit_its_time_is_journaled_with_its_reason(churn_dir, tmp_path):
    """The journal gives the script's own reason (stderr), not its last progress line (stdout)."""
    import sqlite3

    from mlwright.engine import Run, RunOptions

    opts = RunOptions(data_dir=churn_dir, task_text="predict label", output_dir=tmp_path / "run", time_limit=60,
                      use_autogluon=False)
    assert Run(opts, executor=TooSlowFirst()).execute().status == "succeeded"
    with sqlite3.connect(tmp_path / "run" / "journal.sqlite") as con:
        status, error, budget = con.execute(
            "SELECT status, error, time_budget_s FROM attempts WHERE attempt_id = 1").fetchone()
    assert status == "failed" and error == (f"stopped: its work would not fit its {budget:.0f}s budget: one fold "
                                            "took 9.0s: 5 folds and the refit do not fit the 14s budget")
