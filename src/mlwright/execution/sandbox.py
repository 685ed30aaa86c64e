"""Run generated code as its own process, isolated and limited.

On Linux with bubblewrap (bwrap.py): namespaces, an unprivileged uid without capabilities, and a filesystem
holding only the attempt folder (read-write), the paths the caller names and the Python environment (read-only).
Elsewhere the basic isolation: a scrubbed environment (no keys), a private network namespace via `unshare` where
the OS allows it, and the process group killed at the end; mlwright warns once that this is all it has.
Either way every attempt gets limits (limits.py, cgroup.py): a memory cap (75% of the available RAM unless
given), a process-count cap, stdout/stderr capped to their head and tail, and its whole process tree killed on
timeout, cancel and exit."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import psutil

from mlwright.execution import bwrap, cgroup
from mlwright.execution.limits import (TOKEN_VAR, CappedLog, LogPump, count_processes, default_max_processes,
                                       default_memory_mb, kill_tagged, kill_tree, namespace_processes, new_token,
                                       thread_env, tree, tree_usage)

# Only these variables reach generated code; everything else (API keys, cloud credentials, tokens) stays out.
_ALLOWED_ENV = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VIRTUAL_ENV", "PYTHONHASHSEED",
                "LD_LIBRARY_PATH", "SSL_CERT_FILE"}
POLL_S = 0.25  # the watcher's period (memory and process count where the kernel does not enforce them)
TRIPWIRE_S = 0.025  # how often it counts the machine's processes (cheap) to catch a fork bomb early


def scrubbed_env(workdir: Path, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _ALLOWED_ENV}
    home = workdir / ".home"
    home.mkdir(exist_ok=True)
    env.update({"HOME": str(home), "TMPDIR": str(home), "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
                "PYTHONDONTWRITEBYTECODE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "AUTOGLUON_TELEMETRY": "0", "NO_PROXY": "*"})
    env.setdefault("PATH", "/usr/bin:/bin")
    env.update(thread_env())
    if extra:
        env.update(extra)
    return env


@lru_cache(maxsize=1)
def network_isolation_prefix() -> tuple[str, ...]:
    """`unshare` into a new (empty) network namespace when the OS lets us; () otherwise (basic isolation)."""
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


@dataclass(frozen=True)
class Isolation:
    kind: str  # "bubblewrap" | "basic"
    detail: str  # how it isolates, or why bubblewrap is not in force
    network_isolated: bool
    limits: str  # who enforces memory and process caps: the kernel (cgroup v2) or mlwright's watcher
    cgroup_parent: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("cgroup_parent")
        return d


@lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Which isolation attempts get here, decided once; the fallback is announced once on stderr."""
    exe, how = bwrap.probe()
    parent, cg_how = cgroup.parent()
    if parent:
        limits = f"memory and process caps enforced by the kernel ({cg_how})"
    else:  # the kernel does not apply RLIMIT_NPROC to uid 0, whatever the namespace
        nproc = "the watcher" if os.geteuid() == 0 or not exe else "RLIMIT_NPROC in the sandbox's user namespace"
        limits = f"memory cap enforced by mlwright's watcher every {POLL_S}s, process cap by {nproc} ({cg_how})"
    if exe:
        return Isolation("bubblewrap", how, True, limits, str(parent) if parent else None)
    net = bool(network_isolation_prefix())
    iso = Isolation("basic", f"{how}; basic isolation instead: scrubbed environment, "
                    f"{'private network namespace' if net else 'NO network isolation'}, process group killed at the "
                    "end. Generated code can read (and write) what your user can", net, limits,
                    str(parent) if parent else None)
    sys.stderr.write(f"mlwright: warning: generated code runs without the bubblewrap sandbox: {iso.detail}.\n")
    return iso


def paths_in(params: Any) -> list[str]:
    """Absolute paths of existing files or folders named anywhere in an attempt's PARAMS (pretrained model
    folders, ensemble members): the sandbox shows them read-only."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, str) and os.path.isabs(v) and os.path.exists(v):
            found.append(v)

    walk(params)
    return found


def folders_of(files: Iterable[str], most: int = 64) -> list[str]:
    """The folders holding these files (an image table's paths), for `ro_paths`: each distinct folder, or their
    common ancestor when there are more than `most`."""
    dirs = sorted({os.path.dirname(f) for f in files if isinstance(f, str) and os.path.isabs(f)})
    if len(dirs) <= most:
        return dirs
    return [os.path.commonpath(dirs)]


@dataclass
class ExecResult:
    returncode: Optional[int]
    seconds: float
    timed_out: bool
    killed_for_memory: bool
    peak_memory_mb: float
    stdout_path: Path
    stderr_path: Path
    killed_for_processes: bool = False
    memory_limit_mb: Optional[float] = None
    isolation: str = ""
    infrastructure: Optional[str] = None  # the machine, not the script, failed (a lost cluster node): why

    def tail(self, n_chars: int = 3000, stdout: bool = True) -> str:
        parts = []
        for p in (self.stderr_path, self.stdout_path) if stdout else (self.stderr_path,):
            try:
                with open(p, "rb") as f:  # the log may be megabytes: read only its end
                    f.seek(max(0, f.seek(0, os.SEEK_END) - 4 * n_chars))
                    t = f.read().decode(errors="replace")
            except OSError:
                continue
            if t.strip():
                parts.append(t[-n_chars:])
        return "\n".join(parts)


def run_sandboxed(cmd: Sequence[str], workdir: Path, timeout_s: float, memory_mb: Optional[float] = None,
                  env_extra: Optional[dict[str, str]] = None, isolate_network: bool = True,
                  log_prefix: str = "", ro_paths: Iterable[Path | str] = (),
                  max_processes: Optional[int] = None,
                  on_start: Optional[Callable[[dict], None]] = None,
                  mounts: Optional[dict[str, str]] = None) -> ExecResult:
    """Run `cmd` in `workdir`; stdout/stderr go to capped files there. `ro_paths`: the inputs the command reads
    (the sandbox shows them read-only; nothing else of the user's files). `memory_mb`: the cap (default: 75% of
    the available RAM). The whole process tree is killed on timeout, past a cap, and when the command ends.
    `on_start` gets what `kill_leftover` needs to find the process again if mlwright dies (kill -9) meanwhile;
    the caller keeps it where the attempt cannot write (the journal)."""
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    out_p, err_p = workdir / f"{log_prefix}stdout.txt", workdir / f"{log_prefix}stderr.txt"
    iso = isolation()
    env = scrubbed_env(workdir, env_extra)
    memory_mb = memory_mb or default_memory_mb()
    max_processes = max_processes or default_max_processes()
    token = None
    if iso.kind == "bubblewrap":
        env["TMPDIR"] = "/tmp"  # private: a folder of the attempt, removed at the end
        full = bwrap.command(cmd, workdir, list(ro_paths), max_processes, share_net=not isolate_network,
                             shm_mb=memory_mb, mounts=mounts)
    elif mounts:  # inputs seen at another path need the bubblewrap sandbox
        raise RuntimeError(f"this node has no bubblewrap sandbox ({iso.detail}); it cannot run shipped attempts")
    else:
        token = new_token()
        env[TOKEN_VAR] = token
        full = [*(network_isolation_prefix() if isolate_network else ()), *cmd]
    cg = None
    if iso.cgroup_parent:
        try:
            cg = cgroup.Cgroup(Path(iso.cgroup_parent), memory_mb, max_processes)
            full = cg.enter_prefix() + full
        except OSError:
            cg = None
    t0 = time.time()
    timed_out = killed_mem = killed_procs = False
    peak = 0
    snapshot: list = []
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    pumps = [LogPump(r_out, CappedLog(out_p)), LogPump(r_err, CappedLog(err_p))]
    try:
        proc = subprocess.Popen(full, cwd=workdir, env=env, stdout=w_out, stderr=w_err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        for fd in (r_out, r_err):
            os.close(fd)
        for p in pumps:
            p.log.close()
        raise
    finally:
        os.close(w_out)
        os.close(w_err)
    for p in pumps:
        p.start()
    stop = threading.Event()

    def watch():
        nonlocal peak, killed_mem, killed_procs, snapshot
        baseline, tick, every = count_processes(), 0, round(POLL_S / TRIPWIRE_S)
        while not stop.wait(TRIPWIRE_S):
            # A fork bomb outruns a full scan every POLL_S; in between, cheap counts: the sandbox's own /proc under
            # bubblewrap (exact), else the machine's process count (a tripwire for the full scan).
            tick += 1
            inside = namespace_processes(proc.pid) if iso.kind == "bubblewrap" else None
            if cg is None and inside is not None and inside > max_processes:
                killed_procs = True
                kill_tree(proc.pid, [])  # its PID namespace goes with it
                return
            if tick % every and (cg is not None or inside is not None
                                 or count_processes() - baseline <= max_processes):
                continue
            procs = tree(proc.pid)
            snapshot = procs or snapshot
            rss = tree_usage(procs)
            peak = max(peak, rss)
            if cg is None and rss > memory_mb * 1024**2:
                killed_mem = True
            elif cg is None and len(procs) > max_processes:
                killed_procs = True
            else:
                continue
            kill_tree(proc.pid, procs)
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        if on_start is not None:
            on_start(process_record(proc.pid, token, cg))
        rc = proc.wait(timeout=max(timeout_s, 1))
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_tree(proc.pid, tree(proc.pid))
        rc = proc.wait()
    finally:  # also on cancel (SIGTERM, Ctrl-C) and errors: nothing of the attempt outlives this call
        stop.set()
        watcher.join(timeout=5)
        kill_tree(proc.pid, snapshot + tree(proc.pid))
        if token:
            kill_tagged(token)
        if cg is not None:
            killed_mem = killed_mem or cg.oom_killed()
            killed_procs = killed_procs or cg.hit_process_cap()
            peak = max(peak, cg.peak_bytes())
            cg.close()
        for p in pumps:
            p.stop()
        shutil.rmtree(workdir / ".tmp", ignore_errors=True)
    return ExecResult(returncode=rc, seconds=time.time() - t0, timed_out=timed_out, killed_for_memory=killed_mem,
                      peak_memory_mb=peak / 1024**2, stdout_path=out_p, stderr_path=err_p,
                      killed_for_processes=killed_procs, memory_limit_mb=memory_mb, isolation=iso.kind)


def process_record(pid: int, token: Optional[str], cg: Optional["cgroup.Cgroup"]) -> dict:
    """Who an attempt's process is: pid (also its process group: start_new_session) with its start time, so a
    reused pid is never taken for it; the basic mode's environment token; the cgroup it runs in."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = None
    return {"pid": pid, "started": started, "token": token, "cgroup": str(cg.path) if cg else None}


def kill_leftover(rec: dict) -> bool:
    """Kill an attempt that a dead mlwright left running (`rec` from `process_record`); True when something was
    still alive. Under bubblewrap `--die-with-parent` has usually done it; the basic mode needs this."""
    killed = False
    try:
        p = psutil.Process(int(rec["pid"]))
        if rec.get("started") is not None and abs(p.create_time() - float(rec["started"])) < 0.01:
            kill_tree(p.pid, tree(p.pid))  # its process group and every descendant
            killed = True
    except (psutil.Error, KeyError, TypeError, ValueError):
        pass
    if rec.get("token"):  # children that left the tree (setsid + double fork) still carry the token
        killed = kill_tagged(rec["token"]) > 0 or killed
    cg_path = rec.get("cgroup")
    if cg_path and Path(cg_path).is_dir() and Path(cg_path).name.startswith("attempt-"):
        try:
            killed = bool((Path(cg_path) / "cgroup.procs").read_text().strip()) or killed
            (Path(cg_path) / "cgroup.kill").write_text("1")
        except OSError:
            pass
        for _ in range(50):
            try:
                Path(cg_path).rmdir()
                break
            except OSError:
                time.sleep(0.05)
    return killed
