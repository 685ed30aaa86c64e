"""The pipeline: perception -> knowledge -> planning -> coding -> execution -> validation -> journal -> report."""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pandas as pd
from pydantic import BaseModel

from mlwright import __version__
from mlwright.coding.recipe_coder import write_script
from mlwright.errors import DataError, MlwrightError, RunFailedError
from mlwright.execution.sandbox import network_isolation_prefix, run_sandboxed
from mlwright.journal.store import JOURNAL_NAME, Journal
from mlwright.knowledge.library import retrieve, task_query
from mlwright.perception.infer import Asker, infer_task
from mlwright.perception.materialize import write_table
from mlwright.perception.scan import load_folder
from mlwright.perception.task_text import parse_task_text
from mlwright.planning.planner import Planner
from mlwright.schemas import AttemptPlan, AttemptRecord, BestAttempt, RunSummary, TaskSpec
from mlwright.validation.checks import ValidationFailure, check_prediction_file, score_oof
from mlwright.validation.metrics import is_better

RUN_JSON = "run.json"
SOLUTION = "solution.py"
MODEL_DIR = "model"


class RunOptions(BaseModel):
    data_dir: Path
    task_text: str
    output_dir: Path
    time_limit: float = 300.0
    target: Optional[str] = None
    interactive: bool = False
    memory_limit_mb: Optional[float] = None
    llm: str = "none"
    use_autogluon: Optional[bool] = None  # None: when installed


Emit = Callable[[str, str, dict], None]


def _noop(stage: str, message: str, data: dict) -> None:
    pass


def prepare_output_dir(out: Path, data_dir: Path) -> None:
    out = out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MlwrightError(f"Output folder is not empty: {out}", hint="mlwright never overwrites a run; "
                            "choose a new --output folder (or empty this one yourself).")
    d = data_dir.resolve()
    if out == d or out.is_relative_to(d):
        raise MlwrightError("The output folder is inside the data folder; the data folder must stay untouched.",
                            where=str(out), hint="Choose an --output outside the data folder.")
    out.mkdir(parents=True, exist_ok=True)


class Run:
    """One mlwright run in its own folder; `execute()` returns the summary written to run.json."""

    def __init__(self, opts: RunOptions, emit: Emit = _noop, ask: Optional[Asker] = None):
        self.opts = opts
        self.out = opts.output_dir.resolve()
        self._emit = emit
        self.ask = ask
        self.t0 = time.time()
        self.attempt_seconds = 0.0
        self.journal: Optional[Journal] = None
        self.summary = RunSummary(status="running", data_dir=str(opts.data_dir.resolve()), output_dir=str(self.out),
                                  task_text=opts.task_text, time_limit_s=opts.time_limit, mlwright_version=__version__)
        self.summary.llm.provider = opts.llm

    # -- bookkeeping -------------------------------------------------------------------------------------
    def emit(self, stage: str, message: str, **data) -> None:
        if self.journal:
            self.journal.event(stage, message, data or None)
        self._emit(stage, message, data)

    def time_left(self) -> float:
        return self.opts.time_limit - (time.time() - self.t0)

    def write_summary(self) -> None:
        self.summary.wall_seconds = round(time.time() - self.t0, 2)
        self.summary.overhead_seconds = round(self.summary.wall_seconds - self.attempt_seconds, 2)
        tmp = self.out / (RUN_JSON + ".tmp")
        tmp.write_text(self.summary.model_dump_json(indent=2))
        tmp.replace(self.out / RUN_JSON)

    # -- pipeline ----------------------------------------------------------------------------------------
    def execute(self) -> RunSummary:
        prepare_output_dir(self.opts.output_dir, self.opts.data_dir)
        self.journal = Journal(self.out / JOURNAL_NAME)
        self.summary.sandbox = {"network_isolated": bool(network_isolation_prefix()),
                                "memory_limit_mb": self.opts.memory_limit_mb, "env": "scrubbed (allow-list)"}
        self.write_summary()
        try:
            spec, train, test = self.perceive()
            self.summary.task = spec
            self.write_summary()
            best = self.search(spec, train, test)
            self.finish(spec, train, best)
        except MlwrightError as e:
            self.summary.status = "failed"
            self.summary.error = e.render()
            self.emit("failed", e.what)
            raise
        except BaseException as e:
            self.summary.status = "failed"
            self.summary.error = f"internal error: {type(e).__name__}: {e}" if not isinstance(
                e, KeyboardInterrupt) else "cancelled (interrupted before the end)"
            raise
        finally:
            self.write_summary()
        return self.summary

    def perceive(self) -> tuple[TaskSpec, pd.DataFrame, pd.DataFrame]:
        self.emit("perception", f"scanning {self.opts.data_dir}")
        folder = load_folder(self.opts.data_dir, self.out / "unpacked", self.opts.memory_limit_mb)
        profile = folder.profile()
        (self.out / "profile.json").write_text(profile.model_dump_json(indent=1))
        hints = parse_task_text(self.opts.task_text, folder.files)
        for f, why in folder.skipped.items():
            base = f.split("/")[-1]
            if hints.mentions(base):
                raise DataError(f"Cannot read {base}, which the task names: {why}", where=f,
                                hint="Fix or replace the file.")
            self.emit("perception", f"skipped {f}: {why}")
        inferred = infer_task(folder.tables, hints, forced_target=self.opts.target,
                              ask=self.ask if self.opts.interactive else None, skipped=folder.skipped)
        spec = inferred.spec
        write_table(inferred.train, self.out / "inputs" / "train.parquet")
        write_table(inferred.test, self.out / "inputs" / "test.parquet")
        for n in spec.notes:
            self.emit("perception", n)
        self.emit("perception", f"task: {spec.problem_type} on {spec.target!r}, metric {spec.metric}, "
                  f"{spec.n_train_rows} train / {spec.n_test_rows} test rows, {len(spec.feature_columns)} features",
                  spec=spec.model_dump(mode="json"))
        return spec, inferred.train, inferred.test

    def search(self, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame) -> Optional[AttemptRecord]:
        cards = retrieve(task_query(spec), k=3, modality=spec.modality, problem_type=spec.problem_type)
        self.emit("knowledge", "retrieved cards: " + ", ".join(c.name for c in cards))
        planner = Planner(spec, self.opts.time_limit, use_autogluon=self.opts.use_autogluon)
        history: list[AttemptRecord] = []
        best: Optional[AttemptRecord] = None
        while (plan := planner.next_attempt(history, self.time_left())) is not None:
            for g in self.journal.take_guidance(plan.attempt_id):
                # the deterministic planner cannot act on free text; it is journaled with the attempt it preceded
                self.emit("guidance", f"user guidance before attempt {plan.attempt_id}: {g}", attempt_id=plan.attempt_id)
            rec = self.run_attempt(plan, spec, train, test)
            history.append(rec)
            if rec.status == "succeeded" and is_better(spec, rec.score, best.score if best else None):
                best = rec
                self.emit("best", f"best so far: attempt {rec.attempt_id} ({rec.recipe}) "
                          f"{spec.metric}={rec.score:.5f}", attempt_id=rec.attempt_id, score=rec.score)
        self.summary.attempts = len(history)
        self.summary.attempts_failed = sum(h.status != "succeeded" for h in history)
        return best

    def run_attempt(self, plan: AttemptPlan, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame) -> AttemptRecord:
        workdir = self.out / "attempts" / f"{plan.attempt_id:03d}-{plan.recipe}"
        workdir.mkdir(parents=True, exist_ok=True)
        script = write_script(plan, spec, workdir, SOLUTION)
        code = script.read_text()
        rec = AttemptRecord(attempt_id=plan.attempt_id, parent_id=plan.parent_id, kind=plan.kind, recipe=plan.recipe,
                            title=plan.title, status="running", started_at=time.time(),
                            time_budget_s=round(plan.time_budget_s, 1), metric=spec.metric, workdir=str(workdir))
        self.journal.save_attempt(rec, code=code, params=plan.params)
        self.emit("execution", f"attempt {plan.attempt_id}: {plan.title} ({plan.time_budget_s:.0f}s budget)",
                  attempt_id=plan.attempt_id, recipe=plan.recipe, budget=plan.time_budget_s)
        inputs = self.out / "inputs"
        res = run_sandboxed([sys.executable, SOLUTION, "fit", "--train", str(inputs / "train.parquet"),
                             "--test", str(inputs / "test.parquet"), "--out", ".", "--model", MODEL_DIR],
                            workdir, timeout_s=plan.time_budget_s, memory_mb=self.opts.memory_limit_mb)
        self.attempt_seconds += res.seconds
        rec.ended_at, rec.seconds = time.time(), round(res.seconds, 2)
        rec.returncode, rec.peak_memory_mb = res.returncode, round(res.peak_memory_mb, 1)
        if res.timed_out:
            rec.status, rec.error = "timeout", f"no result within its {plan.time_budget_s:.0f}s budget (killed)"
        elif res.killed_for_memory:
            rec.status, rec.error = "failed", f"killed: memory above the {self.opts.memory_limit_mb:.0f} MB limit"
        elif res.returncode != 0:
            rec.status = "failed"
            rec.error = f"exit code {res.returncode}: " + _last_error_line(res.tail())
        else:
            try:
                check_prediction_file(spec, workdir / spec.prediction_file, test)
                rec.score, rec.validation_rows, _ = score_oof(spec, workdir / "oof_predictions.csv", train)
                rec.status = "succeeded"
            except ValidationFailure as e:
                rec.status, rec.error = "invalid", str(e)
        self.journal.save_attempt(rec)
        msg = (f"attempt {rec.attempt_id} {rec.status}" + (f": {spec.metric}={rec.score:.5f}" if rec.score is not None
                                                          else f": {rec.error}") + f" ({rec.seconds:.0f}s)")
        self.emit("validation", msg, attempt_id=rec.attempt_id, status=rec.status, score=rec.score, error=rec.error)
        return rec

    def finish(self, spec: TaskSpec, train: pd.DataFrame, best: Optional[AttemptRecord]) -> None:
        if best is None:
            reasons = "; ".join(f"attempt {a.attempt_id} ({a.recipe}): {a.error}" for a in self.journal.attempts())
            raise RunFailedError("No attempt produced a valid prediction file. " + (reasons or "No attempt could run "
                                 "within the time limit."),
                                 hint="Raise --time-limit, check the attempts' logs in the run folder, or simplify "
                                      "the data.")
        wd = Path(best.workdir)
        shutil.copy2(wd / spec.prediction_file, self.out / spec.prediction_file)
        shutil.copy2(wd / SOLUTION, self.out / SOLUTION)
        shutil.copytree(wd / MODEL_DIR, self.out / MODEL_DIR, symlinks=True)
        self.summary.best = BestAttempt(attempt_id=best.attempt_id, recipe=best.recipe, metric=spec.metric,
                                        validation_score=best.score, higher_is_better=spec.higher_is_better)
        self.summary.prediction_path = str(self.out / spec.prediction_file)
        self.summary.solution_script = str(self.out / SOLUTION)
        self.summary.model_dir = str(self.out / MODEL_DIR)
        self.summary.status = "succeeded"
        self.emit("report", "writing report.html")
        self.summary.wall_seconds = round(time.time() - self.t0, 2)  # the report shows the time up to now
        try:
            from mlwright.report.html import write_report

            self.summary.report = str(write_report(self.out, self.summary, self.journal, train))
        except Exception as e:  # noqa: BLE001 - a report failure must not lose a valid result
            self.emit("report", f"report failed: {type(e).__name__}: {e}")
        self.emit("done", f"done: {spec.prediction_file} from attempt {best.attempt_id}, "
                  f"validation {spec.metric}={best.score:.5f}")


def _last_error_line(tail: str) -> str:
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or "Exception" in ln:
            return ln[:400]
    return lines[-1][:400] if lines else "no output"


def load_summary(run_dir: Path) -> RunSummary:
    p = Path(run_dir) / RUN_JSON
    if not p.is_file():
        raise MlwrightError(f"Not a run folder (no {RUN_JSON}): {run_dir}", hint="Pass the --output folder of a run.")
    return RunSummary.model_validate(json.loads(p.read_text()))


def find_runs(root: Path, depth: int = 2) -> list[tuple[Path, RunSummary]]:
    """Run folders under `root` (those with a readable run.json), newest first."""
    root = Path(root)
    found = []
    candidates = [root] + [p for d in range(1, depth + 1) for p in root.glob("/".join(["*"] * d)) if p.is_dir()]
    for p in candidates:
        f = p / RUN_JSON
        if f.is_file():
            try:
                found.append((p, RunSummary.model_validate(json.loads(f.read_text())), f.stat().st_mtime))
            except (ValueError, OSError):
                continue
    return [(p, s) for p, s, _ in sorted(found, key=lambda t: -t[2])]
