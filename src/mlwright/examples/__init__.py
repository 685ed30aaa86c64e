"""The bundled example: scikit-learn's copy of the Wisconsin breast-cancer data (shipped inside the
scikit-learn package, so no download), split into a labeled train table and an unlabeled test table."""
from __future__ import annotations

from pathlib import Path

import numpy as np

DEMO_TASK = ("Predict whether each tumour in test.csv is malignant or benign. Write predictions.csv with "
             "columns id,diagnosis where diagnosis is the probability that the tumour is malignant. Metric: ROC AUC.")


def write_demo(folder: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ds = load_breast_cancer(as_frame=True)
    df = ds.frame.rename(columns={"target": "diagnosis"})
    df["diagnosis"] = np.where(df["diagnosis"] == 0, "malignant", "benign")
    df.insert(0, "id", [f"T{1000 + i}" for i in range(len(df))])
    rng = np.random.default_rng(7)
    test_mask = rng.random(len(df)) < 0.2
    df[~test_mask].to_csv(folder / "train.csv", index=False)
    df[test_mask].drop(columns=["diagnosis"]).to_csv(folder / "test.csv", index=False)
    (folder / "task.md").write_text(DEMO_TASK + "\n")
    return folder
