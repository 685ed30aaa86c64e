"""The bubblewrap command line for one attempt (Linux): what it sees, who it runs as.

New user, PID, mount, IPC, UTS, cgroup and network namespaces; uid/gid 65534 with no capabilities and no new
privileges (also when mlwright runs as root: `--cap-drop ALL`), no further user namespaces (`--disable-userns`),
so setns() back into the host's namespaces is impossible. The filesystem is an empty tmpfs holding only: the
system's libraries and a few /etc files (read-only), the Python environment (read-only), the paths the caller
names (read-only), the attempt folder (read-write) and a private /tmp (a folder inside the attempt). /proc shows
only the sandbox's own processes. The sandbox dies with mlwright (`--die-with-parent`)."""
from __future__ import annotations

import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

SANDBOX_UID = 65534  # "nobody"
# What a Python process needs from the system besides /usr: loader config, certificates, time zone, user names
# (getpwuid), BLAS alternatives, CPU topology for thread pools. Nothing holding secrets (no shadow, no ssh).
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache", "/etc/ld.so.conf",
           "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/localtime",
           "/etc/timezone", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/os-release",
           "/etc/mime.types", "/sys/devices/system/cpu")
_DEVICES = ("/dev/nvidia*", "/dev/dri")  # GPUs stay usable


@lru_cache(maxsize=1)
def _help() -> str:
    exe = shutil.which("bwrap")
    if not exe:
        return ""
    try:
        return subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


@lru_cache(maxsize=1)
def python_paths() -> tuple[str, ...]:
    """The interpreter's own folders and everything on its clean sys.path (site-packages, editable installs),
    as a fresh `python -I` sees them: not the caller's working directory or test folders."""
    probe = "import sys, json; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path]))"
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))]
    try:
        r = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=60,
                           cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        paths += json.loads(r.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        paths += [p for p in sys.path if p and os.path.isabs(p) and "site-packages" in p]
    return tuple(dict.fromkeys(p for p in paths if p and os.path.isabs(p) and os.path.exists(p)))


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _limits_prefix(max_processes: int) -> list[str]:
    """RLIMIT_NPROC set inside the new user namespace counts only the sandbox's own processes (and threads);
    set outside, it would count all of the user's. No core dumps. (The kernel does not apply RLIMIT_NPROC to
    uid 0 on the host, so for root the watcher's count is what holds; see sandbox.py.)"""
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    n = max_processes if hard == resource.RLIM_INFINITY else min(max_processes, hard)
    prlimit = shutil.which("prlimit")
    if prlimit and prlimit.startswith("/usr/"):
        return [prlimit, f"--nproc={n}:{n}", "--core=0"]
    return [sys.executable, "-c", "import os, resource as r, sys; r.setrlimit(r.RLIMIT_NPROC, (%d, %d)); "
            "r.setrlimit(r.RLIMIT_CORE, (0, 0)); os.execv(sys.argv[1], sys.argv[1:])" % (n, n)]


def command(cmd: Sequence[str], workdir: Path, ro_paths: Sequence[Path | str] = (),
            max_processes: int = 1024, share_net: bool = False, shm_mb: Optional[float] = None,
            mounts: Optional[dict[str, str]] = None) -> list[str]:
    """The bwrap command line that runs `cmd` in `workdir` (read-write), seeing `ro_paths` read-only, and each
    `mounts` source read-only at its target path (inputs shipped to another machine, seen where they were)."""
    exe = shutil.which("bwrap") or "bwrap"
    args = [exe, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if share_net:
        args.append("--share-net")
    if "--disable-userns" in _help():
        args.append("--disable-userns")
    args += ["--proc", "/proc", "--dev", "/dev"]
    if shm_mb and "--size" in _help():  # /dev/shm is RAM no process owns: at most the memory cap
        args += ["--size", str(int(shm_mb * 1024**2)), "--tmpfs", "/dev/shm"]
    for pattern in _DEVICES:
        for dev in glob.glob(pattern):
            args += ["--dev-bind-try", dev, dev]
    work = str(Path(workdir).absolute())
    tmp = Path(work) / ".tmp"
    tmp.mkdir(exist_ok=True)
    args += ["--bind", str(tmp), "/tmp"]  # first: a workdir or input under /tmp is mounted on top of it
    binds: list[tuple[str, str]] = []  # (path, kind); the sandbox sees each at its own path
    for p in _SYSTEM:
        if os.path.islink(p):
            args += ["--symlink", os.readlink(p), p]
        elif os.path.exists(p):
            binds.append((p, "ro"))
    binds += [(p, "ro") for p in python_paths()]
    binds += [(str(Path(p).absolute()), "ro") for p in ro_paths if os.path.exists(p)]
    binds.append((work, "rw"))
    # parents before children, so a nested mount lands on top; a read-only path inside another adds nothing
    binds.sort(key=lambda b: b[0].count("/"))
    kept: list[tuple[str, str]] = []
    for path, kind in binds:
        if kind == "ro" and any(k == "ro" and _inside(path, q) for q, k in kept) and not any(
                k == "rw" and _inside(path, q) for q, k in kept):
            continue
        if (path, kind) not in kept:
            kept.append((path, kind))
    for path, kind in kept:
        args += ["--ro-bind" if kind == "ro" else "--bind", path, path]
    for target, source in sorted((mounts or {}).items(), key=lambda m: m[0].count("/")):
        args += ["--ro-bind", source, target]
    args += ["--chdir", work, "--"]
    return args + _limits_prefix(max_processes) + list(cmd)


@lru_cache(maxsize=1)
def probe() -> tuple[Optional[str], str]:
    """(bwrap's path, how) when bubblewrap runs here, else (None, why not: what to install or enable)."""
    if not sys.platform.startswith("linux"):
        return None, f"bubblewrap needs Linux (this is {sys.platform})"
    mode = os.environ.get("MLWRIGHT_SANDBOX", "").lower()
    if mode in ("basic", "none", "off", "0"):
        return None, f"MLWRIGHT_SANDBOX={mode} turns bubblewrap off"
    exe = shutil.which("bwrap")
    if not exe:
        return None, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install " \
                     "bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="mlwright-probe-") as tmp:
        try:
            r = subprocess.run(command([sys.executable, "-c", "pass"], Path(tmp)), capture_output=True, text=True,
                               timeout=60, cwd=tmp, env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"bubblewrap could not start: {e}"
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["exit code %d" % r.returncode])[-1]
        return None, (f"bubblewrap cannot create its namespaces here ({why}); enable unprivileged user namespaces "
                      "(sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu an AppArmor profile for bwrap)")
    version = _help() and subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    return exe, f"{version or 'bubblewrap'}: user, PID, mount, IPC, UTS and network namespaces; uid " \
                f"{SANDBOX_UID}, no capabilities"
