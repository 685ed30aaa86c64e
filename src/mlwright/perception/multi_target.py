"""Several answers per row: tags (multi-label: one column holding several tags, "drama|comedy", "a, b" or a JSON
list; or one 0/1 column per tag) and several target columns ("predict height and weight"). Also the tasks
mlwright recognises but cannot do without pretrained weights (object detection), refused with a clear error."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.errors import DataError
from mlwright.perception.task_text import TextHints
from mlwright.schemas import MultiLabelSpec

MAX_TAGS = 100
_SEPARATORS = ("|", ";", ",", "/")
MULTILABEL_WORDS = re.compile(r"\b(multi[- ]?labels?|tags?|tagging|tagged|(?:all|every|each) (?:the )?(?:labels?|tags?|"
                              r"genres?|categories|topics?) (?:that|which) appl(?:y|ies)|several (?:labels|tags))\b",
                              re.I)
_LIST_AFTER_VERB = re.compile(r"\b(?:predict|estimate|forecast|model)\s+(?:both\s+)?(?:the\s+)?(.{1,160}?)"
                              r"(?=[.;:\n]|$|\s(?:from|for|of each|using|given|per|on|in)\s)", re.I)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def is_indicator(s: pd.Series) -> bool:
    """A 0/1 (or true/false) column."""
    v = s.dropna()
    if v.empty:
        return False
    if pd.api.types.is_bool_dtype(v):
        return True
    return set(v.astype(str).str.strip().str.lower().unique()) <= {"0", "1", "0.0", "1.0", "true", "false"}


def listed_targets(hints: TextHints, columns: list[str]) -> list[str]:
    """Columns the words list after a verb of predicting ("predict height and weight", "estimate `a`, `b`")."""
    found: list[str] = []
    for m in _LIST_AFTER_VERB.finditer(hints.text):
        phrase = m.group(1)
        if not re.search(r",|\band\b|&", phrase):
            continue
        hits = sorted((mm.start(), c) for c in columns
                      if (mm := re.search(rf"(?<![\w]){re.escape(str(c))}(?![\w])", phrase, re.I)))
        names = [c for _, c in hits if c not in found]
        if len(names) >= 2:
            found += names
    return found


@dataclass
class MultiTargets:
    """Several target columns: tags (one 0/1 column each) or targets of their own kinds."""

    columns: list[str]
    tags: bool  # every column is 0/1 and the words speak of tags / labels, or all of them are 0/1
    why: str


def detect_several_targets(train: pd.DataFrame, test: Optional[pd.DataFrame], hints: TextHints,
                           candidates: list[str]) -> Optional[MultiTargets]:
    """Two or more columns of the training table, absent from the rows to predict, that the task asks for
    (listed after a verb of predicting, or as output columns), or all-0/1 columns when the task speaks of tags."""
    if test is None or len(candidates) < 2:
        return None
    in_test = set(test.columns)
    listed = [c for c in listed_targets(hints, list(train.columns)) if c not in in_test]
    out = [c for c in candidates if any(_norm(c) == _norm(o) for o in hints.output_columns)]
    named = listed if len(listed) >= 2 else out if len(out) >= 2 else []
    if named:
        tags = all(is_indicator(train[c]) for c in named) and (bool(MULTILABEL_WORDS.search(hints.text))
                                                               or len(named) >= 3)
        how = "listed after a verb of predicting" if named is listed else "named as output columns"
        return MultiTargets(named, tags, f"{len(named)} target columns {named} {how} in the task")
    if MULTILABEL_WORDS.search(hints.text) and all(is_indicator(train[c]) for c in candidates):
        return MultiTargets(list(candidates), True, f"{len(candidates)} 0/1 columns {candidates} absent from the rows "
                            "to predict, and the task speaks of tags / labels")
    return None


def detect_tag_list(y: pd.Series, hints: TextHints) -> Optional[MultiLabelSpec]:
    """A label column holding several tags per row: JSON lists, or tags joined by | ; , or /."""
    v = y.dropna()
    if v.empty or pd.api.types.is_numeric_dtype(v):
        return None
    v = v.astype(str).str.strip()
    words = bool(MULTILABEL_WORDS.search(hints.text))
    if v.str.startswith("[").mean() > 0.9:
        try:
            lists = [json.loads(x) for x in v]
        except ValueError:
            lists = []
        if lists and all(isinstance(x, list) and all(isinstance(t, (str, int)) for t in x) for x in lists):
            return _tags_spec([[str(t).strip() for t in x] for x in lists], v, "json", ", ", words)
    for sep in _SEPARATORS:
        has = v.str.contains(sep, regex=False)
        if has.mean() < 0.1:
            continue
        lists = [[t.strip() for t in x.split(sep) if t.strip()] for x in v]
        spaced = v[has].str.contains(re.escape(sep) + " ", regex=True).mean() >= 0.5
        found = _tags_spec(lists, v, "joined", sep + " " if spaced else sep, words)
        if found is not None:
            return found
    return None


def _tags_spec(lists: list[list[str]], v: pd.Series, layout: str, sep: str, words: bool) -> Optional[MultiLabelSpec]:
    counts = pd.Series([t for x in lists for t in x]).value_counts()
    if not 2 <= len(counts) <= MAX_TAGS:
        return None
    # tags are short and repeat; a column of free text has many words used once
    if counts.index.str.len().max() > 40 or (counts >= 2).mean() < 0.8:
        return None
    if not (words or v.nunique() > len(counts) or layout == "json"):
        return None  # as many distinct values as tags: maybe a category whose names hold the separator
    tags = sorted(counts.index)
    return MultiLabelSpec(tags=tags, columns=[], layout=layout, separator=sep,  # type: ignore[arg-type]
                          at_least_one=all(len(x) > 0 for x in lists))


def tag_columns(y: pd.Series, ml: MultiLabelSpec, taken: set[str]) -> pd.DataFrame:
    """The label column as one 0/1 column per tag, named `tag::<tag>` (made unique against `taken`)."""
    cols = []
    for t in ml.tags:
        name = f"tag::{t}"
        while name in taken:
            name += "_"
        cols.append(name)
    ml.columns = cols
    sets = [set(split_tags(x, ml)) for x in y]
    return pd.DataFrame({c: np.array([int(t in s) for s in sets]) for c, t in zip(cols, ml.tags)}, index=y.index)


def split_tags(cell, ml: MultiLabelSpec) -> list[str]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    text = str(cell).strip()
    if ml.layout == "json":
        return [str(t).strip() for t in json.loads(text)]
    return [t.strip() for t in text.split(ml.separator.strip()) if t.strip()]


# ---- object detection: recognised, refused without pretrained weights ----
DETECTION_WORDS = re.compile(r"\b(object[- ]detection|detect(?:ing|ion of)? (?:the |all |every )?objects?|"
                             r"bounding[- ]?box(?:es)?|bbox(?:es)?|locate (?:the |all |every )?objects?|"
                             r"localis(?:e|ation)|localiz(?:e|ation)|where (?:the )?objects? (?:is|are))\b", re.I)
_BOX_SETS = [("xmin", "ymin", "xmax", "ymax"), ("x_min", "y_min", "x_max", "y_max"), ("x1", "y1", "x2", "y2"),
             ("left", "top", "right", "bottom"), ("x", "y", "width", "height"), ("x", "y", "w", "h"),
             ("bbox_x", "bbox_y", "bbox_w", "bbox_h"), ("left", "top", "width", "height")]


def box_columns(df: pd.DataFrame) -> Optional[list[str]]:
    """The four columns of a box per row (corners, or corner + size), when a table has them."""
    by_norm = {_norm(c): str(c) for c in df.columns}
    for names in _BOX_SETS:
        if all(_norm(n) in by_norm for n in names):
            return [by_norm[_norm(n)] for n in names]
    return None


def refuse_detection(tables: dict[str, pd.DataFrame], n_images: int, hints: TextHints) -> None:
    """Object detection needs a pretrained detector; mlwright has none, so it says what is missing instead of
    writing boxes no one could use. Recognised by the words (bounding boxes, locate objects) or by a label table
    with a box per row (xmin/ymin/xmax/ymax, x/y/width/height) beside images or image file names."""
    words = DETECTION_WORDS.search(hints.text)
    boxes = {n: cols for n, df in tables.items() if (cols := box_columns(df))}
    with_images = {n: c for n, c in boxes.items() if n_images or any(
        tables[n][k].astype(str).str.lower().str.contains(r"\.(?:jpe?g|png|bmp|gif|tiff?|webp)$").any()
        for k in tables[n].columns if tables[n][k].dtype == object)}
    if not (words or with_images):
        return
    evidence = []
    if words:
        evidence.append(f"the task says {words.group(0)!r}")
    for n, cols in with_images.items():
        evidence.append(f"{n} has a box per row ({', '.join(cols)}) for image files")
    raise DataError(
        "This is an object-detection task (" + "; ".join(evidence) + "): it asks for boxes around objects in "
        "images. That needs a pretrained object detector (weights such as a COCO-trained Faster R-CNN or YOLO), "
        "which this mlwright installation does not have, and boxes from a model trained from scratch on a small "
        "folder would be meaningless, so no predictions were written.",
        where=next(iter(with_images), None),
        hint="Run it with a detection library and its pretrained weights (e.g. torchvision's "
             "fasterrcnn_resnet50_fpn or ultralytics YOLO) outside mlwright; or, if one label per image is enough, "
             "give a table of (image, label) and ask to classify the images.")
