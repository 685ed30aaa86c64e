"""The Python API: `mlwright.solve(data, task)` runs the same pipeline as `mlwright run`, in this process.

    >>> import mlwright
    >>> result = mlwright.solve({"train.csv": train_df, "test.csv": test_df}, "predict churn", time_limit=120)
    >>> result.score, result.metric
    >>> result.predictions.head()
    >>> result.predict(new_rows_df)

A finished run folder can be reopened with `Result.load(run_dir)`.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import pandas as pd

from mlwright.catalog import RunFolder
from mlwright.errors import MlwrightError
from mlwright.schemas import RunSummary, TaskSpec

DataInput = Union[str, Path, pd.DataFrame, Mapping[str, pd.DataFrame]]
Asker = Callable[[str, list[str]], str]
EventHook = Callable[[str, str, dict], None]


@dataclass
class Result:
    """A succeeded run: its predictions, validation score, understood task, winning code and saved model."""

    run_dir: Path
    summary: RunSummary
    predictions: pd.DataFrame = field(repr=False)
    best_script: str = field(repr=False)

    @property
    def score(self) -> float:
        """The best attempt's validation score (mlwright's own metric on out-of-fold rows)."""
        return self.summary.best.validation_score

    @property
    def metric(self) -> str:
        return self.summary.best.metric

    @property
    def spec(self) -> TaskSpec:
        """The task as mlwright understood it (target, problem type, metric, output columns...)."""
        return self.summary.task

    @property
    def prediction_path(self) -> Path:
        return Path(self.summary.prediction_path)

    @property
    def report_path(self) -> Optional[Path]:
        return Path(self.summary.report) if self.summary.report else None

    @classmethod
    def load(cls, run_dir: Union[str, Path]) -> "Result":
        """Reopen a succeeded run folder (from `solve`, `mlwright run`, the web UI or the MCP server)."""
        run_dir = Path(run_dir).resolve()
        summary = RunFolder(run_dir).summary()
        if summary.status != "succeeded" or summary.best is None or summary.task is None:
            raise MlwrightError(f"The run did not succeed ({summary.status}): {run_dir}",
                                where=summary.error, hint="Only a succeeded run has predictions and a model.")
        return cls(run_dir=run_dir, summary=summary, predictions=_read_table(Path(summary.prediction_path)),
                   best_script=Path(summary.solution_script).read_text())

    def attempts(self) -> list:
        """Every attempt of the run (AttemptRecord), in the order they started."""
        return RunFolder(self.run_dir).attempts()

    def predict(self, new_data: pd.DataFrame, timeout_s: float = 3600) -> pd.DataFrame:
        """Apply the saved model to new rows (same feature columns as the training data)."""
        from mlwright.predict import predict_new

        if not isinstance(new_data, pd.DataFrame):
            raise TypeError(f"predict() takes a pandas DataFrame, not {type(new_data).__name__}")
        with tempfile.TemporaryDirectory(prefix="mlwright-predict-") as tmp:
            src, out = Path(tmp) / "new.csv", Path(tmp) / "predictions.csv"
            new_data.to_csv(src, index=False)
            try:
                predict_new(self.run_dir, src, out, timeout_s=timeout_s)
            except MlwrightError as e:
                raise python_terms(e) from None
            return pd.read_csv(out)

    def __repr__(self) -> str:
        return (f"Result(run_dir={str(self.run_dir)!r}, {self.metric}={self.score:.5f}, "
                f"predictions={len(self.predictions)} rows)")


def solve(data: DataInput, task: str, *, output: Union[str, Path, None] = None, time_limit: float = 300,
          target: Optional[str] = None, interactive: bool = False, ask: Optional[Asker] = None,
          memory_limit_mb: Optional[float] = None, use_autogluon: Optional[bool] = None, llm: str = "none",
          on_event: Optional[EventHook] = None, **run_options: Any) -> Result:
    """Solve a prediction task: understand the data and the task, try solutions, validate, keep the best.

    Args:
        data: a folder (or file, or archive) path; a DataFrame (written as ``train.csv``: the rows whose
            target is empty are the ones to predict); or a dict of file name -> DataFrame, e.g.
            ``{"train.csv": train, "test.csv": test}``, written as CSV to a temporary folder for the run.
        task: what you want, in plain words (as ``mlwright run --task``).
        output: a new or empty folder for the run; default: a new folder under ``./runs/``.
        time_limit: wall-clock budget in seconds, divided among the attempts.
        target: the column to predict, when the task is ambiguous.
        interactive: ask ``ask(question, candidates)`` when something is ambiguous, instead of failing.
        ask: the callback for ``interactive``; it returns one of the candidates.
        memory_limit_mb: memory cap for each attempt.
        use_autogluon: False for the light recipes only; None uses AutoGluon when installed.
        llm: the LLM provider; "none" (default) is the offline expert engine. Another provider also needs
            its settings as ``llm_settings=...`` (see `mlwright.engine.RunOptions`).
        on_event: called as ``on_event(stage, message, data)`` for live progress.
        **run_options: further `mlwright.engine.RunOptions` fields, passed through as they are.

    Returns:
        The `Result` of the succeeded run.

    Raises:
        MlwrightError: bad input, an unreadable data folder, an ambiguous task, or no valid attempt
            (the run folder still holds run.json and the journal).
    """
    from mlwright.engine import Run, RunOptions  # the pipeline, only when a run is made (Result.load reads only)

    if not isinstance(task, str) or not task.strip():
        raise MlwrightError("The task text is empty.", hint="Say what to predict, e.g. \"predict price\".")
    if interactive and ask is None:
        raise MlwrightError("interactive=True needs an `ask(question, candidates) -> str` callback.")
    unknown = set(run_options) - set(RunOptions.model_fields)
    if unknown:
        raise TypeError(f"solve() got unknown options: {', '.join(sorted(unknown))}")
    if llm != "none" and run_options.get("llm_settings") is None:
        raise MlwrightError(f"llm={llm!r} needs its settings (model, keys...) as llm_settings=...",
                            hint="Pass llm_settings, or use llm=\"none\" for the offline expert engine.")
    out = Path(output) if output is not None else _default_output(task)
    tmp_data: Optional[Path] = None
    if isinstance(data, (str, Path)):
        data_dir = Path(data)
    else:
        tmp_data = Path(tempfile.mkdtemp(prefix="mlwright-data-"))
        data_dir = _write_frames(data, tmp_data)
    try:
        opts = RunOptions(data_dir=data_dir, task_text=task, output_dir=out, time_limit=time_limit, target=target,
                          interactive=interactive, memory_limit_mb=memory_limit_mb,
                          use_autogluon=use_autogluon, **run_options)
        Run(opts, emit=on_event or _quiet, ask=ask).execute()
    except MlwrightError as e:
        raise python_terms(e) from None
    finally:
        if tmp_data is not None:  # our own copy of in-memory frames; the run keeps its inputs/ as parquet
            shutil.rmtree(tmp_data, ignore_errors=True)
    return Result.load(out)


# the CLI's words in an error's text, and what a Python caller writes instead
_PYTHON_TERMS = [("--target COLUMN", "target=\"COLUMN\""), ("--target", "target="), ("--time-limit", "time_limit="),
                 ("--memory-limit", "memory_limit_mb="), ("--interactive", "interactive=True (with ask=...)"),
                 ("--no-autogluon", "use_autogluon=False"), ("--test FILE", "a \"test.csv\" table in data"),
                 ("--id COLUMN", "id_column=\"COLUMN\""), ("--output", "output=")]


def python_terms(e: MlwrightError) -> MlwrightError:
    """The same error, its advice in Python's words (argument names, not CLI flags)."""
    for attr in ("what", "hint"):
        text = getattr(e, attr)
        for cli, py in _PYTHON_TERMS if text else ():
            text = text.replace(cli, py)
        setattr(e, attr, text)
    e.args = (e.render(),)
    return e


def _quiet(stage: str, message: str, data: dict) -> None:
    pass


def _default_output(task: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:24].rstrip("-") or "run"
    base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def _write_frames(data: Union[pd.DataFrame, Mapping[str, pd.DataFrame]], folder: Path) -> Path:
    """Write in-memory tables as CSV files so the run reads them exactly like a folder on disk."""
    frames = {"train.csv": data} if isinstance(data, pd.DataFrame) else data
    if not isinstance(frames, Mapping) or not frames:
        raise MlwrightError(f"data must be a folder path, a DataFrame or a dict of name -> DataFrame, "
                            f"not {type(data).__name__}.")
    for name, df in frames.items():
        if not isinstance(df, pd.DataFrame):
            raise MlwrightError(f"data[{name!r}] is a {type(df).__name__}, not a DataFrame.")
        base = Path(str(name)).name
        if not base or base in (".", "..") or base != str(name):
            raise MlwrightError(f"Table name {name!r} must be a plain file name such as 'train.csv'.")
        if not base.lower().endswith(".csv"):
            base += ".csv"
        df.to_csv(folder / base, index=False)
    return folder


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() in (".tsv", ".tab"):
        return pd.read_csv(path, sep="\t")
    return pd.read_csv(path)
