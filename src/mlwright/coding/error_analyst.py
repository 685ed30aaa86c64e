"""The error analyst (episodic memory for failures): a failed attempt's logs become a short diagnosis and a
suggested fix that the next debug attempt of the same branch sees (the journal keeps it)."""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field

from mlwright.llm import prompts
from mlwright.llm.agent import Agent
from mlwright.planning.refinement import task_part


class Diagnosis(BaseModel):
    summary: str = Field(description="one sentence: what went wrong")
    likely_cause: str = ""
    suggested_fix: str = ""

    def as_text(self) -> str:
        return f"{self.summary} Cause: {self.likely_cause} Fix: {self.suggested_fix}".strip()


_PATTERNS = [
    (r"ModuleNotFoundError: No module named '([\w.]+)'", "module {0} is not installed",
     "use only installed libraries: pandas, numpy, scikit-learn, lightgbm, autogluon.tabular (when present)"),
    (r"KeyError: '?([^'\n]+)'?", "a column or key {0!r} does not exist",
     "use only the columns listed in FEATURES / the TaskSpec; check names exactly"),
    (r"MemoryError|memory above", "the attempt ran out of memory",
     "use fewer features, a smaller model, or subsample the training rows"),
    (r"no result within|timeout|Timeout", "the attempt did not finish within its time budget",
     "train faster: fewer estimators or folds, a smaller model; watch PARAMS['time_budget']"),
    (r"wrong columns|row count|ids|labels not seen|probabilities outside|NaN", "the prediction file breaks the "
     "output contract", "write the file with write_outputs()/format_predictions() from the common block"),
    (r"oof_predictions", "validation predictions are missing or malformed",
     "write out-of-fold predictions with write_outputs(out_dir, test, test_pred, oof_rows, oof_pred)"),
    (r"(\w+Error): (.+)", "{0}: {1}", "fix the code at the failing line shown in the traceback"),
]


def deterministic_diagnosis(error: str, log_tail: str) -> Diagnosis:
    text = f"{error}\n{log_tail}"
    for pattern, summary, fix in _PATTERNS:
        m = re.search(pattern, text)
        if m:
            groups = [g.strip()[:120] for g in m.groups()] if m.groups() else []
            return Diagnosis(summary=summary.format(*groups), likely_cause=(error or "")[:300], suggested_fix=fix)
    return Diagnosis(summary=(error or "the attempt failed")[:200], likely_cause="see the log tail",
                     suggested_fix="read the traceback and fix the failing step")


class ErrorAnalyst(Agent[Diagnosis]):
    role = "error_analyst"
    output = Diagnosis
    max_tokens = 1500
    system = prompts.render("error_analyst", "system")

    def prompt(self, *, error: str, log_tail: str, code: str, parent_code: Optional[str] = None) -> str:
        """The user prompt (template `error_analyst.md`): the error, the end of the log (the traceback last),
        the whole script and, for a change of a script that ran, what changed."""
        change = code_diff(parent_code, code) if parent_code else ""
        return prompts.render("error_analyst", "user", error=error, log_tail=log_tail[-LOG_CHARS:],
                              code=task_part(code).lstrip("\n")[-MAX_CODE_CHARS:],
                              diff=prompts.render("error_analyst", "diff", diff=change) if change else "")

    def fallback(self, *, error: str, log_tail: str, **_) -> Diagnosis:
        return deterministic_diagnosis(error, log_tail)


LOG_CHARS, MAX_CODE_CHARS, MAX_DIFF_CHARS = 4000, 40_000, 8000


def code_diff(old: str, new: str) -> str:
    """A unified diff of the task-specific parts of two scripts (what the failing attempt changed)."""
    lines = difflib.unified_diff(task_part(old).splitlines(), task_part(new).splitlines(), "parent", "failed",
                                 lineterm="", n=2)
    return "\n".join(lines)[:MAX_DIFF_CHARS]


def log_tail(workdir: Path, stdout_chars: int = 1500, stderr_chars: int = 3000) -> str:
    """The end of an attempt's output, the error stream last (a traceback ends there)."""
    parts = []
    for name, n in (("stdout.txt", stdout_chars), ("stderr.txt", stderr_chars)):
        f = Path(workdir) / name
        if f.is_file():
            text = f.read_text(errors="replace")[-n:].strip()
            if text:
                parts.append(f"[{name}]\n{text}")
    return "\n".join(parts)
