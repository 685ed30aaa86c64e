"""The launcher: runs started on behalf of the web UI and the MCP server (process lifecycle, queue, cancel).

Each run is the real CLI (`python -m mlwright run ...`) in its own process group, so the servers never
re-implement the pipeline and never block on it. What a run folder holds (run.json, attempts, events, files)
is read through the read-only catalog (`mlwright.catalog`), the single way to read a run; this module adds what
only the launcher knows (queued, started/ended times, return codes, console output) and the one write, user
guidance into the journal. Files are read out of a run folder only through `open_inside` (no symlinks, nothing
outside the folder). Nothing here deletes anything but this manager's own expired uploads (`sweep_uploads`).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Optional, Sequence

import psutil

from mlwright.catalog import (JOURNAL_NAME, RUN_JSON, AccessRefused, Event, RunFolder, UnknownRun, find_runs,
                              open_inside, rel_in_run, run_status, tail)
from mlwright.errors import MlwrightError
from mlwright.log_folding import fold_log
from mlwright.schemas import AttemptRecord, RunSummary
from mlwright.uploads import UPLOAD_ID

__all__ = ["AccessRefused", "UnknownRun", "RunStateError", "RunManager", "ManagedRun", "open_inside",
           "resolve_inside", "run_status_from_summary"]

# a launched run's status: queued (waiting for a slot), then the run folder's (RunSummary.status)
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE: tuple[RunStatus, ...] = ("queued", "running")

# Side files of the launcher (task text, console output) live beside the runs, never inside a run folder:
# the CLI requires a new or empty output folder.
SIDE_DIR = ".mlwright-launcher"
UPLOADS_DIR = "_uploads"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
CANCEL_GRACE_S = 20.0  # after SIGTERM, how long the CLI gets to write its 'cancelled' run.json
# An upload folder is removed this long after it was uploaded or last used by a run (never while a run uses it).
DEFAULT_UPLOAD_TTL_S = 24 * 3600.0
EXPLAIN_TIMEOUT_S = 120.0  # the data preview: perception alone, no fitting


class RunStateError(MlwrightError):
    """The request does not fit the run's state, e.g. guidance for a finished run (HTTP 409)."""


@dataclass
class ManagedRun:
    """A run this manager launched (or queued) in this process."""

    run_id: str
    run_dir: Path
    data_path: Path
    task: str
    time_limit: float
    target: Optional[str] = None
    llm: Optional[str] = None  # None: the CLI's default (none, unless mlwright.yaml or the env say otherwise)
    model: Optional[str] = None  # the LLM model; None: the environment's or mlwright.yaml's
    interactive: bool = False
    extra_args: tuple[str, ...] = ()
    status: RunStatus = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: Optional[float] = None
    ended_at: Optional[float] = None
    returncode: Optional[int] = None
    error: Optional[str] = None
    cancel_requested: bool = False
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)
    ticket: Any = field(default=None, repr=False)  # its admission (execution/admission.py), freed when it ends

    @property
    def console_log(self) -> Path:
        return self.run_dir.parent / SIDE_DIR / f"{self.run_id}.console.txt"


def resolve_inside(path: str | Path, roots: Sequence[Path], what: str = "data path") -> Path:
    """`path` resolved (symlinks followed); refused unless it lies inside one of `roots`."""
    p = Path(path).expanduser()
    try:
        resolved = p.resolve(strict=True)
    except (OSError, RuntimeError):
        raise MlwrightError(f"The {what} does not exist: {path}",
                            hint="Give an existing folder or file on the machine that runs mlwright.") from None
    for root in roots:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    raise AccessRefused(f"The {what} is outside the allowed folders: {resolved}",
                        where="allowed: " + ", ".join(str(r) for r in roots),
                        hint="Move the data under an allowed folder, or restart the server with --allow-root "
                             "naming its folder.")


def run_status_from_summary(summary: Optional[RunSummary]) -> RunStatus:
    """A run's status from its run.json (cancelled is a status there; an older run.json's error text is read as
    cancelled by RunSummary itself)."""
    return run_status(summary)


def shown_status(run: "ManagedRun", summary: Optional[RunSummary]) -> RunStatus:
    """A launched run's status: the launcher's while it is queued or running, then its folder's (run.json), which
    a later `mlwright resume` may have changed."""
    if run.status in ACTIVE or summary is None or summary.status == "running":
        return run.status
    return run_status_from_summary(summary)


def _slug(text: str, n: int = 24) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (s[:n].rstrip("-") or "run")


def _write_new(path: Path, data: bytes, append: bool = False) -> int:
    """Open a launcher side file for writing without following a symlink planted at its name; returns the fd."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | \
        (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    if data:
        os.write(fd, data)
    return fd


class RunManager:
    """Starts, queues, watches and cancels runs under `runs_root`; lists the runs already there.

    `extra_args` are appended to every CLI call (tests pass `--no-autogluon`); they come from the code that
    builds the manager, never from a request. `admission` (execution/admission.py, e.g. `RayEnvelopes`) decides
    when a queued run has its resources; `max_concurrent` still caps the runs at a time.
    """

    REPUMP_S = 2.0  # how often queued runs ask the admission again while it says "not yet"

    def __init__(self, runs_root: Path, allowed_roots: Sequence[Path], max_concurrent: int = 1,
                 extra_args: Sequence[str] = (), python: str = sys.executable,
                 upload_ttl_s: float = DEFAULT_UPLOAD_TTL_S, admission: Any = None):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if upload_ttl_s <= 0:
            raise ValueError("upload_ttl_s must be positive")
        self.runs_root = Path(runs_root).expanduser().resolve()
        self.runs_root.mkdir(parents=True, exist_ok=True)
        self.uploads_root = self.runs_root / UPLOADS_DIR
        self.allowed_roots = [Path(r).expanduser().resolve() for r in allowed_roots]
        if not self.allowed_roots:
            raise ValueError("at least one allowed root is needed")
        self.max_concurrent = max_concurrent
        self.admission = admission
        self._repump: Optional[threading.Timer] = None
        self.extra_args = tuple(extra_args)
        self.python = python
        self._runs: dict[str, ManagedRun] = {}
        self._queue: list[str] = []
        self._lock = threading.RLock()
        self._closed = False
        self.upload_ttl_s = float(upload_ttl_s)
        self.sweep_uploads()  # what expired while no server was running

    # -- uploads -----------------------------------------------------------------------------------------
    def _upload_of(self, data: str | Path) -> Optional[Path]:
        """The upload folder that `data` lies in, or None."""
        data = Path(data)
        for root in (self.uploads_root, Path(os.path.realpath(self.uploads_root))):
            if data.is_relative_to(root) and data != root:
                return root / data.relative_to(root).parts[0]
        return None

    def touch_upload(self, data: str | Path) -> None:
        """Restart an upload's expiry clock (a run starts or ends on it)."""
        up = self._upload_of(data)
        if up is not None:
            try:
                os.utime(up, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass

    def _uploads_in_use(self) -> set[str]:
        """Uploads a queued or running run uses: ours, and runs another process is running in this runs
        folder (run.json says running and the run wrote something within the expiry time)."""
        used = {up.name for r in self._runs.values() if r.status in ACTIVE
                for up in [self._upload_of(r.data_path)] if up is not None}
        now = time.time()
        for path, summary in find_runs(self.runs_root, depth=1):
            if summary.status != "running" or not summary.data_dir:
                continue
            up = self._upload_of(summary.data_dir)
            if up is None:
                continue
            stamps = [0.0]
            for name in (RUN_JSON, JOURNAL_NAME, JOURNAL_NAME + "-wal"):
                try:
                    stamps.append((path / name).stat().st_mtime)
                except OSError:
                    pass
            if now - max(stamps) < self.upload_ttl_s:  # a run.json left 'running' by a crash does not pin forever
                used.add(up.name)
        return used

    def sweep_uploads(self) -> list[str]:
        """Remove uploads nobody used for `upload_ttl_s` (counted from the upload, and from the start and the
        end of every run on it); an upload a queued or running run uses is kept. Returns the removed ids."""
        root = self.uploads_root
        if os.path.islink(root) or not root.is_dir():
            return []  # never delete through a link
        now, doomed = time.time(), []
        with self._lock:
            try:
                entries = list(os.scandir(root))
            except OSError:
                return []
            expired = []
            for e in entries:
                try:
                    age = now - e.stat(follow_symlinks=False).st_mtime
                except OSError:
                    continue
                if e.name.startswith(".expired-") or \
                        (age > self.upload_ttl_s and (UPLOAD_ID.match(e.name) or e.name.startswith(".incoming-"))):
                    expired.append(e)
            if not expired:
                return []
            used = self._uploads_in_use()
            for e in expired:
                if e.name in used:
                    continue
                target = Path(e.path)
                if not e.name.startswith(".expired-"):
                    # renamed first (instant, under the lock), so a run cannot start on a half-deleted upload
                    try:
                        target = target.rename(root / f".expired-{e.name}")
                    except OSError:
                        continue
                doomed.append((e.name, target))
        removed = []
        for name, target in doomed:
            try:
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            except OSError:
                continue
            if UPLOAD_ID.match(name):
                removed.append(name)
        return removed

    # -- starting ----------------------------------------------------------------------------------------
    def data_roots(self) -> list[Path]:
        """Where run data may come from: the allowed roots plus this server's own upload folder."""
        return [*self.allowed_roots, self.uploads_root.resolve()]

    def resolve_data_path(self, path: str | Path) -> Path:
        return resolve_inside(path, self.data_roots())

    def start(self, data_path: str | Path, task: str, time_limit: float = 300, target: Optional[str] = None,
              llm: Optional[str] = None, interactive: bool = False, light: bool = False,
              model: Optional[str] = None) -> ManagedRun:
        """Queue a run; it starts as soon as fewer than `max_concurrent` runs are running."""
        if self._closed:
            raise RunStateError("The server is shutting down; no new runs are accepted.")
        self.sweep_uploads()
        with self._lock:  # not while a sweep removes an upload
            data = self.resolve_data_path(data_path)
            self.touch_upload(data)
        in_runs = data == self.runs_root or data.is_relative_to(self.runs_root)
        if in_runs and not data.is_relative_to(self.uploads_root.resolve()):
            raise AccessRefused(f"The data path is inside the runs folder: {data}",
                                hint="Point at the data itself, not at a run folder.")
        if self.runs_root.is_relative_to(data):
            raise AccessRefused(f"The runs folder {self.runs_root} lies inside the data path {data}; the data "
                                "folder must stay untouched.", hint="Use a data folder that does not hold the runs.")
        if not task or not task.strip():
            raise MlwrightError("The task text is empty.", hint="Say what to predict, e.g. \"predict price\".")
        if not 10 <= float(time_limit) <= 7 * 24 * 3600:
            raise MlwrightError(f"time_limit must be between 10 seconds and 7 days, got {time_limit}.")
        if target is not None and not target.strip():
            target = None
        with self._lock:
            run_id = self._new_run_id(task)
            run = ManagedRun(run_id=run_id, run_dir=self.runs_root / run_id, data_path=data, task=task.strip(),
                             time_limit=float(time_limit), target=target, llm=llm, model=model or None,
                             interactive=interactive,
                             extra_args=(*self.extra_args, *(("--no-autogluon",) if light else ())))
            self._runs[run_id] = run
            self._queue.append(run_id)
            self._pump()
        return run

    def explain(self, data_path: str | Path, task: str, target: Optional[str] = None,
                timeout_s: float = EXPLAIN_TIMEOUT_S) -> dict:
        """`mlwright explain --json` on a data path a run could use: how the folder and the task would be understood
        (files and their roles, columns, target, output), before anything runs. In a subprocess, as a run reads
        the data: a huge or hostile folder costs that process, not the server. {"ok": False, "error": ...} when
        perception cannot settle the task (its message says why and what to give)."""
        data = self.resolve_data_path(data_path)
        self.touch_upload(data)
        task = task.strip() or "predict the target"  # a folder chosen before the task is typed: the data alone
        cmd = [self.python, "-m", "mlwright", "explain", str(data), "--task", task, "--json"]
        if target and target.strip():
            cmd += ["--target", target.strip()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                                  env={**os.environ, "COLUMNS": "200"})
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"Reading the folder took longer than {timeout_s:.0f} s; the run itself "
                                          "has its whole budget for it."}
        if proc.returncode != 0:
            return {"ok": False, "error": (proc.stderr.strip() or proc.stdout.strip())[-4000:]}
        try:
            return {"ok": True, **json.loads(proc.stdout)}
        except ValueError:
            return {"ok": False, "error": "explain printed no readable answer: " + proc.stdout[-500:]}

    @property
    def closed(self) -> bool:
        """Shutting down: no new runs, and live streams end."""
        return self._closed

    def _new_run_id(self, task: str) -> str:
        while True:
            rid = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(task)}-{secrets.token_hex(2)}"
            if rid not in self._runs and not (self.runs_root / rid).exists():
                return rid

    def _pump(self) -> None:
        """Launch queued runs, in order, while there is a free slot and (with an admission) their resources are
        ready; otherwise ask again in a moment (called with the lock held)."""
        if self._closed:
            return
        while self._queue and sum(r.status == "running" for r in self._runs.values()) < self.max_concurrent:
            run = self._runs[self._queue[0]]
            if self.admission is not None:
                try:
                    run.ticket = self.admission.try_acquire(run.run_id)
                except MlwrightError as e:  # the cluster can never hold it: the run fails, saying why
                    self._queue.pop(0)
                    run.status, run.error, run.ended_at = "failed", e.render(), time.time()
                    continue
                if run.ticket is None:  # not placed yet: its clock has not started, it stays first in line
                    self._ask_again()
                    return
            self._queue.pop(0)
            try:
                self._launch(run)
            except OSError as e:  # e.g. the runs folder became unwritable
                run.status, run.error, run.ended_at = "failed", f"could not start the run: {e}", time.time()
                self._free(run)

    def _ask_again(self) -> None:
        if self._repump is None and not self._closed:
            def again() -> None:
                with self._lock:
                    self._repump = None
                    self._pump()
            self._repump = threading.Timer(self.REPUMP_S, again)
            self._repump.daemon = True
            self._repump.start()

    def _free(self, run: ManagedRun) -> None:
        if run.ticket is not None and self.admission is not None:
            self.admission.release(run.ticket)
            run.ticket = None

    def _launch(self, run: ManagedRun) -> None:
        side = self.runs_root / SIDE_DIR
        side.mkdir(parents=True, exist_ok=True)
        task_file = side / f"{run.run_id}.task.md"
        os.close(_write_new(task_file, run.task.encode()))
        cmd = [self.python, "-m", "mlwright", "run", str(run.data_path), "--task-file", str(task_file),
               "--output", str(run.run_dir), "--time-limit", f"{run.time_limit:g}"]
        if run.llm:
            cmd += ["--llm", run.llm]
        if run.model:
            cmd += ["--model", run.model]
        if run.target:
            cmd += ["--target", run.target]
        # No --interactive: nobody is at the subprocess's terminal to answer a question. Interactive runs
        # get guidance through the journal instead; an ambiguous target is settled with `target`.
        cmd += list(run.extra_args)
        if run.ticket is not None:
            cmd += run.ticket.args
        env = {**os.environ, "COLUMNS": "120", **(run.ticket.env if run.ticket is not None else {})}
        with os.fdopen(_write_new(run.console_log, b"", append=True), "ab") as log:
            run.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, env=env)
        run.status, run.started_at = "running", time.time()
        threading.Thread(target=self._wait, args=(run,), name=f"mlwright-run-{run.run_id}", daemon=True).start()

    def _wait(self, run: ManagedRun) -> None:
        rc = run.proc.wait()
        self.touch_upload(run.data_path)  # an upload expires upload_ttl_s after its last run ended
        with self._lock:
            run.returncode, run.ended_at = rc, time.time()
            summary = self._summary_or_none(run.run_dir)
            if run.cancel_requested:
                run.status = "cancelled"
            elif rc == 0:
                run.status = "succeeded"
            elif summary is not None and run_status_from_summary(summary) == "cancelled":
                run.status = "cancelled"
            else:
                run.status = "failed"
                run.error = (summary.error if summary and summary.error else None) or self._console_error(run)
            self._free(run)
            self._pump()

    def _console_error(self, run: ManagedRun) -> str:
        text = tail(run.console_log.parent, run.console_log.name, 4000)
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return "\n".join(lines[-6:]) or f"the run exited with code {run.returncode}"

    # -- acting on a run ---------------------------------------------------------------------------------
    def cancel(self, run_id: str) -> ManagedRun:
        """Stop a queued or running run. A running one gets SIGTERM (it writes a 'cancelled' run.json and
        keeps its journal); if it has not exited after a grace period, its processes are killed."""
        with self._lock:
            run = self._runs.get(self._check_id(run_id))
            if run is None:
                status = self.status(run_id)["status"]
                raise RunStateError(f"Run {run_id} is {status} and was not started by this server, so it cannot "
                                    "be cancelled here.", hint="Stop it where it was started (Ctrl-C).")
            if run.status == "queued":
                self._queue.remove(run_id)
                run.status, run.ended_at, run.cancel_requested = "cancelled", time.time(), True
                if self.admission is not None:
                    self.admission.forget(run_id)
                self._pump()
                return run
            if run.status != "running":
                raise RunStateError(f"Run {run_id} has already ended ({run.status}); there is nothing to cancel.")
            run.cancel_requested = True
            pid = run.proc.pid
        _signal_group(pid, signal.SIGTERM)
        threading.Thread(target=self._escalate, args=(run,), daemon=True).start()
        return run

    def _escalate(self, run: ManagedRun) -> None:
        try:
            run.proc.wait(timeout=CANCEL_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_tree(run.proc.pid)

    def send_guidance(self, run_id: str, text: str) -> int:
        """Journal a user instruction; the engine reads it before its next attempt."""
        text = (text or "").strip()
        if not text:
            raise MlwrightError("The guidance text is empty.")
        if len(text) > 10_000:
            raise MlwrightError(f"The guidance text is too long ({len(text)} characters; at most 10000).")
        info = self.status(run_id)
        if info["status"] == "queued":
            raise RunStateError(f"Run {run_id} is still queued; guidance can be sent once it is running.")
        if info["status"] != "running":
            raise RunStateError(f"Run {run_id} has ended ({info['status']}); guidance only reaches a running run.")
        journal = self.run_dir(run_id) / JOURNAL_NAME
        if not journal.is_file():  # creating it ourselves would make the output folder non-empty for the CLI
            raise RunStateError(f"Run {run_id} is starting up and has no journal yet.", hint="Try again in a second.")
        from mlwright.journal.store import Journal  # the one write: guidance for the running engine

        return Journal(journal).add_guidance(text)

    def shutdown(self) -> None:
        """Cancel what this manager started (cleanly, via SIGTERM) and drop its queue: a run whose server
        is gone could not be watched or cancelled any more. Run folders stay as they are."""
        with self._lock:
            self._closed = True
            if self._repump is not None:
                self._repump.cancel()
            ids = [r.run_id for r in self._runs.values() if r.status in ACTIVE]
        for rid in ids:
            try:
                self.cancel(rid)
            except MlwrightError:
                pass
        deadline = time.time() + CANCEL_GRACE_S
        for rid in ids:
            proc = self._runs[rid].proc
            if proc is not None:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    _kill_tree(proc.pid)
        if self.admission is not None:
            self.admission.close()

    # -- reading -----------------------------------------------------------------------------------------
    def _check_id(self, run_id: str) -> str:
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or run_id in (SIDE_DIR, UPLOADS_DIR):
            raise UnknownRun(f"Not a valid run id: {run_id!r}", hint="Use an id from the list of runs.")
        return run_id

    def predict(self, run_id: str, data_path: str | Path) -> Path:
        """A succeeded run's model applied to new rows (a file, or a folder holding one table, under the allowed
        roots); the predictions go to a new file under runs_root/predictions/, never into the run folder."""
        from mlwright.predict import predict_new

        src = self.resolve_data_path(data_path)
        run_dir = self.run_dir(run_id)
        out_dir = self.runs_root / "predictions"
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{run_id}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.csv"
        return predict_new(run_dir, src, out)

    def run_dir(self, run_id: str) -> Path:
        """The folder of a known run (managed here, or a run folder directly under the runs root)."""
        self._check_id(run_id)
        if run_id in self._runs:
            return self._runs[run_id].run_dir
        d = self.runs_root / run_id
        if not (d / RUN_JSON).is_file() or d.resolve().parent != self.runs_root:
            raise UnknownRun(f"No run {run_id!r} under {self.runs_root}", hint="Use an id from the list of runs.")
        return d

    @staticmethod
    def _summary_or_none(run_dir: Path) -> Optional[RunSummary]:
        return RunFolder(run_dir).summary_or_none()  # None: being rewritten right now, or unreadable

    def status(self, run_id: str) -> dict:
        """Status and summary of one run: managed, or found on disk."""
        run_dir = self.run_dir(run_id)
        summary = self._summary_or_none(run_dir)
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                info = {"id": run_id, "status": run.status, "task_text": run.task, "data_dir": str(run.data_path),
                        "time_limit_s": run.time_limit, "created_at": run.created_at, "started_at": run.started_at,
                        "ended_at": run.ended_at, "returncode": run.returncode, "error": run.error,
                        "queue_position": self._queue.index(run_id) + 1 if run_id in self._queue else None,
                        "interactive": run.interactive, "managed": True}
                info["status"] = shown_status(run, summary)
            else:
                info = {"id": run_id, "status": run_status_from_summary(summary) if summary else "failed",
                        "task_text": summary.task_text if summary else "", "managed": False,
                        "data_dir": summary.data_dir if summary else None, "error": summary.error if summary else None,
                        "time_limit_s": summary.time_limit_s if summary else None,
                        "created_at": (run_dir / RUN_JSON).stat().st_ctime, "queue_position": None,
                        "interactive": False}
        info["run_dir"] = str(run_dir)
        info["summary"] = summary.model_dump(mode="json") if summary else None
        if summary and summary.error and not info.get("error") and info["status"] != "succeeded":
            info["error"] = summary.error
        info["stage"] = self._last_stage(run_dir)
        return info

    def _last_stage(self, run_dir: Path) -> Optional[str]:
        return RunFolder(run_dir).last_stage()

    def list_runs(self) -> list[dict]:
        """Queued and running runs first, then every run folder under the runs root, newest first."""
        self.sweep_uploads()
        out: dict[str, dict] = {}
        with self._lock:
            managed = sorted(self._runs.values(), key=lambda r: -r.created_at)
        for r in managed:
            s = self._summary_or_none(r.run_dir)
            out[r.run_id] = self._brief(r.run_id, shown_status(r, s), r.task, s, r.created_at)
        for path, summary in find_runs(self.runs_root, depth=1):
            if path.name in out or path == self.runs_root or not _RUN_ID.match(path.name):
                continue
            out[path.name] = self._brief(path.name, run_status_from_summary(summary), summary.task_text, summary,
                                         (path / RUN_JSON).stat().st_mtime)
        return sorted(out.values(), key=lambda b: (b["status"] not in ACTIVE, -b["created_at"]))

    @staticmethod
    def _brief(run_id: str, status: str, task: str, s: Optional[RunSummary], created: float) -> dict:
        return {"id": run_id, "status": status, "task_text": task[:300], "created_at": created,
                "problem_type": s.task.problem_type if s and s.task else None,
                "target": s.task.target if s and s.task else None,
                "metric": s.best.metric if s and s.best else (s.task.metric if s and s.task else None),
                "score": s.best.validation_score if s and s.best else None,
                "attempts": s.attempts if s else 0, "wall_seconds": s.wall_seconds if s else None}

    def events(self, run_id: str, after_id: int = 0, limit: Optional[int] = 500) -> list[Event]:
        """Journal events after `after_id` (the live progress feed)."""
        return RunFolder(self.run_dir(run_id)).events(after_id, limit)

    def transcript(self, run_id: str) -> list[dict]:
        return RunFolder(self.run_dir(run_id)).transcript()

    def attempts(self, run_id: str) -> list[AttemptRecord]:
        return RunFolder(self.run_dir(run_id)).attempts()

    def logs(self, run_id: str, max_bytes: int = 20_000) -> dict:
        """The latest attempt's stdout/stderr tails, and the run's own console output (when launched here)."""
        run_dir = self.run_dir(run_id)
        attempt_dirs = RunFolder(run_dir).attempt_dirs()
        latest = attempt_dirs[-1] if attempt_dirs else None
        run = self._runs.get(run_id)
        out: dict[str, Any] = {
            "attempt": latest,
            "stdout": tail(run_dir, f"attempts/{latest}/stdout.txt", max_bytes) if latest else "",
            "stderr": tail(run_dir, f"attempts/{latest}/stderr.txt", max_bytes) if latest else "",
            "console": tail(run.console_log.parent, run.console_log.name, max_bytes) if run else ""}
        # the same text for reading: library chatter folded (log_folding), nothing dropped
        out["folded"] = {k: fold_log(out[k], "stderr" if k == "stderr" else "stdout")
                         for k in ("stdout", "stderr", "console") if out[k]}
        return out

    def open_result(self, run_id: str, which: Literal["predictions", "report", "code"]) -> tuple[Path, BinaryIO]:
        """A finished run's prediction file, report.html or solution.py, opened for reading: only a regular
        file inside the run folder, never through a symlink (see `open_inside`). Returns (path, file)."""
        run_dir = self.run_dir(run_id)
        summary = self._summary_or_none(run_dir)
        if summary is None or summary.status != "succeeded":
            state = self.status(run_id)["status"]
            raise RunStateError(f"Run {run_id} has no {which} yet: it is {state}.",
                                hint="Wait until the run has succeeded." if state in ACTIVE else
                                "Only a succeeded run has results; see its error and logs.")
        path = {"predictions": summary.prediction_path, "report": summary.report,
                "code": summary.solution_script}[which]
        if not path:
            raise UnknownRun(f"Run {run_id} has no {which} file (the report may have failed; see the events).")
        rel = rel_in_run(run_dir, path)
        f = open_inside(run_dir, rel, f"{which} file")
        return run_dir / rel, f

    def result_file(self, run_id: str, which: Literal["predictions", "report", "code"]) -> Path:
        """The checked path of a finished run's result file (see `open_result`)."""
        path, f = self.open_result(run_id, which)
        f.close()
        return path


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_tree(pid: int) -> None:
    """SIGKILL a run's process group and its children's own groups (attempts run in new sessions)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - the process may be gone already
        children = []
    for c in children:
        try:
            os.killpg(c.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _signal_group(pid, signal.SIGKILL)
