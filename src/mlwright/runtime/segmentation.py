# ---- mlwright segmentation helpers: masks as class indices, their text encoding, the user's mask files ----
# `seg` is the task's SegmentationSpec as a dict (SPEC["segmentation"]): class i is the grey level / palette
# index values[i], or the RGB colour colors[i].
import numpy as np
from PIL import Image


def read_image(path):
    """An image as a float32 array H x W x 3 in [0, 1] (grey images repeated over the three channels)."""
    with Image.open(path) as im:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            a = np.asarray(im, dtype=np.float32)
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
            return np.repeat(a[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def image_size(path):
    """(height, width) from the file's header."""
    with Image.open(path) as im:
        return int(im.size[1]), int(im.size[0])


def mask_pixels(path, seg):
    """The raw mask: H x W values (grey / index masks) or H x W x 3 (colour masks)."""
    with Image.open(path) as im:
        if seg.get("colors"):
            return np.asarray(im.convert("RGB"), dtype=np.int64)
        if im.mode == "P":
            return np.asarray(im, dtype=np.int64)
        if im.mode in ("RGB", "RGBA", "LA"):
            im = im.convert("L")
        return np.asarray(im, dtype=np.int64)


def to_classes(raw, seg):
    """Raw mask values -> class indices; a value no class has goes to the nearest class value (colour)."""
    if seg.get("colors"):
        cols = np.asarray(seg["colors"], dtype=np.int64)
        flat = raw.reshape(-1, 3)
        d = ((flat[:, None, :] - cols[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1).reshape(raw.shape[:2]).astype(np.int64)
    vals = np.asarray(seg["values"], dtype=np.int64)
    order = np.argsort(vals)
    pos = np.clip(np.searchsorted(vals[order], raw), 0, len(vals) - 1)
    lower = np.clip(pos - 1, 0, len(vals) - 1)
    pick = np.where(np.abs(vals[order][lower] - raw) < np.abs(vals[order][pos] - raw), lower, pos)
    return order[pick].astype(np.int64)


def read_mask(path, seg):
    """A mask file as an H x W array of class indices."""
    return to_classes(mask_pixels(path, seg), seg)


def mask_image(classes, seg):
    """Class indices -> a PIL image in the user's encoding (their grey levels / indices, or their colours)."""
    classes = np.asarray(classes, dtype=np.int64)
    if seg.get("colors"):
        cols = np.asarray(seg["colors"], dtype=np.uint8)
        return Image.fromarray(cols[classes], "RGB")
    vals = np.asarray(seg["values"], dtype=np.int64)[classes]
    if vals.max(initial=0) <= 255:
        return Image.fromarray(vals.astype(np.uint8), "L")
    return Image.fromarray(vals.astype(np.int32), "I")


def encode_mask(classes):
    """A mask of class indices as text: "H W" then (class, run length) pairs in row-major order."""
    m = np.asarray(classes, dtype=np.int64)
    flat = m.ravel()
    if flat.size == 0:
        return f"{m.shape[0]} {m.shape[1]}"
    cut = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], cut])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    pairs = np.stack([flat[starts], lengths], axis=1).ravel()
    return f"{m.shape[0]} {m.shape[1]} " + " ".join(map(str, pairs.tolist()))


def decode_mask(text):
    """encode_mask's text back to an H x W array; ValueError when it is malformed."""
    nums = [int(x) for x in str(text).split()]
    if len(nums) < 2 or len(nums) % 2:
        raise ValueError("a mask is 'H W' followed by (class, run length) pairs")
    h, w = nums[0], nums[1]
    vals, lengths = np.asarray(nums[2::2], dtype=np.int64), np.asarray(nums[3::2], dtype=np.int64)
    if (lengths <= 0).any() or int(lengths.sum()) != h * w:
        raise ValueError(f"the runs cover {int(lengths.sum())} pixels, not {h}x{w}")
    return np.repeat(vals, lengths).reshape(h, w)


def rle_encode(binary):
    """Run-length encoding of a 0/1 mask: 1-based start and length pairs, pixels numbered top to bottom, then
    left to right (column-major), "" for an empty mask."""
    flat = np.concatenate([[0], np.asarray(binary, dtype=np.uint8).T.ravel(), [0]])
    runs = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs[1::2] -= runs[::2]
    return " ".join(map(str, runs.tolist()))


def rle_decode(text, height, width):
    """rle_encode's text back to an H x W 0/1 mask."""
    flat = np.zeros(height * width, dtype=np.uint8)
    nums = [int(x) for x in str(text or "").split()]
    for start, length in zip(nums[::2], nums[1::2]):
        flat[start - 1:start - 1 + length] = 1
    return flat.reshape(width, height).T


def fit_mask_size(classes, height, width):
    """A class mask resized (nearest) to height x width."""
    classes = np.asarray(classes)
    if classes.shape == (height, width):
        return classes
    im = Image.fromarray(classes.astype(np.uint8), "L").resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(im, dtype=np.int64)


def mask_table(spec, ids, masks):
    """The attempts' prediction table: one row per image, its id and its mask (encode_mask)."""
    import pandas as pd

    id_col = spec["output_id_column"]
    value = [c for c in spec["output_columns"] if c != id_col][0]
    return pd.DataFrame({id_col: list(ids), value: [encode_mask(m) for m in masks]})[spec["output_columns"]]


def write_mask_outputs(out_dir, spec, ids, test_masks, oof_rows, oof_masks):
    """The prediction file (one encoded mask per image to predict) and the validation masks mlwright scores
    (oof_predictions.csv: `__row__`, `mask`)."""
    import os

    import pandas as pd

    mask_table(spec, ids, test_masks).to_csv(os.path.join(out_dir, spec["prediction_file"]), index=False)
    pd.DataFrame({"__row__": list(oof_rows), "mask": [encode_mask(m) for m in oof_masks]}).to_csv(
        os.path.join(out_dir, "oof_predictions.csv"), index=False)


def holdout_rows(n, fraction=0.2, seed=0):
    """(train rows, validation rows): a seeded split of the training images, at least 4 held out."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    k = min(n - 1, max(4, int(round(fraction * n))))
    return np.sort(order[k:]), np.sort(order[:k])


def safe_image(path):
    """read_image, or None when the file does not decode (its mask is then all background)."""
    try:
        return read_image(path)
    except Exception:  # noqa: BLE001
        return None
