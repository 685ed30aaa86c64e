"""Shared fixtures: small real datasets generated on the fly, and a helper to run the real CLI."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Runs started by the tests (the CLI, servers, batches) plan no further seeds after their recipes: the tests' short
# budgets on tiny tables would fill with them, and each such test would take its whole limit. The seeds are tested
# where they are meant (test_light_recipes.py: --seeds given).
os.environ.setdefault("MLWRIGHT_SEEDS", "0")
# ... nor CatBoost, whose ordered boosting takes 15 s on a 240-row table: its tests ask for it (test_light_recipes.py)
os.environ.setdefault("MLWRIGHT_EXCLUDE_RECIPES", "catboost_light")


def reload_runtime():
    """The runtime modules reloaded in import order, for a new MLWRIGHT_CONFIG: each one copies the task's globals
    (SPEC, PROBLEM, ...) from the modules before it when imported, as the one namespace of a rendered script holds
    them. Returns the common module."""
    import importlib

    import mlwright.runtime.common as common
    import mlwright.runtime.features as features

    importlib.reload(common)
    importlib.reload(features)
    return common


def make_classification_frame(n: int = 300, seed: int = 0, classes=("no", "yes")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logits = 2.0 * x1 - 1.5 * x2 + (color == "red") * 1.0
    if len(classes) == 2:
        y = np.where(logits + rng.normal(scale=0.5, size=n) > 0, classes[1], classes[0])
    else:
        y = np.asarray(classes)[np.digitize(logits, np.quantile(logits, np.linspace(0, 1, len(classes) + 1)[1:-1]))]
    return pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)], "x1": x1.round(4), "x2": x2.round(4),
                         "color": color, "label": y})


def make_regression_frame(n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.uniform(40, 200, size=n)
    rooms = rng.integers(1, 6, size=n)
    city = rng.choice(["north", "south", "east"], size=n)
    price = 1000 * area + 5000 * rooms + np.where(city == "north", 30000, 0) + rng.normal(0, 5000, size=n)
    return pd.DataFrame({"Id": np.arange(1, n + 1), "area": area.round(1), "rooms": rooms, "city": city,
                         "price": price.round(0)})


def split_write(df: pd.DataFrame, folder: Path, target: str, n_test: int = 60,
                train_name: str = "train.csv", test_name: str = "test.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    df.iloc[n_test:].to_csv(folder / train_name, index=False)
    df.iloc[:n_test].drop(columns=[target]).to_csv(folder / test_name, index=False)
    return folder


@pytest.fixture
def churn_dir(tmp_path) -> Path:
    return split_write(make_classification_frame(), tmp_path / "churn", "label")


@pytest.fixture
def house_dir(tmp_path) -> Path:
    return split_write(make_regression_frame(), tmp_path / "houses", "price")


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_cli(*args: str, timeout: float = 600, input_text: str | None = None, env: dict | None = None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mlwright", *args], capture_output=True, text=True,
                          timeout=timeout, input=input_text, env=full_env, cwd=ROOT)
