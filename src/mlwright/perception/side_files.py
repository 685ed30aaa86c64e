"""Side files are evidence: READMEs, data dictionaries and `columns`/`names`/`schema` files name the columns of
headerless tables, say what a column means, which one is the id and which one is the target."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

NOTE_SUFFIXES = {".md", ".markdown", ".rst", ".names", ".txt", ".text", ".info", ".readme"}
MAX_NOTE_BYTES = 512 * 1024
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.):]|\(\d{1,3}\)|#{1,6})?\s*")
# a name, then a separator and a description (or nothing)
_ENTRY = re.compile(r"^`?(?P<name>[A-Za-z_\u00c0-\uffff][\w\u00c0-\uffff .\-/%#]{0,60}?)`?\s*"
                    r"(?:(?P<sep>:|\s-\s|\s–\s|\s—\s|\t|\s{2,}|\s\(|=)\s*(?P<desc>.*))?$")
_MD_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_MD_HEADER_WORDS = {"column", "columns", "name", "field", "variable", "feature", "attribute", "col"}
_LIST_LINE = re.compile(r"(?:columns?|fields?|variables?|attributes?|header|names?)\s*(?:are|:|=)\s*"
                        r"(?:,?\s*(?:in (?:this |that )?order|as follows)\s*)?:?\s*(.+?)(?:\.\s|\.?$)", re.I | re.M)
ID_WORDS = re.compile(r"\b(identifier|unique (?:id|key|identifier)|row id|record id|primary key|is an? id|"
                      r"id of (?:the|each))\b", re.I)
TARGET_WORDS = re.compile(r"\b(target|label to predict|to (?:be )?predict(?:ed)?|the outcome|what we (?:want to )?"
                          r"predict|class label|response variable|dependent variable|the label)\b", re.I)


@dataclass
class SideNotes:
    """Everything the side files say: their text, the column lists they hold and what each column means."""

    texts: dict[str, str] = field(default_factory=dict)  # file -> text
    column_lists: list[tuple[str, list[str]]] = field(default_factory=list)  # (file, names in order)
    meanings: dict[str, str] = field(default_factory=dict)  # column name -> description
    entries: dict[str, str] = field(default_factory=dict)  # every "name: description" line, lists or not

    def id_columns(self) -> list[str]:
        return [n for n, d in self.meanings.items() if ID_WORDS.search(d)]

    def target_columns(self) -> list[str]:
        return [n for n, d in self.meanings.items() if TARGET_WORDS.search(d)]

    def add(self, rel: str, text: str) -> None:
        self.texts[rel] = text
        for m in _ENTRY_LINE.finditer(text):
            self.entries.setdefault(m.group(1).strip(), m.group(2).strip())
        for names, descs in extract_column_lists(text):
            self.column_lists.append((rel, names))
            for n, d in zip(names, descs):
                if d and n not in self.meanings:
                    self.meanings[n] = d


_ENTRY_LINE = re.compile(r"^[ \t]*(?:[-*][ \t]+)?([A-Za-z_][\w\-]{0,40})[ \t]*:[ \t]*(\S[^\n]*)$", re.M)


def _listed_values(desc: str) -> set[str]:
    """The values an entry enumerates ("yes, no." -> {yes, no}); empty when it is prose."""
    parts = [p.strip().strip(".").strip() for p in desc.rstrip(".").split(",")]
    return {p.lower() for p in parts if p} if len(parts) >= 2 and all(len(p) <= 40 for p in parts) else set()


def _name_extra_column(df, names: list[str], notes: "SideNotes") -> Optional[list[str]]:
    """Names for a table with one column more than a list names (UCI: the class attribute is defined apart, the
    class column is the data's last): the column whose values an entry of the notes enumerates gets its name."""
    best = None
    for name, desc in notes.entries.items():
        vals = _listed_values(desc)
        if not vals or _norm(name) in {_norm(n) for n in names}:
            continue
        for j in range(df.shape[1]):
            have = {str(v).strip().lower() for v in df.iloc[:, j].dropna().unique()[:1000]}
            cover = len(have & vals) / max(len(have), 1)
            if len(have) >= 2 and cover >= 0.9 and (best is None or cover > best[0]):
                best = (cover, j, name)
    if best is None:
        return None
    return names[: best[1]] + [best[2]] + names[best[1]:]


def is_note_file(path: Path) -> bool:
    name = path.name.lower()
    return (path.suffix.lower() in NOTE_SUFFIXES or name.startswith("readme") or
            (not path.suffix and re.search(r"columns?|names|schema|header|fields|dictionary", name) is not None))


def read_note(path: Path) -> Optional[str]:
    """The text of a small prose/list file; None when it is binary or too big to be a note."""
    try:
        if path.stat().st_size > MAX_NOTE_BYTES:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    from mlwright.perception.readers import _decode

    return _decode(path)


def json_column_list(path: Path) -> Optional[list[str]]:
    """A small json schema: {"columns": ["a", ...]} or {"fields": [{"name": "a"}, ...]} (also a bare list)."""
    text = read_note(path)
    if text is None:
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if isinstance(obj, dict):
        keys = [k for k in obj if re.fullmatch(r"columns?|fields?|names?|schema|header|variables?", str(k), re.I)]
        obj = obj[keys[0]] if keys else None
        if isinstance(obj, dict) and any(isinstance(v, list) for v in obj.values()):
            obj = next(v for v in obj.values() if isinstance(v, list))
    if not isinstance(obj, list) or len(obj) < 2:
        return None
    names = [o if isinstance(o, str) else o.get("name") if isinstance(o, dict) else None for o in obj]
    return names if all(isinstance(n, str) and n for n in names) else None


def _clean(name: str) -> str:
    return name.strip().strip("`'\"*").strip()


def _markdown_table(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    names: list[str]
    out, names, descs = [], [], []
    for ln in lines + [""]:
        m = _MD_ROW.match(ln)
        if m:
            cells = [_clean(c) for c in m.group(1).split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c.strip()) for c in cells if c.strip()):
                continue  # the separator row
            if not names and cells[0].lower() in _MD_HEADER_WORDS:
                continue  # the table's own header row
            if cells and cells[0]:
                names.append(cells[0])
                descs.append(" ".join(cells[1:]))
            continue
        if len(names) >= 2:
            out.append((names, descs))
        names, descs = [], []
    return out


def _entry_runs(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    """Runs of consecutive lines that each start with a name (bulleted or numbered, maybe with a description)."""
    names: list[str]
    descs: list[str]
    out, names, descs = [], [], []

    def close():
        if len(names) >= 2 and len(set(names)) == len(names):
            out.append((list(names), list(descs)))
        names.clear()
        descs.clear()

    for ln in lines:
        if not ln.strip() or _MD_ROW.match(ln):
            close()
            continue
        body = _BULLET.sub("", ln.rstrip(), count=1)
        m = _ENTRY.match(body)
        name = _clean(m.group("name")) if m else ""
        desc = (m.group("desc") or "") if m else ""
        plain_sentence = m and not m.group("sep") and (len(name.split()) > 3 or name.endswith("."))
        if not m or not name or plain_sentence:
            close()
            continue
        if m.group("sep") == " (":
            desc = "(" + desc
        names.append(name)
        descs.append(desc.strip())
    close()
    return out


def extract_column_lists(text: str) -> list[tuple[list[str], list[str]]]:
    """(names, descriptions) for every list of column names the text holds, in order of appearance."""
    lines = text.splitlines()
    found = _markdown_table(lines) + _entry_runs(lines)
    for ln in lines:  # "Columns: id, age, income, label" / a bare comma-separated header line
        m = _LIST_LINE.search(ln)
        chunk = m.group(1) if m else ln if ln.count(",") >= 2 and len(ln) < 2000 else None
        if chunk:
            names = [_clean(p) for p in re.split(r"\s*[,;]\s*", chunk.strip().rstrip("."))]
            if len(names) >= 2 and all(names) and all(len(n) <= 60 for n in names) and len(set(names)) == len(names):
                found.append((names, [""] * len(names)))
    return found


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _same_kind(a, b) -> float:
    """How alike two columns are: both numeric (or not), and how many values they share."""
    import pandas as pd

    na, nb = pd.api.types.is_numeric_dtype(a), pd.api.types.is_numeric_dtype(b)
    if na != nb:
        return 0.0
    if na:
        return 1.0
    va, vb = set(a.dropna().astype(str).head(500)), set(b.dropna().astype(str).head(500))
    return 1.0 + (len(va & vb) / max(1, min(len(va), len(vb))))


def _drop_position(table, names: list[str], reference) -> int:
    """Which name a table with one column fewer lacks (a test table without the target): the position whose
    removal lines its columns up best with a reference table that has all the names."""
    best, best_score = len(names) - 1, -1.0
    for k in range(len(names)):
        rest = names[:k] + names[k + 1:]
        score = sum(_same_kind(table.iloc[:, j], reference[n]) for j, n in enumerate(rest)) if reference is not None \
            else 0.0
        if score > best_score:
            best, best_score = k, score
    return best


def _header_like_data(df) -> bool:
    """Most header cells are values of their own column (a data row read as a header)."""
    hits = 0
    for c in df.columns:
        vals = set(df[c].dropna().astype(str).str.strip().head(2000))
        hits += str(c).strip() in vals
    return hits >= max(1, 0.5 * df.shape[1])


def name_headerless_tables(tables: dict, table_paths: dict, notes: SideNotes) -> list[str]:
    """Give headerless tables the column names a side file lists (in place); re-read a table whose first row was
    taken for a header when a side file lists as many names and none of them. Returns what was done."""

    from mlwright.perception.readers import read_delimited

    said: list[str] = []
    lists = [(f, n) for f, n in notes.column_lists if len({_norm(x) for x in n}) == len(n)]
    if not lists:
        return said
    done: dict[str, list[str]] = {}
    for full in (True, False):  # tables with every name first: they are the reference for the shorter ones
        for key, df in list(tables.items()):
            if key in done:
                continue
            header = df.attrs.get("header")
            width = df.shape[1]
            cur = {_norm(c) for c in df.columns}
            for f, names in lists:
                if full and len(names) != width or not full and len(names) != width + 1:
                    continue
                if header == "detected" and cur & {_norm(x) for x in names}:
                    break  # it has a real header that the list confirms (or partly)
                if header == "detected":  # the "header" shares no name with the list and looks like data
                    if not _header_like_data(df):
                        break
                    path = table_paths.get(key)
                    if not path or not str(path).lower().endswith((".csv", ".tsv", ".txt", ".dat", ".tab", ".psv")):
                        break
                    df = read_delimited(Path(path), header=False)
                elif header != "absent":
                    break
                if full:
                    use = list(names)
                else:
                    ref = next((tables[k] for k, v in done.items() if len(v) == len(names)), None)
                    k = _drop_position(df, names, ref)
                    use = names[:k] + names[k + 1:]
                df = df.set_axis(use, axis=1)
                df.attrs["header"] = "side file"
                tables[key] = df
                done[key] = list(names)
                said.append(f"{key}: no header row; column names from {f}"
                            + ("" if full else f" (without {names[k]!r}, which this table lacks)"))
                break
    for key, df in list(tables.items()):  # one column more than any list names: a class defined apart
        if key in done or df.attrs.get("header") != "absent":
            continue
        for f, names in lists:
            use = _name_extra_column(df, names, notes) if len(names) == df.shape[1] - 1 else None
            if use:
                extra = next(n for n in use if n not in names)
                df = df.set_axis(use, axis=1)
                df.attrs["header"] = "side file"
                tables[key] = df
                done[key] = use
                said.append(f"{key}: no header row; column names from {f}, and {extra!r} for the column whose "
                            "values the notes list for it")
                break
    return said
