"""The journal: every attempt (code, logs, score, error, timing) and every stage event, in SQLite inside
the run folder. It is the single source of truth for the report, resume, the UI and the MCP server."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Optional

from mlwright.errors import MlwrightError
from mlwright.catalog import Event, parse_event
from mlwright.schemas import AttemptRecord, relative_to_run

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
  attempt_id INTEGER PRIMARY KEY,
  parent_id INTEGER,
  kind TEXT NOT NULL,
  recipe TEXT NOT NULL,
  title TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at REAL NOT NULL,
  ended_at REAL,
  seconds REAL,
  time_budget_s REAL,
  metric TEXT,
  score REAL,
  validation_rows INTEGER,
  error TEXT,
  workdir TEXT NOT NULL,
  returncode INTEGER,
  peak_memory_mb REAL,
  code TEXT,
  params TEXT,
  diagnosis TEXT,
  process TEXT
);
CREATE TABLE IF NOT EXISTS guidance (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts REAL NOT NULL,
  text TEXT NOT NULL,
  consumed_by_attempt INTEGER
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts REAL NOT NULL,
  stage TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT
);
"""
JOURNAL_NAME = "journal.sqlite"


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            with self._connect() as con:
                con.executescript(_SCHEMA)
                # a journal from an older mlwright (resume): columns added since then
                have = {r["name"] for r in con.execute("PRAGMA table_info(attempts)")}
                for col in [*AttemptRecord.model_fields, "process"]:
                    if col not in have:
                        con.execute(f"ALTER TABLE attempts ADD COLUMN {col}")
        except sqlite3.DatabaseError as e:  # not a database, or a full disk: a clear error, not a traceback
            raise MlwrightError(f"The run's journal cannot be opened: {e}", where=str(self.path),
                                hint="If the disk is full, free some space; a damaged journal needs a new run.") from e

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        return con

    def event(self, stage: str, message: str, data: Optional[dict] = None) -> None:
        with self._connect() as con:
            con.execute("INSERT INTO events (ts, stage, message, data) VALUES (?, ?, ?, ?)",
                        (time.time(), stage, message, json.dumps(data) if data else None))

    def events(self, after_id: int = 0) -> list[Event]:
        """The stage events after `after_id`, typed (the catalog's one parser)."""
        with self._connect() as con:
            rows = con.execute("SELECT id, ts, stage, message, data FROM events WHERE id > ? ORDER BY id",
                               (after_id,)).fetchall()
        return [parse_event(dict(r)) for r in rows]

    def save_attempt(self, rec: AttemptRecord, code: Optional[str] = None, params: Optional[dict] = None) -> None:
        d = rec.model_dump()
        d["workdir"] = relative_to_run(rec.workdir, self.path.parent)  # the run folder can move
        cols = list(d)
        with self._connect() as con:
            con.execute(
                f"INSERT INTO attempts ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
                f"ON CONFLICT(attempt_id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in cols)}",
                [d[c] for c in cols])
            if code is not None or params is not None:
                con.execute("UPDATE attempts SET code = COALESCE(?, code), params = COALESCE(?, params) "
                            "WHERE attempt_id = ?", (code, json.dumps(params) if params is not None else None,
                                                     rec.attempt_id))

    def attempts(self) -> list[AttemptRecord]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM attempts ORDER BY attempt_id").fetchall()
        return [_record(r, self.path.parent) for r in rows]

    def attempt_counts(self) -> dict[str, int]:
        """Attempts by status."""
        with self._connect() as con:
            return {r[0]: r[1] for r in con.execute("SELECT status, COUNT(*) FROM attempts GROUP BY status")}

    def add_guidance(self, text: str) -> int:
        """A user instruction for the next attempts (interactive runs, the web UI, MCP)."""
        with self._connect() as con:
            return con.execute("INSERT INTO guidance (ts, text) VALUES (?, ?)", (time.time(), text)).lastrowid

    def pending_guidance(self) -> list[tuple[int, str]]:
        """Instructions no attempt has seen yet: (guidance id, text)."""
        with self._connect() as con:
            rows = con.execute("SELECT id, text FROM guidance WHERE consumed_by_attempt IS NULL ORDER BY id").fetchall()
        return [(r["id"], r["text"]) for r in rows]

    def consume_guidance(self, ids: list[int], attempt_id: int) -> None:
        """Journal instructions beside the attempt they preceded."""
        with self._connect() as con:
            con.executemany("UPDATE guidance SET consumed_by_attempt = ? WHERE id = ?", [(attempt_id, i) for i in ids])

    # -- the attempt tree ------------------------------------------------------------------------------------
    def next_attempt_id(self) -> int:
        """The id the next attempt gets: ids are handed out here, in the order attempts start."""
        with self._connect() as con:
            return int(con.execute("SELECT COALESCE(MAX(attempt_id), 0) + 1 FROM attempts").fetchone()[0])

    def best_attempt(self, higher_is_better: bool) -> Optional[AttemptRecord]:
        """The valid attempt with the best score (the earliest among equals)."""
        order = "DESC" if higher_is_better else "ASC"
        with self._connect() as con:
            r = con.execute("SELECT * FROM attempts WHERE status = 'succeeded' AND score IS NOT NULL "
                            f"ORDER BY score {order}, attempt_id LIMIT 1").fetchone()
        return _record(r, self.path.parent) if r else None

    def set_diagnosis(self, attempt_id: int, text: str) -> None:
        """The error analyst's diagnosis of a failed attempt (episodic memory for the next debug attempt)."""
        with self._connect() as con:
            con.execute("UPDATE attempts SET diagnosis = ? WHERE attempt_id = ?", (text, attempt_id))

    def diagnoses(self) -> dict[int, str]:
        with self._connect() as con:
            rows = con.execute("SELECT attempt_id, diagnosis FROM attempts WHERE diagnosis IS NOT NULL").fetchall()
        return {r["attempt_id"]: r["diagnosis"] for r in rows}

    def attempt_params(self, attempt_id: int) -> Optional[dict]:
        with self._connect() as con:
            r = con.execute("SELECT params FROM attempts WHERE attempt_id = ?", (attempt_id,)).fetchone()
        return json.loads(r["params"]) if r and r["params"] else None

    def set_process(self, attempt_id: int, info: Optional[dict]) -> None:
        """The running attempt's process (sandbox.process_record), None once it has ended: a resume after a kill -9
        of mlwright finds and kills what was left running."""
        with self._connect() as con:
            con.execute("UPDATE attempts SET process = ? WHERE attempt_id = ?",
                        (json.dumps(info) if info else None, attempt_id))

    def processes(self) -> dict[int, dict]:
        with self._connect() as con:
            rows = con.execute("SELECT attempt_id, process FROM attempts WHERE process IS NOT NULL").fetchall()
        return {r["attempt_id"]: json.loads(r["process"]) for r in rows}

    def attempt_code(self, attempt_id: int) -> Optional[str]:
        with self._connect() as con:
            r = con.execute("SELECT code FROM attempts WHERE attempt_id = ?", (attempt_id,)).fetchone()
        return r["code"] if r else None


def _record(row: sqlite3.Row, run_dir: Path) -> AttemptRecord:
    """An attempts row as the record (the table also holds code, params, diagnosis, process), its folder where the
    run folder is now."""
    return AttemptRecord(**{k: row[k] for k in row.keys() if k in AttemptRecord.model_fields}).located(run_dir)


# The attempt tree's shape, derived from parent ids (one place: the LLM planner and policy ask these).
def lineage(rec: AttemptRecord, by_id: dict[int, AttemptRecord]) -> list[AttemptRecord]:
    """The attempt and its ancestors, nearest first (a cycle or a missing parent ends the walk)."""
    out, seen = [], set()
    cur: Optional[AttemptRecord] = rec
    while cur is not None and cur.attempt_id not in seen:
        out.append(cur)
        seen.add(cur.attempt_id)
        cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
    return out


def debug_depth(rec: AttemptRecord, by_id: dict[int, AttemptRecord]) -> int:
    """How many debug steps in a row led to this attempt (it included)."""
    depth = 0
    for r in lineage(rec, by_id):
        if r.kind != "debug":
            break
        depth += 1
    return depth
