"""The run-folder catalog: reads a run folder, never writes it, and returns typed models.

    RunFolder(path).summary()   -> RunSummary          (run.json)
    RunFolder(path).attempts()  -> list[AttemptRecord] (the journal, opened read-only)
    RunFolder(path).events()    -> list[Event]         (the journal's stage events, parsed here and only here)
    RunFolder(path).files()     -> list[RunFile]       (what the folder holds; links and specials are not followed)
    find_runs(root)             -> the run folders under a folder, newest first

`mlwright show` and `runs`, the Python API's `Result.load`, `predict`, the RunManager (so the web server and
the MCP server) read runs through this module. It imports no part of the pipeline (engine, perception,
recipes) and no heavy library (pandas, scikit-learn): a test keeps it so. Files are opened for serving only
through `open_inside` (no symlink anywhere from the run folder down, nothing outside it).
"""
from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Literal, Optional

from pydantic import BaseModel

from mlwright.errors import MlwrightError
from mlwright.schemas import AttemptRecord, RunStatus, RunSummary

# what a run folder holds (the engine writes them under these names)
RUN_JSON = "run.json"
JOURNAL_NAME = "journal.sqlite"  # the same name as mlwright.journal.store.JOURNAL_NAME (a test checks)
SOLUTION = "solution.py"
MODEL_DIR = "model"
TRANSCRIPT = "llm/transcript.jsonl"  # every LLM prompt and answer of a run, keys masked (llm/transcript.py)

# The stages the engine reports (Run.emit); an event from a newer mlwright may carry another one.
Stage = Literal["perception", "knowledge", "planning", "guidance", "execution", "validation", "analysis", "best",
                "llm", "report", "done", "failed", "warning", "resume"]
STAGES: tuple[str, ...] = Stage.__args__  # type: ignore[attr-defined]


class AccessRefused(MlwrightError):
    """A path outside the allowed roots, or a file that may not be served (HTTP 403)."""


class UnknownRun(MlwrightError):
    """No such run, or no such file in it (HTTP 404)."""


class Event(BaseModel):
    """One stage event of the journal: what the live progress, the UI's feed and MCP's run_status show."""

    id: int
    ts: float  # seconds since the epoch
    stage: str  # one of STAGES (see Stage); kept as text so a newer mlwright's events still read
    message: str
    data: Optional[dict[str, Any]] = None  # the fields the stage passed (attempt_id, status, score, ...)

    @property
    def attempt_id(self) -> Optional[int]:
        v = (self.data or {}).get("attempt_id")
        return v if isinstance(v, int) else None

    @property
    def status(self) -> Optional[str]:
        return (self.data or {}).get("status")

    @property
    def score(self) -> Optional[float]:
        v = (self.data or {}).get("score")
        return float(v) if isinstance(v, (int, float)) else None


class RunFile(BaseModel):
    """A file (or folder) of a run folder, by its path inside it."""

    path: str  # relative, with "/" separators
    kind: Literal["file", "dir", "link", "other"]
    size: Optional[int] = None  # bytes, for a regular file


def run_status(summary: Optional[RunSummary]) -> RunStatus:
    """A run's status from its run.json (none readable: failed). RunSummary already reads an older run.json's
    'failed' + 'cancelled (...)' error as cancelled."""
    return summary.status if summary is not None else "failed"


class RunFolder:
    """One run folder, read-only."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL_NAME

    def exists(self) -> bool:
        return (self.path / RUN_JSON).is_file()

    def summary(self) -> RunSummary:
        """run.json; a clear MlwrightError when there is none or it cannot be read."""
        p = self.path / RUN_JSON
        if not p.is_file():
            raise MlwrightError(f"Not a run folder (no {RUN_JSON}): {self.path}",
                                hint="Pass the --output folder of a run.")
        try:
            return RunSummary.model_validate(json.loads(p.read_text())).located(self.path.absolute())
        except (OSError, ValueError) as e:  # a truncated or hand-edited run.json: a clear error, not a traceback
            raise MlwrightError(f"The run's {RUN_JSON} cannot be read: {str(e).splitlines()[0]}", where=str(p),
                                hint="The run folder is damaged; start a new run in a new folder.") from e

    def summary_or_none(self) -> Optional[RunSummary]:
        """run.json, or None when it is missing, being rewritten or unreadable."""
        try:
            return self.summary() if (self.path / RUN_JSON).is_file() else None
        except (MlwrightError, OSError):
            return None

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Rows from the journal, opened read-only (never created, never migrated); [] without a journal."""
        if not self.journal_path.is_file():
            return []
        try:
            con = sqlite3.connect(f"{self.journal_path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as e:
            raise MlwrightError(f"The run's journal cannot be opened: {e}", where=str(self.journal_path)) from e
        try:
            con.row_factory = sqlite3.Row
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):  # a journal the run is creating right now
                return []
            raise MlwrightError(f"The run's journal cannot be read: {e}", where=str(self.journal_path)) from e
        except sqlite3.DatabaseError as e:  # not a database (damaged)
            raise MlwrightError(f"The run's journal cannot be opened: {e}", where=str(self.journal_path),
                                hint="A damaged journal needs a new run.") from e
        finally:
            con.close()

    def attempts(self) -> list[AttemptRecord]:
        """Every attempt of the journal, in id order (columns an older journal lacks take their defaults)."""
        fields = AttemptRecord.model_fields
        return [AttemptRecord(**{k: r[k] for k in r.keys() if k in fields}).located(self.path.absolute())
                for r in self._query("SELECT * FROM attempts ORDER BY attempt_id")]

    def events(self, after_id: int = 0, limit: Optional[int] = None) -> list[Event]:
        """The journal's events after `after_id`, oldest first (at most `limit`)."""
        sql = "SELECT id, ts, stage, message, data FROM events WHERE id > ? ORDER BY id"
        args: tuple = (after_id,)
        if limit:
            sql, args = sql + " LIMIT ?", (after_id, int(limit))
        return [parse_event(dict(r)) for r in self._query(sql, args)]

    def last_stage(self) -> Optional[str]:
        rows = self._query("SELECT stage FROM events ORDER BY id DESC LIMIT 1")
        return rows[0]["stage"] if rows else None

    def files(self, max_files: int = 10_000) -> list[RunFile]:
        """What the run folder holds, sorted by path; links are listed, never followed."""
        out: list[RunFile] = []
        stack = [self.path]
        while stack and len(out) < max_files:
            d = stack.pop()
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                rel = Path(e.path).relative_to(self.path).as_posix()
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    out.append(RunFile(path=rel, kind="link"))
                elif stat.S_ISDIR(st.st_mode):
                    out.append(RunFile(path=rel, kind="dir"))
                    stack.append(Path(e.path))
                elif stat.S_ISREG(st.st_mode):
                    out.append(RunFile(path=rel, kind="file", size=st.st_size))
                else:
                    out.append(RunFile(path=rel, kind="other"))
        return sorted(out[:max_files], key=lambda f: f.path)

    def transcript(self, max_calls: int = 500) -> list[dict]:
        """The run's LLM calls (the last `max_calls`), oldest first; none without an LLM. Read through
        `open_inside` like every file the servers hand out; a line cut by a live run's writer is skipped."""
        try:
            with open_inside(self.path, TRANSCRIPT, "LLM transcript") as f:
                lines = f.read().decode("utf-8", errors="replace").splitlines()
        except UnknownRun:
            return []
        calls = []
        for line in lines[-max_calls:]:
            try:
                calls.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return calls

    def attempt_dirs(self) -> list[str]:
        """The attempts' folder names (attempts/NNN-recipe), oldest first."""
        d = self.path / "attempts"
        return sorted(p.name for p in d.glob("[0-9][0-9][0-9]-*")) if d.is_dir() else []


def parse_event(row: dict) -> Event:
    """An events row of the journal (data as JSON text) as an Event."""
    data = row.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = {"raw": data}
    return Event(id=row["id"], ts=row["ts"], stage=row["stage"], message=row["message"],
                 data=data if isinstance(data, dict) and data else None)


def load_summary(run_dir: str | Path) -> RunSummary:
    """run.json of a run folder (see RunFolder.summary)."""
    return RunFolder(run_dir).summary()


def find_runs(root: str | Path, depth: int = 2) -> list[tuple[Path, RunSummary]]:
    """Run folders under `root` (those with a readable run.json), newest first."""
    root = Path(root)
    found = []
    candidates = [root] + [p for d in range(1, depth + 1) for p in root.glob("/".join(["*"] * d)) if p.is_dir()]
    for p in candidates:
        f = p / RUN_JSON
        if f.is_file():
            try:
                found.append((p, RunSummary.model_validate(json.loads(f.read_text())), f.stat().st_mtime))
            except (ValueError, OSError):
                continue
    return [(p, s) for p, s, _ in sorted(found, key=lambda t: -t[2])]


# -- serving a file out of a run folder ---------------------------------------------------------------------
def _open_nofollow_walk(root: Path, parts: tuple[str, ...]) -> int:
    """A read-only fd for root/parts[0]/.../parts[-1]; ELOOP when any component from `root` down is a symlink."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY"):
        # race-free: each component is opened relative to the one before, never following a link
        fd = os.open(root, flags | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for part in parts[:-1]:
                nxt = os.open(part, flags | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = nxt
            return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        finally:
            os.close(fd)
    # elsewhere (Windows): check each component, then open
    p = root
    for part in ("", *parts):
        p = p / part if part else p
        if os.path.islink(p):
            raise OSError(errno.ELOOP, "a symbolic link", str(p))
    return os.open(p, flags | getattr(os, "O_BINARY", 0))


def open_inside(root: Path, rel: str | PurePath, what: str = "file") -> BinaryIO:
    """Open `root/rel` for reading, refusing (AccessRefused) a symlink anywhere from `root` down, a file with
    other hard links, anything but a regular file, and anything whose real path is not inside `root`; a
    missing file is UnknownRun. This is the only way the servers read a file out of a run folder."""
    rel_path = PurePath(rel)
    parts = tuple(x for x in rel_path.parts if x not in ("", "."))
    if not parts or rel_path.is_absolute() or ".." in parts:
        raise AccessRefused(f"Refusing to read {rel!s}: only plain paths inside the run folder are served.")
    shown = "/".join(parts)
    try:
        fd = _open_nofollow_walk(Path(root), parts)
    except FileNotFoundError:
        raise UnknownRun(f"The {what} {shown} does not exist in {root}.") from None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise AccessRefused(f"Refusing to serve the {what} {shown}: it is (or lies under) a symbolic link.",
                                where=str(root), hint="mlwright serves only regular files inside the run folder; "
                                "remove the link.") from None
        raise UnknownRun(f"The {what} {shown} cannot be read: {e.strerror or e}", where=str(root)) from None
    f = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AccessRefused(f"Refusing to serve the {what} {shown}: it is not a regular file.", where=str(root))
        if st.st_nlink > 1:
            raise AccessRefused(f"Refusing to serve the {what} {shown}: it has other hard links, so it may be a "
                                "file from elsewhere.", where=str(root),
                                hint="mlwright serves only files that belong to the run folder; copy the file "
                                     "instead of linking it.")
        real = Path(root).joinpath(*parts).resolve()
        if not real.is_relative_to(Path(root).resolve()):
            raise AccessRefused(f"Refusing to serve the {what} {shown}: it resolves outside {root}.")
        if os.name == "nt":  # no O_NOFOLLOW there: make sure what was opened is what was checked
            if not os.path.samestat(st, os.stat(real)):
                raise AccessRefused(f"Refusing to serve the {what} {shown}: it changed while being opened.")
    except BaseException:
        f.close()
        raise
    return f


def tail(root: Path, rel: str, max_bytes: int) -> str:
    """The end of the log file root/rel, read through `open_inside` (no symlinks); '' when missing."""
    try:
        f = open_inside(root, rel, "log")
    except AccessRefused as e:
        return f"[{e.what}]"
    except (UnknownRun, OSError):
        return ""
    try:
        with f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def rel_in_run(run_dir: Path, path: str) -> PurePath:
    """Where a result path from run.json lies inside the run folder. run.json can be copied around: a path
    elsewhere stands for the file of the same name in this run folder."""
    p = Path(os.path.normpath(path))
    if not p.is_absolute():
        return PurePath(p)
    for base in (run_dir, Path(os.path.realpath(run_dir))):
        if p.is_relative_to(base):
            return PurePath(p.relative_to(base))
    try:  # the run folder reached through a differently spelled (e.g. symlinked) prefix
        return PurePath(Path(os.path.realpath(p.parent)).relative_to(os.path.realpath(run_dir)), p.name)
    except ValueError:
        return PurePath(p.name)

