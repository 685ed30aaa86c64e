"""The pipeline: perception -> knowledge -> planning -> coding -> execution -> validation -> journal -> report."""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from mlwright import __version__
from mlwright.catalog import MODEL_DIR, RUN_JSON, SOLUTION, find_runs, load_summary  # noqa: F401 - re-exported
from mlwright.errors import MlwrightError, RunFailedError, printable
from mlwright.execution.executor import AttemptExecutor, LocalSandbox
from mlwright.execution.sandbox import isolation, kill_leftover
from mlwright.journal.store import JOURNAL_NAME, Journal
from mlwright.knowledge.library import recipes_for, retrieve, task_query
from mlwright.llm import LLMSettings, Usage, make_llm
from mlwright.llm.transcript import TRANSCRIPT, Transcript
from mlwright.options import RunOptions
from mlwright.perception.layout import Layout, ModelRows
from mlwright.perception.infer import Asker
from mlwright.perception.stage import Perceived, perceive
from mlwright.planning.budget import RunClock
from mlwright.planning.planner import INTERRUPTED, Planner
from mlwright.run_context import RunContext
from mlwright.schemas import AttemptRecord, BestAttempt, Refinement, RunSummary, TaskSpec
from mlwright.search.attempts import CANCELLED, AttemptRunner, file_sha256, tree_sha256
from mlwright.search.leakage import LeakCheck
from mlwright.search.llm_policy import LLMPolicy
from mlwright.search.loop import Policy, Search
from mlwright.search.policies import ensemble_policy, reclaim_policy, recipe_policy
from mlwright.validation.checks import ValidationFailure, check_plain_files, check_prediction_file
from mlwright.validation.raw_ids import check_raw_ids

__all__ = ["Run", "RunOptions", "load_summary", "find_runs", "prepare_output_dir"]
EARLY_END_SHARE = 0.05  # a run that ends with more of its limit unused says why (run.json ended_early)
FINISH_DIR = ".finish"  # finish copies and checks the winner's files here, then moves them into place
HEARTBEAT_S = 2.0  # run.json's elapsed time is at most this old when mlwright is killed: resume gets the rest
PAUSE_VAR = "MLWRIGHT_TEST_PAUSE_AT"  # test-only: stop at a stage (see _test_pause) so a test can kill -9 there


Emit = Callable[[str, str, dict], None]


def _warm_imports() -> None:
    """What validating an attempt and writing the report import (~1 s together) loads while the first attempt
    runs, not after it, when the wait is overhead."""
    import scipy.stats  # noqa: F401
    import sklearn.metrics  # noqa: F401

    import mlwright.report.html  # noqa: F401


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
    """One mlwright run in its own folder: perceive -> search -> finish. `execute()` returns the summary written
    to run.json."""

    def __init__(self, opts: RunOptions, emit: Emit = _noop, ask: Optional[Asker] = None,
                 executor: Optional[AttemptExecutor] = None):
        self.opts = opts
        self.out = opts.output_dir.resolve()
        self._emit = emit
        self.executor = executor or self._executor(opts)
        if hasattr(self.executor, "notify"):  # what the executor learns about its machines goes in the journal
            self.executor.notify = lambda message: self.emit("execution", message)
        self._summary_lock = threading.Lock()
        self._beating = threading.Event()  # set while the heartbeat keeps run.json's elapsed time fresh
        self._stop_beat = threading.Event()
        self.summary = RunSummary(status="running", data_dir=str(opts.data_dir.resolve()), output_dir=str(self.out),
                                  task_text=opts.task_text, time_limit_s=opts.time_limit, mlwright_version=__version__)
        settings = opts.llm_settings or LLMSettings()
        self.usage = Usage(provider=settings.provider, model=settings.model)
        llm = make_llm(settings, self.usage) if settings.available else None
        if llm is not None:  # every prompt and answer, keys masked
            llm.transcript = Transcript(self.out / TRANSCRIPT, settings)
        self.ctx = RunContext(opts=opts, out=self.out, clock=RunClock(opts.time_limit), emit=self.emit,
                              save=self.write_summary, llm=llm, ask=ask)
        self.llm_policy: Optional[LLMPolicy] = None
        self.runner: Optional[AttemptRunner] = None
        self.summary.llm.provider, self.summary.llm.model = settings.provider, settings.model

    @staticmethod
    def _executor(opts: RunOptions) -> AttemptExecutor:
        if opts.ray_address:
            from mlwright.execution.ray_executor import RayExecutor

            return RayExecutor(opts.ray_address, num_cpus=opts.ray_cpus_per_attempt,
                               placement_group=opts.ray_placement_group)
        return LocalSandbox()

    @property
    def journal(self) -> Optional[Journal]:
        return self.ctx.journal

    # -- the pipeline ------------------------------------------------------------------------------------
    def execute(self) -> RunSummary:
        self.open_folder()
        try:
            data = perceive(self.ctx)
            self.summary.task = data.spec
            self.write_summary()
            self.runner = AttemptRunner(self.ctx, data, self.executor)
            threading.Thread(target=_warm_imports, daemon=True).start()
            vet = LeakCheck(self.ctx, data, self.executor) if self.ctx.llm is not None and data.spec.ranking is None \
                else None
            best = Search(self.ctx, data, self.runner, vet).run(self.policies(data))
            self.note_early_end()
            self.finish(data, best)
        except MlwrightError as e:
            self.summary.status = "failed"
            self.summary.error = e.render()
            self.emit("failed", e.what)
            raise
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):  # Ctrl-C, or a cancel (SIGTERM): a status, not an error
                self.summary.status, self.summary.error = "cancelled", None
                self._cancel_running_attempts()
            else:
                self.summary.status = "failed"
                self.summary.error = f"internal error: {type(e).__name__}: {e}"
            raise
        finally:
            self._beating.clear()
            self._stop_beat.set()
            self.write_summary()
        return self.summary

    def _cancel_running_attempts(self) -> None:
        """After a cancel no attempt may stay 'running' in the journal: each view reads the same state."""
        if self.journal is None:
            return
        for a in self.journal.attempts():
            if a.status == "running":
                self.journal.save_attempt(a.model_copy(update={"status": "cancelled", "error": CANCELLED,
                                                               "ended_at": time.time()}))

    def policies(self, data: Perceived) -> list[Policy]:
        """The recipe plan (keeping the LLM's share of the time when one is configured), the LLM tree search, the
        recipe plan again with the time the LLM kept when it left no valid attempt, then the ensemble of the best
        attempts."""
        spec = data.spec
        cards = retrieve(task_query(spec), k=3, modality=spec.modality, problem_type=spec.problem_type)
        self.emit("knowledge", "retrieved cards: " + ", ".join(c.name for c in cards))
        keep = self.opts.llm_time_share * self.opts.time_limit if self.ctx.llm is not None else 0.0
        # with an LLM, its attempts follow the baseline as they did before the light recipes: those would take
        # the time the LLM does not keep for itself
        excluded = self.opts.exclude_recipes
        planner = Planner(spec, self.opts.time_limit, use_autogluon=self.opts.use_autogluon, keep_for_later_s=keep,
                          light_recipes=self.ctx.llm is None, seeds_each=self.opts.seeds if self.ctx.llm is None else 0,
                          exclude=excluded)
        if excluded and not planner.recipes and self.ctx.llm is None:
            usable = ", ".join(c.recipe for c in recipes_for(spec) if c.recipe) or "none installed"
            raise MlwrightError(f"No recipe is left to run for this {spec.modality} {spec.problem_type} task after "
                                f"--exclude-recipes {','.join(excluded)}.",
                                hint=f"The recipes for it here: {usable}. Exclude fewer, or configure an LLM.")
        policies = [recipe_policy(self.ctx, planner)]
        if self.ctx.llm is not None:
            knowledge = "\n\n".join(f"## {c.name}\n{c.body[:1500]}" for c in cards[:2])
            self.llm_policy = LLMPolicy(self.ctx, knowledge, self.summary.refinement, self._set_refinement,
                                        self.opts.max_llm_attempts, use_autogluon=self.opts.use_autogluon is not False)
            policies.append(self.llm_policy)
            policies.append(reclaim_policy(self.ctx, Planner(spec, self.opts.time_limit,
                                                             use_autogluon=self.opts.use_autogluon,
                                                             light_recipes=False, exclude=excluded)))
        return policies + [ensemble_policy(self.ctx)]

    def _set_refinement(self, ref: Refinement) -> None:
        self.summary.refinement = ref
        self.write_summary()

    # -- the run folder ----------------------------------------------------------------------------------
    def open_folder(self) -> None:
        """A new run folder, or the interrupted run's folder made ready to go on; the journal; the heartbeat."""
        if self.opts.resume:
            self.reopen()
        else:
            prepare_output_dir(self.opts.output_dir, self.opts.data_dir)
        journal = self.ctx.journal = Journal(self.out / JOURNAL_NAME)
        self.write_summary()  # at once: a run killed from here on is a run folder that resume accepts
        if self.opts.resume:
            for aid, proc in journal.processes().items():  # left running by the mlwright that died
                if kill_leftover(proc):
                    self.emit("resume", f"killed attempt {aid}, left running by the interrupted run", attempt_id=aid)
                journal.set_process(aid, None)
            for a in journal.attempts():
                if a.status == "running":  # the process died with the run: journal it as such
                    journal.save_attempt(a.model_copy(update={"status": "interrupted", "error": INTERRUPTED}))
            self.emit("resume", f"resuming with {self.ctx.clock.left():.0f}s of the budget left",
                      time_left=round(self.ctx.clock.left(), 1))
        iso = isolation()  # bubblewrap, or the basic fallback (then it is said once on stderr and here)
        self.summary.sandbox = iso.as_dict() | {
            "executor": f"ray cluster at {self.opts.ray_address}" if self.opts.ray_address else "local",
            "parallel_attempts": self.ctx.slots,
            "memory_limit_mb": self.opts.memory_limit_mb or "default: 75% of the RAM available at each attempt's start"
            + (f", shared by the {self.ctx.slots} attempts side by side" if self.ctx.slots > 1 else ""),
            "env": "scrubbed (allow-list)"}
        if iso.kind != "bubblewrap":
            self.emit("warning", f"generated code runs without the bubblewrap sandbox: {iso.detail}")
        self.write_summary()
        self._beating.set()
        threading.Thread(target=self._heartbeat, name="run.json heartbeat", daemon=True).start()

    def reopen(self) -> None:
        """A killed or cancelled run continues in its folder, with the budget it had left."""
        prev = load_summary(self.out)
        if prev.status == "succeeded":
            raise MlwrightError(f"The run already succeeded: {self.out}", hint="Start a new run instead.")
        self.ctx.clock.resume(prev.wall_seconds)
        self.ctx.busy.seconds = prev.wall_seconds - (prev.overhead_seconds or 0.0)
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

    # -- bookkeeping -------------------------------------------------------------------------------------
    def emit(self, stage: str, message: str, **data) -> None:
        if self.journal:
            self.journal.event(stage, message, data or None)
        self._emit(stage, message, data)

    def write_summary(self, beat: bool = False) -> None:
        if self.ctx.llm is not None:
            pol = self.llm_policy
            failures = pol.failures if pol else []
            self.summary.llm = self.summary.llm.model_copy(update={
                k: v for k, v in self.usage.as_run_json().items() if k in self.summary.llm.model_fields} | {
                "fallbacks": dict(self.ctx.failures.counts), "fallback_reasons": list(self.ctx.failures.reasons),
                "attempts": pol.attempts if pol else 0, "attempts_failed": len(failures),
                "attempt_failures": failures[-20:]})
        with self._summary_lock:  # the heartbeat thread writes it too
            if beat and not self._beating.is_set():
                return
            try:
                counts = self.journal.attempt_counts() if self.journal is not None else {}
                self.summary.attempts = sum(counts.values())
                self.summary.attempts_failed = sum(n for s, n in counts.items()
                                                   if s not in ("succeeded", "running", "cancelled", "interrupted"))
            except Exception:  # noqa: BLE001 - run.json must still be written (it may carry the error)
                pass
            self.summary.wall_seconds = round(self.ctx.clock.elapsed(), 2)
            self.summary.overhead_seconds = round(self.summary.wall_seconds - self.ctx.busy.seconds, 2)
            if not beat:  # after an attempt and at the end: a heartbeat does not re-read the journal every 2 s
                self.summary.peak_memory_mb = self._peak_memory_mb()
            tmp = self.out / (RUN_JSON + ".tmp")
            tmp.write_text(self.summary.portable(self.out).model_dump_json(indent=2))
            tmp.replace(self.out / RUN_JSON)

    def _peak_memory_mb(self) -> Optional[float]:
        """The largest resident memory of the run: mlwright's own process, or its largest attempt (as measured by
        the executor, on whichever machine ran it)."""
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
        try:
            attempts = [a.peak_memory_mb or 0.0 for a in self.journal.attempts()] if self.journal is not None else []
        except Exception:  # noqa: BLE001 - a figure for run.json, never a reason to fail writing it
            attempts = []
        return round(max([own, *attempts]), 1)

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

    def note_early_end(self) -> None:
        """Say so when the search ends with more than EARLY_END_SHARE of the time limit unused (the run is done:
        every planned attempt ran and nothing else would fit or help), so a user never wonders why."""
        clock = self.ctx.clock
        if self.ctx.cancelled.is_set() or clock.usable() <= EARLY_END_SHARE * clock.time_limit:
            return
        self.summary.ended_early = (f"{clock.left():.0f}s of the {clock.time_limit:.0f}s limit left: every recipe "
                                    "planned for this task has run or needs more time than is left")
        self.emit("planning", f"done early: {self.summary.ended_early}")

    # -- finish ------------------------------------------------------------------------------------------
    def finish(self, data: Perceived, best: Optional[AttemptRecord]) -> None:
        """Copy the winner's files into the run folder, checked again: the copies must be the files that were
        validated (sha256), the prediction file must pass the contract and the raw-id check once more. Safe to
        repeat after a kill: everything is staged in FINISH_DIR, then moved into place."""
        spec, journal = data.spec, self.ctx.journal
        assert journal is not None
        if best is None:
            reasons = "; ".join(f"attempt {a.attempt_id} ({a.recipe}): {a.error}" for a in journal.attempts())
            raise RunFailedError("No attempt produced a valid prediction file. " + (reasons or "No attempt could run "
                                 "within the time limit."),
                                 hint="Raise --time-limit, check the attempts' logs in the run folder, or simplify "
                                      "the data.")
        wd, stage = Path(best.workdir), self.out / FINISH_DIR
        shutil.rmtree(stage, ignore_errors=True)  # an interrupted finish's leftovers
        stage.mkdir()
        try:
            self._test_pause("finish")
            self.summary.checksums = self._deliver(spec, data.test, best, wd, stage)
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
        self.summary.wall_seconds = round(self.ctx.clock.elapsed(), 2)  # the report shows the time up to now
        try:
            from mlwright.report.html import write_report

            self.summary.report = str(write_report(self.out, self.summary, journal, data.train))
        except Exception as e:  # noqa: BLE001 - a report failure must not lose a valid result
            self.emit("report", f"report failed: {type(e).__name__}: {e}")
        self.emit("done", f"{spec.prediction_file} from attempt {best.attempt_id}, "
                  f"validation {spec.metric}={best.score:.5f}")

    def _deliver(self, spec: TaskSpec, test: pd.DataFrame, best: AttemptRecord, wd: Path,
                 stage: Path) -> dict[str, str]:
        """Copy `best`'s files to `stage`, check them, move them into the run folder (each move atomic); their
        checksums."""
        pred, final = stage / "attempt_predictions.csv", stage / "final_predictions.csv"
        try:  # validated as plain files; a link put there since is refused, never followed
            check_plain_files(wd, [spec.prediction_file, SOLUTION, MODEL_DIR])
        except ValidationFailure as e:
            self.ctx.journal.save_attempt(best.model_copy(update={"status": "invalid", "error": str(e)}))
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
            self.ctx.journal.save_attempt(best.model_copy(update={"status": "invalid", "error": why}))
            raise RunFailedError(f"The best attempt's {why}.", where=str(wd),
                                 hint="Something wrote into the attempt's folder after it was validated; find out "
                                      "what, then `mlwright resume` finishes with the next valid attempt.")
        try:
            # the contract again, on the very bytes that are delivered
            check_prediction_file(spec, pred, test, self.runner.data.corpus if self.runner else None)
        except ValidationFailure as e:
            raise RunFailedError(f"The final prediction file failed its check: {e}.", where=str(wd)) from e
        if spec.timeseries is not None:  # the attempts write ISO dates in long form; the user's file has theirs
            layout = Layout(spec)
            layout.write_user_file(pred, final, layout.run_rows(self.out / "inputs"))
            sums[spec.prediction_file] = file_sha256(final)
        elif spec.segmentation is not None:  # the masks as the user's files, or their run-length table
            Layout(spec).write_user_file(pred, final, ModelRows(test),
                                         masks_dir=stage / spec.segmentation.mask_folder)
            sums[spec.prediction_file] = file_sha256(final)
        else:
            final = pred
        why = check_raw_ids(spec, pd.read_csv(final, dtype=str, keep_default_na=False), Path(self.opts.data_dir),
                            None, self.runner.raw_cache if self.runner else {})
        if why:
            final.replace(self.out / (spec.prediction_file + ".rejected"))
            raise RunFailedError(f"The final prediction file failed the check against the raw test file: {why}.",
                                 where=str(self.out / (spec.prediction_file + ".rejected")),
                                 hint="Name the id column with --id COLUMN (or in the task), and check that the "
                                      "test file is read as intended (mlwright explain DATA_DIR --task ...).")
        final.replace(self.out / spec.prediction_file)
        if spec.segmentation is not None and (stage / spec.segmentation.mask_folder).is_dir():
            masks = self.out / spec.segmentation.mask_folder
            if masks.exists():  # from a finish killed after this point
                shutil.rmtree(masks)
            (stage / spec.segmentation.mask_folder).replace(masks)
        (stage / SOLUTION).replace(self.out / SOLUTION)
        if (self.out / MODEL_DIR).exists():  # from a finish killed after this point
            shutil.rmtree(self.out / MODEL_DIR)
        (stage / MODEL_DIR).replace(self.out / MODEL_DIR)
        return sums


