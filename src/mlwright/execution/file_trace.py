"""Which input files an attempt's code opened: a `sitecustomize` module put on the attempt's PYTHONPATH installs a
Python audit hook in the script's process and in every Python process it starts (joblib workers included), and
each process writes the files it opened (outside Python's own installation) to TRACE_DIR/PID.txt when it exits.
Readers that open files outside Python's `open` (pyarrow's parquet reader) say so with
`sys.audit("mlwright.read", path)` (runtime.common.load_table does). What it is for: a note when an LLM-written
script ignores inputs the task provides (image files), never a verdict on a score."""
from __future__ import annotations

import os
from pathlib import Path

TRACE_DIR = ".reads"  # in the attempt's folder
_SITECUSTOMIZE = r'''
import atexit, os, sys

_seen = set()
_skip = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/dev", "/sys"})
_dir = os.path.dirname(os.path.abspath(__file__))


def _hook(event, args):
    if event != "open" and event != "mlwright.read":
        return
    try:
        p = args[0]
        if isinstance(p, int) or p is None:
            return
        p = os.path.abspath(os.fsdecode(p))
        if not p.startswith(_skip) and len(_seen) < 200000:
            _seen.add(p)
    except Exception:
        pass


def _write():
    try:
        with open(os.path.join(_dir, "%d.txt" % os.getpid()), "w", encoding="utf-8", errors="replace") as f:
            f.write("\n".join(sorted(_seen)))
    except Exception:
        pass


sys.addaudithook(_hook)
atexit.register(_write)

# a sitecustomize of the Python installation itself (some distributions ship one) still runs
try:
    import importlib.machinery, importlib.util
    _others = [p for p in sys.path if os.path.abspath(p or ".") != _dir]
    _spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _others)
    if _spec is not None and _spec.loader is not None:
        _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
except Exception:
    pass
'''


def trace_env(workdir: Path) -> dict[str, str]:
    """Prepare `workdir` for tracing; the environment the attempt's processes need for it (a path relative to the
    attempt's folder, so it holds on a cluster node too)."""
    d = Path(workdir) / TRACE_DIR
    d.mkdir(exist_ok=True)
    (d / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return {"PYTHONPATH": TRACE_DIR}


def files_read(workdir: Path) -> set[str]:
    """Every file the attempt's Python processes opened, as absolute paths seen inside the sandbox."""
    seen: set[str] = set()
    for f in (Path(workdir) / TRACE_DIR).glob("*.txt"):
        try:
            seen.update(ln for ln in f.read_text(errors="replace").splitlines() if ln)
        except OSError:
            continue
    return seen


def unread_note(read: set[str], expected: dict[str, list[str]]) -> str | None:
    """A note on the inputs `expected` ({what: files}) that were not read, or None when each group was read.
    A group of many files (images) counts as read when any was; the note says how many were."""
    gaps = []
    for what, files in expected.items():
        if not files:
            continue
        n = sum(os.path.abspath(f) in read for f in files)
        if n == 0:
            gaps.append(f"never opened {'the' if len(files) == 1 else f'any of the {len(files)}'} {what}")
    return "; ".join(gaps) if gaps else None
