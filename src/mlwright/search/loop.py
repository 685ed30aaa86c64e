"""The one search loop. A policy is a generator: it yields `Step`s and is sent back each step's AttemptRecord,
so a policy reads like the plan it follows (try this; if it failed, that). A policy may also yield a list of
steps (at most `ctx.slots`, --parallel-attempts): they run side by side and the list of their records comes back,
in the same order. The loop gives every step its id from the journal (which owns the attempt tree), journals the
user guidance a step acted on, runs it, and keeps the best valid attempt; policies run one after another on the
same history."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generator, Optional, Union

from mlwright.perception.stage import Perceived
from mlwright.run_context import RunContext
from mlwright.schemas import AttemptPlan, AttemptRecord, TaskSpec
from mlwright.validation.metrics import is_better


@dataclass
class Step:
    """An attempt a policy wants run. `body`: the script's text (LLM-written or edited), None for the recipe's
    own; `rejected`: why it is refused before running (journaled as invalid); `guidance`: the user instructions
    (journal id, text) it acted on."""
    plan: AttemptPlan
    body: Optional[str] = None
    rejected: Optional[str] = None
    guidance: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class SearchState:
    data: Perceived
    history: list[AttemptRecord]
    best: Optional[AttemptRecord] = None

    @property
    def spec(self) -> TaskSpec:
        return self.data.spec


Policy = Callable[[SearchState], Generator[Union[Step, list[Step]], Union[AttemptRecord, list[AttemptRecord]], None]]
Execute = Callable[[AttemptPlan, Optional[str], Optional[str]], AttemptRecord]  # (plan, body, rejected)
Vet = Callable[[AttemptRecord], Optional[str]]  # why a valid attempt must not count (search/leakage.py), or None


class Search:
    def __init__(self, ctx: RunContext, data: Perceived, execute: Execute, vet: Optional[Vet] = None):
        assert ctx.journal is not None
        self.ctx, self.journal, self.execute, self.vet = ctx, ctx.journal, execute, vet
        # a resumed run goes on from its journal's attempts
        self.state = SearchState(data, self.journal.attempts(), self.journal.best_attempt(data.spec.higher_is_better))

    def run(self, policies: list[Policy]) -> Optional[AttemptRecord]:
        """Each policy in turn until it has nothing more to try; the best valid attempt."""
        for policy in policies:
            steps, rec = policy(self.state), None
            while True:
                try:
                    step = steps.send(rec)  # type: ignore[arg-type]  # None starts the generator
                except StopIteration:
                    break
                rec = self.take_all(step) if isinstance(step, list) else self.take(step)
        return self.state.best

    def take(self, step: Step) -> AttemptRecord:
        return self.record(self.attempt(self.start(step, self.journal.next_attempt_id()), step))

    def take_all(self, steps: list[Step]) -> list[AttemptRecord]:
        """Steps side by side (ids in list order, as if one after another); their records in the same order."""
        first = self.journal.next_attempt_id()
        plans = [self.start(step, first + i) for i, step in enumerate(steps)]
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.ctx.slots, len(steps))))
        try:
            futures = [pool.submit(self.attempt, plan, step) for plan, step in zip(plans, steps)]
            recs = [f.result() for f in futures]
        except BaseException:  # a cancel (Ctrl-C, SIGTERM) reaches this thread only: stop the others' attempts
            cancel = getattr(self.execute, "cancel_running", None)
            if cancel is not None:
                cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [self.record(rec) for rec in recs]

    def start(self, step: Step, attempt_id: int) -> AttemptPlan:
        plan = step.plan.model_copy(update={"attempt_id": attempt_id})
        if step.guidance:
            self.journal.consume_guidance([gid for gid, _ in step.guidance], plan.attempt_id)
            for _, text in step.guidance:
                self.ctx.emit("guidance", f"user guidance before attempt {plan.attempt_id}: {text}",
                              attempt_id=plan.attempt_id)
        return plan

    def attempt(self, plan: AttemptPlan, step: Step) -> AttemptRecord:
        """Run and validate one step (in a worker thread when steps run side by side), then vet it."""
        rec = self.execute(plan, step.body, step.rejected)
        why = self.vet(rec) if self.vet is not None and rec.status == "succeeded" else None
        if why:  # valid by its own validation, but it cannot win, nor join a blend
            rec = rec.model_copy(update={"status": "invalid", "error": why})
            self.journal.save_attempt(rec)
            self.ctx.emit("validation", f"attempt {rec.attempt_id} rejected: {why}", attempt_id=rec.attempt_id,
                          status=rec.status, score=rec.score, error=why)
        return rec

    def record(self, rec: AttemptRecord) -> AttemptRecord:
        self.state.history.append(rec)
        best = self.state.best
        if rec.status == "succeeded" and is_better(self.state.spec, rec.score, best.score if best else None):
            self.state.best = rec
            self.ctx.emit("best", f"best so far: attempt {rec.attempt_id} ({rec.recipe}) "
                          f"{self.state.spec.metric}={rec.score:.5f}", attempt_id=rec.attempt_id, score=rec.score)
        return rec
