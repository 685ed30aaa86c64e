"""Kernel-enforced limits through cgroup v2 (memory.max, pids.max, cgroup.kill) where mlwright may create
cgroups: a delegated subtree (its own cgroup already hands memory and pids to its children, e.g. a container's
root) or, as root, /sys/fs/cgroup/mlwright. Elsewhere (cgroup v1 or hybrid hosts, no permission) the watcher in
sandbox.py enforces the same limits by polling."""
from __future__ import annotations

import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Optional

ROOT = Path("/sys/fs/cgroup")
_NEEDED = {"memory", "pids"}


def _controllers(path: Path, name: str) -> set[str]:
    try:
        return set((path / name).read_text().split())
    except OSError:
        return set()


def _own_cgroup(root: Path) -> Optional[Path]:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    return None if own is None else root / own.strip("/")


@lru_cache(maxsize=4)
def parent(root: Path = ROOT) -> tuple[Optional[Path], str]:
    """The cgroup under which attempts get their own, or None and why not."""
    if not (root / "cgroup.controllers").is_file():
        return None, f"cgroup v2 is not mounted at {root} (a cgroup v1 or hybrid host)"
    own = _own_cgroup(root)
    if own is not None and _NEEDED <= _controllers(own, "cgroup.subtree_control"):
        candidates = [own]
    else:
        candidates = []
    if _NEEDED <= _controllers(root, "cgroup.subtree_control"):
        candidates.append(root / "mlwright")
    for cand in candidates:
        try:
            if cand.name == "mlwright" and not cand.is_dir():
                cand.mkdir()
            if not _NEEDED <= _controllers(cand, "cgroup.subtree_control"):
                (cand / "cgroup.subtree_control").write_text("+memory +pids")
            probe = cand / f"probe-{uuid.uuid4().hex[:8]}"
            probe.mkdir()
            probe.rmdir()
            return cand, f"cgroup v2 under {cand}"
        except OSError:
            continue
    return None, "no cgroup v2 subtree with the memory and pids controllers that mlwright may write to"


class Cgroup:
    """One attempt's cgroup: the command is started inside it through `enter_prefix`."""

    def __init__(self, parent_dir: Path, memory_mb: Optional[float], max_processes: int):
        self.path = parent_dir / f"attempt-{uuid.uuid4().hex[:12]}"
        self.path.mkdir()
        if memory_mb:
            (self.path / "memory.max").write_text(str(int(memory_mb * 1024**2)))
            try:  # swap would let the attempt go past its cap
                (self.path / "memory.swap.max").write_text("0")
            except OSError:
                pass
        (self.path / "pids.max").write_text(str(max_processes))

    def enter_prefix(self) -> list[str]:
        return ["/bin/sh", "-c", 'echo 0 > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def _events(self, name: str) -> dict[str, int]:
        try:
            return {k: int(v) for k, v in (line.split() for line in (self.path / name).read_text().splitlines())}
        except (OSError, ValueError):
            return {}

    def oom_killed(self) -> bool:
        return self._events("memory.events").get("oom_kill", 0) > 0

    def hit_process_cap(self) -> bool:
        return self._events("pids.events").get("max", 0) > 0

    def peak_bytes(self) -> int:
        try:
            return int((self.path / "memory.peak").read_text())
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        """Kill whatever is left in it (detached children included) and remove it."""
        try:
            (self.path / "cgroup.kill").write_text("1")
        except OSError:
            pass
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.05)
