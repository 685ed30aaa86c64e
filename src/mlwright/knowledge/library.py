"""Semantic memory: library cards (what a library does, how to call it, pitfalls, which recipe in
mlwright/recipes runs it); BM25 retrieval picks the cards that fit a task."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Optional

import yaml
from rank_bm25 import BM25Okapi

from mlwright.execution.limits import usable_cores
from mlwright.schemas import TaskSpec


@dataclass
class Card:
    key: str
    name: str
    body: str
    recipe: Optional[str] = None
    modalities: list[str] = field(default_factory=list)
    problem_types: list[str] = field(default_factory=list)
    min_time_s: float = 0
    strength: int = 0
    stage: str = "main"  # baseline: fast, runs first so a valid answer exists early; main: gets the rest
    needs: list[str] = field(default_factory=list)  # python modules the recipe imports (skipped when absent)
    time_share: float = 1.0  # fraction of the remaining budget a main recipe may take
    # core-seconds each train and test row adds to min_time_s: work that cannot shrink with the budget
    # (encoding every text with a transformer), so the planner keeps enough time for it
    row_core_s: float = 0.0
    # seconds each further tag or target adds to min_time_s (a recipe fitted once per target: runtime multi_task)
    target_s: float = 0.0
    # PARAMS seed changes its folds, stopping rows and subsamples: another seed is another blend member
    seeded: bool = False

    def available(self) -> bool:
        return all(_need_met(m) for m in self.needs)

    def min_time_for(self, spec: TaskSpec) -> float:
        """Seconds below which this recipe cannot do its work on this task on this machine."""
        rows = spec.n_train_rows + spec.n_test_rows
        more_targets = len(spec.target_columns) - 1 if spec.is_multi else 0
        return self.min_time_s + self.row_core_s * rows / usable_cores() + self.target_s * more_targets


def _need_met(need: str) -> bool:
    """A python module, or `text_model`: a pretrained text model on this machine (see pretrained.py)."""
    if need == "text_model":
        from mlwright.knowledge.pretrained import resolve_text_model

        return resolve_text_model().path is not None
    return _module_available(need)


@lru_cache(maxsize=None)
def _module_available(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


@lru_cache(maxsize=1)
def load_cards() -> tuple[Card, ...]:
    cards = []
    for f in sorted(resources.files("mlwright.knowledge").joinpath("cards").iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".md"):
            continue
        text = f.read_text()
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front) or {}
        cards.append(Card(key=f.name[:-3], name=meta.get("name", f.name), body=body.strip(), recipe=meta.get("recipe"),
                          modalities=meta.get("modalities", []), problem_types=meta.get("problem_types", []),
                          min_time_s=float(meta.get("min_time_s", 0)), strength=int(meta.get("strength", 0)),
                          stage=meta.get("stage", "main"), needs=list(meta.get("needs") or []),
                          time_share=float(meta.get("time_share", 1.0)),
                          row_core_s=float(meta.get("row_core_s", 0.0)),
                          target_s=float(meta.get("target_s", 0.0)), seeded=bool(meta.get("seeded", False))))
    return tuple(cards)


def task_query(spec: TaskSpec) -> str:
    return " ".join([spec.modality, spec.problem_type, spec.metric, "classification" if spec.is_classification
                     else "regression", "out-of-fold validation", *spec.feature_columns[:20]])


def retrieve(query: str, k: int = 3, modality: Optional[str] = None, problem_type: Optional[str] = None) -> list[Card]:
    """The k cards most relevant to the query, among those that apply to the modality and problem type."""
    cards = [c for c in load_cards() if (modality is None or modality in c.modalities)
             and (problem_type is None or problem_type in c.problem_types)]
    if not cards:
        return []
    bm25 = BM25Okapi([_tokens(c.name + " " + c.body) for c in cards])
    scores = bm25.get_scores(_tokens(query))
    ranked = sorted(zip(scores, cards), key=lambda t: (-t[0], -t[1].strength))
    return [c for _, c in ranked[:k]]


def recipe_names() -> list[str]:
    """Every recipe the cards name (what `--exclude-recipes` accepts)."""
    return sorted({c.recipe for c in load_cards() if c.recipe})


def recipe_list(text: str) -> list[str]:
    """Recipe names written as "a,b" or "a b" (--exclude-recipes, MLWRIGHT_EXCLUDE_RECIPES)."""
    return [n for n in text.replace(",", " ").split() if n]


def unknown_recipes_message(names: list[str]) -> Optional[str]:
    """Why these recipe names cannot be excluded (None when every one is a recipe)."""
    known = recipe_names()
    unknown = [n for n in names if n not in known]
    if not unknown:
        return None
    return (f"Unknown recipe name{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the recipes are: {', '.join(known)}")


def recipes_for(spec: TaskSpec) -> list[Card]:
    """Cards with a runnable recipe for this task whose libraries are installed, strongest first."""
    cards = [c for c in load_cards() if c.recipe and spec.modality in c.modalities
             and spec.problem_type in c.problem_types and c.available()]
    return sorted(cards, key=lambda c: -c.strength)
