"""Several related tables: keys found by name and by value overlap, one-to-one lookups and one-to-many
aggregates joined onto train and test alike, unjoinable tables reported."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from conftest import run_cli
from mlwright.perception.infer import infer_task
from mlwright.perception.task_text import parse_task_text


def _shop(tmp_path):
    rng = np.random.default_rng(3)
    n = 400
    customers = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "city": rng.choice(["x", "y", "z"], n),
                              "age": rng.integers(18, 80, n)})
    # one-to-many: the label depends on how much each customer spent
    orders = pd.DataFrame({"customer_id": rng.choice(customers["customer_id"], 3000),
                           "amount": rng.gamma(2.0, 20.0, 3000).round(2)})
    spend = orders.groupby("customer_id")["amount"].sum().reindex(customers["customer_id"]).fillna(0).to_numpy()
    customers["vip"] = np.where(spend > np.median(spend), "yes", "no")
    # a lookup table keyed by values, not by name: city codes
    cities = pd.DataFrame({"code": ["x", "y", "z"], "population": [1000, 50000, 2000000]})
    unrelated = pd.DataFrame({"planet": ["mars", "venus"], "moons": [2, 0]})
    d = tmp_path / "shop"
    d.mkdir()
    customers.iloc[80:].to_csv(d / "customers_train.csv", index=False)
    customers.iloc[:80].drop(columns=["vip"]).to_csv(d / "customers_test.csv", index=False)
    orders.to_csv(d / "orders.csv", index=False)
    cities.to_csv(d / "cities.csv", index=False)
    unrelated.to_csv(d / "planets.csv", index=False)
    return d, customers


def test_keys_joins_and_aggregates(tmp_path):
    d, _ = _shop(tmp_path)
    tables = {p.name: pd.read_csv(p) for p in d.iterdir()}
    inf = infer_task(tables, parse_task_text("which customers are vip? write predictions.csv with customer_id,vip"))
    spec = inf.spec
    assert spec.modality == "multitable" and spec.target == "vip" and spec.train_table == "customers_train.csv"
    joined = " ".join(spec.joins)
    assert "orders.csv: aggregated" in joined and "['customer_id']" in joined
    assert "cities.csv: joined one-to-one on city = cities.csv.code" in joined
    assert any("planets.csv" in n and "no joinable key" in n for n in spec.notes)
    assert {"orders.amount.mean", "orders.count", "city.cities.population"} <= set(spec.feature_columns)
    assert len(inf.train) == 320 and len(inf.test) == 80  # no row lost or duplicated by the joins
    assert "vip" not in [c for c in inf.test.columns]


def test_multitable_run_uses_the_aggregates(tmp_path):
    d, customers = _shop(tmp_path)
    out = tmp_path / "run"
    r = run_cli("run", str(d), "--task", "which customers are vip? write predictions.csv with customer_id,vip",
                "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["best"]["validation_score"] > 0.8  # only learnable through the orders table
    pred = pd.read_csv(out / "predictions.csv").merge(customers[["customer_id", "vip"]], on="customer_id",
                                                      suffixes=("", "_true"))
    assert len(pred) == 80 and (pred["vip"] == pred["vip_true"]).mean() > 0.75
