"""Ensembling: greedy selection on out-of-fold predictions blends attempts only when it helps."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from mlwright.planning.ensemble import select_blend
from mlwright.schemas import AttemptRecord, TaskSpec


def _spec():
    return TaskSpec(problem_type="binary", target="y", metric="roc_auc", higher_is_better=True, train_table="t",
                    test_table="s", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", "y"], output_kind="probability", class_labels=["0", "1"],
                    positive_class="1", feature_columns=["a"], n_train_rows=400, n_test_rows=10)


def _attempt(tmp_path, i, p, score):
    d = tmp_path / f"a{i}"
    d.mkdir()
    pd.DataFrame({"__row__": np.arange(len(p)), "p::0": 1 - p, "p::1": p}).to_csv(d / "oof_predictions.csv", index=False)
    pd.DataFrame({"p::0": [0.5] * 10, "p::1": [0.5] * 10}).to_csv(d / "test_predictions_raw.csv", index=False)
    return AttemptRecord(attempt_id=i, kind="draft", recipe=f"r{i}", title="t", status="succeeded",
                         started_at=time.time(), time_budget_s=1, score=score, workdir=str(d))


def test_blend_of_complementary_attempts(tmp_path):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    signal = rng.normal(size=400)
    y = (signal > 0).astype(int)
    p1 = 1 / (1 + np.exp(-(signal + rng.normal(scale=1.5, size=400))))
    p2 = 1 / (1 + np.exp(-(signal + rng.normal(scale=1.5, size=400))))
    train = pd.DataFrame({"y": y.astype(str)})
    h = [_attempt(tmp_path, 1, p1, roc_auc_score(y, p1)), _attempt(tmp_path, 2, p2, roc_auc_score(y, p2))]
    chosen = select_blend(_spec(), train, h)
    assert chosen is not None
    members, score = chosen
    assert {m.attempt_id for m, _ in members} == {1, 2} and abs(sum(w for _, w in members) - 1) < 1e-9
    assert score > max(h[0].score, h[1].score)
    # a useless second attempt is not blended in
    h[1] = _attempt(tmp_path, 3, rng.random(400), 0.5)
    assert select_blend(_spec(), train, h) is None
