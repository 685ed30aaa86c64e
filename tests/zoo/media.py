"""Image and one-document-per-file variants: class folders, tables of file names, sample submissions, archives."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd

from zoo.base import documents, images
from zoo.render import archive, write_table
from zoo.tabular import template_order
from zoo.variant import Variant


def _put(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def _variant(name: str, dims: dict, write: Callable[[Path], None], task: str, id_col: str, value_col: str,
             test_ids: list[str], truth: list[str], ordered: bool = False, pred_file: str = "predictions.csv",
             base: str = "images") -> Variant:
    n_classes = len(set(truth))
    return Variant(name=name, dims={"base": base, **dims}, write=write, task=task, prediction_file=pred_file,
                   columns=[id_col, value_col], id_columns=[id_col], keys=[(k,) for k in test_ids], truth=truth,
                   problem_type="multiclass" if n_classes > 2 else "binary", ordered=ordered,
                   value_column=value_col, output="label")


def image_variants() -> list[Variant]:
    b = images()
    V: list[Variant] = []
    truth = [c for _, c, _ in b.test]
    files = [f"{s}.png" for s, _, _ in b.test]
    stems = [s for s, _, _ in b.test]
    lay = lambda v: {"image layout": v}  # noqa: E731

    def class_folders(folder: Path):
        for s, c, png in b.train:
            _put(folder / "train" / c / f"{s}.png", png)
        for s, _, png in b.test:
            _put(folder / "test" / f"{s}.png", png)

    V.append(_variant("img_class_folders", lay("train/<class>/ + test/"), class_folders,
                      "Classify each image in test/ as red, green or blue. Write predictions.csv with columns "
                      "file,label where file is the image's file name (e.g. q_000.png).", "file", "label", files,
                      truth))

    def table(folder: Path):
        for s, _, png in b.train + b.test:
            _put(folder / "images" / f"{s}.png", png)
        write_table(pd.DataFrame({"image": [f"{s}.png" for s, _, _ in b.train], "label": [c for _, c, _ in b.train]}),
                    folder / "train.csv")
        write_table(pd.DataFrame({"image": files}), folder / "test.csv")

    V.append(_variant("img_table_of_files", lay("images/ + train.csv/test.csv of file names"), table,
                      "Predict the `label` of each image listed in test.csv. Write predictions.csv with columns "
                      "image,label.", "image", "label", files, truth))

    def table_stems(folder: Path):
        for s, _, png in b.train + b.test:
            _put(folder / "pics" / f"{s}.png", png)
        write_table(pd.DataFrame({"id": [s for s, _, _ in b.train], "colour": [c for _, c, _ in b.train]}),
                    folder / "labels.csv")
        write_table(pd.DataFrame({"id": stems}), folder / "test.csv")

    V.append(_variant("img_table_ids_without_extension", lay("pics/ + labels.csv with ids without extension"),
                      table_stems, "Predict the `colour` of the pictures listed in test.csv (ids are file names "
                      "without .png). Write predictions.csv with columns id,colour.", "id", "colour", stems, truth))

    order = template_order(len(files), seed=6)

    def sample(folder: Path):
        class_folders(folder)
        write_table(pd.DataFrame({"id": [files[i] for i in order], "label": "red"}), folder / "sample_submission.csv")

    V.append(_variant("img_sample_submission", lay("class folders + sample_submission (shuffled)"), sample,
                      "Classify the test images. Write the submission in the format of sample_submission.csv.",
                      "id", "label", [files[i] for i in order], [truth[i] for i in order], ordered=True,
                      pred_file="predictions.csv"))

    def blank(folder: Path):
        for s, _, png in b.train + b.test:
            _put(folder / "images" / f"{s}.png", png)
        rows = [(f"images/{s}.png", c) for s, c, _ in b.train] + [(f"images/{s}.png", "") for s, _, _ in b.test]
        write_table(pd.DataFrame(rows, columns=["path", "label"]), folder / "labels.csv")

    V.append(_variant("img_blank_labels_in_one_table", lay("one table, blank labels for the images to predict"),
                      blank, "labels.csv lists every image; fill in the missing labels. Write predictions.csv "
                      "with columns path,label.", "path", "label", [f"images/{f}" for f in files], truth))

    V.append(_variant("img_class_folders_zip", {**lay("class folders"), "format": "zip"},
                      lambda folder: archive(folder, "images.zip", class_folders),
                      "images.zip holds train/<colour>/ and test/. Classify the test images and write "
                      "predictions.csv with columns file,label (file = the image file name).", "file", "label",
                      files, truth))

    def jpg_like_named(folder: Path):
        for s, c, png in b.train:
            _put(folder / "training_images" / c / f"{s}.png", png)
        for s, _, png in b.test:
            _put(folder / "images_to_classify" / f"{s}.png", png)

    V.append(_variant("img_unusual_folder_names", lay("training_images/<class>/ + images_to_classify/"),
                      jpg_like_named, "The folders under training_images/ are the classes. Classify every image in "
                      "images_to_classify/ and write predictions.csv with columns file,label.", "file", "label",
                      files, truth))

    def keras_layout(folder: Path):
        for s, c, png in b.train:
            _put(folder / "data" / "train" / c / f"{s}.png", png)
        for s, _, png in b.test:
            _put(folder / "data" / "test" / "unknown" / f"{s}.png", png)

    V.append(_variant("img_test_in_unknown_subfolder", lay("data/train/<class>/ + data/test/unknown/ (Keras)"),
                      keras_layout, "Classify the images in data/test/unknown/ by colour. Write predictions.csv "
                      "with columns file,label (file = the image file name).", "file", "label", files, truth))
    return V


def document_variants() -> list[Variant]:
    b = documents()
    V: list[Variant] = []
    truth = [c for _, c, _ in b.test]
    files = [f"{s}.txt" for s, _, _ in b.test]
    lay = lambda v: {"document layout": v}  # noqa: E731

    def class_folders(folder: Path, ext: str = "txt"):
        for s, c, t in b.train:
            body = json.dumps({"title": t.split(".")[0], "body": t}) if ext == "json" else t
            _put(folder / "train" / c / f"{s}.{ext}", body)
        for s, _, t in b.test:
            body = json.dumps({"title": t.split(".")[0], "body": t}) if ext == "json" else t
            _put(folder / "test" / f"{s}.{ext}", body)

    V.append(_variant("docs_class_folders", lay("train/<class>/*.txt + test/*.txt"), class_folders,
                      "Classify the topic of each text file in test/. Write predictions.csv with columns file,topic "
                      "(file = the file name, e.g. new_000.txt).", "file", "topic", files, truth, base="documents"))

    def table(folder: Path):
        for s, _, t in b.train + b.test:
            _put(folder / "docs" / f"{s}.txt", t)
        write_table(pd.DataFrame({"file": [f"{s}.txt" for s, _, _ in b.train], "topic": [c for _, c, _ in b.train]}),
                    folder / "train.csv")
        write_table(pd.DataFrame({"file": files}), folder / "test.csv")

    V.append(_variant("docs_table_of_files", lay("docs/*.txt + train.csv/test.csv of file names"), table,
                      "Predict the `topic` of the documents listed in test.csv. Write predictions.csv with columns "
                      "file,topic.", "file", "topic", files, truth, base="documents"))

    jfiles = [f"{s}.json" for s, _, _ in b.test]
    V.append(_variant("docs_json_objects", lay("train/<class>/*.json + test/*.json"),
                      lambda f: class_folders(f, "json"),
                      "Each .json file is one article (title, body). Classify the topic of the articles in test/ "
                      "and write predictions.csv with columns file,topic (file = the file name).", "file", "topic",
                      jfiles, truth, base="documents"))

    V.append(_variant("docs_class_folders_tar", {**lay("class folders"), "format": "tar.gz"},
                      lambda folder: archive(folder, "corpus.tar.gz", class_folders, "tar.gz"),
                      "corpus.tar.gz holds train/<topic>/*.txt and test/*.txt. Classify the test documents and "
                      "write predictions.csv with columns file,topic.", "file", "topic", files, truth,
                      base="documents"))

    order = template_order(len(files), seed=7)

    def sample(folder: Path):
        class_folders(folder)
        write_table(pd.DataFrame({"file": [files[i] for i in order], "topic": "sports"}),
                    folder / "sample_submission.csv")

    V.append(_variant("docs_sample_submission", lay("class folders + sample_submission (shuffled)"), sample,
                      "Classify the documents in test/ and write submission.csv like sample_submission.csv.",
                      "file", "topic", [files[i] for i in order], [truth[i] for i in order], ordered=True,
                      pred_file="submission.csv", base="documents"))

    def folders_and_test_table(folder: Path):
        for s, c, t in b.train:
            _put(folder / "train" / c / f"{s}.txt", t)
        write_table(pd.DataFrame({"id": list(range(1, len(b.test) + 1)), "text": [t for _, _, t in b.test]}),
                    folder / "test.csv")

    V.append(_variant("docs_train_folders_test_table", lay("train/<class>/*.txt + test.csv with a text column"),
                      folders_and_test_table, "The training texts are in train/<topic>/. Predict the topic of each "
                      "text in test.csv and write predictions.csv with columns id,topic.", "id", "topic",
                      [str(i) for i in range(1, len(b.test) + 1)], truth, base="documents"))
    return V
