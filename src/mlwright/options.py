"""What the user asked for one run: the data, the task, the limits and the optional LLM (every interface builds
one of these; the pipeline reads it)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field, field_validator

from mlwright.errors import MlwrightError
from mlwright.llm import LLMSettings
from mlwright.planning.defaults import DEFAULT_SEEDS


def _env_seeds() -> int:
    raw = os.environ.get("MLWRIGHT_SEEDS", str(DEFAULT_SEEDS))
    if not raw.strip().isdigit():
        raise MlwrightError(f"MLWRIGHT_SEEDS must be a whole number of further seeds (0 or more), not {raw!r}.",
                            where="the environment variable MLWRIGHT_SEEDS",
                            hint=f"Set it to e.g. {DEFAULT_SEEDS} (or 0 for none), or unset it.")
    return int(raw)


def _env_recipes() -> list[str]:
    from mlwright.knowledge.library import recipe_list

    return recipe_list(os.environ.get("MLWRIGHT_EXCLUDE_RECIPES", ""))


class RunOptions(BaseModel):
    data_dir: Path
    task_text: str
    output_dir: Path
    time_limit: float = 300.0
    target: Optional[str] = None
    id_column: Optional[str] = None  # --id: the test rows' key column
    test: Optional[str] = None  # --test: the table (file name, or file#sheet) holding the rows to predict
    interactive: bool = False
    memory_limit_mb: Optional[float] = None
    llm_settings: Optional[LLMSettings] = None  # provider "none" or None: the offline expert engine only
    ray_address: Optional[str] = None  # run each attempt as a task on this Ray cluster (execution/ray_executor.py)
    ray_cpus_per_attempt: float = 1.0  # the CPUs each attempt's Ray task asks for
    ray_placement_group: Optional[str] = None  # the run's envelope, made by `mlwright batch` (named, reserved)
    parallel_attempts: int = 1  # attempts at a time; each gets that share of the cores and memory
    max_llm_attempts: Optional[int] = None  # None: LLM attempts go on while time and the LLM budgets last
    llm_time_share: float = 0.4  # of the time left after the baseline, kept for LLM-written attempts
    use_autogluon: Optional[bool] = None  # None: when installed
    # time left after every planned recipe: up to this many further seeds of each of the best seeded recipes, each
    # averaged with its first attempt in the blend (planning.planner.Planner.variant, planning.ensemble), then more
    # while time is left (planner.TAIL_SEEDS_FACTOR); 0: the run ends there, early. Every interface's default comes
    # from the environment, as the CLI's does
    seeds: int = Field(default_factory=_env_seeds, ge=0)
    # recipes never to plan (as AutoGluon's excluded_model_types): a recipe too slow or unwanted for this data
    exclude_recipes: list[str] = Field(default_factory=_env_recipes)
    resume: bool = False  # continue an interrupted run in its own folder

    @field_validator("exclude_recipes")
    @classmethod
    def _known_recipes(cls, names: list[str]) -> list[str]:
        from mlwright.knowledge.library import unknown_recipes_message

        problem = unknown_recipes_message(names)
        if problem:
            raise ValueError(problem)
        return names
