"""mlwright in AutoGluon's shape: a task in words, `fit` on the training rows, a predictor for new rows.

    >>> from mlwright import Task
    >>> predictor = Task("predict the species").fit(train_df, time_limit=120)
    >>> predictor.predict(new_df)            # labels (or values)
    >>> predictor.predict_proba(new_df)      # one column per class
    >>> predictor.leaderboard()              # the attempts, best first
    >>> predictor.feature_importance()
    >>> predictor.save("my_model"); Predictor.load("my_model")

`fit` runs the same pipeline as `mlwright run` (and `solve`), in this process. Only training rows are needed:
mlwright predicts a sample of them, without their target, to check the whole model end to end; the score is its
own out-of-fold validation, as everywhere.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from mlwright.api import Result, python_terms, solve
from mlwright.errors import MlwrightError

CHECK_ROWS = 200  # training rows (target removed) predicted at fit time: the end-to-end check of the model


class Task:
    """What to predict, in words (as `mlwright run --task`). `target` names the column when the words do not;
    `verbosity` 0 is quiet, 1 prints the run's progress, one line per step."""

    def __init__(self, description: str, *, target: Optional[str] = None, verbosity: int = 1):
        if not isinstance(description, str) or not description.strip():
            raise ValueError("Task(description) needs the task in words, e.g. Task(\"predict the species\").")
        self.description, self.target, self.verbosity = description, target, verbosity

    def fit(self, train_data: Union[pd.DataFrame, str, Path], *, time_limit: float = 300,
            output: Union[str, Path, None] = None, use_autogluon: Optional[bool] = None,
            **options: Any) -> "Predictor":
        """Understand the task, try and validate solutions within `time_limit` seconds, keep the best.

        Args:
            train_data: the training rows (a DataFrame holding the target column), or a data folder (as
                `mlwright run`: its test rows are predicted too).
            time_limit: the wall-clock budget in seconds.
            output: a new or empty folder for the run; default: a new folder under ./runs/.
            use_autogluon: False for the light recipes only; None uses AutoGluon when installed.
            **options: further `solve()` options (memory_limit_mb, llm, llm_settings, parallel_attempts...).
        """
        on_event = _printer if self.verbosity > 0 else None
        if not isinstance(train_data, pd.DataFrame):
            result = solve(train_data, self.description, output=output, time_limit=time_limit, target=self.target,
                           use_autogluon=use_autogluon, on_event=on_event, **options)
            return Predictor(result)
        if train_data.empty:
            raise ValueError("fit(train_data) got an empty DataFrame.")
        target = self.target or _target_in_words(self.description, train_data)
        if target not in train_data.columns:
            raise ValueError(f"target={target!r} is not a column of train_data; its columns are: "
                             f"{', '.join(map(str, train_data.columns[:30]))}.")
        check = train_data.drop(columns=[target]).head(CHECK_ROWS)
        result = solve({"train.csv": train_data, "test.csv": check}, self.description, output=output,
                       time_limit=time_limit, target=target, use_autogluon=use_autogluon, on_event=on_event,
                       **options)
        return Predictor(result)


def _target_in_words(description: str, frame: pd.DataFrame) -> str:
    """The column of `frame` the words name, chosen by perception's own rule (`choose_target`: an output column
    the task names, else the one column it mentions); else a ValueError in Python terms. The frame is training rows
    only, so perception is told the rows to predict carry every column (an empty frame of them): no column counts
    as missing from them, and empty cells are not read as rows to predict."""
    from mlwright.perception.infer import choose_target
    from mlwright.perception.task_text import parse_task_text

    hints = parse_task_text(description, [])
    try:
        return choose_target(frame, frame.iloc[:0], hints, None, "train_data", None, [])
    except MlwrightError as e:
        raise ValueError(python_terms(e).render()) from None


def _printer(stage: str, message: str, data: dict) -> None:
    if stage in ("perception", "knowledge", "planning", "execution", "validation", "best", "done", "warning"):
        print(f"{stage}: {message}", file=sys.stderr, flush=True)


class Predictor:
    """A fitted mlwright model: its run folder (predictions, model, report, journal) behind a predictor's methods."""

    def __init__(self, result: Result):
        self.result = result

    @property
    def path(self) -> Path:
        return self.result.run_dir

    @property
    def target(self) -> str:
        return self.result.spec.target

    @property
    def problem_type(self) -> str:
        return self.result.spec.problem_type

    @property
    def eval_metric(self) -> str:
        return self.result.metric

    @property
    def score(self) -> float:
        """The best attempt's out-of-fold validation score, as mlwright measured it."""
        return self.result.score

    def _raw(self, data: pd.DataFrame) -> pd.DataFrame:
        from mlwright.predict import predict_new

        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        with tempfile.TemporaryDirectory(prefix="mlwright-predict-") as tmp:
            src, out = Path(tmp) / "new.csv", Path(tmp) / "raw.csv"
            data.to_csv(src, index=False)
            try:
                predict_new(self.path, src, out, raw=True)
            except MlwrightError as e:
                raise python_terms(e) from None
            return pd.read_csv(out)

    def predict(self, data: pd.DataFrame) -> pd.Series:
        """The predicted label (classification) or value (regression) of each row, in the rows' order."""
        if self.problem_type == "forecasting":
            return self.result.predict(data)  # forecasts: the user's own layout (keys, dates, values)
        raw = self._raw(data)
        if "prediction" in raw.columns:
            return pd.Series(raw["prediction"].to_numpy(), index=data.index, name=self.target)
        proba = self._proba_of(raw)
        return pd.Series(proba.idxmax(axis=1).to_numpy(), index=data.index, name=self.target)

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """One column per class (the training labels), each row's probabilities summing to 1."""
        if self.problem_type not in ("binary", "multiclass"):
            raise ValueError(f"predict_proba() is for classification; this is a {self.problem_type} task: "
                             "use predict().")
        return self._proba_of(self._raw(data)).set_axis(data.index)

    @staticmethod
    def _proba_of(raw: pd.DataFrame) -> pd.DataFrame:
        cols = [c for c in raw.columns if c.startswith("p::")]
        return raw[cols].rename(columns=lambda c: c[3:])

    def leaderboard(self) -> pd.DataFrame:
        """Every attempt of the run, best validation score first (failed ones last, with why)."""
        rows = [{"attempt": a.attempt_id, "recipe": a.recipe, "kind": a.kind, "status": a.status,
                 "score_val": a.score, "score_sd": a.score_sd, "fit_seconds": a.seconds, "title": a.title,
                 "error": a.error} for a in self.result.attempts()]
        df = pd.DataFrame(rows)
        if df.empty:
            return df
        higher = self.result.summary.best.higher_is_better
        return df.sort_values("score_val", ascending=not higher, na_position="last").reset_index(drop=True)

    def feature_importance(self) -> pd.DataFrame:
        """The best model's feature importance (feature, importance), largest first."""
        best = next((a for a in self.result.attempts() if a.attempt_id == self.result.summary.best.attempt_id), None)
        f = Path(best.workdir) / "feature_importance.csv" if best else None
        if f is None or not f.is_file():
            raise ValueError(f"The best model ({self.result.summary.best.recipe}) reports no feature importance.")
        df = pd.read_csv(f)
        return df.sort_values("importance", ascending=False).reset_index(drop=True)

    def report(self) -> Optional[Path]:
        """The run's report.html (one self-contained page)."""
        return self.result.report_path

    def save(self, path: Union[str, Path]) -> Path:
        """Copy the whole run (model, code, journal, report) to a new folder; `Predictor.load` opens it there."""
        dest = Path(path)
        if dest.exists():
            raise FileExistsError(f"{dest} exists: save() writes a new folder and never overwrites one.")
        shutil.copytree(self.path, dest, symlinks=True)
        return dest

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Predictor":
        """A predictor from a saved (or any succeeded) run folder."""
        return cls(Result.load(path))

    def __repr__(self) -> str:
        return f"Predictor({self.target!r}, {self.problem_type}, {self.eval_metric}={self.score:.5f}, {self.path})"
