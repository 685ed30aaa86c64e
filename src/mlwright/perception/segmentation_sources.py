"""Where a segmentation task's masks come from, when a table says it: a table linking each image to its mask file
(any column names: the columns whose values name image files of the folder, the mask column's files holding few
distinct values each), or a table of run-length encoded masks (an image column and a column of "start length ..."
runs, pixels numbered top to bottom then left to right from 1: the convention the output uses). The images to
predict: another table listing image files (a test table, a sample submission), else the rows without a mask,
else the images no table names (a test-like folder first). The user's files are never modified: run-length masks
are decoded into the run's own scratch folder."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.errors import DataError
from mlwright.perception.images import _in_test_dir, _Index, _test_ids
from mlwright.perception.infer import MIN_TRAIN_ROWS, _is_sample_submission
from mlwright.perception.scan import LoadedFolder
from mlwright.schemas import SegmentationSpec

MAX_CLASSES = 64  # a "mask" with more distinct values is a picture
MASK_MAX_VALUES = 32  # distinct values in one mask image at most
SAMPLE = 8
_RUNS = re.compile(r"^\s*\d+\s+\d+(?:\s+\d+\s+\d+)*\s*$")  # "start length start length ..."
_SAMPLE_ROWS = 2000


@dataclass
class Linked:
    """Training images with their mask files, and the images to predict with their output ids."""
    train_images: list[Path]
    train_masks: list[Path]
    train_names: list[str]  # how a message names each pair
    test_images: list[Path]
    test_ids: list[str]
    out_id: str  # the output's id column
    train_source: str
    test_source: str
    notes: list[str] = field(default_factory=list)
    seg: Optional[SegmentationSpec] = None  # the classes, when known already (decoded run-length masks)
    rle_columns: list[str] = field(default_factory=list)  # the user's run-length layout: the output's by default
    ids_with_extension: bool = True  # the ids of new images: their file names, or without the extension


def distinct_values(path: Path) -> Optional[int]:
    """Distinct pixel values (colours) of an image, None when it does not decode."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.thumbnail((256, 256), Image.Resampling.NEAREST)
            a = np.asarray(im.convert("RGB"), dtype=np.uint8).reshape(-1, 3)
        return int(len(np.unique(a[:, 0].astype(np.int64) * 65536 + a[:, 1].astype(np.int64) * 256 + a[:, 2])))
    except Exception:  # noqa: BLE001 - a file that does not decode is no evidence
        return None


def looks_like_masks(images: list[Path], masks: list[Path]) -> bool:
    """A sample of (image, mask) pairs: the masks hold few values each and the images clearly more."""
    img_n = [n for n in map(distinct_values, images[:SAMPLE]) if n is not None]
    mask_n = [n for n in map(distinct_values, masks[:SAMPLE]) if n is not None]
    if not img_n or not mask_n or max(mask_n) > MASK_MAX_VALUES:
        return False
    # "images" as flat as the "masks" are not a segmentation pair
    return float(np.median(img_n)) > 2 * float(np.median(mask_n)) and float(np.median(img_n)) > 8


def _image_columns(df: pd.DataFrame, index: _Index) -> list[str]:
    """The columns whose values (at least half of them) name image files of the folder."""
    found = []
    for c in df.columns:
        s = df[c]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s) or pd.api.types.is_integer_dtype(s)):
            continue
        vals = s.dropna().head(_SAMPLE_ROWS)
        if len(vals) and sum(bool(index.candidates(v)) for v in vals) >= 0.5 * len(vals):
            found.append(str(c))
    return found


def _filled(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v).strip() != ""


def _rle_column(df: pd.DataFrame, skip: set[str]) -> Optional[str]:
    """A column of run-length encodings: its filled cells are runs of integer pairs, some of several runs."""
    for c in df.columns:
        if str(c) in skip or df[c].dtype != object:
            continue
        vals = df[c][df[c].map(_filled)].astype(str).head(_SAMPLE_ROWS)
        if len(vals) < 2:
            continue
        if vals.map(lambda v: bool(_RUNS.match(v))).mean() >= 0.95 and vals.str.split().str.len().max() >= 4:
            return str(c)
    return None


def _test_listing(folder: LoadedFolder, index: _Index, train_name: str, taken: set[str]) -> \
        Optional[tuple[str, str, list[str], list[str]]]:
    """(table, its file column, image rels, ids as written) of another table listing images to predict: a test
    table or sample submission; the one naming most images outside the training ones."""
    best = None
    for name, df in folder.tables.items():
        if name == train_name:
            continue
        for c in _image_columns(df, index):
            rels = [index.find(v) for v in df[c].dropna()]
            if any(r is None for r in rels) or len(set(rels)) != len(rels):
                continue
            new = sum(r not in taken for r in rels)
            if new and (best is None or new > best[0]):
                best = (new, name, c, rels, [str(v) for v in df[c].dropna()])
    return None if best is None else best[1:]  # type: ignore[return-value]


def _leftover(images: dict[str, Path], taken: set[str], masks: set[str]) -> list[str]:
    rest = [r for r in sorted(images) if r not in taken and r not in masks]
    return [r for r in rest if _in_test_dir(r)] or rest


def _path_pairs(name: str, df: pd.DataFrame, cols: list[str], index: _Index, images: dict[str, Path]) -> \
        Optional[tuple[str, str, list[int]]]:
    """(image column, mask column, rows with both) when one file column of `df` holds the other's masks."""
    for a in cols:
        for b in cols:
            if a == b:
                continue
            rows = [i for i, (x, y) in enumerate(zip(df[a], df[b])) if index.find(x) and index.find(y)]
            if len(rows) < MIN_TRAIN_ROWS:
                continue
            step = max(1, len(rows) // SAMPLE)
            sample = rows[::step][:SAMPLE]
            if looks_like_masks([images[index.find(df[a].iloc[i]) or ""] for i in sample],
                                [images[index.find(df[b].iloc[i]) or ""] for i in sample]):
                return a, b, rows
    return None


def _from_path_table(folder: LoadedFolder, index: _Index) -> Optional[Linked]:
    images = folder.images
    for name, df in folder.tables.items():
        if _is_sample_submission(name, df) or len(df) < MIN_TRAIN_ROWS:
            continue
        cols = _image_columns(df, index)
        found = _path_pairs(name, df, cols, index, images) if len(cols) >= 2 else None
        if found is None:
            continue
        icol, mcol, rows = found
        rels = [index.find(df[icol].iloc[i]) or "" for i in rows]
        mrels = [index.find(df[mcol].iloc[i]) or "" for i in rows]
        notes = [f"segmentation task: {name} links {len(rows)} images (column {icol!r}) to their masks (column "
                 f"{mcol!r}, few distinct values per mask)"]
        taken, masks = set(rels), set(mrels)
        unlabeled = [i for i in range(len(df)) if i not in set(rows) and index.find(df[icol].iloc[i])
                     and not _filled(df[mcol].iloc[i])]
        listing = _test_listing(folder, index, name, taken)
        if listing is not None:
            tname, tcol, trels, tids = listing
            out_id, test_source = tcol, tname
            notes.append(f"images to predict: the {len(trels)} listed in {tname} (column {tcol!r})")
        elif unlabeled:
            trels = [index.find(df[icol].iloc[i]) or "" for i in unlabeled]
            tids = [str(df[icol].iloc[i]) for i in unlabeled]
            out_id, test_source = icol, f"{name} (rows without {mcol})"
            notes.append(f"images to predict: the {len(trels)} rows of {name} without a mask")
        else:
            trels = _leftover(images, taken, masks)
            tids, out_id, test_source = _test_ids(trels), "filename", "images no table names"
            notes.append(f"images to predict: the {len(trels)} images {name} does not name")
        return Linked([images[r] for r in rels], [images[r] for r in mrels],
                      [f"{name} row {i + 2} ({r} + {m})" for i, r, m in zip(rows, rels, mrels)],
                      [images[r] for r in trels], tids, out_id, name, test_source, notes)
    return None


def _class_column(df: pd.DataFrame, id_col: str, rle_col: str) -> Optional[str]:
    """With several rows per image: the column naming each row's class (its (image, class) pairs unique)."""
    if df[id_col].is_unique:
        return None
    filled = df[df[rle_col].map(_filled)]
    for c in df.columns:
        if str(c) in (id_col, rle_col) or df[c].isna().any():
            continue
        n = df[c].nunique()
        if 2 <= n < MAX_CLASSES and not filled.duplicated([id_col, c]).any():
            return str(c)
    return None


def decode_runs(text: str, height: int, width: int) -> np.ndarray:
    """A run-length cell as an H x W 0/1 mask; ValueError when a run leaves the image."""
    from mlwright.runtime.segmentation import rle_decode

    nums = [int(x) for x in str(text).split()]
    for start, length in zip(nums[::2], nums[1::2]):
        if start < 1 or start - 1 + length > height * width:
            raise ValueError(f"the run {start} {length} leaves the image of {width}x{height} pixels "
                             f"({height * width} pixels, numbered from 1)")
    return rle_decode(text, height, width)


def _decode_all(name: str, df: pd.DataFrame, icol: str, rcol: str, ccol: Optional[str], rels: list[str],
                classes: list[str], images: dict[str, Path], scratch: Path) -> list[Path]:
    """Each training image's mask (class indices as a grey PNG) decoded from its rows into `scratch`."""
    from PIL import Image

    from mlwright.perception.images import probe_image

    scratch.mkdir(parents=True, exist_ok=True)
    out = []
    groups = {r: g for r, g in df.groupby("__rel__", sort=False)}
    for k, r in enumerate(rels):
        info, why = probe_image(images[r], full=False)
        if info is None:
            raise DataError(f"{r}, named in {name}, cannot be decoded: {why}.", where=name,
                            hint="Fix or remove that image and its rows.")
        w, h = info[0], info[1]
        mask = np.zeros((h, w), np.uint8)
        for i, row in groups[r].iterrows():
            if not _filled(row[rcol]):
                continue
            try:
                on = decode_runs(row[rcol], h, w).astype(bool)
            except ValueError as e:
                raise DataError(f"Row {int(i) + 2} of {name} ({icol} {row[icol]!r}): {e}.", where=name,
                                hint="Run-length masks must fit their image: pairs of a 1-based start and a length, "
                                     "pixels numbered top to bottom, then left to right.") from None
            mask[on] = classes.index(str(row[ccol])) if ccol else 1
        path = scratch / f"{k:06d}.png"
        Image.fromarray(mask, "L").save(path)
        out.append(path)
    return out


def _ids_like(rels: list[str], with_ext: bool) -> list[str]:
    return [b if with_ext else b.rsplit(".", 1)[0] for b in _test_ids(rels)]


def _from_rle_table(folder: LoadedFolder, index: _Index, scratch: Path) -> Optional[Linked]:
    images = folder.images
    for name, df in folder.tables.items():
        if _is_sample_submission(name, df) or len(df) < MIN_TRAIN_ROWS:
            continue
        cols = _image_columns(df, index)
        rcol = _rle_column(df, set(cols)) if cols else None
        if rcol is None:
            continue
        icol = cols[0]
        df = df.assign(__rel__=[index.find(v) for v in df[icol]])
        df = df[df["__rel__"].notna()]
        rels = list(dict.fromkeys(df["__rel__"]))
        if len(rels) < MIN_TRAIN_ROWS:
            continue
        ccol = _class_column(df, icol, rcol)
        names = sorted({str(v) for v in df[ccol]}, key=lambda v: (len(v), v)) if ccol else []
        classes = ["background", *names] if ccol else ["0", "1"]
        masks = _decode_all(name, df, icol, rcol, ccol, rels, classes, images, scratch)
        seg = SegmentationSpec(image_column="", mask_column="", classes=classes, values=list(range(len(classes))),
                               background=0)
        notes = [f"segmentation task: {name} holds run-length encoded masks of {len(rels)} images (image column "
                 f"{icol!r}, runs in {rcol!r}" + (f", class in {ccol!r}" if ccol else ", one foreground class")
                 + "; pixels numbered top to bottom, then left to right, from 1; an empty cell: no foreground)",
                 f"{len(classes)} classes: " + ", ".join(classes[:12])]
        taken = set(rels)
        listing = _test_listing(folder, index, name, taken)
        # the ids written the way the training table writes them (with or without the extension)
        with_ext = bool(df[icol].astype(str).str.contains(r"\.[A-Za-z0-9]{2,5}$").mean() > 0.5)
        user_cols = [icol, *([ccol] if ccol else []), rcol]
        if listing is not None:
            tname, tcol, trels, tids = listing
            tcols = list(map(str, folder.tables[tname].columns))
            if len(tcols) == len(user_cols) and tcols[0] == tcol:  # a template of the output: its columns
                user_cols = tcols
            elif tcol != icol:  # a bare list of images: the ids written as the training table writes them
                tids = _ids_like(trels, with_ext)
            notes.append(f"images to predict: the {len(trels)} listed in {tname} (column {tcol!r})")
            test_source = tname
        else:
            trels = _leftover(images, taken, set())
            tids = _ids_like(trels, with_ext)
            test_source = "images no table names"
            notes.append(f"images to predict: the {len(trels)} images {name} does not name")
        return Linked([images[r] for r in rels], masks, [f"{name}: {r}" for r in rels], [images[r] for r in trels],
                      tids, user_cols[0], name, test_source, notes, seg=seg, rle_columns=user_cols,
                      ids_with_extension=with_ext)
    return None


def find_table_masks(folder: LoadedFolder, scratch: Path) -> Optional[Linked]:
    """Masks given by a table (mask files or run-length encodings), None when no table gives them."""
    images = folder.images
    if not folder.tables or len(images) < MIN_TRAIN_ROWS:
        return None
    index = _Index(sorted(images))
    found = _from_path_table(folder, index) or _from_rle_table(folder, index, scratch)
    if found is not None and not found.test_images:
        raise DataError(f"{found.train_source} gives {len(found.train_images)} images with masks but there is no "
                        "image to predict.", where=found.train_source,
                        hint="Put the images to predict in a test/ folder, or list them in a test table.")
    return found
