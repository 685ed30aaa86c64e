"""Ensembling the best few valid attempts: greedy forward selection with replacement (Caruana et al.) on
their out-of-fold predictions, scored with the task's metric by mlwright itself, cross-fitted so that the
blend's score is not flattered by weights chosen on the rows it is scored on. An attempt and its further seeds
(Planner.variant) are one candidate, their predictions averaged (a bag): seeds differ in folds, stopping rows and
subsamples, so their mean is less noisy than any one, and every further seed can help however many there are."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Optional

import numpy as np
import pandas as pd

from mlwright.knowledge.library import load_cards
from mlwright.runtime import metrics as rm
from mlwright.schemas import AttemptRecord, TaskSpec
from mlwright.validation.checks import MIN_VALIDATION_FRACTION
from mlwright.validation.metrics import Scorer, is_better, score_predictions

MAX_MEMBERS = 5  # candidates of the blend: bags (an attempt with its seeds)
ROUNDS = 20
MIN_GAIN = 1e-4
CHOICE_ROWS = 10000  # the rows the blend's weights are chosen on, at most (the score is on every row)
FOLDS = rm.BLEND_FOLDS
# the rows every member has an out-of-fold prediction for: a member validated on a holdout (a CNN) joins members
# validated on every row (cross-validation) on its holdout rows, when they are enough to choose weights on
MIN_SHARED_ROWS = 200


def _load(rec: AttemptRecord) -> Optional[pd.DataFrame]:
    d = Path(rec.workdir)
    if not (d / "oof_predictions.csv").is_file() or not (d / "test_predictions_raw.csv").is_file():
        return None
    return pd.read_csv(d / "oof_predictions.csv").sort_values("__row__").set_index("__row__")


def _greedy(scorer: Scorer, y: np.ndarray, frames: dict[int, np.ndarray]) -> dict[int, int]:
    """Greedy forward selection with replacement, member id -> times chosen: every round adds the member that
    scores best, even when no addition improves (the best one-to-one blend can lose where two-to-one wins), and
    the best blend seen in all rounds is kept (the earliest, so the smallest, among equals). On more than
    CHOICE_ROWS rows the weights are chosen on a fixed sample of them: a few weights need no more, and each of the
    hundreds of scorings costs in proportion to the rows."""
    if len(y) > CHOICE_ROWS:
        pick = np.sort(np.random.default_rng(0).choice(len(y), CHOICE_ROWS, replace=False))
        y, frames = y[pick], {k: f[pick] for k, f in frames.items()}
    counts: dict[int, int] = {}
    current = None
    best: Optional[tuple[float, dict[int, int]]] = None
    for _ in range(ROUNDS):
        round_best = None
        for k, f in frames.items():
            n = sum(counts.values())
            cand = f if current is None else (current * n + f) / (n + 1)
            s = scorer(y, cand)
            if round_best is None or is_better(scorer.spec, s, round_best[1]):
                round_best = (k, s, cand)
        k, s, current = round_best
        counts[k] = counts.get(k, 0) + 1
        if best is None or is_better(scorer.spec, s, best[0]):
            best = (s, dict(counts))
    return best[1] if best else {}


@dataclass
class Blend:
    members: list[AttemptRecord]
    weights: list[float]  # chosen on all out-of-fold rows: used for the test rows and new data
    fold_weights: list[list[float]]  # per cross-fitting fold, chosen without that fold's rows
    score: float  # the cross-fitted score: each fold blended with weights it did not help choose


def blendable(spec: TaskSpec) -> bool:
    """Whether attempts of this task can be blended (forecasts, several targets, rankings and masks: one attempt's
    answer)."""
    return not (spec.timeseries is not None or spec.is_multi or spec.ranking is not None
                or spec.segmentation is not None)


def seed_variants(history: list[AttemptRecord], seeded: Optional[Collection[str]] = None) -> list[AttemptRecord]:
    """The attempts that are another seed of an earlier attempt (Planner.variant): improves of their own recipe, one
    whose seed changes its model (`seeded`: the planner's cards that say so; by default the library's). An
    LLM-written attempt that improves another is other code."""
    seeded = {c.recipe for c in load_cards() if c.seeded} if seeded is None else seeded
    by_id = {h.attempt_id: h for h in history}
    return [h for h in history if h.kind == "improve" and h.recipe in seeded and h.parent_id in by_id
            and by_id[h.parent_id].recipe == h.recipe]


def _weaker(spec: TaskSpec, seed: AttemptRecord, first: AttemptRecord) -> bool:
    """Whether a further seed scores below its first attempt by more than the first's bootstrap spread: not the same
    model with other noise (a seed started with little time left can get lighter settings: fewer rounds at a larger
    rate), so averaging it in would dilute the bag. It stays a candidate of its own."""
    if seed.score is None or first.score is None or not first.score_sd:
        return False
    return (first.score - seed.score) * (1 if spec.higher_is_better else -1) > first.score_sd


def candidates(spec: TaskSpec, history: list[AttemptRecord]) -> list[list[AttemptRecord]]:
    """The blend's candidates, MAX_MEMBERS bags: each valid attempt with its valid further seeds. The bag with
    the best attempt of each recipe first (families differ most), then the next best (a recipe's other attempts)."""
    valid = [h for h in history if h.status == "succeeded" and h.recipe != "ensemble"]
    by_id = {h.attempt_id: h for h in valid}
    variant_of = {h.attempt_id: h.parent_id for h in seed_variants(valid) if not _weaker(spec, h, by_id[h.parent_id])}
    groups: dict[int, list[AttemptRecord]] = {}
    for h in valid:
        groups.setdefault(variant_of.get(h.attempt_id, h.attempt_id), []).append(h)

    def best(bag: list[AttemptRecord]) -> float:
        return (max if spec.higher_is_better else min)(h.score for h in bag)

    bags = sorted(groups.values(), key=best, reverse=spec.higher_is_better)
    firsts = list({b[0].recipe: b for b in reversed(bags)}.values())  # the best bag of each recipe
    firsts.sort(key=best, reverse=spec.higher_is_better)
    chosen = firsts[:MAX_MEMBERS]
    return chosen + [b for b in bags if not any(b is c for c in chosen)][:MAX_MEMBERS - len(chosen)]


def select_blend(spec: TaskSpec, train: pd.DataFrame, history: list[AttemptRecord]) -> Optional[Blend]:
    """A blend of the best few valid attempts when its cross-fitted out-of-fold score beats the best single
    attempt, else None. Weights chosen and scored on the same rows would flatter the blend; here each fold's
    rows are blended with weights chosen on the other folds."""
    if not blendable(spec):
        return None
    oofs: dict[int, pd.DataFrame] = {}
    bags: list[list[AttemptRecord]] = []
    for bag in candidates(spec, history):
        for h in bag:
            if (o := _load(h)) is not None:
                oofs[h.attempt_id] = o
        if kept := [h for h in bag if h.attempt_id in oofs]:
            bags.append(kept)
    if len(oofs) < 2:
        return None
    rows = None
    for o in oofs.values():
        rows = o.index if rows is None else rows.intersection(o.index)
    if rows is None or len(rows) < max(MIN_SHARED_ROWS, 5 * FOLDS, MIN_VALIDATION_FRACTION * len(train)):
        return None  # too few rows validated by every member to choose and score weights on
    rows = rows.sort_values()
    cols = list(next(iter(oofs.values())).columns)
    singles = {k: v.loc[rows, cols].to_numpy(dtype=float) for k, v in oofs.items()}
    frames = {i: sum(singles[h.attempt_id] for h in bag) / len(bag) for i, bag in enumerate(bags)}
    scorer = Scorer(spec)
    y_all = train[spec.target].iloc[rows.to_numpy()].reset_index(drop=True)
    y = scorer.answers(y_all)
    single = (max if spec.higher_is_better else min)(
        score_predictions(spec, y_all, pd.DataFrame(f, columns=cols)) for f in singles.values())
    everything = _greedy(scorer, y, frames)
    if sum(len(bags[i]) for i in everything) < 2:
        return None
    folds = rm.blend_fold_ids(rows.to_numpy(), len(train))
    per_fold = [_greedy(scorer, y[folds != k], {i: f[folds != k] for i, f in frames.items()}) for k in range(FOLDS)]
    blended = np.zeros_like(next(iter(frames.values())))
    for k, counts in enumerate(per_fold):
        total = sum(counts.values())
        blended[folds == k] = sum(frames[i][folds == k] * (c / total) for i, c in counts.items())
    # the reported score from the metric's own definition (scikit-learn), on every row
    score = score_predictions(spec, y_all, pd.DataFrame(blended, columns=cols))
    if not is_better(spec, score, single) or abs(score - single) < MIN_GAIN:
        return None
    # a bag's weight is shared evenly by its seeds
    members = [(h, i) for i in sorted(set(everything).union(*per_fold)) for h in bags[i]]

    def share(counts: dict[int, int], i: int) -> float:
        return counts.get(i, 0) / sum(counts.values()) / len(bags[i])

    return Blend(members=[h for h, _ in members], weights=[share(everything, i) for _, i in members],
                 fold_weights=[[share(c, i) for _, i in members] for c in per_fold], score=score)
