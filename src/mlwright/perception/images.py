"""Image tasks: from a folder of images (class-named sub-folders, or a table of file names and labels) and the
user's words to train/test tables of absolute image paths and a TaskSpec with modality "image".

Layouts understood:
  (a) labels from folder names: `train/<class>/*.png` (at any depth, several labeled roots such as train/ and
      val/ are merged), the images to predict in a test-like folder (`test/*.png`) or in the other folders;
  (b) a table with a column of file names (relative paths, base names, or names without the extension) and a
      label column; the images to predict listed in another table (test.csv, sample_submission.csv), or the
      rows without a label, or the images that no table lists.
The user's files are never copied or modified: the tables hold the absolute path of each image.
"""
from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.errors import DataError
from mlwright.perception.infer import (MIN_TRAIN_ROWS, Inferred, _is_sample_submission, _norm, choose_metric,
                                       infer_problem_type, output_format)
from mlwright.perception.profile import looks_like_id_name
from mlwright.perception.scan import LoadedFolder
from mlwright.perception.task_text import TextHints
from mlwright.validation.metrics import HIGHER_IS_BETTER
from mlwright.schemas import ImageSpec, TaskSpec

PATH_COLUMN = "path"
# folder names that hold the images to predict / the labeled images (whole-name matches only: a class may be
# called "newspaper" or "testudo")
_TEST_DIR = re.compile(r"^(test|tests|testing|test[_\- ]?(images?|imgs?|set|data)|(images?|imgs?)[_\- ]?test|"
                       r"unlabell?ed|predict|to[_\- ]?predict|predictions?|inference|holdout|eval|evaluation|"
                       r"query|private[_\- ]?test|public[_\- ]?test|new|new[_\- ]?images?)$", re.I)
_TRAIN_DIR = re.compile(r"^(train|training|train[_\- ]?(images?|imgs?|set|data)|(images?|imgs?)[_\- ]?train|"
                        r"labell?ed|trainval|val|valid|validation|dev)$", re.I)
_IMAGE_WORDS = re.compile(r"\b(images?|photos?|pictures?|png|jpe?g|pixels?|imgs?|scans?|thumbnails?)\b", re.I)
_LABEL_NAMES = re.compile(r"^(label|labels|class|class_?name|category|target|y|species|breed|kind|tag|diagnosis|"
                          r"answer|class_?id|label_?id|category_?id)$", re.I)
_FILE_NAMES = re.compile(r"file|name|image|img|path|photo|picture|id$|^id", re.I)
_FULL_CHECK_MAX = 30000  # decode every image up to this many; above, only the headers are read
_MAX_LISTED = 8


# -- decoding ---------------------------------------------------------------------------------------------
def probe_image(path: Path | str, full: bool = True) -> tuple[Optional[tuple[int, int, str]], Optional[str]]:
    """((width, height, mode), None) for a decodable image, (None, reason) otherwise."""
    from PIL import Image

    try:
        if os.path.getsize(path) == 0:
            return None, "empty file (0 bytes)"
        with Image.open(path) as im:
            size, mode = im.size, im.mode
            if full:
                if im.format == "JPEG":
                    im.draft("RGB", (64, 64))  # decode at a reduced scale: enough to prove it decodes
                im.load()
        if size[0] < 1 or size[1] < 1:
            return None, "image has no pixels"
        return (int(size[0]), int(size[1]), mode), None
    except Exception as e:  # noqa: BLE001 - any decoder failure means "not usable", with its reason
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        return None, f"not a decodable image ({type(e).__name__}{': ' + msg if msg else ''})"


def _probe_all(paths: list[Path]) -> list[tuple[Optional[tuple[int, int, str]], Optional[str]]]:
    full = len(paths) <= _FULL_CHECK_MAX
    workers = min(8, max(2, (os.cpu_count() or 2) * 2))
    with ThreadPoolExecutor(workers) as ex:  # Pillow releases the GIL while decoding
        return list(ex.map(lambda p: probe_image(p, full), paths, chunksize=64))


def _is_color(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
                return False
            im.thumbnail((64, 64))
            a = np.asarray(im.convert("RGB"), dtype=np.int16)
        return bool(np.abs(a[..., 0] - a[..., 1]).max() > 3 or np.abs(a[..., 1] - a[..., 2]).max() > 3)
    except Exception:  # noqa: BLE001
        return False


# -- matching file names in tables to image files ---------------------------------------------------------
class _Index:
    """Look up an image file by relative path, a path suffix, its base name, or its name without extension."""

    def __init__(self, rels: list[str]):
        self.by_rel: dict[str, str] = {}
        self.by_base: dict[str, list[str]] = defaultdict(list)
        self.by_stem: dict[str, list[str]] = defaultdict(list)
        self.by_num: dict[int, list[str]] = defaultdict(list)
        for r in rels:
            low = r.lower()
            self.by_rel[low] = r
            base = low.rsplit("/", 1)[-1]
            self.by_base[base].append(r)
            stem = base.rsplit(".", 1)[0]
            self.by_stem[stem].append(r)
            if stem.isdigit():  # tables often read "0007" as the number 7
                self.by_num[int(stem)].append(r)

    def candidates(self, value) -> list[str]:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return []
        v = str(value).strip().replace("\\", "/")
        while v.startswith("./"):
            v = v[2:]
        v = v.lstrip("/").lower()
        if not v:
            return []
        if v in self.by_rel:
            return [self.by_rel[v]]
        base = v.rsplit("/", 1)[-1]
        stem = base.rsplit(".", 1)[0]
        cands = self.by_base.get(base) or self.by_stem.get(base) or self.by_stem.get(stem) or []
        if not cands and "/" not in v:
            num = stem[:-2] if stem.endswith(".0") else stem  # a float-typed id column: 7.0
            if num.isdigit():
                cands = self.by_num.get(int(num)) or []
        if "/" in v:  # a path: the files whose path ends with it
            tail = [c for c in cands if c.lower().endswith("/" + v) or c.lower().rsplit(".", 1)[0].endswith("/" + v)]
            cands = tail or cands
        return cands

    def find(self, value, prefer: Optional[re.Pattern] = None) -> Optional[str]:
        cands = self.candidates(value)
        if len(cands) > 1 and prefer is not None:
            pref = [c for c in cands if any(prefer.match(part) for part in c.split("/")[:-1])]
            cands = pref or cands
        return cands[0] if len(cands) == 1 else None


def _file_column(df: pd.DataFrame, index: _Index) -> Optional[tuple[str, float]]:
    """The column of `df` that names image files (most matches), with its match fraction."""
    best = None
    for c in df.columns:
        s = df[c]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s) or pd.api.types.is_integer_dtype(s)):
            continue
        vals = s.dropna()
        if vals.empty:
            continue
        sample = vals.head(2000)
        hits = [str(v) for v in sample if index.candidates(v)]
        frac = len(hits) / len(sample)
        if frac >= 0.5 and len(set(hits)) >= 0.5 * len(hits) and (best is None or frac > best[1]):
            best = (str(c), frac)
    return best


# -- layout detection -------------------------------------------------------------------------------------
def _dirs(rel: str) -> list[str]:
    return rel.split("/")[:-1]


def _in_test_dir(rel: str) -> bool:
    return any(_TEST_DIR.match(d) for d in _dirs(rel))


def _class_folders(rels: list[str]) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[str]]]:
    """Labeled roots (root -> class -> images) and test-like labeled roots whose labels are not used."""
    by_root: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in rels:
        parts = r.split("/")
        if len(parts) >= 2:
            by_root["/".join(parts[:-2])][parts[-2]].append(r)
    labeled, test_roots = {}, {}
    for root, classes in by_root.items():
        root_name = root.rsplit("/", 1)[-1] if root else ""
        kept = {c: v for c, v in classes.items() if not _TEST_DIR.match(c) and not _TRAIN_DIR.match(c)}
        if len(kept) < 2:
            continue
        if root and (_TEST_DIR.match(root_name) or _in_test_dir(root + "/x")):
            test_roots[root] = [r for v in kept.values() for r in v]
        else:
            labeled[root] = kept
    return labeled, test_roots


def _test_ids(rels: list[str]) -> list[str]:
    """The file name when it is unique among the test images, else the path below their common folder."""
    bases = [r.rsplit("/", 1)[-1] for r in rels]
    if len(set(bases)) == len(bases):
        return bases
    common = os.path.commonpath([os.path.dirname(r) or "." for r in rels]) if rels else ""
    common = "" if common in (".", "") else common + "/"
    return [r[len(common):] if r.startswith(common) else r for r in rels]


def _label_column(df: pd.DataFrame, file_col: str, hints: TextHints, forced_target: Optional[str],
                  other_cols: Optional[set] = None) -> Optional[str]:
    cols = [str(c) for c in df.columns if str(c) != file_col]
    if forced_target:
        m = [c for c in cols if c == forced_target] or [c for c in cols if _norm(c) == _norm(forced_target)]
        return m[0] if m else None
    usable = [c for c in cols if df[c].notna().any() and df[c].dropna().nunique() >= 2]
    for oc in hints.output_columns:
        for c in usable:
            if _norm(c) == _norm(oc) and not looks_like_id_name(c) and (other_cols is None or c not in other_cols):
                return c
    named = [c for c in usable if _LABEL_NAMES.match(c)]
    if len(named) == 1:
        return named[0]
    mentioned = [c for c in usable if hints.mentions(c) and not looks_like_id_name(c)]
    if len(mentioned) == 1:
        return mentioned[0]
    if other_cols is not None:
        extra = [c for c in usable if c not in other_cols and not looks_like_id_name(c)]
        if len(extra) == 1:
            return extra[0]
    plain = [c for c in usable if not looks_like_id_name(c) and not _FILE_NAMES.search(c)]
    if len(plain) == 1:
        return plain[0]
    return None


def detect_image_task(folder: LoadedFolder, hints: TextHints, forced_target: Optional[str],
                      notes: list[str]) -> Optional[Inferred]:
    """An image task from the folder's images (and any table naming them); None when the folder is not one."""
    images = getattr(folder, "images", None) or {}
    if not images:
        return None
    rels = sorted(images)
    index = _Index(rels)
    tables = folder.tables
    file_tables: dict[str, str] = {}
    for name, df in tables.items():
        fc = _file_column(df, index)
        if fc:
            file_tables[name] = fc[0]
    samples = {n for n in file_tables if _is_sample_submission(n, tables[n])}
    all_samples = all(_is_sample_submission(n, d) for n, d in tables.items())

    # 1. the labeled images: a table of file names with a label column, else class folders
    f = _train_from_table(tables, file_tables, samples, index, hints, forced_target, notes)
    if f is None:
        labeled, test_roots = _class_folders(rels)
        if not labeled:
            if [n for n in file_tables if n not in samples]:
                names = ", ".join(n for n in file_tables if n not in samples)
                if forced_target:
                    raise DataError(f"--target {forced_target!r} is not a column of the tables that list the images "
                                    f"({names}).", hint="Name the label column of the table of image file names.")
                raise DataError(f"Found tables listing image files ({names}) but cannot tell which column holds "
                                "the labels.", hint="Name the label column with --target COLUMN or in the task "
                                                    "(e.g. \"predict `label`\").")
            if tables and not all_samples:
                return None  # images beside a tabular task
            raise DataError(f"Found {len(rels)} image files but no labels for them: no class-named sub-folders "
                            "and no table of file names with labels.", where=str(folder.root),
                            hint="Put the training images in one sub-folder per class (train/<class>/*.png) and "
                                 "the images to predict in test/, or add a csv with a file name column and a "
                                 "label column.")
        if tables and not file_tables and not all_samples and not _IMAGE_WORDS.search(hints.text):
            return None  # class folders of images beside tables, and the task does not speak of images
        f = _train_from_folders(labeled, test_roots, forced_target, hints, notes)

    # 2. the images to predict: a table listing them, the unlabeled rows, or the images left over
    others = [n for n in file_tables if n != f["train_name"]]
    others.sort(key=lambda n: (n in samples, not re.search(r"test", n.split("/")[-1], re.I)))
    sample = next((n for n in others if n in samples), None)
    if sample is None:
        sample = next((n for n, d in tables.items() if _is_sample_submission(n, d)), None)
    if others:
        test_name = others[0]
        tcol = file_tables[test_name]
        test = tables[test_name].copy()
        drop = [c for c in test.columns if str(c) != tcol] if test_name in samples else \
            [c for c in test.columns if str(c) == f["target"]]
        test = test.drop(columns=drop).reset_index(drop=True)
        test_rels = [index.find(v, _TEST_DIR) for v in test[tcol]]
        notes.append(f"images to predict: listed in {test_name!r} ({len(test)} rows, file column {tcol!r})")
    elif f.get("unlabeled") is not None and len(f["unlabeled"]):
        test = f["unlabeled"]
        tcol = f["file_col"]
        test_rels = [index.find(v, _TEST_DIR) for v in test[tcol]]
        test_name = f"{f['train_name']} (rows without {f['target']})"
        notes.append(f"images to predict: the {len(test)} rows of {f['train_name']!r} with no {f['target']!r}")
    else:
        taken = f["listed"]
        rest = [r for r in rels if r not in taken]
        test_rels = sorted([r for r in rest if _in_test_dir(r)] or rest)
        if not test_rels:
            raise DataError(f"Found {len(f['train_rels'])} labeled images but no images to predict.",
                            where=str(folder.root),
                            hint="Put the images to predict in a test/ folder (no class sub-folders), or list "
                                 "them in a test table.")
        dirs = sorted({os.path.dirname(r) or "." for r in test_rels})
        where = ", ".join(d + "/" for d in dirs[:5]) + (" ..." if len(dirs) > 5 else "")
        if any(_in_test_dir(r) for r in rest):
            notes.append(f"images to predict: the {len(test_rels)} images in {where}")
            ignored = [r for r in rest if r not in set(test_rels)]
            if ignored:
                notes.append(f"{len(ignored)} other images outside the training and test folders are ignored "
                             f"(e.g. {ignored[0]})")
        else:
            notes.append(f"images to predict: the {len(test_rels)} images without a label (in {where})")
        tcol = None
        test = pd.DataFrame({"__ids__": _test_ids(test_rels)})
        test_name = "images in " + where
    unresolved = [str(v) for v, r in zip(test[tcol], test_rels) if r is None] if tcol else []
    if unresolved:
        notes.append(f"{len(unresolved)} rows to predict name no image file found in the folder (e.g. "
                     f"{unresolved[0]!r}); they get the fallback prediction")

    # 3. the output columns: the task's words, else a sample submission, else [id, label]
    target = f["target"]
    test_cols = [str(c) for c in test.columns if c != "__ids__"]
    hint_cols = list(hints.output_columns)
    if len(hint_cols) >= 2:
        out_cols = hint_cols
        in_test = [c for c in out_cols if c in test_cols]
        non_target = [c for c in out_cols if _norm(c) != _norm(target)]
        out_id = in_test[0] if in_test else ([c for c in non_target if _FILE_NAMES.search(c)] or non_target
                                             or out_cols)[0]
    elif sample is not None and tables[sample].shape[1] >= 2:
        out_cols = [str(c) for c in tables[sample].columns]
        in_test = [c for c in out_cols if c in test_cols]
        out_id = in_test[0] if in_test else out_cols[0]
    else:
        out_id = tcol or "filename"
        out_cols = [out_id, target]
    if tcol is None:
        test = test.rename(columns={"__ids__": out_id})
    elif out_id not in test.columns:
        test[out_id] = test[tcol]
    f.update(test=test, test_rels=test_rels, test_name=test_name, out_id=out_id, out_cols=out_cols,
             id_col=out_id, sample=sample)
    return _finish(f, folder, hints, notes)


def _train_from_folders(labeled: dict, test_roots: dict, forced_target: Optional[str], hints: TextHints,
                        notes: list[str]) -> dict:
    train_rels, labels = [], []
    for _root, classes in sorted(labeled.items()):
        for cls, files in sorted(classes.items()):
            train_rels += files
            labels += [cls] * len(files)
    classes = sorted(set(labels))
    roots = ", ".join(f"{r or '.'}/<class>/" for r in sorted(labeled))
    notes.append(f"image task: labels from the class folders under {roots} ({len(classes)} classes, "
                 f"{len(train_rels)} images)")
    for root, files in test_roots.items():
        if not {r.split("/")[-2] for r in files} & set(classes):
            continue  # sub-folders of the test folder that are not the training classes: no labels to ignore
        notes.append(f"{root}/ holds class folders too; it is a test folder, so those images are predicted and "
                     "their folder names are not used")
    # the label column is named after the task's output column when it names one
    target = forced_target
    if not target:
        norms = {_norm(c) for c in classes}
        values = [c for c in hints.output_columns if _norm(c) not in norms and not _FILE_NAMES.search(c)]
        target = values[0] if len(values) == 1 else "label"
    return dict(label_source="folders", train_rels=train_rels, y=pd.Series(labels, dtype=object), target=target,
                train_name=roots, listed=set(train_rels), unlabeled=None, file_col=None, folder_labels=True)


def _train_from_table(tables: dict, file_tables: dict[str, str], samples: set, index: _Index, hints: TextHints,
                      forced_target: Optional[str], notes: list[str]) -> Optional[dict]:
    cands = [n for n in file_tables if n not in samples]
    best = None
    for n in cands:
        others = [set(map(str, tables[m].columns)) for m in file_tables if m != n]
        other_cols = set.union(*others) if others else None
        lab = _label_column(tables[n], file_tables[n], hints, forced_target, other_cols)
        if lab is None:
            continue
        base = n.split("/")[-1]
        score = (5 * bool(re.search(r"train|label", base, re.I)) - 5 * bool(re.search(r"test", base, re.I))
                 + float(np.log1p(tables[n][lab].notna().sum())))
        if best is None or score > best[0]:
            best = (score, n, lab)
    if best is None:
        return None
    _, name, target = best
    tab = tables[name]
    fcol = file_tables[name]
    notes.append(f"image task: training images listed in {name!r} (file column {fcol!r}, label column {target!r})")
    mask = tab[target].notna()
    rows = tab[mask].reset_index(drop=True)
    resolved = [index.find(v, _TRAIN_DIR) for v in rows[fcol]]
    missing = [str(v) for v, r in zip(rows[fcol], resolved) if r is None]
    if missing:
        notes.append(f"{len(missing)} training rows name no image file found in the folder and are dropped "
                     f"(e.g. {missing[0]!r})")
    keep = np.array([r is not None for r in resolved], dtype=bool)
    listed = {index.find(v) for v in tab[fcol]} | {r for r in resolved if r}
    unlabeled = tab[~mask].drop(columns=[target]).reset_index(drop=True)
    return dict(label_source="table", train_rels=[r for r in resolved if r is not None],
                y=rows.loc[keep, target].reset_index(drop=True), target=target, train_name=name, listed=listed,
                unlabeled=unlabeled, file_col=fcol, folder_labels=False)


def _finish(f: dict, folder: LoadedFolder, hints: TextHints, notes: list[str]) -> Inferred:
    images = folder.images
    train_rels, y, target = f["train_rels"], f["y"].reset_index(drop=True), f["target"]
    test: pd.DataFrame = f["test"]
    test_rels: list[Optional[str]] = f["test_rels"]
    # decode every image once: unreadable training images are dropped, unreadable test images get a fallback
    uniq = sorted(set(train_rels) | {r for r in test_rels if r is not None})
    info = dict(zip(uniq, _probe_all([images[r] for r in uniq])))
    bad_train = [(r, info[r][1]) for r in train_rels if info[r][0] is None]
    bad_test = [(r, info[r][1]) for r in test_rels if r is not None and info[r][0] is None]
    if bad_train:
        keep = np.array([info[r][0] is not None for r in train_rels])
        train_rels = [r for r, k in zip(train_rels, keep) if k]
        y = y[keep].reset_index(drop=True)
        listed = "; ".join(f"{r}: {why}" for r, why in bad_train[:_MAX_LISTED])
        notes.append(f"skipped {len(bad_train)} training image(s) that cannot be decoded: {listed}"
                     + (" ..." if len(bad_train) > _MAX_LISTED else ""))
    if len(train_rels) < MIN_TRAIN_ROWS:
        raise DataError(f"Only {len(train_rels)} readable labeled images; at least {MIN_TRAIN_ROWS} are needed.",
                        where=str(folder.root), hint="Provide more labeled images.")
    if y.nunique() < 2:
        raise DataError(f"All {len(y)} labeled images have the same label ({y.iloc[0]!r}): there is nothing to "
                        "learn.", where=str(folder.root), hint="Provide images of at least two classes.")
    # problem type, metric
    if f["folder_labels"]:
        y = y.astype(str)
        problem_type = "binary" if y.nunique() == 2 else "multiclass"
        notes.append(f"problem type {problem_type}: {y.nunique()} class folders")
    else:
        problem_type = infer_problem_type(y, hints, hints.metric)
        notes.append(f"problem type {problem_type}: {y.nunique()} distinct values of {target!r}")
        if problem_type == "regression":
            y_num = pd.to_numeric(y, errors="coerce")
            if y_num.isna().any():
                raise DataError(f"The label {target!r} looks numeric but has {int(y_num.isna().sum())} non-numeric "
                                f"values (e.g. {y[y_num.isna()].iloc[0]!r}).", where=f["train_name"],
                                hint="Clean the label column, or say it is a classification task.")
            y = y_num.astype(float)
        else:
            y = y.astype(str)
    metric = choose_metric(problem_type, hints, notes)
    class_labels = sorted(map(str, y.unique())) if problem_type != "regression" else []
    # output format (the same rules as for tables)
    out_id, out_cols = f["out_id"], list(f["out_cols"])
    output_kind, out_cols, metric, positive = output_format(problem_type, metric, hints, out_id, out_cols,
                                                            class_labels, y, target, notes)
    if bad_test:
        fallback = "the mean training value" if problem_type == "regression" else \
            f"the most frequent class ({y.value_counts().idxmax()!r})"
        listed = "; ".join(f"{r}: {why}" for r, why in bad_test[:_MAX_LISTED])
        notes.append(f"{len(bad_test)} image(s) to predict cannot be decoded and get {fallback}: {listed}"
                     + (" ..." if len(bad_test) > _MAX_LISTED else ""))
    # tables of absolute paths (the user's files stay where they are)
    path_col = PATH_COLUMN
    while path_col in set(map(str, test.columns)) | {target}:
        path_col = "image_" + path_col
    train = pd.DataFrame({path_col: [str(images[r]) for r in train_rels], target: y.to_numpy()})
    test = test.copy()
    test[path_col] = [str(images[r]) if r is not None else "" for r in test_rels]
    id_col = f["id_col"] if f["id_col"] in test.columns else None
    # size and channels from the readable training images
    sizes = Counter((info[r][0][0], info[r][0][1]) for r in train_rels)
    (width, height), n_common = sizes.most_common(1)[0]
    rng = np.random.default_rng(0)
    sample = [train_rels[i] for i in rng.choice(len(train_rels), size=min(40, len(train_rels)), replace=False)]
    channels = 3 if any(_is_color(images[r]) for r in sample) else 1
    notes.append(f"images: {width}x{height}" + ("" if n_common == len(train_rels) else " (most common size; sizes "
                 "vary)") + f", {'color' if channels == 3 else 'grayscale'}")
    spec = TaskSpec(
        problem_type=problem_type,  # type: ignore[arg-type]
        target=target,
        metric=metric,
        higher_is_better=HIGHER_IS_BETTER[metric],
        train_table=f["train_name"],
        test_table=f["test_name"],
        id_column=id_col,
        prediction_file=hints.prediction_file or "predictions.csv",
        output_id_column=out_id,
        output_columns=out_cols,
        output_kind=output_kind,  # type: ignore[arg-type]
        class_labels=class_labels,
        positive_class=positive,
        feature_columns=[path_col],
        n_train_rows=len(train),
        n_test_rows=len(test),
        sample_submission=f["sample"],
        modality="image",
        image=ImageSpec(path_column=path_col, label_source=f["label_source"], width=width, height=height,
                        channels=channels),
        notes=notes,
    )
    return Inferred(spec=spec, train=train, test=test)


def new_images_frame(folder: LoadedFolder, spec: TaskSpec) -> Optional[pd.DataFrame]:
    """New rows for a saved image model from a folder of images (for `mlwright predict`): the id column and the
    absolute path of every image; None when the folder holds no images."""
    images = getattr(folder, "images", None) or {}
    if not images or spec.image is None:
        return None
    rels = sorted(images)
    id_col = spec.id_column or spec.output_id_column or "filename"
    return pd.DataFrame({id_col: _test_ids(rels), spec.image.path_column: [str(images[r]) for r in rels]})
