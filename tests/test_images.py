"""Image tasks, offline: class-named folders or a table of file names, through the real CLI (features + SVM
recipe); corrupt images are reported and never crash a run; the torch CNN recipe when torch is installed."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import run_cli, tree_digest
from mlwright.errors import DataError
from mlwright.perception.images import detect_image_task
from mlwright.perception.scan import load_folder
from mlwright.perception.task_text import parse_task_text

CLASSES = ("circle", "cross", "square")
TASK = "Classify each test image; write predictions.csv with columns filename,label"


def shape_image(kind: str, rng: np.random.Generator, size: int = 16) -> Image.Image:
    """A noisy 16x16 RGB picture of a disk (reddish), a cross (bluish) or a square (greenish)."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + rng.integers(-2, 3), size / 2 + rng.integers(-2, 3)
    r = rng.uniform(3.5, 5.5)
    if kind == "circle":
        mask, color = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, (200, 60, 60)
    elif kind == "square":
        mask, color = (np.abs(yy - cy) <= r * 0.8) & (np.abs(xx - cx) <= r * 0.8), (60, 190, 70)
    else:
        mask = ((np.abs(yy - cy) <= 1) | (np.abs(xx - cx) <= 1)) & (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
        color = (70, 80, 200)
    img = np.full((size, size, 3), 235.0)
    img[mask] = color
    img += rng.normal(0, 25, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def make_folder_layout(root: Path, n_per_class: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, str]:
    """train/<class>/*.png + test/*.png, one corrupt image in each; returns the test file -> true class."""
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        (root / "train" / c).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            shape_image(c, rng).save(root / "train" / c / f"{c}_{i:03d}.png")
    (root / "train" / "circle" / "broken.png").write_bytes(b"this is not a png at all")
    (root / "test").mkdir(parents=True)
    truth = {}
    for i in range(n_test):
        c = CLASSES[i % 3]
        name = f"img_{i:04d}.png"
        shape_image(c, rng).save(root / "test" / name)
        truth[name] = c
    (root / "test" / "img_9999.png").write_bytes(b"")  # zero bytes: still needs a prediction
    return truth


def make_table_layout(root: Path, n: int = 120, n_test: int = 24, seed: int = 1) -> dict[str, str]:
    """images/*.png with train.csv (file,category) and test.csv (file) naming them without folders."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows, truth = [], {}
    for i in range(n + n_test):
        c = CLASSES[int(rng.integers(0, 3))]
        name = f"pic{i:04d}.png"
        shape_image(c, rng).save(root / "images" / name)
        if i < n:
            rows.append({"file": name, "category": c})
        else:
            truth[name] = c
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    pd.DataFrame({"file": list(truth)}).to_csv(root / "test.csv", index=False)
    return truth


def _detect(folder: Path, text: str, tmp: Path, target=None):
    loaded = load_folder(folder, tmp / "unpacked")
    return detect_image_task(loaded, parse_task_text(text, loaded.files), target, [])


# -- perception ------------------------------------------------------------------------------------------
def test_folder_layout_is_understood_and_corrupt_images_reported(tmp_path):
    data = tmp_path / "shapes"
    make_folder_layout(data)
    inf = _detect(data, TASK, tmp_path)
    spec = inf.spec
    assert spec.modality == "image" and spec.problem_type == "multiclass" and spec.metric == "accuracy"
    assert spec.class_labels == list(CLASSES) and spec.target == "label"
    assert spec.output_columns == ["filename", "label"] and spec.id_column == "filename"
    assert spec.image.path_column == "path" and spec.image.label_source == "folders"
    assert (spec.image.width, spec.image.height, spec.image.channels) == (16, 16, 3)
    assert len(inf.train) == 120 and not inf.train["path"].str.endswith("broken.png").any()  # dropped
    assert len(inf.test) == 21 and "img_9999.png" in set(inf.test["filename"])  # kept: it needs a prediction
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in inf.train["path"])
    notes = " ".join(spec.notes)
    assert "broken.png" in notes and "img_9999.png" in notes and "most frequent class" in notes


def test_table_layouts_regression_and_non_image_folders(tmp_path):
    data = tmp_path / "tab"
    make_table_layout(data)
    inf = _detect(data, "predict the category of each image", tmp_path)
    assert inf.spec.target == "category" and inf.spec.image.label_source == "table"
    assert inf.spec.output_columns == ["file", "category"] and len(inf.test) == 24 and len(inf.train) == 120
    # numeric labels in a table: regression; rows without a label are the ones to predict
    reg = tmp_path / "reg"
    (reg / "imgs").mkdir(parents=True)
    rng = np.random.default_rng(3)
    vals = []
    for i in range(60):
        v = float(rng.uniform(0, 255))
        Image.fromarray(np.full((12, 12), v, np.uint8), "L").save(reg / "imgs" / f"{i}.png")
        vals.append(round(v, 2) if i < 50 else None)
    pd.DataFrame({"image": [f"imgs/{i}.png" for i in range(60)], "brightness": vals}).to_csv(reg / "data.csv",
                                                                                                index=False)
    inf = _detect(reg, "estimate the brightness of each image; metric MAE", tmp_path / "r")
    assert inf.spec.problem_type == "regression" and inf.spec.metric == "mae" and inf.spec.image.channels == 1
    assert len(inf.train) == 50 and len(inf.test) == 10 and inf.spec.output_columns == ["image", "brightness"]
    # a tabular task with a stray picture is not an image task; images without labels are an error
    tabular = tmp_path / "tabular"
    tabular.mkdir()
    pd.DataFrame({"x": range(30), "y": [0, 1] * 15}).to_csv(tabular / "train.csv", index=False)
    pd.DataFrame({"x": range(5)}).to_csv(tabular / "test.csv", index=False)
    shape_image("circle", rng).save(tabular / "logo.png")
    assert _detect(tabular, "predict y", tmp_path / "t") is None
    bare = tmp_path / "bare"
    bare.mkdir()
    for i in range(5):
        shape_image("circle", rng).save(bare / f"{i}.png")
    with pytest.raises(DataError, match="no labels"):
        _detect(bare, "classify", tmp_path / "b")
    empty = tmp_path / "notes"
    empty.mkdir()
    (empty / "readme.md").write_text("nothing here")
    with pytest.raises(DataError, match="No readable table"):
        load_folder(empty, tmp_path / "e")


# -- end to end through the CLI ---------------------------------------------------------------------------
def test_folder_of_images_end_to_end_and_predict_new_images(tmp_path):
    data = tmp_path / "shapes"
    truth = make_folder_layout(data)
    before = tree_digest(data)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", TASK, "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr + r.stdout
    assert tree_digest(data) == before  # the user's images are never copied or touched
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and s["task"]["modality"] == "image"
    assert s["best"]["recipe"] in ("image_features", "image_cnn", "ensemble")
    assert s["best"]["validation_score"] > 0.8  # chance is 1/3
    assert any("broken.png" in n for n in s["task"]["notes"])
    assert any("img_9999.png" in n for n in s["task"]["notes"])
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == ["filename", "label"]
    assert sorted(pred["filename"]) == sorted([*truth, "img_9999.png"])
    assert set(pred["label"]) <= set(CLASSES)
    acc = np.mean([pred.set_index("filename").loc[f, "label"] == c for f, c in truth.items()])
    assert acc >= 0.8
    # the saved model on new images, given as a table of absolute paths
    rng = np.random.default_rng(7)
    (tmp_path / "new").mkdir()
    rows = []
    for i, c in enumerate(CLASSES * 3):
        p = tmp_path / "new" / f"n{i}.png"
        shape_image(c, rng).save(p)
        rows.append({"filename": p.name, "path": str(p), "truth": c})
    pd.DataFrame(rows).to_csv(tmp_path / "new.csv", index=False)
    r = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--output", str(tmp_path / "new_pred.csv"))
    assert r.returncode == 0, r.stderr
    new_pred = pd.read_csv(tmp_path / "new_pred.csv")
    assert list(new_pred.columns) == ["filename", "label"] and len(new_pred) == 9
    assert (new_pred["label"].to_numpy() == np.array([x["truth"] for x in rows])).mean() >= 0.7
    # ... and given as a plain folder of images
    r = run_cli("predict", str(out), str(tmp_path / "new"), "--output", str(tmp_path / "folder_pred.csv"))
    assert r.returncode == 0, r.stderr
    by_name = pd.read_csv(tmp_path / "folder_pred.csv").set_index("filename")["label"]
    assert len(by_name) == 9 and (by_name.loc[[x["filename"] for x in rows]].to_numpy() ==
                                  new_pred["label"].to_numpy()).all()


def test_table_of_file_names_end_to_end(tmp_path):
    data = tmp_path / "tab"
    truth = make_table_layout(data)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "Predict the category of each picture. Write answers.csv with columns "
                "file,category", "--output", str(out), "--time-limit", "45", "--no-autogluon")
    assert r.returncode == 0, r.stderr + r.stdout
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["target"] == "category" and s["task"]["image"]["label_source"] == "table"
    pred = pd.read_csv(out / "answers.csv")
    assert list(pred.columns) == ["file", "category"] and sorted(pred["file"]) == sorted(truth)
    acc = np.mean([pred.set_index("file").loc[f, "category"] == c for f, c in truth.items()])
    assert acc >= 0.8


def _cnn_attempt(tmp_path, budget: float, **params):
    """The image_cnn script fitted on the shapes, as mlwright would run it: (task, workdir, stdout, seconds)."""
    import time

    from mlwright.coding.recipe_coder import write_script
    from mlwright.perception.materialize import write_table
    from mlwright.schemas import AttemptPlan

    data = tmp_path / "shapes"
    make_folder_layout(data)
    inf = _detect(data, TASK, tmp_path)
    work = tmp_path / "attempt"
    work.mkdir()
    write_table(inf.train, work / "train.parquet")
    write_table(inf.test, work / "test.parquet")
    plan = AttemptPlan(attempt_id=1, recipe="image_cnn", title="cnn", time_budget_s=budget,
                       params={"time_budget": budget, **params})
    write_script(plan, inf.spec, work)
    t = time.time()
    r = subprocess.run([sys.executable, "solution.py", "fit", "--train", "train.parquet", "--test", "test.parquet",
                        "--out", ".", "--model", "model"], cwd=work, capture_output=True, text=True,
                       timeout=budget + 60)
    assert r.returncode == 0, r.stderr[-3000:]
    return inf, work, r.stdout, time.time() - t


needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed (extra: images)")


@needs_torch
def test_cnn_recipe_trains_within_its_budget(tmp_path):
    """With epochs to spare the holdout network is followed by the next fold's network: its predictions of that
    fold's rows join the out-of-fold rows, and both networks are averaged for the test rows (and by the saved
    model)."""
    import torch

    from mlwright.validation.checks import check_prediction_file, score_oof

    inf, work, out, seconds = _cnn_attempt(tmp_path, 40, max_epochs=2, max_members=1)
    check_prediction_file(inf.spec, work / "predictions.csv", inf.test)
    score, n_rows, _ = score_oof(inf.spec, work / "oof_predictions.csv", inf.train)
    assert n_rows >= 0.4 * len(inf.train) - 2 and score > 0.6  # two folds of five
    assert "flips" in out and "network 2 on fold 2 of 5" in out
    nets = torch.load(work / "model" / "model.pt", map_location="cpu")["states"]
    assert len(nets) == 2 and seconds < 40
    r = subprocess.run([sys.executable, "solution.py", "predict", "--model", "model", "--input", "test.parquet",
                        "--output", "again.csv"], cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    assert pd.read_csv(work / "again.csv").equals(pd.read_csv(work / "predictions.csv"))


@needs_torch
@pytest.mark.slow
def test_cnn_spends_a_budget_it_has_work_for(tmp_path):
    """Epochs without end: the recipe trains until its deadline, which leaves the predictions and the margin
    inside the budget (mlwright kills an attempt at its budget), instead of stopping at a fixed share of it."""
    budget = 60.0
    inf, work, out, seconds = _cnn_attempt(tmp_path, budget, max_epochs=100000)
    assert 0.82 * budget < seconds < budget, out  # it used to stop training at 72% of its budget
    from mlwright.validation.checks import check_prediction_file

    check_prediction_file(inf.spec, work / "predictions.csv", inf.test)


def test_pretrained_image_weights_are_resolved_outside_the_sandbox(tmp_path, monkeypatch):
    """The scripts run with their own HOME, so mlwright looks for the weights in the user's torch cache and
    hands the file over in PARAMS; without weights the params carry the reason the script logs."""
    from mlwright.knowledge import pretrained
    from mlwright.planning.planner import image_cnn_params

    make_folder_layout(tmp_path / "shapes")
    spec = _detect(tmp_path / "shapes", TASK, tmp_path).spec
    monkeypatch.delenv("MLWRIGHT_IMAGE_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    none = image_cnn_params(spec, 60)
    assert none["pretrained_weights"] is None and "no pretrained ResNet-18 weights" in none["pretrained_note"]
    ckpt = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    pretrained._resolve_image.cache_clear()
    assert image_cnn_params(spec, 60)["pretrained_weights"] == str(ckpt)
    monkeypatch.setenv("MLWRIGHT_IMAGE_WEIGHTS", str(tmp_path / "missing.pth"))
    assert "is not a file" in image_cnn_params(spec, 60)["pretrained_note"]
