"""The pipeline: perception -> knowledge -> planning -> coding -> execution -> validation -> journal -> report."""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import pandas as pd
from pydantic import BaseModel

from mlwright import __version__
from mlwright.catalog import MODEL_DIR, RUN_JSON, SOLUTION, find_runs, load_summary  # noqa: F401 - re-exported
from mlwright.coding.recipe_coder import write_script
from mlwright.errors import AmbiguousTaskError, DataError, MlwrightError, RunFailedError, printable
from mlwright.execution.sandbox import folders_of, isolation, kill_leftover, paths_in, run_sandboxed
from mlwright.journal.store import JOURNAL_NAME, Journal
from mlwright.coding.llm_coder import CoderAgent
from mlwright.journal.error_analyst import ErrorAnalyst
from mlwright.knowledge.library import retrieve, task_query
from mlwright.llm import LLMSettings, Usage, make_llm
from mlwright.llm.agent import AgentFailures
from mlwright.perception.agent import (PerceptionAgent, ReaderAgent, apply_review, file_head, run_reader)
from mlwright.planning.llm_planner import PlannerAgent
from mlwright.planning.refinement import (RefinementAgent, changed_outside, decide_focus, replace_block,
                                         top_level_blocks)
from mlwright.perception.infer import Asker, infer_task
from mlwright.perception.documents import detect_document_task, inline_referenced_documents
from mlwright.perception.images import detect_image_task
from mlwright.perception.materialize import write_table
from mlwright.perception.archives import is_archive
from mlwright.perception.table_parts import part_names
from mlwright.perception.readers import sniff_kind
from mlwright.perception.scan import load_folder
from mlwright.perception.forecast_output import LABELS, write_forecast
from mlwright.perception.task_text import parse_task_text
from mlwright.planning.ensemble import select_blend
from mlwright.planning.budget import RunClock
from mlwright.planning.planner import INTERRUPTED, Planner
from mlwright.schemas import (AblationResult, AttemptPlan, AttemptRecord, BestAttempt, Refinement, RunSummary,
                              TaskSpec)
from mlwright.validation.checks import ValidationFailure, check_plain_files, check_prediction_file, score_oof
from mlwright.validation.raw_ids import check_raw_ids
from mlwright.validation.metrics import is_better

FINISH_DIR = ".finish"  # finish copies and checks the winner's files here, then moves them into place
HEARTBEAT_S = 2.0  # run.json's elapsed time is at most this old when mlwright is killed: resume gets the rest
PAUSE_VAR = "MLWRIGHT_TEST_PAUSE_AT"  # test-only: stop at a stage (see _test_pause) so a test can kill -9 there


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
    max_llm_attempts: int = 6
    llm_time_share: float = 0.4  # of the time left after the baseline, kept for LLM-written attempts
    use_autogluon: Optional[bool] = None  # None: when installed
    resume: bool = False  # continue an interrupted run in its own folder


Emit = Callable[[str, str, dict], None]


def _noop(stage: str, message: str, data: dict) -> None:
    pass


def prepare_output_dir(out: Path, data_dir: Path) -> None:
    for what, p in (("data folder", data_dir), ("output folder", out)):  # run.json and the journal store both
        if printable(str(p)) != str(p):
            raise MlwrightError(f"The {what}'s path is not valid UTF-8 text, so the run could not record it.",
                                where=printable(str(p)), hint=f"Rename the {what} (or give a UTF-8 name that links "
                                                              "to it) and run again.")
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
        self.clock = RunClock(opts.time_limit)
        self.attempt_seconds = 0.0
        self.journal: Optional[Journal] = None
        self._summary_lock = threading.Lock()
        self._beating = threading.Event()  # set while the heartbeat keeps run.json's elapsed time fresh
        self._stop_beat = threading.Event()
        self._raw_cache: dict = {}  # raw test files as the id check reads them
        self.side_files: list[str] = []
        self.summary = RunSummary(status="running", data_dir=str(opts.data_dir.resolve()), output_dir=str(self.out),
                                  task_text=opts.task_text, time_limit_s=opts.time_limit, mlwright_version=__version__)
        settings = opts.llm_settings or LLMSettings()
        self.usage = Usage(provider=settings.provider, model=settings.model)
        self.llm = make_llm(settings, self.usage) if settings.available else None
        self.failures = AgentFailures()
        self.llm_attempt_failures: list[str] = []
        self.llm_attempts = 0
        self.summary.llm.provider, self.summary.llm.model = settings.provider, settings.model

    # -- bookkeeping -------------------------------------------------------------------------------------
    def emit(self, stage: str, message: str, **data) -> None:
        if self.journal:
            self.journal.event(stage, message, data or None)
        self._emit(stage, message, data)

    def write_summary(self, beat: bool = False) -> None:
        if self.llm is not None:
            self.summary.llm = self.summary.llm.model_copy(update={
                k: v for k, v in self.usage.as_run_json().items() if k in self.summary.llm.model_fields} | {
                "fallbacks": dict(self.failures.counts), "fallback_reasons": list(self.failures.reasons),
                "attempts": self.llm_attempts, "attempts_failed": len(self.llm_attempt_failures),
                "attempt_failures": self.llm_attempt_failures[-20:]})
        with self._summary_lock:  # the heartbeat thread writes it too
            if beat and not self._beating.is_set():
                return
            self.summary.wall_seconds = round(self.clock.elapsed(), 2)
            self.summary.overhead_seconds = round(self.summary.wall_seconds - self.attempt_seconds, 2)
            tmp = self.out / (RUN_JSON + ".tmp")
            tmp.write_text(self.summary.model_dump_json(indent=2))
            tmp.replace(self.out / RUN_JSON)

    def _heartbeat(self) -> None:
        while self._beating.is_set() and not self._stop_beat.wait(HEARTBEAT_S):
            try:
                self.write_summary(beat=True)
            except Exception:  # noqa: BLE001 - a missed beat only makes a resume's budget a little larger
                pass

    def _test_pause(self, stage: str) -> None:
        """Test-only (MLWRIGHT_TEST_PAUSE_AT=stage): mark the stage reached and wait until the test removes the
        marker (or kills mlwright: the crash-safety tests)."""
        if os.environ.get(PAUSE_VAR) != stage:
            return
        marker = self.out / f".test-paused-{stage}"
        marker.touch()
        while marker.exists():
            time.sleep(0.05)

    # -- pipeline ----------------------------------------------------------------------------------------
    def execute(self) -> RunSummary:
        if self.opts.resume:
            self.reopen()
        else:
            prepare_output_dir(self.opts.output_dir, self.opts.data_dir)
        self.journal = Journal(self.out / JOURNAL_NAME)
        self.write_summary()  # at once: a run killed from here on is a run folder that resume accepts
        if self.opts.resume:
            for aid, proc in self.journal.processes().items():  # left running by the mlwright that died
                if kill_leftover(proc):
                    self.emit("resume", f"killed attempt {aid}, left running by the interrupted run", attempt_id=aid)
                self.journal.set_process(aid, None)
            for a in self.journal.attempts():
                if a.status == "running":  # the process died with the run: journal it as such
                    self.journal.save_attempt(a.model_copy(update={"status": "failed", "error": INTERRUPTED}))
            self.emit("resume", f"resuming with {self.clock.left():.0f}s of the budget left",
                      time_left=round(self.clock.left(), 1))
        iso = isolation()  # bubblewrap, or the basic fallback (then it is said once on stderr and here)
        self.summary.sandbox = iso.as_dict() | {
            "memory_limit_mb": self.opts.memory_limit_mb or "default: 75% of the RAM available at each attempt's start",
            "env": "scrubbed (allow-list)"}
        if iso.kind != "bubblewrap":
            self.emit("warning", f"generated code runs without the bubblewrap sandbox: {iso.detail}")
        self.write_summary()
        self._beating.set()
        threading.Thread(target=self._heartbeat, name="run.json heartbeat", daemon=True).start()
        try:
            spec, train, test = self.perceive()
            self.summary.task = spec
            self.write_summary()
            best = self.search(spec, train, test)
            self.finish(spec, train, test, best)
        except MlwrightError as e:
            self.summary.status = "failed"
            self.summary.error = e.render()
            self.emit("failed", e.what)
            raise
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):  # Ctrl-C, or a cancel (SIGTERM): a status, not an error
                self.summary.status, self.summary.error = "cancelled", None
            else:
                self.summary.status = "failed"
                self.summary.error = f"internal error: {type(e).__name__}: {e}"
            raise
        finally:
            self._beating.clear()
            self._stop_beat.set()
            self.write_summary()
        return self.summary

    def agent(self, cls):
        """An LLM agent whose calls end before the run's budget does."""
        a = cls(self.llm, self.failures, lambda m: self.emit("llm", m))
        a.deadline = self.clock.llm_deadline()
        return a

    def reopen(self) -> None:
        """A killed or cancelled run continues in its folder, with the budget it had left."""
        prev = load_summary(self.out)
        if prev.status == "succeeded":
            raise MlwrightError(f"The run already succeeded: {self.out}", hint="Start a new run instead.")
        self.clock.resume(prev.wall_seconds)
        self.attempt_seconds = prev.wall_seconds - (prev.overhead_seconds or 0.0)
        self.summary.error = None
        self.summary.refinement = prev.refinement  # an ablation study already run is not repeated
        # an interrupted finish may have left final files: none may stand beside a run.json that is not "succeeded"
        stale = [FINISH_DIR, SOLUTION, MODEL_DIR, "report.html"]
        if prev.task and Path(prev.task.prediction_file).name not in (RUN_JSON, JOURNAL_NAME):
            stale.append(prev.task.prediction_file)
        for name in stale:
            p = self.out / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()

    def perceive(self) -> tuple[TaskSpec, pd.DataFrame, pd.DataFrame]:
        self.emit("perception", f"scanning {self.opts.data_dir}")
        folder = load_folder(self.opts.data_dir, self.out / "unpacked", self.opts.memory_limit_mb,
                             require_data=self.llm is None)
        if self.llm is not None:
            self.read_with_llm(folder)
            folder.check_readable()
        profile = folder.profile()
        (self.out / "profile.json").write_text(profile.model_dump_json(indent=1))
        hints = parse_task_text(self.opts.task_text, folder.files)
        for f, why in folder.skipped.items():
            base = f.split("/")[-1]
            if hints.mentions(base):
                raise DataError(f"Cannot read {base}, which the task names: {why}", where=f,
                                hint="Fix or replace the file.")
            self.emit("perception", f"skipped {f}: {why}")
        inferred, doc_notes = detect_image_task(folder, hints, self.opts.target, []), []
        if inferred is None:
            doc_notes = inline_referenced_documents(folder)
            inferred = detect_document_task(folder, hints, self.opts.target,
                                            self.ask if self.opts.interactive else None)
        if inferred is None:
            inferred = self.infer(folder, profile, hints)
            inferred.spec.notes[:0] = doc_notes
        spec = inferred.spec
        spec.notes[:0] = folder.read_notes
        self.side_files = list(folder.notes.texts)
        spec.test_sources = test_sources(spec, folder)
        write_table(inferred.train, self.out / "inputs" / "train.parquet")
        write_table(inferred.test, self.out / "inputs" / "test.parquet")
        if getattr(inferred, "time_labels", None) is not None:  # forecasts: the user's own date strings
            write_table(inferred.time_labels, self.out / "inputs" / LABELS)
        for n in spec.notes:
            self.emit("perception", n)
        self.emit("perception", f"task: {spec.problem_type} on {spec.target!r}, metric {spec.metric}, "
                  f"{spec.n_train_rows} train / {spec.n_test_rows} test rows, {len(spec.feature_columns)} features",
                  spec=spec.model_dump(mode="json"))
        return spec, inferred.train, inferred.test

    def read_with_llm(self, folder) -> None:
        """Reader code from the LLM for files the built-in readers could not read (run in the sandbox)."""
        agent = self.agent(ReaderAgent)
        known = set(folder.tables) | set(folder.images) | set(folder.documents)
        unknown = {f: "no built-in reader for this format" for f in folder.files
                   if f not in known and f not in folder.skipped and sniff_kind_safe(Path(folder.root) / f) is None}
        for rel, why in list(folder.skipped.items()) + list(unknown.items())[:5]:
            path = Path(folder.root) / rel
            if not path.is_file() or why == "no rows" or path.stat().st_size > 200 * 1024**2:
                continue
            answer, _ = agent.ask(path=path, reason=why, head=file_head(path))
            if not answer.code:
                continue
            df = run_reader(answer.code, path, self.out / "readers" / path.name.replace(".", "_"))
            if df is None:
                self.failures.add("perception", f"reader code for {rel} failed")
                continue
            folder.tables[rel] = df
            folder.table_paths[rel] = str(path)
            folder.skipped.pop(rel, None)
            self.emit("perception", f"read {rel} with LLM-written reader code ({len(df)} rows)")

    def evidence(self, folder) -> dict:
        """What the user said beyond the task text (--id, --test) and what the side files say."""
        return {"forced_id": self.opts.id_column, "forced_test": self.opts.test, "side": folder.notes}

    def infer(self, folder, profile, hints):
        """Deterministic inference, reviewed by the perception agent when an LLM is configured."""
        ask = self.ask if self.opts.interactive else None
        agent = self.agent(PerceptionAgent)
        try:
            inferred = infer_task(folder.tables, hints, forced_target=self.opts.target, ask=ask,
                                  skipped=folder.skipped, **self.evidence(folder))
        except AmbiguousTaskError as e:
            if self.llm is None:
                raise
            review, from_llm = agent.ask(profile=profile, task_text=self.opts.task_text, spec=None, problem=e.what,
                                         side_files=folder.notes.texts)
            if not (from_llm and review.target in e.candidates):
                raise
            inferred = infer_task(folder.tables, hints, forced_target=review.target, skipped=folder.skipped,
                                  **self.evidence(folder))
            inferred.spec.notes.append(f"target {review.target!r}: chosen by the perception agent among "
                                       f"{e.candidates}")
            return inferred
        if self.llm is None:
            return inferred
        review, from_llm = agent.ask(profile=profile, task_text=self.opts.task_text, spec=inferred.spec,
                                     side_files=folder.notes.texts)
        if not from_llm:
            return inferred
        if review.question and self.opts.interactive and self.ask is not None:
            answer = self.ask(review.question, [])
            self.opts.task_text += f"\n{answer}"
            hints = parse_task_text(self.opts.task_text, folder.files)
            inferred = infer_task(folder.tables, hints, forced_target=self.opts.target, ask=ask,
                                  skipped=folder.skipped, **self.evidence(folder))
            inferred.spec.notes.append(f"the user answered the perception agent's question: {answer[:200]}")
        train_cols = set(folder.tables[inferred.spec.train_table].columns) if inferred.spec.train_table in \
            folder.tables else set()
        if review.target and review.target != inferred.spec.target and review.target in train_cols \
                and not self.opts.target:
            try:
                inferred = infer_task(folder.tables, hints, forced_target=review.target, skipped=folder.skipped,
                                      **self.evidence(folder))
                inferred.spec.notes.append(f"target {review.target!r}: corrected by the perception agent")
            except MlwrightError as e:
                self.failures.add("perception", f"target {review.target!r} rejected: {e.what}")
        test_cols = set(inferred.test.columns)
        if review.id_column and review.id_column != inferred.spec.id_column and review.id_column in test_cols \
                and not self.opts.id_column and not inferred.spec.timeseries:
            try:
                redone = infer_task(folder.tables, hints, forced_target=inferred.spec.target, skipped=folder.skipped,
                                    **(self.evidence(folder) | {"forced_id": review.id_column}))
                redone.spec.notes.append(f"id column {review.id_column!r}: corrected by the perception agent")
                inferred = redone
            except MlwrightError as e:
                self.failures.add("perception", f"id column {review.id_column!r} rejected: {e.what}")
        inferred.spec = apply_review(inferred.spec, review, inferred.spec.notes)
        return inferred

    def search(self, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame) -> Optional[AttemptRecord]:
        cards = retrieve(task_query(spec), k=3, modality=spec.modality, problem_type=spec.problem_type)
        self.emit("knowledge", "retrieved cards: " + ", ".join(c.name for c in cards))
        keep = self.opts.llm_time_share * self.opts.time_limit if self.llm is not None else 0.0
        planner = Planner(spec, self.opts.time_limit, use_autogluon=self.opts.use_autogluon, keep_for_later_s=keep)
        history: list[AttemptRecord] = self.journal.attempts() if self.opts.resume else []
        best = self._best(spec, history, None)
        self.knowledge = "\n\n".join(f"## {c.name}\n{c.body[:1500]}" for c in cards[:2])
        while (plan := planner.next_attempt(history, self.clock.usable())) is not None:
            for g in self.journal.take_guidance(plan.attempt_id):
                # the deterministic planner cannot act on free text; it is journaled with the attempt it preceded
                self.emit("guidance", f"user guidance before attempt {plan.attempt_id}: {g}",
                          attempt_id=plan.attempt_id)
            rec = self.run_attempt(plan, spec, train, test)
            history.append(rec)
            if rec.status == "succeeded" and is_better(spec, rec.score, best.score if best else None):
                best = rec
                self.emit("best", f"best so far: attempt {rec.attempt_id} ({rec.recipe}) "
                          f"{spec.metric}={rec.score:.5f}", attempt_id=rec.attempt_id, score=rec.score)
        if self.llm is not None and spec.modality in ("tabular", "text", "multitable"):
            best = self.llm_search(spec, train, test, history, best)
        best = self.ensemble(spec, train, test, history, best)
        self.summary.attempts = len(history)
        self.summary.attempts_failed = sum(h.status != "succeeded" for h in history)
        return best

    def ensemble(self, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame, history: list[AttemptRecord],
                 best: Optional[AttemptRecord]) -> Optional[AttemptRecord]:
        """Blend the best few valid attempts when their out-of-fold predictions say it helps."""
        usable = self.clock.usable()
        if usable < 10:
            return best
        blend = select_blend(spec, train, history)
        if blend is None:
            return best
        desc = ", ".join(f"#{m.attempt_id} x{w:.2f}" for m, w in zip(blend.members, blend.weights))
        self.emit("planning", f"ensemble: {desc} scores {spec.metric}={blend.score:.5f} out of fold "
                  "(cross-fitted: each fold blended with weights chosen on the other folds)")
        plan = AttemptPlan(attempt_id=len(history) + 1, parent_id=best.attempt_id if best else None, kind="improve",
                           recipe="ensemble", title=f"weighted blend of {desc}", time_budget_s=usable,
                           params={"time_budget": round(usable, 1), "folds": len(blend.fold_weights),
                                   "members": [{"dir": m.workdir, "weight": w,
                                                "fold_weights": [fw[j] for fw in blend.fold_weights]}
                                               for j, (m, w) in enumerate(zip(blend.members, blend.weights))]})
        rec = self.run_attempt(plan, spec, train, test)
        history.append(rec)
        if rec.status == "succeeded" and is_better(spec, rec.score, best.score if best else None):
            self.emit("best", f"best so far: attempt {rec.attempt_id} (ensemble) {spec.metric}={rec.score:.5f}",
                      attempt_id=rec.attempt_id, score=rec.score)
            return rec
        return best

    def llm_search(self, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame, history: list[AttemptRecord],
                   best: Optional[AttemptRecord]) -> Optional[AttemptRecord]:
        """The LLM tree search: the planner picks draft / debug / improve, the coder writes the script, the
        engine runs and validates it, the error analyst explains failures for the next debug attempt."""
        planner, coder = self.agent(PlannerAgent), self.agent(CoderAgent)
        analyst, refiner = self.agent(ErrorAnalyst), self.agent(RefinementAgent)
        unusable_in_a_row = 0
        while self.llm_attempts < self.opts.max_llm_attempts and unusable_in_a_row < 2:
            usable = self.clock.usable()
            if usable < 25 or self.usage.stopped_reason:
                if self.usage.stopped_reason:
                    self.emit("planning", f"LLM use stopped: {self.usage.stopped_reason}; finishing with what we have")
                break
            next_id = len(history) + 1
            if self.opts.interactive and self.ask is not None:
                said = self.ask(f"Guidance for attempt {next_id}? (press Enter to let mlwright decide)", []).strip()
                if said:
                    self.journal.add_guidance(said)
            guidance = self.journal.take_guidance(next_id)
            for g in guidance:
                self.emit("guidance", f"user guidance before attempt {next_id}: {g}", attempt_id=next_id)
            diagnoses = self.journal.diagnoses()
            decision, _ = planner.decide(spec=spec, history=history, diagnoses=diagnoses, time_left=usable,
                                         guidance=guidance)
            if decision.action == "stop":
                self.emit("planning", "the planner chose to stop")
                break
            by_id = {h.attempt_id: h for h in history}
            parent = by_id.get(decision.parent_id) if decision.parent_id is not None else None
            parent_code = self.journal.attempt_code(parent.attempt_id) if parent else None
            carries_code = bool(parent and parent_code and parent.recipe in ("llm", "ablation"))
            focus_block = None
            if decision.action == "improve" and carries_code:
                if self.summary.refinement is None:
                    self.summary.refinement = self.refine(spec, train, test, history, parent, parent_code, refiner)
                    if len(history) + 1 != next_id:  # the ablation variants took ids: guidance goes with the attempt
                        self.journal.move_guidance(next_id, len(history) + 1)
                        next_id = len(history) + 1
                    best = self._best(spec, history, best)
                    usable = self.clock.usable()
                    if usable < 25:
                        break
                focus_block = self.summary.refinement.focus
                if focus_block not in top_level_blocks(parent_code):
                    focus_block = None  # a different lineage: no block constraint
            answer, from_llm = coder.ask(spec=spec, plan=decision.plan, knowledge=self.knowledge,
                                         parent_code=parent_code if carries_code else None,
                                         diagnosis=diagnoses.get(parent.attempt_id) if decision.action == "debug"
                                         and parent else None, focus_block=focus_block, guidance=guidance,
                                         focus_note=self.summary.refinement.note() if focus_block else "")
            if not answer.code:
                unusable_in_a_row += 1
                self.llm_attempt_failures.append(f"before attempt {next_id}: no usable code from the LLM")
                continue
            unusable_in_a_row = 0
            budget = usable if usable < 60 else max(30.0, 0.5 * usable)
            plan = AttemptPlan(attempt_id=next_id, parent_id=parent.attempt_id if parent else None,
                               kind=decision.action, recipe="llm", title=(decision.plan or decision.action)[:100],
                               time_budget_s=budget, params={"time_budget": round(budget, 1)})
            self.llm_attempts += 1
            rejected = None
            if focus_block and parent_code:
                outside = changed_outside(parent_code, answer.code, focus_block)
                if outside:
                    rejected = f"changed code outside the chosen block `{focus_block}`: {outside[:5]}"
            rec = self.run_attempt(plan, spec, train, test, body=answer.code, rejected=rejected)
            history.append(rec)
            if rec.status != "succeeded":
                self.llm_attempt_failures.append(f"attempt {rec.attempt_id}: {(rec.error or '')[:200]}")
                tail = ""
                for name in ("stderr.txt", "stdout.txt"):
                    f = Path(rec.workdir) / name
                    if f.is_file():
                        tail += f.read_text(errors="replace")[-2000:]
                diag, _ = analyst.ask(error=rec.error or "", log_tail=tail, code=answer.code)
                self.journal.set_diagnosis(rec.attempt_id, diag.as_text())
                self.emit("analysis", f"attempt {rec.attempt_id} diagnosis: {diag.summary}",
                          attempt_id=rec.attempt_id)
            elif is_better(spec, rec.score, best.score if best else None):
                best = rec
                self.emit("best", f"best so far: attempt {rec.attempt_id} ({rec.recipe}) "
                          f"{spec.metric}={rec.score:.5f}", attempt_id=rec.attempt_id, score=rec.score)
            self.write_summary()
        return best

    def _best(self, spec: TaskSpec, history: list[AttemptRecord],
              best: Optional[AttemptRecord]) -> Optional[AttemptRecord]:
        """The best valid attempt among `best` and `history`."""
        for h in history:
            if h.status == "succeeded" and is_better(spec, h.score, best.score if best else None):
                best = h
        return best

    def refine(self, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame, history: list[AttemptRecord],
               parent: AttemptRecord, parent_code: str, refiner: RefinementAgent) -> Refinement:
        """The ablation study: each proposed variant (one block simplified) runs and is validated like any
        attempt; the block whose simplification moves the score most is the one the next attempts refine."""
        plan, from_llm = refiner.plan(code=parent_code, spec=spec, score=parent.score)
        # a simplified variant should not need much longer than the script it simplifies
        per_variant = min(parent.time_budget_s, max(20.0, 2.5 * (parent.seconds or 0) + 15))
        params = (self.journal.attempt_params(parent.attempt_id) or {}) | {"time_budget": round(per_variant, 1)}
        results = []
        for ab in plan.ablations:
            usable = self.clock.usable()
            if usable < 2 * per_variant + 25:  # keep time for the refinement attempts themselves
                self.emit("planning", f"ablation of `{ab.block}` skipped: not enough time left")
                continue
            plan_v = AttemptPlan(attempt_id=len(history) + 1, parent_id=parent.attempt_id, kind="ablation",
                                 recipe="ablation", title=f"ablation of {ab.block}: {ab.what}"[:100],
                                 time_budget_s=per_variant, params=params)
            rec = self.run_attempt(plan_v, spec, train, test, body=replace_block(parent_code, ab.block, ab.code))
            history.append(rec)
            delta = rec.score - parent.score if rec.score is not None else None
            results.append(AblationResult(block=ab.block, what=ab.what, attempt_id=rec.attempt_id,
                                          status=rec.status, score=rec.score, delta=delta))
        focus, decided_by = decide_focus(results, plan.block)
        if decided_by == "llm guess" and not from_llm:
            decided_by = "heuristic"
        ref = Refinement(parent_attempt=parent.attempt_id, metric=spec.metric, baseline_score=parent.score,
                         results=results, focus=focus, decided_by=decided_by, reason=plan.reason, ideas=plan.ideas)
        table = ", ".join(f"{r.block} {r.delta:+.4f}" if r.delta is not None else f"{r.block} {r.status}"
                          for r in results) or "no variant measured"
        self.emit("planning", f"refinement: ablation of attempt {parent.attempt_id} ({table}); next improvements "
                  f"change only `{focus}` ({decided_by})", focus=focus, decided_by=decided_by)
        self.write_summary()
        return ref

    def run_attempt(self, plan: AttemptPlan, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame,
                    body: Optional[str] = None, rejected: Optional[str] = None) -> AttemptRecord:
        workdir = self.out / "attempts" / f"{plan.attempt_id:03d}-{plan.recipe}"
        workdir.mkdir(parents=True, exist_ok=True)
        script = write_script(plan, spec, workdir, SOLUTION, body=body)
        code = script.read_text()
        rec = AttemptRecord(attempt_id=plan.attempt_id, parent_id=plan.parent_id, kind=plan.kind, recipe=plan.recipe,
                            title=plan.title, status="running", started_at=time.time(),
                            time_budget_s=round(plan.time_budget_s, 1), metric=spec.metric, workdir=str(workdir))
        self.journal.save_attempt(rec, code=code, params=plan.params)
        if rejected:
            rec.status, rec.error, rec.ended_at, rec.seconds = "invalid", rejected, time.time(), 0.0
            self.journal.save_attempt(rec)
            self.emit("validation", f"attempt {rec.attempt_id} rejected: {rejected}", attempt_id=rec.attempt_id,
                      status=rec.status, score=None, error=rejected)
            return rec
        self.emit("execution", f"attempt {plan.attempt_id}: {plan.title} ({plan.time_budget_s:.0f}s budget)",
                  attempt_id=plan.attempt_id, recipe=plan.recipe, budget=plan.time_budget_s)
        inputs = self.out / "inputs"
        # what the sandbox shows read-only: members' folders, weights
        ro: list[Path | str] = [inputs, *paths_in(plan.params)]
        if spec.image is not None:  # the tables name the user's image files where they are
            ro += folders_of([*train[spec.image.path_column], *test[spec.image.path_column]])
        res = run_sandboxed([sys.executable, SOLUTION, "fit", "--train", str(inputs / "train.parquet"),
                             "--test", str(inputs / "test.parquet"), "--out", ".", "--model", MODEL_DIR],
                            workdir, timeout_s=plan.time_budget_s, memory_mb=self.opts.memory_limit_mb,
                            ro_paths=ro, on_start=lambda p: self.journal.set_process(plan.attempt_id, p))
        self.journal.set_process(plan.attempt_id, None)
        self.attempt_seconds += res.seconds
        rec.ended_at, rec.seconds = time.time(), round(res.seconds, 2)
        rec.returncode, rec.peak_memory_mb = res.returncode, round(res.peak_memory_mb, 1)
        if res.timed_out:
            rec.status, rec.error = "timeout", f"no result within its {plan.time_budget_s:.0f}s budget (killed)"
        elif res.killed_for_memory:
            rec.status, rec.error = "failed", f"killed: memory above the {res.memory_limit_mb:.0f} MB limit"
        elif res.killed_for_processes:
            rec.status, rec.error = "failed", "killed: more processes than the sandbox allows (a fork bomb?)"
        elif res.returncode != 0:
            rec.status = "failed"
            rec.error = f"exit code {res.returncode}: " + _last_error_line(res.tail())
        else:
            try:
                # checksums first (the attempt's processes are gone): finish copies exactly what was validated
                check_plain_files(workdir, [spec.prediction_file, SOLUTION, MODEL_DIR, "oof_predictions.csv"])
                rec.prediction_sha256 = file_sha256(workdir / spec.prediction_file)
                rec.solution_sha256 = file_sha256(workdir / SOLUTION)
                rec.model_sha256 = tree_sha256(workdir / MODEL_DIR)
                pred = check_prediction_file(spec, workdir / spec.prediction_file, test)
                self.check_ids(spec, pred, final=False)
                rec.score, rec.validation_rows, _ = score_oof(spec, workdir / "oof_predictions.csv", train)
                rec.status = "succeeded"
            except ValidationFailure as e:
                rec.status, rec.error = "invalid", str(e)
        self.journal.save_attempt(rec)
        self.write_summary()  # the elapsed time, for a resume
        msg = (f"attempt {rec.attempt_id} {rec.status}" + (f": {spec.metric}={rec.score:.5f}" if rec.score is not None
                                                          else f": {rec.error}") + f" ({rec.seconds:.0f}s)")
        self.emit("validation", msg, attempt_id=rec.attempt_id, status=rec.status, score=rec.score, error=rec.error)
        return rec

    def check_ids(self, spec: TaskSpec, pred: pd.DataFrame, final: bool) -> None:
        """The ids must be the raw test file's own (a second, simple reader); attempts write forecasts' dates in
        ISO form, so only the final file's date keys are compared."""
        keys = spec.key_columns if final else [k for k in spec.key_columns
                                               if not (spec.timeseries and k == spec.timeseries.timestamp_column)]
        if spec.timeseries and spec.timeseries.wide is not None and not final:
            return
        why = check_raw_ids(spec, pred, Path(self.opts.data_dir), keys, self._raw_cache)
        if why:
            raise ValidationFailure(why)

    def finish(self, spec: TaskSpec, train: pd.DataFrame, test: pd.DataFrame,
               best: Optional[AttemptRecord]) -> None:
        """Copy the winner's files into the run folder, checked again: the copies must be the files that were
        validated (sha256), the prediction file must pass the contract and the raw-id check once more. Safe to
        repeat after a kill: everything is staged in FINISH_DIR, then moved into place."""
        if best is None:
            reasons = "; ".join(f"attempt {a.attempt_id} ({a.recipe}): {a.error}" for a in self.journal.attempts())
            raise RunFailedError("No attempt produced a valid prediction file. " + (reasons or "No attempt could run "
                                 "within the time limit."),
                                 hint="Raise --time-limit, check the attempts' logs in the run folder, or simplify "
                                      "the data.")
        wd, stage = Path(best.workdir), self.out / FINISH_DIR
        shutil.rmtree(stage, ignore_errors=True)  # an interrupted finish's leftovers
        stage.mkdir()
        try:
            self._test_pause("finish")
            self.summary.checksums = self._deliver(spec, test, best, wd, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        self._test_pause("report")
        self.summary.best = BestAttempt(attempt_id=best.attempt_id, recipe=best.recipe, metric=spec.metric,
                                        validation_score=best.score, higher_is_better=spec.higher_is_better)
        self.summary.prediction_path = str(self.out / spec.prediction_file)
        self.summary.solution_script = str(self.out / SOLUTION)
        self.summary.model_dir = str(self.out / MODEL_DIR)
        with self._summary_lock:  # from here run.json is written once, at the end: "succeeded" with the report
            self._beating.clear()
            self.summary.status = "succeeded"
        self.emit("report", "writing report.html")
        self.summary.wall_seconds = round(self.clock.elapsed(), 2)  # the report shows the time up to now
        try:
            from mlwright.report.html import write_report

            self.summary.report = str(write_report(self.out, self.summary, self.journal, train))
        except Exception as e:  # noqa: BLE001 - a report failure must not lose a valid result
            self.emit("report", f"report failed: {type(e).__name__}: {e}")
        self.emit("done", f"done: {spec.prediction_file} from attempt {best.attempt_id}, "
                  f"validation {spec.metric}={best.score:.5f}")

    def _deliver(self, spec: TaskSpec, test: pd.DataFrame, best: AttemptRecord, wd: Path,
                 stage: Path) -> dict[str, str]:
        """Copy `best`'s files to `stage`, check them, move them into the run folder (each move atomic); their
        checksums."""
        pred, final = stage / "attempt_predictions.csv", stage / "final_predictions.csv"
        try:  # validated as plain files; a link put there since is refused, never followed
            check_plain_files(wd, [spec.prediction_file, SOLUTION, MODEL_DIR])
        except ValidationFailure as e:
            self.journal.save_attempt(best.model_copy(update={"status": "invalid", "error": str(e)}))
            raise RunFailedError(f"The best attempt's {e}.", where=str(wd)) from e
        shutil.copy2(wd / spec.prediction_file, pred)
        shutil.copy2(wd / SOLUTION, stage / SOLUTION)
        shutil.copytree(wd / MODEL_DIR, stage / MODEL_DIR, symlinks=True)
        sums = {spec.prediction_file: file_sha256(pred), SOLUTION: file_sha256(stage / SOLUTION),
                MODEL_DIR + "/": tree_sha256(stage / MODEL_DIR)}
        changed = [f"{name} (sha256 {sums[name]} now, {want} when validated)" for name, want in (
            (spec.prediction_file, best.prediction_sha256), (SOLUTION, best.solution_sha256),
            (MODEL_DIR + "/", best.model_sha256)) if want and sums[name] != want]
        if changed:  # never report success with other files than the validated ones; a resume takes the next best
            why = "files changed after validation: " + "; ".join(changed)
            self.journal.save_attempt(best.model_copy(update={"status": "invalid", "error": why}))
            raise RunFailedError(f"The best attempt's {why}.", where=str(wd),
                                 hint="Something wrote into the attempt's folder after it was validated; find out "
                                      "what, then `mlwright resume` finishes with the next valid attempt.")
        try:
            check_prediction_file(spec, pred, test)  # the contract again, on the very bytes that are delivered
        except ValidationFailure as e:
            raise RunFailedError(f"The final prediction file failed its check: {e}.", where=str(wd)) from e
        if spec.timeseries is not None:  # the attempts write ISO dates in long form; the user's file has theirs
            write_forecast(spec, pred, final, self.out / "inputs")
            sums[spec.prediction_file] = file_sha256(final)
        else:
            final = pred
        why = check_raw_ids(spec, pd.read_csv(final, dtype=str, keep_default_na=False), Path(self.opts.data_dir),
                            None, self._raw_cache)
        if why:
            final.replace(self.out / (spec.prediction_file + ".rejected"))
            raise RunFailedError(f"The final prediction file failed the check against the raw test file: {why}.",
                                 where=str(self.out / (spec.prediction_file + ".rejected")),
                                 hint="Name the id column with --id COLUMN (or in the task), and check that the "
                                      "test file is read as intended (mlwright explain DATA_DIR --task ...).")
        final.replace(self.out / spec.prediction_file)
        (stage / SOLUTION).replace(self.out / SOLUTION)
        if (self.out / MODEL_DIR).exists():  # from a finish killed after this point
            shutil.rmtree(self.out / MODEL_DIR)
        (stage / MODEL_DIR).replace(self.out / MODEL_DIR)
        return sums


def file_sha256(path: Path) -> Optional[str]:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree_sha256(folder: Path) -> Optional[str]:
    """sha256 over a folder: each entry's relative path, then its file's sha256 or its link's target, sorted."""
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            p = Path(root) / name
            h.update(p.relative_to(folder).as_posix().encode() + b"\0")
            h.update(b"L" + os.readlink(p).encode() if p.is_symlink() else (file_sha256(p) or "").encode())
            h.update(b"\n")
    return h.hexdigest()


def test_sources(spec: TaskSpec, folder) -> list[str]:
    """The raw files (relative to the data folder) the rows to predict come from, for the final id check."""
    name = (spec.test_table or "").split(" (")[0]  # "train.csv (rows without y)" comes from train.csv
    paths = [folder.table_paths.get(n) for n in part_names(name)]  # a table stacked from parts: every file
    if not paths or any(p is None for p in paths):
        return []
    root = Path(folder.root).resolve()
    return [p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
            for p in (Path(x).resolve() for x in paths)]


def sniff_kind_safe(path: Path) -> Optional[str]:
    try:
        return sniff_kind(path) or ("archive" if is_archive(path) else None)
    except MlwrightError:
        return "unreadable"


def _last_error_line(tail: str) -> str:
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or "Exception" in ln:
            return ln[:400]
    return lines[-1][:400] if lines else "no output"
