"""The LLM policy: the planner agent picks draft / debug / improve, the coder writes the script, the loop runs
and validates it, the error analyst explains a failure for the next debug attempt. The first improvement of an
LLM-written script is preceded by an ablation study (its variants are steps like any other) that picks the one
block later improvements may change. Every agent has a deterministic fallback."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Generator, Optional

from mlwright.coding.llm_coder import CoderAgent
from mlwright.coding.error_analyst import ErrorAnalyst
from mlwright.planning.llm_planner import PlannerAgent
from mlwright.planning.refinement import (RefinementAgent, changed_outside, decide_focus, replace_block,
                                         top_level_blocks)
from mlwright.run_context import RunContext
from mlwright.schemas import AblationResult, AttemptPlan, AttemptRecord, Refinement
from mlwright.search.loop import SearchState, Step

MIN_USABLE_S = 25.0  # an LLM attempt needs at least this much of the budget


class LLMPolicy:
    def __init__(self, ctx: RunContext, knowledge: str, refinement: Optional[Refinement],
                 on_refinement: Callable[[Refinement], None], max_attempts: int):
        self.ctx, self.knowledge, self.max_attempts = ctx, knowledge, max_attempts
        self.refinement, self.on_refinement = refinement, on_refinement  # a resumed run keeps its ablation study
        self.attempts = 0  # LLM-written attempts run
        self.failures: list[str] = []  # why LLM attempts gave nothing usable (run.json)

    def __call__(self, state: SearchState) -> Generator[Step, AttemptRecord, None]:
        ctx, spec = self.ctx, state.spec
        assert ctx.journal is not None
        journal = ctx.journal
        planner, coder = ctx.agent(PlannerAgent), ctx.agent(CoderAgent)
        analyst, refiner = ctx.agent(ErrorAnalyst), ctx.agent(RefinementAgent)
        unusable_in_a_row = 0
        while self.attempts < self.max_attempts and unusable_in_a_row < 2:
            usable = ctx.clock.usable()
            stopped = ctx.llm.usage.stopped_reason if ctx.llm is not None else None
            if usable < MIN_USABLE_S or stopped:
                if stopped:
                    ctx.emit("planning", f"LLM use stopped: {stopped}; finishing with what we have")
                return
            if ctx.interactive_ask() is not None:
                said = ctx.ask("Guidance for the next attempt? (press Enter to let mlwright decide)", []).strip()
                if said:
                    journal.add_guidance(said)
            guidance = journal.pending_guidance()
            texts = [t for _, t in guidance]
            diagnoses = journal.diagnoses()
            decision, _ = planner.decide(spec=spec, history=state.history, diagnoses=diagnoses, time_left=usable,
                                         guidance=texts)
            if decision.action == "stop":
                ctx.emit("planning", "the planner chose to stop")
                return
            by_id = {h.attempt_id: h for h in state.history}
            parent = by_id.get(decision.parent_id) if decision.parent_id is not None else None
            parent_code = journal.attempt_code(parent.attempt_id) if parent else None
            carries_code = bool(parent and parent_code and parent.recipe in ("llm", "ablation"))
            focus_block = None
            if decision.action == "improve" and carries_code and parent and parent_code:
                if self.refinement is None:
                    self.refinement = yield from self.refine(state, parent, parent_code, refiner)
                    self.on_refinement(self.refinement)
                    usable = ctx.clock.usable()
                    if usable < MIN_USABLE_S:
                        return
                focus_block = self.refinement.focus
                if focus_block not in top_level_blocks(parent_code):
                    focus_block = None  # a different lineage: no block constraint
            answer, _ = coder.ask(spec=spec, plan=decision.plan, knowledge=self.knowledge,
                                  parent_code=parent_code if carries_code else None,
                                  diagnosis=diagnoses.get(parent.attempt_id) if decision.action == "debug"
                                  and parent else None, focus_block=focus_block, guidance=texts,
                                  focus_note=self.refinement.note() if focus_block and self.refinement else "")
            if not answer.code:
                unusable_in_a_row += 1
                self.failures.append(f"before attempt {journal.next_attempt_id()}: no usable code from the LLM")
                continue
            unusable_in_a_row = 0
            budget = usable if usable < 60 else max(30.0, 0.5 * usable)
            rejected = None
            if focus_block and parent_code:
                outside = changed_outside(parent_code, answer.code, focus_block)
                if outside:
                    rejected = f"changed code outside the chosen block `{focus_block}`: {outside[:5]}"
            self.attempts += 1
            rec = yield Step(AttemptPlan(parent_id=parent.attempt_id if parent else None, kind=decision.action,
                                         recipe="llm", title=(decision.plan or decision.action)[:100],
                                         time_budget_s=budget, params={"time_budget": round(budget, 1)}),
                             body=answer.code, rejected=rejected, guidance=guidance)
            if rec.status != "succeeded":
                self.failures.append(f"attempt {rec.attempt_id}: {(rec.error or '')[:200]}")
                tail = ""
                for name in ("stderr.txt", "stdout.txt"):
                    f = Path(rec.workdir) / name
                    if f.is_file():
                        tail += f.read_text(errors="replace")[-2000:]
                diag, _ = analyst.ask(error=rec.error or "", log_tail=tail, code=answer.code)
                journal.set_diagnosis(rec.attempt_id, diag.as_text())
                ctx.emit("analysis", f"attempt {rec.attempt_id} diagnosis: {diag.summary}", attempt_id=rec.attempt_id)
            ctx.save()

    def refine(self, state: SearchState, parent: AttemptRecord, parent_code: str,
               refiner: RefinementAgent) -> Generator[Step, AttemptRecord, Refinement]:
        """The ablation study: each proposed variant (one block simplified) runs and is validated like any
        attempt; the block whose simplification moves the score most is the one the next attempts refine."""
        ctx, spec = self.ctx, state.spec
        assert ctx.journal is not None and parent.score is not None
        plan, from_llm = refiner.plan(code=parent_code, spec=spec, score=parent.score)
        # a simplified variant should not need much longer than the script it simplifies
        per_variant = min(parent.time_budget_s, max(20.0, 2.5 * (parent.seconds or 0) + 15))
        params = (ctx.journal.attempt_params(parent.attempt_id) or {}) | {"time_budget": round(per_variant, 1)}
        results = []
        for ab in plan.ablations:
            if ctx.clock.usable() < 2 * per_variant + MIN_USABLE_S:  # keep time for the refinement attempts
                ctx.emit("planning", f"ablation of `{ab.block}` skipped: not enough time left")
                continue
            rec = yield Step(AttemptPlan(parent_id=parent.attempt_id, kind="ablation", recipe="ablation",
                                         title=f"ablation of {ab.block}: {ab.what}"[:100], time_budget_s=per_variant,
                                         params=params), body=replace_block(parent_code, ab.block, ab.code))
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
        ctx.emit("planning", f"refinement: ablation of attempt {parent.attempt_id} ({table}); next improvements "
                 f"change only `{focus}` ({decided_by})", focus=focus, decided_by=decided_by)
        ctx.save()
        return ref
