"""Semantic segmentation, offline: images with same-named masks (synthetic shapes made here), understood from
the folder's shape, run end to end through the CLI and scored against a trivial baseline and a hand-written
reference; masks written as files of the same names and sizes (or run-length encodings when asked); bad
inputs (a mask of another size than its image) are a clear error and nothing is written to the data folder. Also
masks linked by a table (paths, or run-length encodings), images of mixed sizes, and run-length output through the
CLI, decoded and scored."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from conftest import run_cli, tree_digest
from mlwright.errors import DataError
from mlwright.perception.scan import load_folder
from mlwright.perception.segmentation import detect_segmentation_task
from mlwright.perception.task_text import parse_task_text
from mlwright.runtime.metrics import dice, mean_iou
from mlwright.runtime.segmentation import decode_mask, encode_mask, rle_decode, rle_encode

TASK = "Segment the shapes in each test image: predict a mask per image (background, disk, square)"
SIZE = 48
N_CLASSES = 3


def shapes_pair(rng: np.random.Generator, size: int = SIZE, width: int | None = None) -> tuple[Image.Image,
                                                                                                np.ndarray]:
    """A noisy RGB picture (size x width) of a few disks (class 1, reddish) and squares (class 2, greenish) on a
    textured background, and its mask of class indices."""
    width = width or size
    yy, xx = np.mgrid[:size, :width]
    mask = np.zeros((size, width), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(1, 3))
        cy, cx, r = rng.uniform(6, size - 6), rng.uniform(6, width - 6), rng.uniform(4, 9)
        if kind == 1:
            shape = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            shape = (np.abs(yy - cy) <= r * 0.8) & (np.abs(xx - cx) <= r * 0.8)
        mask[shape] = kind
    base = rng.uniform(100, 150) + 20 * np.sin(xx / rng.uniform(4, 9)) * np.cos(yy / rng.uniform(4, 9))
    img = np.repeat(base[..., None], 3, axis=2)
    img[mask == 1] = (165, 105, 100)
    img[mask == 2] = (105, 150, 100)
    img += rng.normal(0, 28, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB"), mask


def make_segmentation_folder(root: Path, n_train: int = 60, n_test: int = 16, seed: int = 0,
                             colour: bool = False) -> dict[str, np.ndarray]:
    """train/images/*.png + train/masks/*.png (class indices, or colours) + test/images/*.png; returns the test
    file -> true mask."""
    rng = np.random.default_rng(seed)
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    for sub in ("train/images", "train/masks", "test/images"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n_train):
        img, mask = shapes_pair(rng)
        img.save(root / "train" / "images" / f"img_{i:03d}.png")
        m = Image.fromarray(palette[mask], "RGB") if colour else Image.fromarray(mask, "L")
        m.save(root / "train" / "masks" / f"img_{i:03d}.png")
    truth = {}
    for i in range(n_test):
        img, mask = shapes_pair(rng)
        name = f"scan_{i:03d}.png"
        img.save(root / "test" / "images" / name)
        truth[name] = mask.astype(np.int64)
    return truth


def reference_masks(data: Path, names: list[str]) -> list[np.ndarray]:
    """A simple hand-written reference: each pixel's 5x5 mean colour, nearest class mean colour (learned from the
    training masks)."""
    sums, counts = np.zeros((N_CLASSES, 3)), np.zeros(N_CLASSES)
    for p in sorted((data / "train" / "images").glob("*.png")):
        img = ndimage.uniform_filter(np.asarray(Image.open(p), float), size=(5, 5, 1))
        m = np.asarray(Image.open(data / "train" / "masks" / p.name))
        for c in range(N_CLASSES):
            sums[c] += img[m == c].sum(axis=0)
            counts[c] += (m == c).sum()
    centres = sums / counts[:, None]
    out = []
    for n in names:
        img = ndimage.uniform_filter(np.asarray(Image.open(data / "test" / "images" / n), float), size=(5, 5, 1))
        out.append(np.argmin(((img[..., None, :] - centres) ** 2).sum(-1), axis=-1))
    return out


def _detect(folder: Path, text: str, tmp: Path):
    loaded = load_folder(folder, tmp / "unpacked")
    return detect_segmentation_task(loaded, parse_task_text(text, loaded.files), None)


def test_encodings_and_metrics_round_trip():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 3, (7, 5))
    assert (decode_mask(encode_mask(m)) == m).all()
    b = (m == 1).astype(np.uint8)
    assert (rle_decode(rle_encode(b), 7, 5) == b).all()
    assert rle_encode(np.zeros((3, 3))) == "" and rle_encode(np.array([[0, 1], [0, 1]])) == "3 2"
    assert mean_iou([m], [m], 3) == 1.0 and dice([m], [m], 3) == 1.0
    half = m.copy()
    half[m == 2] = 0
    assert 0 < mean_iou([m], [half], 3) < 1 and mean_iou([m], [half], 3) < dice([m], [half], 3)


def test_folder_is_understood_and_bad_sizes_refused(tmp_path):
    data = tmp_path / "seg"
    make_segmentation_folder(data, n_train=20, n_test=4)
    spec = _detect(data, TASK, tmp_path).spec
    seg = spec.segmentation
    assert spec.problem_type == "segmentation" and spec.metric == "mean_iou" and spec.output_kind == "masks"
    assert seg.values == [0, 1, 2] and seg.background == 0 and seg.layout == "files" and spec.n_test_rows == 4
    assert spec.n_train_rows == 20 and spec.output_columns == ["filename", "mask"]
    # colour masks: a colour per class; run-length output when the task asks
    col = tmp_path / "colour"
    make_segmentation_folder(col, n_train=20, n_test=4, colour=True)
    spec = _detect(col, TASK + "; submit run-length encoded masks, dice", tmp_path / "c").spec
    assert spec.segmentation.colors == [[0, 0, 0], [0, 255, 0], [255, 0, 0]] and spec.metric == "dice"
    assert spec.segmentation.layout == "rle" and spec.segmentation.rle_columns == ["filename", "class",
                                                                                    "EncodedPixels"]
    # a classification folder is not a segmentation task
    from test_images import make_folder_layout

    cls = tmp_path / "cls"
    make_folder_layout(cls, n_per_class=12, n_test=4)
    assert _detect(cls, "classify the images", tmp_path / "k") is None
    # a mask of another size than its image: a clear error
    Image.fromarray(np.zeros((SIZE, SIZE + 4), np.uint8), "L").save(data / "train" / "masks" / "img_003.png")
    with pytest.raises(DataError, match="differ in size") as e:
        _detect(data, TASK, tmp_path / "b")
    assert "img_003.png" in e.value.what


def _masks_in(folder: Path, names: list[str]) -> list[np.ndarray]:
    return [np.asarray(Image.open(folder / n), dtype=np.int64) for n in names]


@pytest.mark.slow
def test_segmentation_end_to_end_beats_baseline_and_predicts_new_images(tmp_path):
    data = tmp_path / "seg"
    truth = make_segmentation_folder(data)
    before = tree_digest(data)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", TASK, "--output", str(out), "--time-limit", "75", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    assert tree_digest(data) == before  # nothing written to the data folder
    summary = json.loads((out / "run.json").read_text())
    assert summary["task"]["problem_type"] == "segmentation" and summary["best"]["metric"] == "mean_iou"
    names = sorted(truth)
    table = pd.read_csv(out / "predictions.csv")
    assert list(table.columns) == ["filename", "mask"] and sorted(table["filename"]) == names
    pred = _masks_in(out / "masks", names)  # same names, same sizes, the training masks' values
    assert all(p.shape == (SIZE, SIZE) for p in pred) and set(np.unique(np.concatenate(pred))) <= {0, 1, 2}
    true = [truth[n] for n in names]
    trivial = [np.zeros_like(t) for t in true]  # everything background
    ref = reference_masks(data, names)
    scores = {"mlwright": (mean_iou(true, pred, 3), dice(true, pred, 3)),
              "trivial": (mean_iou(true, trivial, 3), dice(true, trivial, 3)),
              "reference": (mean_iou(true, ref, 3), dice(true, ref, 3))}
    print("\nscores (mean IoU, Dice):", {k: tuple(round(x, 4) for x in v) for k, v in scores.items()},
          f"mlwright/reference mean IoU ratio {scores['mlwright'][0] / scores['reference'][0]:.3f}",
          "best recipe", summary["best"]["recipe"])
    assert scores["mlwright"][0] > scores["trivial"][0] + 0.3
    assert scores["mlwright"][0] > 0.8 * scores["reference"][0]
    report = (out / "report.html").read_text()
    assert "mask" in report.lower()
    # mlwright predict on a folder of new images: masks of their own sizes
    new = tmp_path / "new"
    new.mkdir()
    rng = np.random.default_rng(7)
    img, _ = shapes_pair(rng, size=40)
    img.save(new / "a.png")
    r = run_cli("predict", str(out), str(new), "--output", str(tmp_path / "new_pred.csv"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert np.asarray(Image.open(tmp_path / "new_pred_masks" / "a.png")).shape == (40, 40)


def test_masks_written_back_as_files_or_run_length(tmp_path):
    from mlwright.perception.segmentation import write_masks_back

    col = tmp_path / "colour"
    make_segmentation_folder(col, n_train=20, n_test=2, colour=True)
    spec = _detect(col, TASK + "; write run-length encodings", tmp_path / "c").spec
    m = np.zeros((4, 3), np.int64)
    m[1:3, 1] = 2  # the class of colour (255, 0, 0)
    src = tmp_path / "attempt.csv"
    pd.DataFrame({"filename": ["a.jpg"], "mask": [encode_mask(m)]}).to_csv(src, index=False)
    write_masks_back(spec, src, tmp_path / "rle.csv", tmp_path / "unused")
    rle = pd.read_csv(tmp_path / "rle.csv", keep_default_na=False)
    assert list(rle.columns) == ["filename", "class", "EncodedPixels"] and len(rle) == 2
    assert rle.set_index("class").loc["#ff0000", "EncodedPixels"] == "6 2" and not (tmp_path / "unused").exists()
    files = spec.model_copy(update={"segmentation": spec.segmentation.model_copy(update={"layout": "files"})})
    write_masks_back(files, src, tmp_path / "pred.csv", tmp_path / "masks")
    out = np.asarray(Image.open(tmp_path / "masks" / "a.png"))  # the image's name, as PNG; the user's colours
    assert out.shape == (4, 3, 3) and (out[1, 1] == [255, 0, 0]).all() and (out[0, 0] == 0).all()


def test_coder_prompt_describes_the_segmentation_contract(tmp_path):
    from mlwright.coding.llm_coder import CoderAgent
    from mlwright.coding.recipe_coder import render_script
    from mlwright.schemas import AttemptPlan

    data = tmp_path / "seg"
    make_segmentation_folder(data, n_train=20, n_test=2)
    spec = _detect(data, TASK, tmp_path).spec
    text = CoderAgent.prompt(CoderAgent.__new__(CoderAgent), spec=spec, plan="p", knowledge="k")
    assert "SPEC['segmentation']" in text and "write_mask_outputs" in text and "OWN SIZE" in text
    assert "pixel_features" in text  # the example is the segmentation recipe, not the image classifier
    llm_body = "# <<common>>\nprint(encode_mask, SPEC['segmentation']['classes'])\n"
    script = render_script(AttemptPlan(recipe="llm", title="t", time_budget_s=10), spec, body=llm_body)
    assert "def encode_mask" in script and "from mlwright" not in script


def test_a_mask_of_another_size_fails_the_run_clearly_and_leaves_the_data_alone(tmp_path):
    data = tmp_path / "seg"
    make_segmentation_folder(data, n_train=20, n_test=2)
    Image.fromarray(np.zeros((SIZE - 8, SIZE), np.uint8), "L").save(data / "train" / "masks" / "img_007.png")
    before = tree_digest(data)
    r = run_cli("run", str(data), "--task", TASK, "--output", str(tmp_path / "run"), "--time-limit", "30")
    assert r.returncode != 0 and "differ in size" in r.stderr + r.stdout and "img_007.png" in r.stderr + r.stdout
    assert tree_digest(data) == before
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


# -- masks linked by a table, run-length masks, mixed image sizes -------------------------------------------------
SIZES = [(48, 48), (40, 56), (56, 36), (32, 32)]  # (height, width): one folder, several sizes


def _mixed_pair(rng: np.random.Generator, i: int) -> tuple[Image.Image, np.ndarray]:
    h, w = SIZES[i % len(SIZES)]
    return shapes_pair(rng, size=h, width=w)


def make_table_folder(root: Path, n_train: int = 40, n_test: int = 8, seed: int = 0, rle: bool = False,
                      by_class: bool = False) -> dict[str, np.ndarray]:
    """Images of mixed sizes in pics/ and pics_new/; a table `catalogue.csv` linking each training picture to its
    annotation file (columns `x_file`, `y_file`; annotations in annot/ under other names), or, with `rle`,
    holding run-length masks (`pic`, `runs`: the disks as the one foreground class; `by_class`: a row per
    (picture, shape kind) with `kind`); a table `todo.csv` listing the pictures to segment. Returns the pictures
    to segment -> true mask (with `rle` and not `by_class`: 0/1, disks and squares as foreground)."""
    from mlwright.runtime.segmentation import rle_encode

    rng = np.random.default_rng(seed)
    for sub in ("pics", "annot", "pics_new"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_train):
        img, mask = _mixed_pair(rng, i)
        img.save(root / "pics" / f"p{i:03d}.png")
        if not rle:
            Image.fromarray(mask, "L").save(root / "annot" / f"ann_{i:03d}.png")
            rows.append({"x_file": f"pics/p{i:03d}.png", "y_file": f"annot/ann_{i:03d}.png"})
        elif by_class:
            rows += [{"pic": f"p{i:03d}", "kind": k, "runs": rle_encode(mask == k)} for k in (1, 2)]
        else:
            rows.append({"pic": f"p{i:03d}", "runs": rle_encode(mask > 0)})
    pd.DataFrame(rows).to_csv(root / "catalogue.csv", index=False)
    truth = {}
    for i in range(n_test):
        img, mask = _mixed_pair(rng, i + 1)
        img.save(root / "pics_new" / f"q{i:03d}.png")
        truth[f"q{i:03d}"] = mask.astype(np.int64) if not rle or by_class else (mask > 0).astype(np.int64)
    pd.DataFrame({"to_segment": [f"pics_new/q{i:03d}.png" for i in range(n_test)]}).to_csv(root / "todo.csv",
                                                                                             index=False)
    return truth


def test_a_table_linking_images_to_masks_is_understood(tmp_path):
    data = tmp_path / "tab"
    make_table_folder(data, n_train=20, n_test=4)
    spec = _detect(data, TASK, tmp_path).spec
    seg = spec.segmentation
    assert spec.problem_type == "segmentation" and spec.train_table == "catalogue.csv" and spec.n_train_rows == 20
    assert spec.test_table == "todo.csv" and spec.n_test_rows == 4 and spec.output_columns == ["to_segment", "mask"]
    assert seg.values == [0, 1, 2] and seg.layout == "files" and any("sizes vary" in n for n in spec.notes)
    assert any("'x_file'" in n and "'y_file'" in n for n in spec.notes)
    # the rows without a mask are the ones to predict when no other table lists images
    (data / "todo.csv").unlink()
    cat = pd.read_csv(data / "catalogue.csv")
    cat.loc[len(cat)] = ["pics_new/q000.png", None]
    cat.to_csv(data / "catalogue.csv", index=False)
    found = _detect(data, TASK, tmp_path / "b")
    assert found.spec.n_train_rows == 20 and found.test["x_file"].tolist() == ["pics_new/q000.png"]
    # a linked mask of another size than its image: the table's row is named
    Image.fromarray(np.zeros((10, 12), np.uint8), "L").save(data / "annot" / "ann_005.png")
    with pytest.raises(DataError, match="differ in size") as e:
        _detect(data, TASK, tmp_path / "c")
    assert "catalogue.csv row 7" in e.value.what and e.value.where == "catalogue.csv"


def test_run_length_masks_in_a_table_are_decoded_for_training(tmp_path):
    from mlwright.runtime.segmentation import rle_encode

    data = tmp_path / "rle"
    make_table_folder(data, n_train=20, n_test=4, rle=True)
    found = _detect(data, TASK, tmp_path)
    spec, seg = found.spec, found.spec.segmentation
    assert seg.classes == ["0", "1"] and seg.layout == "rle" and seg.rle_columns == ["pic", "runs"]
    assert spec.train_table == "catalogue.csv" and spec.test_table == "todo.csv" and spec.n_train_rows == 20
    assert found.test["pic"].tolist() == ["q000", "q001", "q002", "q003"]  # ids written as the training table's
    # the decoded masks (in the scratch folder, not the data folder) encode back to the table's runs
    cat = pd.read_csv(data / "catalogue.csv", keep_default_na=False)
    for mpath, runs, ipath in zip(found.train[seg.mask_column], cat["runs"], found.train[seg.image_column]):
        m = np.asarray(Image.open(mpath))
        assert rle_encode(m == 1) == runs and m.shape == np.asarray(Image.open(ipath)).shape[:2]
        assert not Path(mpath).is_relative_to(data)
    # a row per (image, class): the class column names the classes, as written
    multi = tmp_path / "multi"
    make_table_folder(multi, n_train=20, n_test=4, rle=True, by_class=True)
    seg = _detect(multi, TASK, tmp_path / "m").spec.segmentation
    assert seg.classes == ["background", "1", "2"] and seg.rle_columns == ["pic", "kind", "runs"]
    # a run outside its image: a clear error naming the row
    cat.loc[3, "runs"] = "1 5 99999 4"
    cat.to_csv(data / "catalogue.csv", index=False)
    with pytest.raises(DataError, match=r"Row 5 of catalogue.csv \(pic 'p003'\): the run 99999 4 leaves the image"):
        _detect(data, TASK, tmp_path / "b")


def test_explain_shows_the_table_of_masks(tmp_path):
    data = tmp_path / "tab"
    make_table_folder(data, n_train=16, n_test=3)
    before = tree_digest(data)
    r = run_cli("explain", str(data), "--task", TASK)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "images and masks from catalogue.csv" in r.stdout and "'y_file'" in r.stdout and "todo.csv" in r.stdout
    assert tree_digest(data) == before


def _score(truth: list[np.ndarray], pred: list[np.ndarray], n: int) -> tuple[float, float]:
    trivial = [np.zeros_like(t) for t in truth]
    return mean_iou(truth, pred, n), mean_iou(truth, trivial, n)


def test_run_length_output_through_the_cli_on_images_of_mixed_sizes(tmp_path):
    """The folder layout, images of several sizes, the task asking for a CSV of run-length encodings: each row
    decodes at its image's size and the masks clearly beat the all-background baseline."""
    data = tmp_path / "seg"
    truth = make_segmentation_folder(data, n_train=0, n_test=0)
    rng = np.random.default_rng(3)
    for i in range(30):
        img, mask = _mixed_pair(rng, i)
        img.save(data / "train" / "images" / f"img_{i:03d}.png")
        Image.fromarray(mask, "L").save(data / "train" / "masks" / f"img_{i:03d}.png")
    for i in range(8):
        img, mask = _mixed_pair(rng, i + 2)
        img.save(data / "test" / "images" / f"scan_{i:03d}.png")
        truth[f"scan_{i:03d}.png"] = mask.astype(np.int64)
    before = tree_digest(data)
    out = tmp_path / "run"
    task = ("Segment the disks and squares in each test image. Submit submission.csv with the run-length "
            "encoded pixels of each class (columns ImageId, ClassId, EncodedPixels).")
    r = run_cli("run", str(data), "--task", task, "--output", str(out), "--time-limit", "25", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    assert tree_digest(data) == before
    sub = pd.read_csv(out / "submission.csv", keep_default_na=False, dtype=str)
    assert list(sub.columns) == ["ImageId", "ClassId", "EncodedPixels"] and len(sub) == 2 * len(truth)
    assert set(sub["ClassId"]) == {"1", "2"} and set(sub["ImageId"]) == set(truth)
    names = sorted(truth)
    pred = []
    for n in names:
        h, w = truth[n].shape
        m = np.zeros((h, w), np.int64)
        for cls, runs in sub[sub["ImageId"] == n][["ClassId", "EncodedPixels"]].itertuples(index=False):
            nums = [int(x) for x in runs.split()]
            assert all(s >= 1 and s - 1 + k <= h * w for s, k in zip(nums[::2], nums[1::2]))  # inside its image
            m[rle_decode(runs, h, w) == 1] = int(cls)
        pred.append(m)
    ours, trivial = _score([truth[n] for n in names], pred, 3)
    print(f"\nrun-length output, mixed sizes: mean IoU {ours:.3f} (all background {trivial:.3f})")
    assert ours > trivial + 0.3


def test_a_table_of_image_and_mask_paths_runs_end_to_end(tmp_path):
    """Images of mixed sizes linked to their masks by a table, the images to segment listed by another: a mask
    file per listed image, at its own size, well above the all-background baseline."""
    data = tmp_path / "tab"
    truth = make_table_folder(data, n_train=36, n_test=8)
    before = tree_digest(data)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", TASK, "--output", str(out), "--time-limit", "25", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    assert tree_digest(data) == before
    table = pd.read_csv(out / "predictions.csv")
    assert list(table.columns) == ["to_segment", "mask"] and len(table) == len(truth)
    names = sorted(truth)
    pred = [np.asarray(Image.open(out / "masks" / "pics_new" / f"{n}.png"), dtype=np.int64) for n in names]
    assert [p.shape for p in pred] == [truth[n].shape for n in names]  # each its own image's size
    ours, trivial = _score([truth[n] for n in names], pred, 3)
    print(f"\ntable of paths, mixed sizes: mean IoU {ours:.3f} (all background {trivial:.3f})")
    assert ours > trivial + 0.3


def test_run_length_training_table_gives_run_length_output(tmp_path):
    """Masks given only as run-length encodings: the run decodes them, learns, and writes its masks in the same
    layout (the training table's columns), each fitting its image, above the all-background baseline."""
    data = tmp_path / "rle"
    truth = make_table_folder(data, n_train=36, n_test=8, rle=True)
    (data / "todo.csv").unlink()  # the pictures to segment: those no table names
    before = tree_digest(data)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "Find the shapes in the new pictures.", "--output", str(out),
                "--time-limit", "25", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    assert tree_digest(data) == before
    sub = pd.read_csv(out / "predictions.csv", keep_default_na=False, dtype=str)
    assert list(sub.columns) == ["pic", "runs"] and sorted(sub["pic"]) == sorted(truth)  # ids as the table writes
    names = sorted(truth)
    runs = sub.set_index("pic")["runs"]
    pred = [rle_decode(runs[n], *truth[n].shape).astype(np.int64) for n in names]
    ours, trivial = _score([truth[n] for n in names], pred, 2)
    print(f"\nrun-length training: mean IoU {ours:.3f} (all background {trivial:.3f})")
    assert ours > trivial + 0.25
    # the saved model on new images of another size: the same layout, ids without the extension
    new = tmp_path / "new"
    new.mkdir()
    shapes_pair(np.random.default_rng(9), size=30, width=44)[0].save(new / "fresh.png")
    r = run_cli("predict", str(out), str(new), "--output", str(tmp_path / "new.csv"))
    assert r.returncode == 0, r.stderr[-2000:]
    again = pd.read_csv(tmp_path / "new.csv", keep_default_na=False, dtype=str)
    assert list(again.columns) == ["pic", "runs"] and again["pic"].tolist() == ["fresh"]
    nums = [int(x) for x in again["runs"][0].split()]
    assert all(s >= 1 and s - 1 + k <= 30 * 44 for s, k in zip(nums[::2], nums[1::2]))
