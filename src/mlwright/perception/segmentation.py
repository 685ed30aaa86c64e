"""Semantic segmentation tasks: images and their masks (one class per pixel) from the folder's shape.

Layouts understood: two folders of same-named images (`images/a.png` and `masks/a.png`, or `a.png` and
`a_mask.png`), where one folder's images hold few distinct values each (class indices, grey levels or a few
colours) and the other's many; the images to predict are the other images (a test-like folder first). Or a table
linking images to mask files or holding run-length masks (segmentation_sources). The user's files are never
copied or modified: the tables hold the absolute path of each image and mask.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.errors import DataError
from mlwright.perception.images import _in_test_dir, _test_ids, probe_image
from mlwright.perception.infer import MIN_TRAIN_ROWS, Inferred
from mlwright.perception.scan import LoadedFolder
from mlwright.perception.task_text import TextHints
from mlwright.perception.segmentation_sources import MAX_CLASSES, Linked, find_table_masks, looks_like_masks
from mlwright.runtime.segmentation import mask_pixels
from mlwright.schemas import ImageSpec, SegmentationSpec, TaskSpec
from mlwright.validation.metrics import HIGHER_IS_BETTER

IMAGE_COLUMN, MASK_COLUMN, OUTPUT_MASK = "image", "mask", "mask"
# a mask's name: the image's name with a suffix ("a_mask.png" for "a.png")
_MASK_SUFFIX = re.compile(r"[_\-. ]?(mask|masks|label|labels|gt|seg|segmentation|annotation|annot|anno)$", re.I)
_SEG_WORDS = re.compile(r"\b(segment\w*|masks?|pixel[- ]?wise|per[- ]pixel|pixels?|regions?)\b", re.I)
_RLE_WORDS = re.compile(r"run[- ]?length|\brle\b|encoded[ _]?pixels", re.I)
_SAMPLE = 8


def _stem(rel: str) -> str:
    base = rel.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0].lower()
    return _MASK_SUFFIX.sub("", stem) or stem


def find_mask_pairs(images: dict[str, Path]) -> Optional[tuple[str, str, dict[str, str]]]:
    """(image folder, mask folder, image rel -> mask rel) for the best pair of folders, or None."""
    by_dir: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rel in images:
        by_dir[rel.rsplit("/", 1)[0] if "/" in rel else ""][_stem(rel)].append(rel)
    best = None
    dirs = sorted(by_dir)
    for a in dirs:
        for b in dirs:
            common = sorted(set(by_dir[a]) & set(by_dir[b]))
            if a == b:  # one folder: "x.png" beside "x_mask.png"
                common = [s for s in common if len(by_dir[a][s]) == 2]
                pairs = {}
                for s in common:
                    two = sorted(by_dir[a][s], key=lambda r: bool(_MASK_SUFFIX.search(r.rsplit(".", 1)[0])))
                    if _MASK_SUFFIX.search(two[1].rsplit(".", 1)[0]) and not _MASK_SUFFIX.search(
                            two[0].rsplit(".", 1)[0]):
                        pairs[two[0]] = two[1]
            else:
                pairs = {by_dir[a][s][0]: by_dir[b][s][0] for s in common
                         if len(by_dir[a][s]) == 1 and len(by_dir[b][s]) == 1}
            if len(pairs) < MIN_TRAIN_ROWS or len(pairs) < 0.5 * sum(len(v) for v in by_dir[b].values()) / (
                    2 if a == b else 1):
                continue
            if best is not None and len(pairs) <= len(best[2]):
                continue
            sample = sorted(pairs)[:: max(1, len(pairs) // _SAMPLE)][:_SAMPLE]
            if looks_like_masks([images[r] for r in sample], [images[pairs[r]] for r in sample]):
                best = (a, b, pairs)
    return best


def _folder_masks(folder: LoadedFolder) -> Optional[Linked]:
    """Same-named images and masks in two folders (or x.png beside x_mask.png); the other images to predict."""
    images = getattr(folder, "images", None) or {}
    if len(images) < 2 * MIN_TRAIN_ROWS:
        return None
    found = find_mask_pairs(images)
    if found is None:
        return None
    img_dir, mask_dir, pairs = found
    notes = [f"segmentation task: {len(pairs)} images in {img_dir or '.'}/ with same-named masks in "
             f"{mask_dir or '.'}/ (few distinct values per mask)"]
    masks = set(pairs.values())
    train_rels = sorted(pairs)
    in_mask_dir = (lambda r: bool(_MASK_SUFFIX.search(r.rsplit(".", 1)[0]))) if img_dir == mask_dir else \
        (lambda r: (r.rsplit("/", 1)[0] if "/" in r else "") == mask_dir)
    rest = [r for r in sorted(images) if r not in pairs and r not in masks and not in_mask_dir(r)]
    test_rels = [r for r in rest if _in_test_dir(r)] or rest
    if not test_rels:
        raise DataError(f"Found {len(pairs)} images with masks but no images to predict.", where=str(folder.root),
                        hint="Put the images to predict, without masks, in a test/ folder.")
    test_dirs = sorted({r.rsplit("/", 1)[0] if "/" in r else "." for r in test_rels})
    notes.append(f"images to predict: the {len(test_rels)} images without a mask in "
                 + ", ".join(d + "/" for d in test_dirs[:5]))
    return Linked([images[r] for r in train_rels], [images[pairs[r]] for r in train_rels],
                  [f"{pairs[r]} / {r}" for r in train_rels], [images[r] for r in test_rels], _test_ids(test_rels),
                  "filename", f"{img_dir or '.'}/ + {mask_dir or '.'}/",
                  "images in " + ", ".join(d + "/" for d in test_dirs[:5]), notes)


def detect_segmentation_task(folder: LoadedFolder, hints: TextHints, forced_target: Optional[str],
                             scratch: Optional[Path] = None) -> Optional[Inferred]:
    """A segmentation task from the folder's images and masks (same-named mask files, or a table linking images
    to mask files or run-length masks); None when the folder is not one. `scratch`: where masks given as
    run-length encodings are decoded (the run's own folder; never the user's)."""
    images = getattr(folder, "images", None) or {}
    if not images or forced_target:
        return None
    if scratch is None:
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix="mlwright-masks-"))
    linked = find_table_masks(folder, scratch) or _folder_masks(folder)
    if linked is None:
        return None
    if _SEG_WORDS.search(hints.text):
        linked.notes[0] += "; the task speaks of segmentation"
    return _task(linked, folder, hints)


def _check_pairs(linked: Linked, where: str) -> list[tuple[int, int]]:
    """Every training image and mask decodes and the two have the same size; the images' (width, height)."""
    bad, wrong, sizes = [], [], []
    for img, mask, name in zip(linked.train_images, linked.train_masks, linked.train_names):
        (ii, why_i), (mi, why_m) = probe_image(img), probe_image(mask)
        if ii is None or mi is None:
            bad.append(f"{name}: {why_i or why_m}")
        elif ii[:2] != mi[:2]:
            wrong.append(f"{name}: the mask is {mi[0]}x{mi[1]}, the image {ii[0]}x{ii[1]}")
        else:
            sizes.append(ii[:2])
    if wrong:
        raise DataError(f"{len(wrong)} mask(s) differ in size from their image (width x height): "
                        + "; ".join(wrong[:5]) + (" ..." if len(wrong) > 5 else ""), where=where,
                        hint="Each mask must have exactly its image's size (one class per pixel); fix or remove "
                             "those pairs.")
    if bad:
        raise DataError(f"{len(bad)} image(s) or mask(s) cannot be decoded: " + "; ".join(bad[:5]),
                        where=where, hint="Fix or remove those pairs.")
    return sizes


def _output_layout(seg: SegmentationSpec, linked: Linked, hints: TextHints, notes: list[str]) -> None:
    """Mask files, or run-length encodings when the task asks for them or the training masks are given so."""
    if not (_RLE_WORDS.search(hints.text) or linked.rle_columns):
        notes.append(f"output: a mask per image to predict, same name and size, in the folder {seg.mask_folder}/ "
                     "of the output folder, encoded as the training masks are")
        return
    cols = list(hints.output_columns)
    want = 2 if len(seg.classes) == 2 else 3
    default = linked.rle_columns if len(linked.rle_columns) == want else (
        [linked.out_id, "EncodedPixels"] if want == 2 else [linked.out_id, "class", "EncodedPixels"])
    seg.rle_columns = cols if len(cols) == want else default
    seg.layout = "rle"
    notes.append("output: run-length encodings (" + ("the task asks for them" if _RLE_WORDS.search(hints.text)
                                                     else "as the training masks are given") + "), one row per image"
                 + ("" if want == 2 else " and class other than the background") + ", columns "
                 f"{seg.rle_columns}; pixels numbered top to bottom, then left to right, from 1")


def _task(linked: Linked, folder: LoadedFolder, hints: TextHints) -> Inferred:
    """The task spec and tables of a segmentation task from its linked images and masks."""
    notes = linked.notes
    where = linked.train_source if linked.train_source in folder.tables else str(folder.root)
    sizes = Counter(_check_pairs(linked, where)[:200])
    seg = linked.seg or _classes(linked.train_masks, notes)
    _output_layout(seg, linked, hints, notes)
    out_id = linked.out_id
    # the attempts' own columns: never the name of the output's id column
    image_col = IMAGE_COLUMN if out_id != IMAGE_COLUMN else "image_file"
    mask_col = MASK_COLUMN if out_id != MASK_COLUMN else "mask_file"
    seg.image_column, seg.mask_column = image_col, mask_col
    seg.ids_with_extension = linked.ids_with_extension
    metric = "dice" if re.search(r"\bdice\b|\bf1\b", hints.text, re.I) else "mean_iou"
    notes.append(f"metric {metric}" + (": the task names it" if metric == "dice" else
                                         " (mean intersection over union of the classes)"))
    train = pd.DataFrame({image_col: [str(p) for p in linked.train_images],
                          mask_col: [str(p) for p in linked.train_masks]})
    test = pd.DataFrame({out_id: linked.test_ids, image_col: [str(p) for p in linked.test_images]})
    (width, height), _ = sizes.most_common(1)[0]
    notes.append(f"images: {width}x{height}" + ("" if len(sizes) == 1 else " (most common size; sizes vary: "
                                                "masks are predicted at each image's own size)"))
    from mlwright.perception.images import _is_color

    channels = 3 if any(_is_color(p) for p in linked.train_images[:20]) else 1
    out_cols = [out_id, OUTPUT_MASK if out_id != OUTPUT_MASK else "mask_text"]
    spec = TaskSpec(
        problem_type="segmentation", target=mask_col, metric=metric, higher_is_better=HIGHER_IS_BETTER[metric],
        train_table=linked.train_source, test_table=linked.test_source, id_column=out_id,
        prediction_file=hints.prediction_file or "predictions.csv", output_id_column=out_id,
        output_columns=out_cols, output_kind="masks", class_labels=list(seg.classes),
        feature_columns=[image_col], n_train_rows=len(train), n_test_rows=len(test), modality="image",
        image=ImageSpec(path_column=image_col, label_source="folders", width=width, height=height,
                        channels=channels),
        segmentation=seg, notes=notes)
    return Inferred(spec=spec, train=train, test=test)


def _classes(mask_paths: list[Path], notes: list[str]) -> SegmentationSpec:
    """The classes the masks hold: grey levels / palette indices, or colours (most common first is background)."""
    from PIL import Image

    colour = False
    for p in mask_paths[:_SAMPLE]:
        with Image.open(p) as im:
            if im.mode in ("RGB", "RGBA"):
                a = np.asarray(im.convert("RGB"), dtype=np.int16)
                colour = colour or bool((np.abs(a[..., 0] - a[..., 1]) > 0).any() or
                                        (np.abs(a[..., 1] - a[..., 2]) > 0).any())
    probe = {"colors": [[0, 0, 0]]} if colour else {"values": [0]}
    counts: Counter = Counter()
    for p in mask_paths:
        raw = mask_pixels(p, probe)
        if colour:
            keys = raw[..., 0] * 65536 + raw[..., 1] * 256 + raw[..., 2]
        else:
            keys = raw
        vals, n = np.unique(keys, return_counts=True)
        counts.update(dict(zip(vals.tolist(), n.tolist())))
        if len(counts) > MAX_CLASSES:
            raise DataError(f"The masks hold more than {MAX_CLASSES} distinct values (e.g. {p.name}); a mask "
                            "holds one class per pixel.", where=str(p.parent),
                            hint="Save masks losslessly (PNG) with one value or colour per class.")
    if len(counts) < 2:
        raise DataError(f"Every mask holds the single value {next(iter(counts))}: there is nothing to learn.",
                        where=str(mask_paths[0].parent), hint="Provide masks with at least two classes.")
    values = sorted(counts)
    background = values.index(max(values, key=lambda v: counts[v]))
    if colour:
        colors = [[v // 65536, (v // 256) % 256, v % 256] for v in values]
        names = ["#%02x%02x%02x" % tuple(c) for c in colors]
        notes.append(f"{len(values)} classes, colour masks: " + ", ".join(names[:12]))
        return SegmentationSpec(image_column="", mask_column="", classes=names, colors=colors, background=background)
    notes.append(f"{len(values)} classes, mask values " + ", ".join(map(str, values[:20])))
    return SegmentationSpec(image_column="", mask_column="", classes=[str(v) for v in values],
                            values=[int(v) for v in values], background=background)


def new_segmentation_frame(folder: LoadedFolder, spec: TaskSpec) -> Optional[pd.DataFrame]:
    """New images for a saved segmentation model (`mlwright predict`): their ids and absolute paths."""
    images = getattr(folder, "images", None) or {}
    if not images or spec.segmentation is None:
        return None
    rels = sorted(images)
    ids = _test_ids(rels)
    if not spec.segmentation.ids_with_extension:  # the ids as the training table writes them
        ids = [i.rsplit(".", 1)[0] for i in ids]
    return pd.DataFrame({spec.id_column or "filename": ids,
                         spec.segmentation.image_column: [str(images[r]) for r in rels]})


def mask_file_name(image_id: str, fmt: str = "png") -> str:
    """The predicted mask's file name: the image's own name (its extension replaced when it is not `fmt`)."""
    name = str(image_id).replace("\\", "/").lstrip("/")
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]  # never outside the masks folder
    name = "/".join(parts) or "mask"
    return name if name.lower().endswith("." + fmt) else name.rsplit(".", 1)[0] + "." + fmt


def write_masks_back(spec: TaskSpec, src: Path, dst: Path, masks_dir: Path) -> None:
    """The attempts' table of encoded masks (`src`) in the user's layout: a mask file per image in `masks_dir`
    (and the table copied to `dst`), or the run-length table at `dst`."""
    import shutil

    from mlwright.runtime.segmentation import decode_mask, mask_image, rle_encode

    seg = spec.segmentation
    assert seg is not None
    table = pd.read_csv(src, dtype=str, keep_default_na=False)
    id_col, value = spec.output_id_column or spec.output_columns[0], spec.output_columns[-1]
    masks = [decode_mask(c) for c in table[value]]
    if seg.layout == "rle":
        cols = seg.rle_columns
        rows = []
        for ident, m in zip(table[id_col], masks):
            if len(cols) == 2:
                fg = [i for i in range(len(seg.classes)) if i != seg.background][0]
                rows.append([ident, rle_encode(m == fg)])
            else:
                rows += [[ident, seg.classes[i], rle_encode(m == i)] for i in range(len(seg.classes))
                         if i != seg.background]
        pd.DataFrame(rows, columns=cols).to_csv(dst, index=False)
        return
    shutil.copyfile(src, dst)
    d = seg.model_dump()
    for ident, m in zip(table[id_col], masks):
        out = masks_dir / mask_file_name(ident, seg.mask_format)
        out.parent.mkdir(parents=True, exist_ok=True)
        mask_image(m, d).save(out)
