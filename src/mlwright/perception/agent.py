"""The perception agent: reads the data profile and the user's words, confirms or corrects the TaskSpec
(target, metric, output format), asks when the instruction is insufficient (AutoML-Agent's instruction
check), and writes reader code for files the built-in readers cannot read. Every correction is checked
by code before it is applied; the deterministic inference is the fallback."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import pandas as pd
from pydantic import BaseModel, Field

from mlwright.execution.sandbox import run_sandboxed
from mlwright.llm import prompts
from mlwright.llm.agent import Agent, extract_code
from mlwright.validation.metrics import (CLASSIFICATION_METRICS, HIGHER_IS_BETTER, RANKING_METRICS,
                                        REGRESSION_METRICS)
from mlwright.schemas import DataProfile, TaskSpec


class TaskReview(BaseModel):
    target: Optional[str] = None
    id_column: Optional[str] = None
    metric: Optional[str] = None
    prediction_file: Optional[str] = None
    output_columns: Optional[list[str]] = None
    positive_class: Optional[str] = None
    question: Optional[str] = Field(default=None, description="ask the user only when the task cannot be decided")
    comments: str = ""


def profile_digest(profile: DataProfile, limit_cols: int = 40) -> str:
    lines = [f"files: {', '.join(profile.files[:30])}" + (" ..." if len(profile.files) > 30 else "")]
    for f, why in list(profile.skipped.items())[:10]:
        lines.append(f"UNREADABLE {f}: {why[:150]}")
    for t in profile.tables[:8]:
        cols = ", ".join(f"{c.name}:{c.kind}" + (f"[{c.n_unique}]" if c.kind == "categorical" else "")
                         for c in t.columns[:limit_cols])
        lines.append(f"table {t.name} ({t.n_rows} rows): {cols}" + (" ..." if len(t.columns) > limit_cols else ""))
    return "\n".join(lines)


class PerceptionAgent(Agent[TaskReview]):
    role = "perception"
    output = TaskReview
    max_tokens = 1500
    system = prompts.render("perception", "system")

    def prompt(self, *, profile: DataProfile, task_text: str, spec: Optional[TaskSpec], problem: str = "",
               side_files: Optional[dict[str, str]] = None) -> str:
        """The user prompt (template `perception.md`): the user's words, the data profile, the side files, the
        system's reading and its evidence."""
        reading = spec.model_dump_json(exclude={"notes", "dropped_columns", "feature_columns"}) if spec else "none"
        evidence = "\n".join(f"- {n}" for n in spec.notes[:30]) if spec else ""
        sides = "".join("\n" + prompts.render("perception", "side_file", name=name, text=text[:2000])
                        for name, text in list((side_files or {}).items())[:3])
        return prompts.render(
            "perception", "user", task_text=task_text[:3000], profile=profile_digest(profile),
            side_files="\n\n" + prompts.render("perception", "side_files", files=sides) if sides else "",
            reading=reading,
            evidence="\n" + prompts.render("perception", "evidence", notes=evidence) if evidence else "",
            problem="\n" + prompts.render("perception", "problem", problem=problem) if problem else "")

    def fallback(self, **_) -> TaskReview:
        return TaskReview()


def apply_review(spec: TaskSpec, review: TaskReview, notes: list[str]) -> TaskSpec:
    """The corrections that pass the checks; the target is handled by the caller (it means re-inference)."""
    upd: dict = {}
    if review.metric and review.metric != spec.metric and review.metric in HIGHER_IS_BETTER:
        fits = review.metric in (REGRESSION_METRICS if spec.problem_type in ("regression", "forecasting")
                                 else RANKING_METRICS if spec.problem_type == "ranking" else CLASSIFICATION_METRICS)
        if fits and not (review.metric == "roc_auc" and spec.problem_type == "multiclass"):
            upd.update(metric=review.metric, higher_is_better=HIGHER_IS_BETTER[review.metric])
            notes.append(f"metric {review.metric}: corrected by the perception agent")
    if review.prediction_file and review.prediction_file != spec.prediction_file and \
            review.prediction_file.endswith(".csv") and "/" not in review.prediction_file:
        upd["prediction_file"] = review.prediction_file
        notes.append(f"prediction file {review.prediction_file}: corrected by the perception agent")
    if review.output_columns and review.output_columns != spec.output_columns and \
            len(review.output_columns) == len(spec.output_columns) and spec.output_kind not in ("class_probabilities",
                                                                                               "ranking") \
            and set(spec.key_columns) <= set(review.output_columns) and \
            review.output_columns[: len(spec.key_columns)] == spec.key_columns:
        upd["output_columns"] = review.output_columns
        notes.append(f"output columns {review.output_columns}: corrected by the perception agent")
    if review.positive_class and spec.problem_type == "binary" and review.positive_class in spec.class_labels \
            and review.positive_class != spec.positive_class:
        upd["positive_class"] = review.positive_class
        notes.append(f"positive class {review.positive_class!r}: corrected by the perception agent")
    return spec.model_copy(update=upd) if upd else spec


class ReaderAnswer(BaseModel):
    code: str


class ReaderAgent(Agent[ReaderAnswer]):
    """Writes `read(path) -> pandas.DataFrame` for a file the built-in readers could not read."""

    role = "perception"
    output = ReaderAnswer
    max_tokens = 3000
    json_mode = False
    system = prompts.render("reader", "system")

    def prompt(self, *, path: Path, reason: str, head: str) -> str:
        """The user prompt (template `reader.md`)."""
        return prompts.render("reader", "user", file=path.name, reason=reason, head=head)

    def parse(self, text: str) -> ReaderAnswer:
        code = extract_code(text)
        if "def read(" not in code:
            raise ValueError("no read(path) function")
        return ReaderAnswer(code=code)

    def fallback(self, **_) -> ReaderAnswer:
        return ReaderAnswer(code="")


_READER_MAIN = '''

if __name__ == "__main__":
    import sys as _sys
    _df = read(_sys.argv[1])
    _df.columns = [str(c) for c in _df.columns]
    _df.to_parquet(_sys.argv[2], index=False)
'''


def run_reader(code: str, path: Path, workdir: Path, timeout_s: float = 60) -> Optional[pd.DataFrame]:
    """Run LLM reader code in the sandbox; the table it returns, or None."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "reader.py"
    script.write_text(code + _READER_MAIN)
    out = workdir / "table.parquet"
    res = run_sandboxed([sys.executable, str(script), str(path), str(out)], workdir, timeout_s=timeout_s,
                        ro_paths=[path])  # the one file it reads; nothing else of the user's folder
    if res.returncode != 0 or not out.is_file():
        (workdir / "error.txt").write_text(res.tail(2000))
        return None
    df = pd.read_parquet(out)
    return df if len(df) and df.shape[1] else None


def file_head(path: Path, n: int = 600) -> str:
    try:
        return json.dumps(path.read_bytes()[:n].decode("latin-1"))
    except OSError as e:
        return f"<unreadable: {e}>"
