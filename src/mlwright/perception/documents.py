"""One-document-per-file text (.txt, or .json / one-line .jsonl objects): labels given by class-named folders
(train/<class>/*.txt) or by a table of file names and labels; unlabeled documents in a test folder or listed
in a test table. The documents become a text column of a train and a test table, and the usual inference
(target, metric, output format) takes it from there."""
from __future__ import annotations

import json
import re
from typing import Optional

import pandas as pd

from mlwright.perception.images import _file_column, _Index, _test_ids
from mlwright.perception.infer import Asker, Inferred, _is_sample_submission, infer_task
from mlwright.perception.profile import column_kind, looks_like_id_name
from mlwright.perception.readers import _decode
from mlwright.perception.scan import LoadedFolder
from mlwright.perception.task_text import TextHints

_TEST_DIR = re.compile(r"^(test|tests|testing|unlabell?ed|new|predict|to_predict|holdout|eval)([_\- ].*)?$", re.I)
TEXT_COLUMN = "text"
# the table mlwright builds from class folders; its label column is mlwright's name, not the user's
CLASS_FOLDER_TABLE = "train_documents"


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _read(path) -> Optional[str]:
    """A document's text; a .json document's text is its string values, in order."""
    try:
        text = _decode(path)
        if str(path).lower().endswith((".json", ".jsonl")):
            return "\n".join(_strings(json.loads(text.strip())))
        return text
    except Exception:  # noqa: BLE001 - an unreadable document is reported, not fatal
        return None


def _text_column(df: pd.DataFrame) -> str:
    name = TEXT_COLUMN
    while name in df.columns:
        name = "document_" + name
    return name


def _pick(index: _Index, value, test_table: bool) -> Optional[str]:
    """The document a table cell names; when the name exists in several folders, the one in a test folder for a
    test table and outside test folders otherwise."""
    cands = index.candidates(value)
    if len(cands) > 1:
        cands = [c for c in cands if any(_TEST_DIR.match(d) for d in c.split("/")[:-1]) == test_table]
    return cands[0] if len(cands) == 1 else None


def inline_referenced_documents(folder: LoadedFolder) -> list[str]:
    """Tables with a column of document file names get the documents' text as a new column (in place). Test
    documents that no table lists become a test table. Returns notes; the documents are consumed."""
    if not folder.documents or not folder.tables:
        return []
    index = _Index(list(folder.documents))
    notes, used, file_col, tcol = [], set(), None, None
    for name, df in list(folder.tables.items()):
        if _is_sample_submission(name, df):  # its columns are the output format: no text there
            continue
        found = _file_column(df, index)
        if not found:
            continue
        col = found[0]
        is_test = bool(_TEST_DIR.match(name.rsplit("/", 1)[-1].rsplit(".", 1)[0]))
        rels = [_pick(index, v, is_test) for v in df[col]]
        texts = [_read(folder.documents[r]) if r else None for r in rels]
        missing = sum(r is None for r in rels)
        empty = sum(r is not None and not (t or "").strip() for r, t in zip(rels, texts))
        tcol = tcol if tcol and tcol not in df.columns else _text_column(df)
        folder.tables[name] = df.assign(**{tcol: [t or "" for t in texts]})
        used |= {r for r in rels if r}
        file_col = file_col or col
        notes.append(f"documents: column {col!r} of {name} names document files; their text is column {tcol!r}"
                     + (f"; {missing} names match no file (or several)" if missing else "")
                     + (f"; {empty} documents are empty or unreadable (no text)" if empty else ""))
    if not used:
        return _documents_beside_table(folder)
    rest = [r for r in folder.documents if r not in used and any(_TEST_DIR.match(d) for d in r.split("/")[:-1])]
    if rest and file_col:
        ids = _test_ids(rest)
        texts = [_read(folder.documents[r]) for r in rest]
        folder.tables["test_documents"] = pd.DataFrame({file_col: ids, tcol: [t or "" for t in texts]})
        n_empty = sum(not (t or "").strip() for t in texts)
        notes.append(f"documents: {len(rest)} unlisted documents in a test folder are the rows to predict"
                     + (f" ({n_empty} empty)" if n_empty else ""))
    folder.documents = {}
    return notes


def _text_column_of(df: pd.DataFrame) -> Optional[str]:
    """The free-text column of a table: the string column with the longest values (several words or long)."""
    best, best_len = None, 0.0
    for c in df.columns:
        v = df[c].dropna()
        if v.empty or v.dtype != object:
            continue
        v = v.astype(str).head(500)
        mean_len = float(v.str.len().mean())
        if mean_len > best_len and (column_kind(df[c], str(c)) == "text" or mean_len >= 30):
            best, best_len = c, mean_len
    return best


def _documents_beside_table(folder: LoadedFolder) -> list[str]:
    """Mixed layouts: a training table with a text column and the rows to predict as a folder of documents
    (test/<id>.txt; the id is the file name, without its extension unless the table's ids carry one), or labeled
    documents in class folders and a test table with a text column. The documents become a table."""
    docs = sorted(folder.documents)
    test_docs = [r for r in docs if any(_TEST_DIR.match(d) for d in r.split("/")[:-1])]
    tables = {n: df for n, df in folder.tables.items() if not _is_sample_submission(n, df)}
    with_text = {n: c for n, df in tables.items() if (c := _text_column_of(df))}
    if len(with_text) != 1:
        return []
    name, tcol = next(iter(with_text.items()))
    df = tables[name]
    labeled = [r for r in docs if r not in test_docs and len(r.split("/")) >= 2]
    classes = {r.split("/")[-2] for r in labeled}
    if test_docs and len(test_docs) == len(docs) or (test_docs and len(classes) < 2):
        ids = [r.rsplit("/", 1)[-1] for r in test_docs]
        key_cols = [c for c in df.columns if looks_like_id_name(str(c))]
        keep_ext = any(df[c].astype(str).str.contains(r"\.\w{1,5}$").mean() > 0.9 for c in key_cols)
        stems = [i.rsplit(".", 1)[0] for i in ids]
        if not keep_ext and len(set(stems)) == len(stems):
            ids = stems
        key = key_cols[0] if key_cols else "filename"
        folder.tables["test_documents"] = pd.DataFrame({key: ids, tcol: [_read(folder.documents[r]) or ""
                                                                         for r in test_docs]})
        folder.documents = {}
        return [f"documents: the {len(test_docs)} files in the test folder are the rows to predict (column {key!r} = "
                f"file name{'' if keep_ext else ' without extension'}, their text = column {tcol!r} as in {name})"]
    if len(classes) >= 2 and not test_docs:
        label = "label"
        folder.tables[CLASS_FOLDER_TABLE] = pd.DataFrame({tcol: [_read(folder.documents[r]) or "" for r in labeled],
                                                         label: [r.split("/")[-2] for r in labeled]})
        folder.documents = {}
        return [f"documents: {len(labeled)} labeled documents in {len(classes)} class folders train; their text is "
                f"column {tcol!r} as in {name}, which holds the rows to predict"]
    return []


def _template_of(folder: LoadedFolder, names: list[str]) -> Optional[tuple[str, pd.DataFrame, bool]]:
    """(name, table, keyed by stems) of a sample/template whose first column lists the test documents' file names
    (with or without their extension)."""
    for n, df in folder.tables.items():
        if not _is_sample_submission(n, df) or df.shape[1] < 2 or len(df) == 0:
            continue
        keys = set(df.iloc[:, 0].astype(str).str.strip())
        for stems in (False, True):
            want = {x.rsplit(".", 1)[0] for x in names} if stems else set(names)
            if len(keys & want) >= 0.9 * len(keys):
                return n, df, stems
    return None


def detect_document_task(folder: LoadedFolder, hints: TextHints, forced_target: Optional[str],
                         ask: Optional[Asker] = None) -> Optional[Inferred]:
    """An Inferred task when the folder holds labeled document folders and unlabeled test documents."""
    if not folder.documents:
        return None
    train_rows, test_rows, skipped = [], [], []
    for rel, path in sorted(folder.documents.items()):
        dirs = rel.split("/")[:-1]
        text = _read(path)
        if text is None or not text.strip():
            skipped.append(rel)
            text = None
        if any(_TEST_DIR.match(d) for d in dirs):
            test_rows.append((rel, text or ""))
        elif dirs and text is not None:
            train_rows.append((rel, text, dirs[-1]))
    labels = {r[2] for r in train_rows}
    if len(labels) < 2 or not test_rows:
        return None
    value_cols = [c for c in hints.output_columns[1:]] if len(hints.output_columns) >= 2 else []
    id_col = hints.output_columns[0] if len(hints.output_columns) >= 2 else "filename"
    label_col = value_cols[0] if len(value_cols) == 1 else hints.named_target or "label"
    names = [r[0].split("/")[-1] for r in test_rows]
    use_names = len(set(names)) == len(names)
    sample = _template_of(folder, names) if use_names else None
    if sample is not None:  # a sample submission keyed by the file names: its columns, its spelling of the names
        sname, sdf, stems = sample
        id_col = str(sdf.columns[0])
        if len(hints.output_columns) < 2 and sdf.shape[1] == 2:
            label_col = str(sdf.columns[1])
        if stems:
            names = [n.rsplit(".", 1)[0] for n in names]
    train = pd.DataFrame({id_col: [r[0] for r in train_rows], TEXT_COLUMN: [r[1] for r in train_rows],
                          label_col: [r[2] for r in train_rows]})
    test = pd.DataFrame({id_col: names if use_names else [r[0] for r in test_rows],
                         TEXT_COLUMN: [r[1] for r in test_rows]})
    tables = {CLASS_FOLDER_TABLE: train, "test_documents": test, **({sample[0]: sample[1]} if sample else {})}
    inferred = infer_task(tables, hints, forced_target=forced_target, ask=ask)
    notes = inferred.spec.notes
    notes.insert(0, f"documents: {len(train_rows)} labeled in {len(labels)} class folders, {len(test_rows)} to "
                    f"predict (ids: {'file names' if use_names else 'relative paths'})")
    if skipped:
        notes.append(f"{len(skipped)} empty or unreadable documents (training ones dropped, test ones predicted from "
                     f"no text): {', '.join(skipped[:8])}")
    return inferred
