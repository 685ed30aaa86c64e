"""The planner divides the time budget among attempts: a fast baseline recipe first so there is always a
valid answer, then the stronger recipes for the task's modality with what is left; a failed attempt gets
one lighter debug retry when there is time for it. With more than one slot (--parallel-attempts) the baseline
and the main recipes run side by side, each main recipe with the whole time the rounds of slots leave it."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Collection, Optional

from mlwright.knowledge.library import Card, recipes_for
from mlwright.planning.budget import ATTEMPT_GAP_S, ENSEMBLE_MIN_S, Overheads
from mlwright.planning.ensemble import blendable, seed_variants
from mlwright.schemas import AttemptPlan, AttemptRecord, TaskSpec
from mlwright.validation.metrics import is_better

BASELINE_SHARE = 0.25
INTERRUPTED = "interrupted: mlwright stopped while it ran"  # the error of an attempt found running on resume
NO_TIME_EXIT = 75  # a script's "my work cannot fit the time I was given" (the recipes' _common.stop_for_time)
# time left after every planned recipe: further seeds of the best seeded recipes, blend members (Planner.variant;
# how many each: RunOptions.seeds)
SEEDED_RECIPES = 2
VARIANT_MARGIN = 1.3  # a variant needs its first attempt's measured seconds times this
# time still left once each has its `seeds_each`: their bags keep growing, the cheaper one when the other no longer
# fits, up to this many times `seeds_each` (as AutoGluon repeats its bagging while time is left): a bag's mean is less
# noisy with every seed, where stopping leaves the user's time unused
TAIL_SEEDS_FACTOR = 3
# a main recipe that turns any time into a better model (AutoGluon) leaves the time of the baseline's seeds (its
# measured seconds each), at most this share of its room: the baseline's bag blends with AutoGluon's ensemble, a
# member whose errors differ from it, where the light recipes re-fit model families AutoGluon already has
BAG_RESERVE_SHARE = 0.15


def autogluon_params(spec: TaskSpec, budget: float, light: bool = False,
                     overheads: Optional[Overheads] = None) -> dict:
    """Settings for one AutoGluon attempt that must finish (fit, predict, save) within `budget` seconds: its own time
    limit covers only model fitting, so the rest is taken from the overheads this run has measured."""
    # several tags or targets: one predictor per target (runtime multi_task), each fitted in its share of fit_time;
    # not chained (a second fit of every later target would halve each one's share), no importance (per target)
    fits = len(spec.target_columns) if spec.is_multi else 1
    importance = min(6.0, 0.02 * budget) if budget > 90 and fits == 1 else 0.0  # 1-3 s measured; a report nicety
    outside, overrun = (overheads or Overheads()).autogluon(spec, budget, fits)
    fit_time = max(10.0, (budget - outside - importance) / (1.0 + overrun))
    n_features = len(spec.feature_columns)
    folds = 8 if spec.n_train_rows < 20000 else 5
    if fit_time < 90 or spec.n_train_rows * max(n_features, 1) > 5e6:
        folds = 5
    params = {"time_budget": round(budget, 1), "time_limit": round(fit_time, 1), "presets": "best_quality",
              "num_bag_folds": folds, "num_stack_levels": 0, "importance_time": round(importance, 1)}
    if light:
        params.update(presets="medium_quality", num_bag_folds=5, excluded_model_types=["KNN", "NN_TORCH", "FASTAI"])
    if spec.multioutput is not None:
        params["chain"] = False
    return params


def default_params(spec: TaskSpec, budget: float, light: bool = False, overheads: Optional[Overheads] = None) -> dict:
    params = {"time_budget": round(budget, 1)}
    if light:
        params.update(light=True, n_folds=3, n_estimators=300)
    return params


def text_model_params(spec: TaskSpec, budget: float, light: bool = False,
                      overheads: Optional[Overheads] = None) -> dict:
    from mlwright.knowledge.pretrained import resolve_text_model

    m = resolve_text_model()
    return default_params(spec, budget, light) | {"text_model": m.path, "text_model_note": m.source}


def image_cnn_params(spec: TaskSpec, budget: float, light: bool = False,
                     overheads: Optional[Overheads] = None) -> dict:
    from mlwright.knowledge.pretrained import resolve_image_weights

    w = resolve_image_weights()
    return default_params(spec, budget, light) | {"pretrained_weights": w.path, "pretrained_note": w.source}


PARAM_BUILDERS: dict[str, Callable[[TaskSpec, float, bool, Optional[Overheads]], dict]] = {
    "autogluon_tabular": autogluon_params, "text_embeddings": text_model_params, "image_cnn": image_cnn_params,
    "ranking_hybrid": text_model_params, "ranking_ltr": text_model_params}


def params_for(recipe: str, spec: TaskSpec, budget: float, light: bool = False,
               history: Optional[list[AttemptRecord]] = None) -> dict:
    """The recipe's parameters for an attempt of `budget` seconds, given the overheads measured in `history`."""
    return PARAM_BUILDERS.get(recipe, default_params)(spec, budget, light, Overheads.measured(history or []))


class Planner:
    def __init__(self, spec: TaskSpec, time_limit: float, use_autogluon: Optional[bool] = None,
                 keep_for_later_s: float = 0.0, light_recipes: bool = True, seeds_each: int = 0,
                 exclude: Collection[str] = ()):
        self.spec = spec
        self.seeds_each = seeds_each  # further seeds of each best seeded recipe (none with an LLM: it improves)
        self.time_limit = time_limit
        self.keep_for_later_s = keep_for_later_s  # time the main recipes leave for the LLM attempts
        self.gap = ATTEMPT_GAP_S  # between two attempts: the prior until the run has validated one (Overheads.gap)
        cards = [c for c in recipes_for(spec) if c.recipe not in exclude]
        if use_autogluon is False:
            cards = [c for c in cards if not any(n.startswith("autogluon") for n in c.needs)]
        if not light_recipes:  # an LLM writes the attempts after the baseline (engine.policies)
            cards = [c for c in cards if c.stage != "light"]
        self.baselines: list[Card] = [c for c in cards if c.stage == "baseline"][:1]
        # a main recipe whose work is bounded (it takes a share of the time: encoding the texts once) runs before
        # one that turns any time into a better model (AutoGluon), which then gets everything left, including what
        # the bounded one did not use; strongest first within each group (a stable sort)
        strong = sorted([c for c in cards if c.stage not in ("baseline", "light")], key=lambda c: c.time_share >= 1)
        # light recipes come after the stronger main recipes and keep no time from them (see pending)
        self.mains: list[Card] = strong + [c for c in cards if c.stage == "light"]

    @property
    def seeded(self) -> dict[str, Card]:
        """The planned recipes whose seed changes their model (card `seeded`), by name: Planner.variant's."""
        return {c.recipe: c for c in self.baselines + self.mains if c.seeded}

    @property
    def recipes(self) -> list[str]:
        return [c.recipe for c in self.baselines + self.mains]

    @staticmethod
    def tried(history: list[AttemptRecord]) -> set[str]:
        """The recipes already tried: a kill or a cancel says nothing of a recipe, so it does not count."""
        return {h.recipe for h in history if not h.stopped}

    def pending(self, tried: set[str], usable: float) -> list[Card]:
        """The main recipes still to try that fit in `usable` seconds. Light recipes (stage "light": CatBoost,
        a linear model) are the main recipes when no stronger one is installed, allowed or fits (--no-autogluon,
        a short budget); beside a stronger one (AutoGluon, which fits the same kinds of models itself) they wait
        until it has run and use only the time it leaves: they never shorten its share."""
        fits = [c for c in self.mains if c.recipe not in tried and usable >= c.min_time_for(self.spec)]
        return [c for c in fits if c.stage != "light"] or fits

    def next_attempt(self, history: list[AttemptRecord], usable: float) -> Optional[AttemptPlan]:
        """The next attempt, given what was tried and the seconds attempts may still use (RunClock.usable)."""
        tried = self.tried(history)
        valid = [h for h in history if h.status == "succeeded"]
        self.gap = Overheads.measured(history).gap()
        if usable < 8:
            return None
        pending_main, room = self.pending_in_room(tried, usable, blend_after=bool(valid), valid=valid)
        for card in self.baselines:
            if card.recipe not in tried:
                budget = min(usable, max(20.0, BASELINE_SHARE * self.time_limit)) if pending_main else usable
                return self.baseline(card, budget, history)
        if pending_main and pending_main[0].stage == "light" and self.stronger_ran(valid):
            bag = self.variant(history, self.main_room(usable, blend_after=True), only_baseline=True)
            if bag:  # the baseline's bag before the light recipes (see BAG_RESERVE_SHARE)
                return bag
        if pending_main:
            card = pending_main[0]
            # later main recipes keep their minimum (and the gap before each); the last one takes everything left
            reserved = sum(c.min_time_for(self.spec) + self.gap for c in pending_main[1:])
            budget = room - self.bag_reserve(card, history, room) if len(pending_main) == 1 else max(
                card.min_time_for(self.spec), min(room * card.time_share, room - reserved))
            return AttemptPlan(recipe=card.recipe, kind="improve" if valid else "draft",
                               parent_id=valid[0].attempt_id if valid else None, title=card.name,
                               time_budget_s=budget,
                               params=params_for(card.recipe, self.spec, budget, history=history))
        last = history[-1] if history else None
        retry = self.retry(last, self.retry_room(valid, usable), history) if last else None
        return retry or self.variant(history, self.main_room(usable, blend_after=True))

    def stronger_ran(self, valid: list[AttemptRecord]) -> bool:
        """Whether a main recipe that is neither the baseline nor a light one has a valid attempt (AutoGluon)."""
        return any(h.recipe in {c.recipe for c in self.mains if c.stage != "light"} for h in valid)

    @property
    def seeded_baselines(self) -> dict[str, Card]:
        return {r: c for r, c in self.seeded.items() if c in self.baselines}

    def bag_reserve(self, card: Card, history: list[AttemptRecord], room: float) -> float:
        """The seconds a main recipe that takes everything left (time_share >= 1, not a light one) leaves for the
        baseline's further seeds: `seeds_each` times the baseline's measured seconds and the gap, at most
        BAG_RESERVE_SHARE of its room. Nothing without seeds, a seeded baseline measured in this run, or a blend."""
        base = [h for h in history if h.status == "succeeded" and h.seconds and h.recipe in self.seeded_baselines]
        if card.time_share < 1 or card.stage == "light" or self.seeds_each < 1 or not base \
                or not blendable(self.spec):
            return 0.0
        return min(BAG_RESERVE_SHARE * room, self.seeds_each * (seed_seconds(base[0]) + self.gap))

    def variant(self, history: list[AttemptRecord], room: float, only_baseline: bool = False) -> Optional[AttemptPlan]:
        """When every planned recipe has run and time is left: a recipe whose seed changes its folds, stopping
        rows and subsamples (card `seeded`) again with another seed and the feature groups its first attempt kept
        (no screen): a blend member whose errors differ where a model's are noise. The SEEDED_RECIPES best such
        recipes get `seeds_each` further seeds, in turns, each when its first attempt's measured seconds fit; then
        the time still left grows their bags up to TAIL_SEEDS_FACTOR times as many.
        `only_baseline`: the baseline's seeds alone (its bag, after AutoGluon and before the light recipes)."""
        if self.seeds_each < 1 or not blendable(self.spec):
            return None
        cards = self.seeded_baselines if only_baseline else self.seeded
        variants = seed_variants(history, cards)
        firsts: dict[str, AttemptRecord] = {}
        for h in history:
            if h.recipe in cards and h.status == "succeeded" and h.score is not None and h not in variants:
                best = firsts.get(h.recipe)
                if best is None or is_better(self.spec, h.score, best.score):
                    firsts[h.recipe] = h
        ranked = sorted(firsts.values(), key=lambda h: h.score or 0.0,
                        reverse=self.spec.higher_is_better)[:SEEDED_RECIPES]
        done = {r: sum(1 for h in variants if h.recipe == r and not h.stopped) for r in firsts}
        for cap in (self.seeds_each, TAIL_SEEDS_FACTOR * self.seeds_each):
            for first in sorted(ranked, key=lambda h: done[h.recipe]):  # a stable sort: the better recipe first
                need = VARIANT_MARGIN * seed_seconds(first) + self.gap
                if done[first.recipe] >= cap or room < need:
                    continue
                budget = min(room, max(need, first.time_budget_s))
                seed = done[first.recipe] + 1
                params = params_for(first.recipe, self.spec, budget, history=history) | {
                    "seed": seed, "feature_groups": kept_feature_groups(first)}
                return AttemptPlan(recipe=first.recipe, kind="improve", parent_id=first.attempt_id,
                                   time_budget_s=budget, params=params,
                                   title=f"{cards[first.recipe].name}, seed {seed} (a blend member)")
            if only_baseline:  # the bag beside AutoGluon keeps to `seeds_each`: the light recipes come next
                break
        return None

    def baseline(self, card: Card, budget: float, history: list[AttemptRecord]) -> AttemptPlan:
        """The fast first attempt: the safety net, and (with its further seeds, which take the feature groups its
        screen kept) the bag that blends with a stronger main recipe's answer, so it screens its feature groups
        before that one too (a few seconds, at most runtime.features.SCREEN_SHARE of its budget)."""
        params = params_for(card.recipe, self.spec, budget, history=history)
        return AttemptPlan(recipe=card.recipe, title=f"baseline: {card.name}", time_budget_s=budget, params=params)

    def pending_in_room(self, tried: set[str], usable: float, blend_after: bool,
                        valid: list[AttemptRecord]) -> tuple[list[Card], float]:
        """The main recipes to try and the seconds they may use. The blend's reserve is kept unless it alone keeps
        the first stronger recipe (AutoGluon) out while no main recipe has a valid attempt yet: that recipe then
        runs in place of the light ones and the blend."""
        room = self.main_room(usable, blend_after)
        pending = self.pending(tried, room)
        if self.stronger_ran(valid):
            return pending, room
        loose = self.pending(tried, self.main_room(usable, False))
        if loose and loose[0].stage != "light" and (not pending or pending[0].stage == "light"):
            return loose, self.main_room(usable, False)
        return pending, room

    def main_room(self, usable: float, blend_after: bool) -> float:
        """The seconds main recipes may use: not the time kept for the LLM attempts, nor, when another attempt
        will be valid beside this one, the time their blend needs afterwards (a main recipe that spends its whole
        budget would otherwise leave the ensemble none)."""
        blend_after = blend_after and blendable(self.spec)
        return usable - self.keep_for_later_s - (ENSEMBLE_MIN_S + self.gap if blend_after else 0.0)

    def retry_room(self, valid: list[AttemptRecord], usable: float) -> float:
        """The seconds a lighter retry may use: with a valid attempt in hand, the main recipes' room (the retry
        of a main recipe that failed would otherwise take the LLM's and the blend's time)."""
        return self.main_room(usable, blend_after=True) if valid else usable

    def retry(self, failed: AttemptRecord, usable: float,
              history: Optional[list[AttemptRecord]] = None) -> Optional[AttemptPlan]:
        """A lighter retry of a failed recipe attempt (not of a retry), when there is time for it."""
        if failed.status not in ("failed", "timeout", "invalid") or failed.stopped or failed.kind == "debug" or \
                failed.recipe not in self.recipes or usable < 30 or failed in seed_variants(history or [], self.seeded):
            return None
        budget = usable * 0.8
        if failed.returncode == NO_TIME_EXIT and budget <= (failed.time_budget_s or 0):
            return None  # it said its work cannot fit its time: with less, it would say so again
        return AttemptPlan(parent_id=failed.attempt_id, kind="debug", recipe=failed.recipe,
                           title=f"retry of attempt {failed.attempt_id} with a lighter configuration",
                           time_budget_s=budget, params=params_for(failed.recipe, self.spec, budget, light=True,
                                                                     history=history))

    def next_batch(self, history: list[AttemptRecord], usable: float, slots: int) -> list[AttemptPlan]:
        """Up to `slots` attempts to run side by side; with one slot, `next_attempt`'s one."""
        if slots <= 1:
            plan = self.next_attempt(history, usable)
            return [plan] if plan else []
        self.gap = Overheads.measured(history).gap()
        if usable < 8:
            return []
        tried = self.tried(history)
        valid = [h for h in history if h.status == "succeeded"]
        batch = []
        for card in self.baselines:
            if card.recipe not in tried:
                budget = min(usable, max(20.0, BASELINE_SHARE * self.time_limit))
                batch.append(self.baseline(card, budget, history))
        pending, room = self.pending_in_room(tried, usable, blend_after=bool(valid or batch), valid=valid)
        rounds = max(1, math.ceil((len(batch) + len(pending)) / slots))
        for card in pending[:slots - len(batch)]:
            # the main recipes that wait for a slot keep their share: rounds of slots split the time evenly
            budget = room if rounds == 1 else max(card.min_time_for(self.spec), room / rounds)
            batch.append(AttemptPlan(recipe=card.recipe, kind="improve" if valid else "draft",
                                     parent_id=valid[0].attempt_id if valid else None, title=card.name,
                                     time_budget_s=budget,
                                   params=params_for(card.recipe, self.spec, budget, history=history)))
        if batch:
            return batch
        # lighter retries of the failures nothing has retried yet, side by side
        retried = {h.parent_id for h in history if h.kind == "debug" and not h.stopped}
        failed = [h for h in history[-slots:] if h.attempt_id not in retried]
        room = self.retry_room(valid, usable)
        retries = [p for p in (self.retry(h, room, history) for h in failed) if p is not None][:slots]
        variant = None if retries else self.variant(history, self.main_room(usable, blend_after=True))
        return retries or ([variant] if variant else [])


def _feature_work(rec: AttemptRecord) -> dict:
    """What an attempt's feature screen tried and kept (its feature_work.json; empty when it screened nothing)."""
    try:
        work = json.loads((Path(rec.workdir) / "feature_work.json").read_text())
        return work if isinstance(work, dict) else {}
    except (OSError, ValueError):
        return {}


def kept_feature_groups(rec: AttemptRecord) -> list[str]:
    """The feature groups an attempt's screen kept."""
    try:
        return [g["group"] for g in _feature_work(rec).get("groups", []) if g.get("kept")]
    except (KeyError, TypeError, AttributeError):
        return []


def seed_seconds(rec: AttemptRecord) -> float:
    """What a further seed of this attempt costs: its seconds without its feature screen (a seed takes the groups
    the screen kept and screens nothing)."""
    seconds = rec.seconds or rec.time_budget_s
    try:
        screen = float(_feature_work(rec).get("seconds") or 0.0)
    except (TypeError, ValueError):
        screen = 0.0
    return max(seconds - screen, 0.5 * seconds)


def autogluon_available() -> bool:
    from mlwright.knowledge.library import _module_available

    return _module_available("autogluon.tabular")
