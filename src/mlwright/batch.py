"""`mlwright batch TASKS_DIR --output DIR`: many tasks, one run each, one summary table. A task is a folder
holding its description (`description.md`, `task.md`, `description.txt` or `task.txt`) and its data (the
`data/` folder beside it, else the task folder itself). Each run is its own `mlwright run` process with its own
run folder (OUTPUT/TASK_NAME). Runs are admitted when their resources are ready, so that waiting never eats a
run's budget (its clock starts with its process): on one machine `parallel` at a time, each with its share of
the cores; on a Ray cluster each run gets a placement group (one bundle per attempt slot) and starts once the
cluster has placed it. The summary is OUTPUT/batch.json and batch.csv."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from mlwright.catalog import RunFolder
from mlwright.execution.admission import LocalSlots, RayEnvelopes, Ticket
from mlwright.errors import MlwrightError

DESCRIPTIONS = ("description.md", "task.md", "description.txt", "task.txt")


@dataclass
class BatchTask:
    name: str
    data_dir: Path
    task_file: Path


@dataclass
class BatchRow:
    task: str
    status: str  # succeeded, failed, cancelled, skipped
    metric: Optional[str] = None
    validation_score: Optional[float] = None
    best_recipe: Optional[str] = None
    attempts: Optional[int] = None
    wall_seconds: Optional[float] = None
    queued_seconds: Optional[float] = None  # waiting for its resources, before its clock started
    run_dir: Optional[str] = None
    error: Optional[str] = None


def find_tasks(tasks_dir: Path) -> tuple[list[BatchTask], list[BatchRow]]:
    """The task folders (sorted by name) and the sub-folders that are not tasks, with why."""
    if not tasks_dir.is_dir():
        raise MlwrightError(f"Tasks folder not found: {tasks_dir}",
                            hint="Give a folder holding one sub-folder per task (its description and data).")
    tasks, skipped = [], []
    for d in sorted(p for p in tasks_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        desc = next((d / n for n in DESCRIPTIONS if (d / n).is_file()), None)
        if desc is None:
            skipped.append(BatchRow(task=d.name, status="skipped",
                                    error=f"no task description ({' / '.join(DESCRIPTIONS)})"))
            continue
        tasks.append(BatchTask(d.name, d / "data" if (d / "data").is_dir() else d, desc))
    if not tasks:
        raise MlwrightError(f"No task folders in {tasks_dir}: none of its sub-folders holds a description file.",
                            hint=f"Each task folder needs one of {', '.join(DESCRIPTIONS)} and its data "
                                 "(in a data/ folder beside it, or the folder itself).")
    return tasks, skipped


def prepare_output(output: Path) -> None:
    """A new or empty folder: a batch never writes over earlier runs."""
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise MlwrightError(f"The batch output folder is not empty: {output}",
                            hint="Choose a new folder; earlier runs are never overwritten.")
    (output / "logs").mkdir(parents=True, exist_ok=True)


def run_one(task: BatchTask, output: Path, run_args: Sequence[str], env: Optional[dict[str, str]] = None) -> BatchRow:
    run_dir = output / task.name
    cmd = [sys.executable, "-m", "mlwright", "run", str(task.data_dir), "--task-file", str(task.task_file),
           "--output", str(run_dir), *run_args]
    t0 = time.time()
    with open(output / "logs" / f"{task.name}.txt", "wb") as log:  # the run's console output
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}).returncode
    row = BatchRow(task=task.name, status="failed", run_dir=str(run_dir), wall_seconds=round(time.time() - t0, 1))
    summary = RunFolder(run_dir).summary_or_none()
    if summary is None:
        row.error = f"the run wrote no run.json (exit code {rc}); see logs/{task.name}.txt"
        return row
    row.status, row.error, row.attempts = summary.status, summary.error, summary.attempts
    if summary.best is not None:
        row.metric, row.validation_score = summary.best.metric, summary.best.validation_score
        row.best_recipe = summary.best.recipe
    return row


def run_batch(tasks_dir: Path, output: Path, run_args: Sequence[str], parallel: Optional[int] = 1,
              on_done: Optional[Callable[[BatchRow], None]] = None, ray_address: Optional[str] = None,
              parallel_attempts: int = 1, cpus_per_attempt: float = 1.0) -> list[BatchRow]:
    """Every task's run, admitted as resources allow (`parallel` None: as many as the cluster holds, one at a
    time locally); the rows, in task order, then the skipped folders."""
    tasks, skipped = find_tasks(tasks_dir)
    prepare_output(output)
    admit: Union[LocalSlots, RayEnvelopes] = (RayEnvelopes(ray_address, parallel_attempts, cpus_per_attempt, parallel)
                                              if ray_address else LocalSlots(parallel or 1))
    rows: list[Optional[BatchRow]] = [None] * len(tasks)

    def one(i: int, task: BatchTask, ticket: Ticket, queued: float) -> None:
        try:
            row = run_one(task, output, [*run_args, *ticket.args], ticket.env)
        except Exception as e:  # noqa: BLE001 - one task's failure is a row, not the batch's end
            row = BatchRow(task=task.name, status="failed", error=f"{type(e).__name__}: {e}")
        finally:
            admit.release(ticket)
        row.queued_seconds = round(queued, 1)
        rows[i] = row
        if on_done is not None:
            on_done(row)

    threads = []
    try:
        for i, task in enumerate(tasks):
            t0 = time.time()
            ticket = admit.acquire(task.name)  # blocks until the run's resources are ready
            t = threading.Thread(target=one, args=(i, task, ticket, time.time() - t0), name=f"batch {task.name}")
            t.start()
            threads.append(t)
    finally:
        for t in threads:
            t.join()
        admit.close()
    done = [r for r in rows if r is not None] + skipped
    write_summary(output, done)
    return done


def write_summary(output: Path, rows: list[BatchRow]) -> None:
    (output / "batch.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    with open(output / "batch.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        w.writeheader()
        w.writerows(asdict(r) for r in rows)
