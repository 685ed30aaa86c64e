"""Ids are checked against the raw test files as a second, simple reader sees them, not against perception's
reading: a prediction file whose ids are not the test file's own (e.g. 0..n-1 invented for a file whose first
column is the real id) fails, with the reason."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Optional

import pandas as pd

from mlwright.perception.profile import _natural_language as natural_language, looks_like_id_name, nearly_unique_ids
from mlwright.schemas import TaskSpec

_TEXT = {".csv", ".tsv", ".txt", ".dat", ".tab", ".psv"}
_MAX_BYTES = 512 * 1024**2


def _norm(v) -> str:
    s = str(v).strip()
    return re.sub(r"^(-?\d+)\.0+$", r"\1", s)


def raw_columns(path: Path) -> Optional[list[list[str]]]:
    """Every column of a raw table file as strings, its first row included (header or not); None when this
    simple reader cannot read the file."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None
        suffix = path.suffix.lower()
        if suffix in _TEXT:
            from mlwright.perception.readers import _decode

            text = _decode(path)
            try:
                dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
                delim = dialect.delimiter
            except csv.Error:
                delim = max(",;\t|", key=lambda d: text[:65536].count(d))
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if r]
            width = max((len(r) for r in rows), default=0)
            return [[r[j] if j < len(r) else "" for r in rows] for j in range(width)]
        if suffix in (".xlsx", ".xlsm", ".xls"):
            frames = pd.read_excel(path, sheet_name=None, header=None, dtype=str).values()
            df = pd.concat(list(frames), ignore_index=True) if frames else pd.DataFrame()
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            df = pd.read_json(path, lines=True, dtype=False)
        elif suffix == ".json":
            try:
                df = pd.json_normalize(pd.read_json(path, dtype=False).to_dict("records"))
            except ValueError:
                df = pd.read_json(path, lines=True, dtype=False)
        elif suffix in (".sqlite", ".sqlite3", ".db"):
            import sqlite3

            with sqlite3.connect(f"file:{path.resolve()}?mode=ro&immutable=1", uri=True) as con:
                names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                df = pd.concat([pd.read_sql_query(f'SELECT * FROM "{n}"', con) for n in names], axis=1)
        else:
            return None
        return [[str(c)] + df[c].astype(str).tolist() for c in df.columns]
    except Exception:  # noqa: BLE001 - this reader only double-checks; it must never break a run
        return None


def _id_like(col: list[str], n_rows: int, first: bool = True) -> bool:
    """A column that identifies the test rows: unique values, one per row (the first cell may be its name).
    Measurements are not ids: decimals never, unique whole numbers only in the first column (where keys sit)."""
    for values, name in ((col[1:], col[0]), (col, None)):
        vals = [v.strip() for v in values]
        if name is not None and looks_like_id_name(name) and len(vals) == n_rows \
                and nearly_unique_ids(pd.Series(vals)):  # an id with a few flaws still names the rows
            return True
        if len(vals) != n_rows or any(not v for v in vals) or len(set(vals)) != len(vals):
            continue
        if name is not None and looks_like_id_name(name):
            return True
        ints = [v for v in vals if re.fullmatch(r"-?\d+", v)]
        if len(ints) == len(vals):
            nums = sorted(int(v) for v in ints)
            if any(len(v) > 1 and v[0] == "0" for v in ints):  # zero-padded: codes
                return True
            if first and nums != list(range(nums[0], nums[0] + len(nums))):  # not a row counter
                return True
            continue
        if all(re.fullmatch(r"-?\d*[.,]?\d+(e[-+]?\d+)?", v, re.I) for v in vals):
            continue
        if all(re.fullmatch(r"[\w\-.:/#]+", v) for v in vals) and n_rows >= 5 \
                and not natural_language(pd.Series(vals)):  # codes, not free text (also unspaced scripts)
            return True
    return False


def check_raw_ids(spec: TaskSpec, pred: pd.DataFrame, data_dir: Path, keys: Optional[list[str]] = None,
                  cache: Optional[dict] = None) -> Optional[str]:
    """None when the prediction file's ids agree with the raw test file(s); else the reason they do not."""
    if not spec.test_sources or not spec.key_columns:  # no key column asked for: rows in the test order
        return None
    if spec.ranking is not None:  # the query ids come from the queries' file; the document ids from the corpus
        keys = [spec.output_columns[0]]
    cache = cache if cache is not None else {}
    parts: list[list[list[str]]] = []
    for src in spec.test_sources:
        p = Path(src) if Path(src).is_absolute() else Path(data_dir) / src
        if str(p) not in cache:
            cache[str(p)] = raw_columns(p)
        parts.append(cache[str(p)] or [])
    if len({len(c) for c in parts}) == 1:  # parts of one table: column j is the same column in every file
        columns = [sum((c[j] for c in parts), []) for j in range(len(parts[0]))]
    else:
        columns = [col for c in parts for col in c]
    if not columns:
        return None
    n = len(pred)
    dedicated = len(spec.test_sources) == 1 and spec.test_table and " (" not in spec.test_table
    if spec.ids_numbered:
        if not dedicated:
            return None
        for j, col in enumerate(columns):
            if _id_like(col, n, first=j == 0):
                shown = ", ".join(v for v in col[1:4])
                return (f"the predictions number the rows 0..{n - 1}, but the raw test file "
                        f"{spec.test_sources[0]} has a column of unique ids (column {j + 1}, first cell "
                        f"{col[0]!r}, values like {shown}); the ids were not read right")
        return None
    sets = [{_norm(v) for v in col} for col in columns]
    for k in keys if keys is not None else spec.key_columns:
        if k not in pred.columns:
            continue
        got = {_norm(v) for v in pred[k].dropna().astype(str)} - {""}  # an empty id matches nothing
        if not any(got <= s for s in sets):
            example = next(iter(got - set().union(*sets)), next(iter(got), ""))
            return (f"the prediction ids in {k!r} are not the values of any column of the raw test file(s) "
                    f"{', '.join(spec.test_sources)} (e.g. {example!r} is not there)")
    return None
