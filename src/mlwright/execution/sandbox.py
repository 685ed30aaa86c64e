"""Run generated code as its own process: scrubbed environment (no keys), wall-clock timeout, memory cap,
no network where the OS allows it (a fresh network namespace via `unshare`)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import psutil

# Only these variables reach generated code; everything else (API keys, cloud credentials, tokens) stays out.
_ALLOWED_ENV = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VIRTUAL_ENV", "PYTHONHASHSEED",
                "LD_LIBRARY_PATH", "SSL_CERT_FILE"}


def scrubbed_env(workdir: Path, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _ALLOWED_ENV}
    home = workdir / ".home"
    home.mkdir(exist_ok=True)
    env.update({"HOME": str(home), "TMPDIR": str(home), "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
                "PYTHONDONTWRITEBYTECODE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "AUTOGLUON_TELEMETRY": "0", "NO_PROXY": "*"})
    env.setdefault("PATH", "/usr/bin:/bin")
    if extra:
        env.update(extra)
    return env


@lru_cache(maxsize=1)
def network_isolation_prefix() -> tuple[str, ...]:
    """`unshare` into a new (empty) network namespace when the OS lets us; () otherwise."""
    if os.environ.get("MLWRIGHT_NO_NETNS") or not sys.platform.startswith("linux"):
        return ()
    unshare = shutil.which("unshare")
    if not unshare:
        return ()
    for prefix in ((unshare, "--net"), (unshare, "--user", "--map-root-user", "--net")):
        try:
            r = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return prefix
    return ()


@dataclass
class ExecResult:
    returncode: Optional[int]
    seconds: float
    timed_out: bool
    killed_for_memory: bool
    peak_memory_mb: float
    stdout_path: Path
    stderr_path: Path

    def tail(self, n_chars: int = 3000) -> str:
        parts = []
        for p in (self.stderr_path, self.stdout_path):
            try:
                t = p.read_text(errors="replace")
            except OSError:
                continue
            if t.strip():
                parts.append(t[-n_chars:])
        return "\n".join(parts)


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_sandboxed(cmd: Sequence[str], workdir: Path, timeout_s: float, memory_mb: Optional[float] = None,
                  env_extra: Optional[dict[str, str]] = None, isolate_network: bool = True,
                  log_prefix: str = "") -> ExecResult:
    """Run `cmd` in `workdir`; stdout/stderr go to files there. The whole process group is killed on
    timeout or when its resident memory passes `memory_mb`."""
    workdir.mkdir(parents=True, exist_ok=True)
    out_p, err_p = workdir / f"{log_prefix}stdout.txt", workdir / f"{log_prefix}stderr.txt"
    prefix = network_isolation_prefix() if isolate_network else ()
    env = scrubbed_env(workdir, env_extra)
    t0 = time.time()
    timed_out = killed_mem = False
    peak = 0
    with open(out_p, "wb") as so, open(err_p, "wb") as se:
        proc = subprocess.Popen([*prefix, *cmd], cwd=workdir, env=env, stdout=so, stderr=se,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        ps = psutil.Process(proc.pid)
        stop = threading.Event()

        def watch():
            nonlocal peak, killed_mem
            while not stop.wait(0.5):
                rss = _tree_rss(ps)
                peak = max(peak, rss)
                if memory_mb and rss > memory_mb * 1024**2:
                    killed_mem = True
                    _kill_group(proc.pid)
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            rc = proc.wait(timeout=max(timeout_s, 1))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            rc = proc.wait()
        finally:
            stop.set()
            watcher.join(timeout=2)
            _kill_group(proc.pid)  # leftovers of a finished script (e.g. worker processes)
    return ExecResult(returncode=rc, seconds=time.time() - t0, timed_out=timed_out, killed_for_memory=killed_mem,
                      peak_memory_mb=peak / 1024**2, stdout_path=out_p, stderr_path=err_p)
