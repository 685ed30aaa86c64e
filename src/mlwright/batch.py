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
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from mlwright.catalog import RunFolder
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


@dataclass
class Ticket:
    """A run's admission: what its `mlwright run` gets (arguments, environment) and what to free afterwards."""
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    handle: Any = None


class LocalSlots:
    """`parallel` runs at a time on this machine, each with 1/parallel of its cores (thread counts)."""

    def __init__(self, parallel: int):
        from mlwright.execution.limits import THREAD_VARS, usable_cores

        self.parallel = max(1, parallel)
        self.free = threading.Semaphore(self.parallel)
        share = max(1, usable_cores() // self.parallel)
        self.env = {v: str(share) for v in THREAD_VARS} if self.parallel > 1 else {}

    def acquire(self, name: str) -> Ticket:
        self.free.acquire()
        return Ticket(env=dict(self.env))

    def release(self, ticket: Ticket) -> None:
        self.free.release()

    def close(self) -> None:
        pass


class RayEnvelopes:
    """Runs on a Ray cluster, each in a placement group of `slots` bundles of `cpus` CPUs (its envelope), admitted
    in order as the cluster places them; `parallel` caps how many run at once (None: as many as fit)."""

    def __init__(self, address: str, slots: int, cpus: float, parallel: Optional[int]):
        from mlwright.execution.ray_executor import NAMESPACE, reachable

        try:
            import ray
        except ImportError as e:
            raise MlwrightError("--ray-address needs Ray: pip install \"mlwright[ray]\"") from e
        reachable(address)
        try:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level=logging.ERROR,
                     namespace=NAMESPACE)
        except Exception as e:  # noqa: BLE001 - the user's cluster to fix: say so
            raise MlwrightError(f"Cannot connect to the Ray cluster at {address}: {type(e).__name__}: {e}") from e
        self.ray, self.address, self.slots, self.cpus = ray, address, slots, cpus
        self.free = threading.Semaphore(parallel) if parallel else None
        self.batch_id = uuid.uuid4().hex[:8]
        self.running = 0
        self.nodes: dict[str, Optional[str]] = {}  # node id -> None (it can isolate attempts) or why not
        biggest = max((n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
        if biggest < cpus:
            raise MlwrightError(f"No node of the Ray cluster at {address} has {cpus:g} CPUs for one attempt.",
                                hint="Lower --ray-cpus-per-attempt or add bigger nodes.")

    def fit_nodes(self) -> list[str]:
        """The nodes that can isolate attempts (newly joined ones probed first): envelopes go there only."""
        from mlwright.execution.ray_executor import probe_nodes

        probe_nodes(self.ray, self.nodes)
        fit = [n for n, why in self.nodes.items() if why is None]
        if not fit:
            raise MlwrightError(f"No node of the Ray cluster at {self.address} can isolate attempts: " +
                                "; ".join(f"node {n[:12]}: {w}" for n, w in self.nodes.items()),
                                hint="Install bubblewrap on the nodes (and allow unprivileged user namespaces).")
        return fit

    def acquire(self, name: str) -> Ticket:
        from ray.util.placement_group import placement_group

        if self.free is not None:
            self.free.acquire()
        pg_name = f"mlwright-{self.batch_id}-{name}"[:120]
        where = {"ray.io/node-id": "in(" + ",".join(self.fit_nodes()) + ")"}
        pg = placement_group([{"CPU": self.cpus}] * self.slots, strategy="PACK", name=pg_name,
                             bundle_label_selector=[where] * self.slots)
        waited = 0.0
        while True:  # placed once earlier runs free their envelopes
            try:
                self.ray.get(pg.ready(), timeout=10)
                break
            except self.ray.exceptions.GetTimeoutError:
                waited += 10
                if self.running == 0 and waited >= 120:
                    self.ray.util.remove_placement_group(pg)
                    if self.free is not None:
                        self.free.release()
                    raise MlwrightError(f"The Ray cluster at {self.address} cannot place an envelope of "
                                        f"{self.slots} x {self.cpus:g} CPUs for task {name!r}.",
                                        hint="Lower --parallel-attempts or --ray-cpus-per-attempt, or add "
                                             "nodes.") from None
        self.running += 1
        return Ticket(args=["--ray-address", self.address, "--ray-placement-group", pg_name,
                            "--ray-cpus-per-attempt", f"{self.cpus:g}"], handle=pg)

    def release(self, ticket: Ticket) -> None:
        self.ray.util.remove_placement_group(ticket.handle)
        self.running -= 1
        if self.free is not None:
            self.free.release()

    def close(self) -> None:
        self.ray.shutdown()


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
