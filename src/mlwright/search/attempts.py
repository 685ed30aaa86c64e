"""Running one attempt: write its script, run it through the executor, validate what it wrote (the prediction
file's contract, the ids against the raw test file, mlwright's own out-of-fold score) and journal each step.
An attempt's success is decided here, by code, never by what the script or an LLM says."""
from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import pandas as pd

from mlwright.catalog import MODEL_DIR, SOLUTION
from mlwright.coding.recipe_coder import write_script
from mlwright.execution.executor import AttemptExecutor, AttemptJob
from mlwright.execution.file_trace import files_read, trace_env, unread_note
from mlwright.execution.sandbox import folders_of, kill_leftover, paths_in
from mlwright.perception.stage import Perceived
from mlwright.run_context import RunContext
from mlwright.planning.budget import attempt_timeout, attempt_timings
from mlwright.planning.planner import NO_TIME_EXIT
from mlwright.schemas import AttemptPlan, AttemptRecord, TaskSpec
from mlwright.validation.checks import ValidationFailure, check_plain_files, check_prediction_file, score_oof
from mlwright.validation.metrics import prediction_columns, ranking_spread, score_spread, truth
from mlwright.validation.raw_ids import check_raw_ids


CANCELLED = "cancelled by the user"
TRACED = ("llm", "ablation")  # LLM-written code: which inputs it opened is traced and checked
MIN_RETRY_S = 20.0  # an attempt lost to an infrastructure failure is rerun when at least this much time is left


class AttemptRunner:
    def __init__(self, ctx: RunContext, data: Perceived, executor: AttemptExecutor):
        assert ctx.journal is not None
        self.ctx, self.journal, self.data, self.executor = ctx, ctx.journal, data, executor
        self.raw_cache: dict = {}  # raw test files as the id check reads them

    def __call__(self, plan: AttemptPlan, body: Optional[str] = None,
                 rejected: Optional[str] = None) -> AttemptRecord:
        spec, ctx = self.data.spec, self.ctx
        workdir = ctx.out / "attempts" / f"{plan.attempt_id:03d}-{plan.recipe}"
        workdir.mkdir(parents=True, exist_ok=True)
        code = write_script(plan, spec, workdir, SOLUTION, body=body).read_text()
        rec = AttemptRecord(attempt_id=plan.attempt_id, parent_id=plan.parent_id, kind=plan.kind, recipe=plan.recipe,
                            title=plan.title, status="running", started_at=time.time(),
                            time_budget_s=round(plan.time_budget_s, 1), metric=spec.metric, workdir=str(workdir))
        self.journal.save_attempt(rec, code=code, params=plan.params)
        if rejected:
            rec.status, rec.error, rec.ended_at, rec.seconds = "invalid", rejected, time.time(), 0.0
            self.journal.save_attempt(rec)
            ctx.emit("validation", f"attempt {rec.attempt_id} rejected: {rejected}", attempt_id=rec.attempt_id,
                     status=rec.status, score=None, error=rejected)
            return rec
        ctx.emit("execution", f"attempt {plan.attempt_id}: {plan.title} ({plan.time_budget_s:.0f}s budget)",
                 attempt_id=plan.attempt_id, recipe=plan.recipe, budget=plan.time_budget_s)
        inputs = ctx.out / "inputs"
        # what the sandbox shows read-only: members' folders, weights
        ro: list[Path | str] = [inputs, *paths_in(plan.params)]
        if spec.image is not None:  # the tables name the user's image files where they are
            ro += folders_of([*self.data.train[spec.image.path_column], *self.data.test[spec.image.path_column]])
        if spec.segmentation is not None:  # and the training masks
            ro += folders_of(list(self.data.train[spec.segmentation.mask_column]))
        job = AttemptJob(
            [sys.executable, SOLUTION, "fit", "--train", str(inputs / "train.parquet"), "--test",
             str(inputs / "test.parquet"), "--out", ".", "--model", MODEL_DIR], workdir,
            timeout_s=attempt_timeout(plan.recipe, plan.time_budget_s, ctx.clock.time_limit),
            read_only=ro, memory_mb=ctx.opts.memory_limit_mb,
            on_start=lambda p: self.journal.set_process(plan.attempt_id, p), share=1 / ctx.slots,
            env=trace_env(workdir) if plan.recipe in TRACED else {})
        with ctx.busy.running():
            try:
                res = self.executor.run(job)
            except KeyboardInterrupt:  # a cancel: the executor has stopped the attempt; say so, then go on stopping
                self.journal.set_process(plan.attempt_id, None)
                rec.status, rec.error, rec.ended_at = "cancelled", CANCELLED, time.time()
                self.journal.save_attempt(rec)
                raise
            if res.infrastructure and ctx.clock.usable() >= min(plan.time_budget_s, MIN_RETRY_S):
                # the machine failed, not the script: the identical script once more, in the time left
                ctx.emit("execution", f"attempt {plan.attempt_id}: {res.infrastructure}; running the identical "
                         "script once more", attempt_id=plan.attempt_id)
                job.timeout_s = min(plan.time_budget_s, ctx.clock.usable())
                res = self.executor.run(job)
        self.journal.set_process(plan.attempt_id, None)
        rec.ended_at, rec.seconds = time.time(), round(res.seconds, 2)
        rec.returncode, rec.peak_memory_mb = res.returncode, round(res.peak_memory_mb, 1)
        if res.returncode == 0:
            for k, v in attempt_timings(workdir, res.seconds).items():
                setattr(rec, k, v)
        if ctx.cancelled.is_set():  # stopped because the run was cancelled (attempts side by side)
            rec.status, rec.error = "cancelled", CANCELLED
        elif res.infrastructure:
            rec.status, rec.error = "failed", res.infrastructure
        elif res.timed_out:
            rec.status, rec.error = "timeout", f"no result within its {plan.time_budget_s:.0f}s budget (killed)"
        elif res.killed_for_memory:
            rec.status, rec.error = "failed", f"killed: memory above the {res.memory_limit_mb:.0f} MB limit"
        elif res.killed_for_processes:
            rec.status, rec.error = "failed", "killed: more processes than the sandbox allows (a fork bomb?)"
        elif res.returncode == NO_TIME_EXIT:  # the script's own words on why (stderr), not its last log line
            rec.status = "failed"
            rec.error = (f"stopped: its work would not fit its {plan.time_budget_s:.0f}s budget: "
                         + last_error_line(res.tail(stdout=False)))
        elif res.returncode != 0:
            rec.status = "failed"
            rec.error = f"exit code {res.returncode}: " + last_error_line(res.tail())
        else:
            try:
                # checksums first (the attempt's processes are gone): finish copies exactly what was validated
                check_plain_files(workdir, [spec.prediction_file, SOLUTION, MODEL_DIR, "oof_predictions.csv"])
                rec.prediction_sha256 = file_sha256(workdir / spec.prediction_file)
                rec.solution_sha256 = file_sha256(workdir / SOLUTION)
                rec.model_sha256 = tree_sha256(workdir / MODEL_DIR)
                pred = check_prediction_file(spec, workdir / spec.prediction_file, self.data.test, self.data.corpus)
                self.check_ids(spec, pred, final=False)
                rec.score, rec.validation_rows, oof = score_oof(spec, workdir / "oof_predictions.csv", self.data.train)
                rec.score_sd = oof_spread(spec, oof, self.data.train)
                rec.status = "succeeded"
                if plan.recipe in TRACED:
                    rec.data_note = unread_note(files_read(workdir), self.expected_inputs(inputs))
            except ValidationFailure as e:
                rec.status, rec.error = "invalid", str(e)
            rec.validation_s = round(time.time() - rec.ended_at, 2)  # the planner's gap between attempts
        self.journal.save_attempt(rec)
        ctx.save()  # the elapsed time, for a resume
        msg = (f"attempt {rec.attempt_id} {rec.status}" + (f": {spec.metric}={rec.score:.5f}" if rec.score is not None
                                                          else f": {rec.error}") + f" ({rec.seconds:.0f}s)")
        msg += f"; data use: its code {rec.data_note}" if rec.data_note else ""
        ctx.emit("validation", msg, attempt_id=rec.attempt_id, status=rec.status, score=rec.score, error=rec.error)
        return rec

    def cancel_running(self) -> None:
        """Stop every attempt still running (a cancel while attempts run side by side): the run is ending."""
        self.ctx.cancelled.set()
        for proc in self.journal.processes().values():
            kill_leftover(proc)
        cancel = getattr(self.executor, "cancel_all", None)
        if cancel is not None:
            cancel()

    def expected_inputs(self, inputs: Path) -> dict[str, list[str]]:
        """The inputs of the task a script should read: the two tables and the files they name (images)."""
        spec, files = self.data.spec, {"training table": [str(inputs / "train.parquet")],
                                       "test table": [str(inputs / "test.parquet")]}
        if self.data.corpus is not None:
            files["corpus"] = [str(inputs / "corpus.parquet")]
        if spec.image is not None:
            col = spec.image.path_column
            files["training images"] = [str(p) for p in self.data.train[col]]
            files["test images"] = [str(p) for p in self.data.test[col]]
        if spec.segmentation is not None:
            files["training masks"] = [str(p) for p in self.data.train[spec.segmentation.mask_column]]
        return files

    def check_ids(self, spec: TaskSpec, pred: pd.DataFrame, final: bool) -> None:
        """The ids must be the raw test file's own (a second, simple reader); attempts write forecasts' dates in
        ISO form, so only the final file's date keys are compared."""
        keys = spec.key_columns if final else [k for k in spec.key_columns
                                               if not (spec.timeseries and k == spec.timeseries.timestamp_column)]
        if spec.timeseries and spec.timeseries.wide is not None and not final:
            return
        why = check_raw_ids(spec, pred, Path(self.ctx.opts.data_dir), keys, self.raw_cache)
        if why:
            raise ValidationFailure(why)


def oof_spread(spec: TaskSpec, oof: pd.DataFrame, train: pd.DataFrame) -> Optional[float]:
    if spec.timeseries is not None or spec.segmentation is not None:
        return None
    if spec.ranking is not None:
        sd = ranking_spread(spec, train, oof)
        return round(sd, 6) if sd is not None else None
    need = prediction_columns(spec)
    y = truth(spec, train).iloc[oof["__row__"].to_numpy()]
    sd = score_spread(spec, y, oof[need])
    return round(sd, 6) if sd is not None else None


def file_sha256(path: Path) -> Optional[str]:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree_sha256(folder: Path) -> Optional[str]:
    """sha256 over a folder: each entry's relative path, then its file's sha256 or its link's target, sorted.
    The files are hashed side by side (hashlib releases the GIL): a model folder can hold hundreds of MB."""
    if not folder.is_dir():
        return None
    entries: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        entries += [Path(root) / name for name in sorted(files + [d for d in dirs
                                                                 if os.path.islink(os.path.join(root, d))])]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(lambda p: None if p.is_symlink() else file_sha256(p), entries))
    h = hashlib.sha256()
    for p, digest in zip(entries, digests):
        h.update(p.relative_to(folder).as_posix().encode() + b"\0")
        h.update(b"L" + os.readlink(p).encode() if p.is_symlink() else (digest or "").encode())
        h.update(b"\n")
    return h.hexdigest()


def last_error_line(tail: str) -> str:
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or "Exception" in ln:
            return ln[:400]
    return lines[-1][:400] if lines else "no output"
