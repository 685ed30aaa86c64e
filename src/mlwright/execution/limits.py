"""Limits every attempt gets by default: memory, process count, log size; and killing a whole process tree."""
from __future__ import annotations

import os
import select
import signal
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Optional

import psutil

LOG_HEAD_BYTES = 2 * 1024**2  # stdout/stderr keep their first and last 2 MB; the middle is dropped with a marker
LOG_TAIL_BYTES = 2 * 1024**2
MEMORY_SHARE = 0.75  # of the RAM available when the attempt starts, when no --memory-limit is given


def default_memory_mb() -> float:
    return round(psutil.virtual_memory().available * MEMORY_SHARE / 1024**2)


def default_max_processes() -> int:
    """RLIMIT_NPROC counts threads too: leave room for one BLAS/torch thread pool per worker per core."""
    return max(1024, 32 * (os.cpu_count() or 1))


class CappedLog:
    """A log file that keeps the head and the tail of what is written. The file on disk is always
    head + marker + recent output (at most 2 x tail), so a live view sees the latest lines; `close` trims
    the tail to its size. A script printing 1 GiB leaves ~4 MB."""

    def __init__(self, path: Path, head: int = LOG_HEAD_BYTES, tail: int = LOG_TAIL_BYTES):
        self.f = open(path, "wb")
        self.head_left, self.tail = head, tail
        self.cut = 0  # where the head ends
        self.recent = bytearray()
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        if self.head_left > 0:
            n = min(len(chunk), self.head_left)
            self.f.write(chunk[:n])
            self.head_left -= n
            self.cut = self.f.tell()
            chunk = chunk[n:]
        if chunk:
            self.f.write(chunk)
            self.recent += chunk
            if len(self.recent) > 2 * self.tail:
                self._roll(self.tail)
        self.f.flush()

    def _roll(self, keep: int) -> None:
        drop = len(self.recent) - keep
        self.dropped += drop
        del self.recent[:drop]
        self.f.seek(self.cut)
        self.f.write(f"\n[... mlwright: {self.dropped} bytes of output dropped here (the log keeps its first "
                     f"{self.cut // 1024**2} MB and its last {self.tail // 1024**2} MB) ...]\n".encode())
        self.f.write(self.recent)
        self.f.truncate()

    def close(self) -> None:
        if self.dropped and len(self.recent) > self.tail:
            self._roll(self.tail)
        self.f.close()


class LogPump(threading.Thread):
    """Copies a pipe into a CappedLog; stops at EOF, or soon after `stop()` (a detached process that escaped
    the kill may hold the pipe open forever)."""

    def __init__(self, fd: int, log: CappedLog):
        super().__init__(daemon=True)
        self.fd, self.log, self.stopping = fd, log, threading.Event()

    def run(self) -> None:
        writable = True
        try:
            while True:
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if not ready:
                    if self.stopping.is_set():
                        break
                    continue
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    break
                if writable:
                    try:
                        self.log.write(chunk)
                    except OSError:  # a full disk: the pipe is still drained (the attempt must not block)
                        writable = False
        finally:
            os.close(self.fd)
            try:
                self.log.close()
            except OSError:
                pass

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.join(timeout)


def count_processes() -> int:
    """How many processes the machine runs now (one directory listing: cheap enough to do 20 times a second)."""
    try:
        return sum(name.isdigit() for name in os.listdir("/proc"))
    except OSError:
        return 0


def namespace_processes(bwrap_pid: int) -> Optional[int]:
    """How many processes run in the PID namespace of the sandbox that `bwrap_pid` started: its own /proc,
    reached through its init's root; None when that cannot be read."""
    try:
        with open(f"/proc/{bwrap_pid}/task/{bwrap_pid}/children") as f:
            init = f.read().split()[0]
        return sum(name.isdigit() for name in os.listdir(f"/proc/{init}/root/proc"))
    except (OSError, IndexError):
        return None


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.Error:
        return []


def tree_usage(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Until each is gone or a zombie (its reaper may be slow; a zombie holds no memory and runs nothing)."""
    deadline = time.time() + timeout
    while procs and time.time() < deadline:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.Error:
                pass
        procs = alive
        if procs:
            time.sleep(0.02)


def kill_tree(pid: int, procs: Optional[list[psutil.Process]] = None, wait_s: float = 3.0) -> None:
    """SIGKILL the process group led by `pid` and every process of the tree; wait until they are gone. Under
    bubblewrap the PID namespace dies with its init, which takes detached children with it."""
    procs = procs if procs is not None else tree(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    # not `pid` itself: waiting on our own child here would reap it and lose its exit status for Popen.wait
    _wait_gone([p for p in procs if p.pid != pid], wait_s)


# Without a PID namespace a `setsid` + double-fork child leaves the tree; it still carries this variable.
TOKEN_VAR = "MLWRIGHT_ATTEMPT_TOKEN"


def new_token() -> str:
    return uuid.uuid4().hex


def kill_tagged(token: str) -> int:
    """Kill the processes whose environment carries `token` (fallback isolation only); how many."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.environ().get(TOKEN_VAR) == token:
                found.append(p)
        except psutil.Error:
            continue
    for p in found:
        try:
            p.kill()
        except psutil.Error:
            pass
    _wait_gone(found, 3)
    return len(found)


@lru_cache(maxsize=1)
def usable_cores() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (containers). Read once: the
    planner asks for every card at every step."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, n)


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def run_cores() -> int:
    """CPUs this run's attempts may use between them: the thread count the user (or `mlwright batch`, sharing the
    machine between runs) set for mlwright, else this machine's cores."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return usable_cores()


def share_env(share: float, cores: Optional[int] = None) -> dict[str, str]:
    """Thread counts of one of the attempts that run side by side, each with `share` of the run's cores (or of
    `cores`: a cluster node's)."""
    return {v: str(max(1, int((cores or run_cores()) * share))) for v in THREAD_VARS}


def thread_env(given: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Thread counts an attempt runs with, set explicitly so they are the same locally and on a cluster node (a
    Ray worker inherits OMP_NUM_THREADS=1): what the user set on the driver (`given`), else this machine's cores."""
    given = given if given is not None else {v: os.environ[v] for v in THREAD_VARS if os.environ.get(v)}
    return {v: given.get(v) or str(usable_cores()) for v in THREAD_VARS}
