"""One-document-per-file text: labels given by class-named folders (train/<class>/*.txt), unlabeled
documents in a test folder. The documents become a text column of a train and a test table, and the
usual inference (target, metric, output format) takes it from there."""
from __future__ import annotations

import re
from typing import Optional

import pandas as pd

from mlwright.perception.infer import Asker, Inferred, infer_task
from mlwright.perception.readers import _decode
from mlwright.perception.scan import LoadedFolder
from mlwright.perception.task_text import TextHints

_TEST_DIR = re.compile(r"^(test|tests|testing|unlabell?ed|new|predict|to_predict|holdout|eval)([_\- ].*)?$", re.I)
TEXT_COLUMN = "text"


def _read(path) -> Optional[str]:
    try:
        return _decode(path)
    except Exception:  # noqa: BLE001 - an unreadable document is reported, not fatal
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
    label_col = value_cols[0] if len(value_cols) == 1 else "label"
    names = [r[0].split("/")[-1] for r in test_rows]
    use_names = len(set(names)) == len(names)
    train = pd.DataFrame({id_col: [r[0] for r in train_rows], TEXT_COLUMN: [r[1] for r in train_rows],
                          label_col: [r[2] for r in train_rows]})
    test = pd.DataFrame({id_col: names if use_names else [r[0] for r in test_rows],
                         TEXT_COLUMN: [r[1] for r in test_rows]})
    inferred = infer_task({"train_documents": train, "test_documents": test}, hints, forced_target=forced_target,
                          ask=ask)
    notes = inferred.spec.notes
    notes.insert(0, f"documents: {len(train_rows)} labeled in {len(labels)} class folders, {len(test_rows)} to "
                    f"predict (ids: {'file names' if use_names else 'relative paths'})")
    if skipped:
        notes.append(f"{len(skipped)} empty or unreadable documents (training ones dropped, test ones predicted from "
                     f"no text): {', '.join(skipped[:8])}")
    return inferred
