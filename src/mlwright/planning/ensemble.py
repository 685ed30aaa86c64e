"""Ensembling the best few valid attempts: greedy forward selection with replacement (Caruana et al.) on
their out-of-fold predictions, scored with the task's metric by mlwright itself."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd

from mlwright.schemas import AttemptRecord, TaskSpec
from mlwright.validation.metrics import is_better, score_predictions

MAX_MEMBERS = 4
ROUNDS = 20
MIN_GAIN = 1e-4


def _load(rec: AttemptRecord) -> Optional[pd.DataFrame]:
    d = Path(rec.workdir)
    if not (d / "oof_predictions.csv").is_file() or not (d / "test_predictions_raw.csv").is_file():
        return None
    return pd.read_csv(d / "oof_predictions.csv").sort_values("__row__").set_index("__row__")


def select_blend(spec: TaskSpec, train: pd.DataFrame, history: list[AttemptRecord]
                 ) -> Optional[tuple[list[tuple[AttemptRecord, float]], float]]:
    """(members with weights, blended OOF score) when a blend beats the best single attempt, else None."""
    if spec.timeseries is not None:
        return None
    valid = sorted([h for h in history if h.status == "succeeded" and h.recipe != "ensemble"],
                   key=lambda h: h.score, reverse=spec.higher_is_better)[:MAX_MEMBERS]
    oofs = {h.attempt_id: o for h in valid if (o := _load(h)) is not None}
    if len(oofs) < 2:
        return None
    rows = None
    for o in oofs.values():
        rows = o.index if rows is None else rows.intersection(o.index)
    if rows is None or len(rows) < 0.9 * len(train):
        return None  # members validated on different rows cannot be compared
    cols = list(next(iter(oofs.values())).columns)
    frames = {k: v.loc[rows, cols].reset_index(drop=True) for k, v in oofs.items()}
    y = train[spec.target].iloc[rows.to_numpy()].reset_index(drop=True)
    best_single = max if spec.higher_is_better else min
    single = best_single(score_predictions(spec, y, f) for f in frames.values())
    counts: dict[int, int] = {}
    current, current_score = None, None
    for _ in range(ROUNDS):
        round_best = None
        for k, f in frames.items():
            n = sum(counts.values())
            cand = f if current is None else (current * n + f) / (n + 1)
            s = score_predictions(spec, y, cand)
            if round_best is None or is_better(spec, s, round_best[1]):
                round_best = (k, s, cand)
        if current_score is not None and not is_better(spec, round_best[1], current_score):
            break
        k, current_score, current = round_best
        counts[k] = counts.get(k, 0) + 1
    if len(counts) < 2 or not is_better(spec, current_score, single) or abs(current_score - single) < MIN_GAIN:
        return None
    by_id = {h.attempt_id: h for h in valid}
    total = sum(counts.values())
    return [(by_id[k], c / total) for k, c in counts.items()], current_score
