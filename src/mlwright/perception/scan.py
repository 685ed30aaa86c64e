"""Walk the data folder (recursively, archives unpacked into the run folder) and read every table."""
from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlwright.errors import DataError, DataTooLargeError, printable
from mlwright.perception.archives import UnpackBudget, is_archive, unpack_archive
from mlwright.perception.profile import profile_table
from mlwright.perception.readers import (duplicate_note, not_regular, not_regular_error, not_regular_reason,
                                         read_tables, sniff_kind)
from mlwright.perception.sizing import MemoryBudget
from mlwright.perception.side_files import SideNotes, is_note_file, json_column_list, name_headerless_tables, read_note
from mlwright.schemas import DataProfile

_SKIP_DIRS = {"__MACOSX", ".git", ".ipynb_checkpoints", "__pycache__"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
DOCUMENT_SUFFIXES = {".txt", ".text"}
MIN_DOCUMENTS_PER_DIR = 5  # a folder with this many .txt files holds documents, not tables


@dataclass
class LoadedFolder:
    root: Path
    files: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    table_paths: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # file -> reason it could not be read
    images: dict[str, Path] = field(default_factory=dict)  # image files (by suffix, not yet decoded): rel -> absolute
    documents: dict[str, Path] = field(default_factory=dict)  # one-document-per-file text: rel -> absolute
    notes: SideNotes = field(default_factory=SideNotes)  # READMEs, data dictionaries, column-name files
    read_notes: list[str] = field(default_factory=list)  # what reading decided (for the task's notes)

    def check_readable(self) -> None:
        if not self.tables and not self.images and not self.documents:  # images only: the caller judges
            detail = "; ".join(f"{k}: {v}" for k, v in self.skipped.items())
            raise DataError("No readable table in the data folder." + (f" Unreadable: {detail}" if detail else
                            f" Files seen: {', '.join(self.files[:10])}"), where=str(self.root),
                            hint="Supported: csv/tsv/txt, xlsx, parquet, json/jsonl, sqlite, and zip/tar archives "
                                 "of them; with --llm, mlwright can also write a reader for other formats.")

    def profile(self) -> DataProfile:
        return DataProfile(
            data_dir=str(self.root), files=self.files, skipped=self.skipped,
            tables=[profile_table(n, self.table_paths[n], df) for n, df in self.tables.items()])


def _walk(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and not f.startswith("~$"):
                yield Path(dirpath) / f


def _json_object_document(p: Path) -> bool:
    """A small .json (or one-line .jsonl) file holding one object: one document of a folder of many, not a
    table (json arrays and multi-line jsonl shards stay tables)."""
    if p.suffix.lower() not in (".json", ".jsonl"):
        return False
    try:
        if p.stat().st_size > 1024**2:
            return False
        raw = p.read_bytes().lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    if not raw.startswith(b"{"):
        return False
    return p.suffix.lower() == ".json" or len([ln for ln in raw.splitlines() if ln.strip()]) == 1


def _printable_copy(p: Path, root: Path, into: Path) -> Path:
    """A copy of `p` (whose path under `root` is not valid UTF-8) at the same place under `into`, named printably;
    the run then names, stores and re-reads the file by that name."""
    target = into / printable(p.relative_to(root).as_posix())
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(p, target)
    except OSError as e:
        raise DataError(f"Cannot copy the file to read it: {e.strerror}", where=printable(str(p)),
                        hint="Rename the file to a UTF-8 name and run again.") from e
    return target


def load_folder(data_dir: Path, unpack_dir: Path, max_memory_mb: float | None = None,
                require_data: bool = True) -> LoadedFolder:
    """`require_data=False` leaves the "nothing readable" verdict to the caller (an LLM may write a reader)."""
    data_dir = Path(data_dir)
    if printable(str(data_dir)) != str(data_dir):
        raise DataError("The data folder's path is not valid UTF-8 text, so it cannot be recorded or shown.",
                        where=printable(str(data_dir)), hint="Rename the folder (or link it under a UTF-8 name) "
                                                             "and run again.")
    if not data_dir.exists():
        raise DataError(f"Data folder does not exist: {data_dir}", hint="Check the path.")
    if (what := not_regular(data_dir)) not in (None, "a folder"):  # a named pipe given as the data: never opened
        raise not_regular_error(data_dir, what)
    if data_dir.is_file():  # a single file (table or archive) is accepted as a folder of one
        roots = [(data_dir.parent, [data_dir])]
    else:
        roots = [(data_dir, list(_walk(data_dir)))]
    out = LoadedFolder(root=data_dir)
    seen_archives = 0
    budget = UnpackBudget()  # every archive of the folder, nested ones too, shares one cap
    memory = MemoryBudget.for_reading(max_memory_mb)  # every table of the folder too (sizing.py)
    while roots:
        root, paths = roots.pop(0)
        # named pipes, sockets, devices: never opened, read, hashed, copied or unpacked (a pipe blocks the open)
        special = {p: what for p in paths if (what := not_regular(p)) is not None}
        per_dir = Counter(p.parent for p in paths if p not in special and p.suffix.lower() in DOCUMENT_SUFFIXES)
        doc_dirs = {d for d, n in per_dir.items() if n >= MIN_DOCUMENTS_PER_DIR}
        json_objects = {p for p in paths if p not in special and _json_object_document(p)}
        json_dirs = Counter(p.parent for p in json_objects)
        json_docs = {p for p in json_objects if json_dirs[p.parent] >= MIN_DOCUMENTS_PER_DIR}
        for p in paths:
            unpacked = root.is_relative_to(unpack_dir)
            rel = f"{root.name}/{p.relative_to(root).as_posix()}" if unpacked else p.relative_to(root).as_posix()
            read_root = root
            if p in special:
                rel = printable(rel)
                out.files.append(rel)
                out.skipped[rel] = not_regular_reason(special[p])
                out.read_notes.append(f"{rel}: {out.skipped[rel]}")
                continue
            document = p.parent in doc_dirs and p.suffix.lower() in DOCUMENT_SUFFIXES or p in json_docs
            if printable(rel) != rel:  # bytes that are not UTF-8 in the name: read a copy under a printable name
                read_root = unpack_dir / "renamed" / (root.name if unpacked else "")  # one place per archive
                p = _printable_copy(p, root, read_root)
                out.read_notes.append(f"{printable(rel)}: the file name is not valid UTF-8; read from a copy, "
                                      f"{p.relative_to(unpack_dir.parent).as_posix()}, in the run folder")
                rel = printable(rel)
            out.files.append(rel)
            if is_archive(p):
                seen_archives += 1
                dest = unpack_dir / f"{seen_archives:02d}_{p.name.split('.')[0]}"
                unpack_archive(p, dest, budget=budget)
                roots.append((dest, list(_walk(dest))))
                continue
            if p.suffix.lower() in IMAGE_SUFFIXES:
                out.images[rel] = Path(os.path.abspath(p))
                continue
            if document:
                out.documents[rel] = Path(os.path.abspath(p))
                continue
            kind = sniff_kind(p)
            if kind is None or kind == "json" and (listed := json_column_list(p)):
                if kind == "json":
                    out.notes.column_lists.append((rel, listed))
                    out.notes.texts[rel] = p.read_text(errors="replace")
                elif is_note_file(p) and (text := read_note(p)) is not None:
                    out.notes.add(rel, text)
                continue
            try:
                tables = read_tables(p, read_root, budget=memory)
                if kind == "text" and is_note_file(p) and all(df.shape[1] < 2 for df in tables.values()):
                    text = read_note(p)  # a list of names or prose in a .txt: a note, not a table
                    if text is not None:
                        out.notes.add(rel, text)
                        continue
                for name, df in tables.items():
                    key = f"{root.name}/{name}" if unpacked else name
                    if len(df) == 0 and df.shape[1] >= 2 and kind == "text":  # a header line alone: names
                        out.notes.column_lists.append((rel, [str(c) for c in df.columns]))
                        out.notes.texts[rel] = ", ".join(map(str, df.columns))
                        continue
                    if df.empty or df.shape[1] == 0:
                        out.skipped[key] = "no rows"
                        continue
                    out.tables[key] = df
                    out.table_paths[key] = str(p)
                    out.read_notes += duplicate_note(key, df)
            except DataTooLargeError:  # too much memory, a bomb, too many columns: the run cannot go on without it
                raise
            except DataError as e:
                text = read_note(p) if is_note_file(p) else None
                if text is not None and text.strip():  # prose that no table reader makes sense of
                    out.notes.add(rel, text)
                    continue
                out.skipped[rel] = e.what
    out.read_notes += name_headerless_tables(out.tables, out.table_paths, out.notes)
    if not out.files:
        raise DataError("The data folder is empty.", where=str(data_dir),
                        hint="Put the training data (and the rows to predict) in the folder.")
    if require_data:
        out.check_readable()
    return out
