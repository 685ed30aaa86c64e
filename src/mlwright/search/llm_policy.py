"""The LLM policy: the planner agent picks draft / debug / improve, the coder writes the script, the loop runs
and validates it, the error analyst explains a failure for the next debug attempt. The first improvement of a
branch of LLM-written scripts is preceded by an ablation study (its variants are steps like any other) that picks
the one block that branch's improvements (and the debugging of them) may change; improving another branch
studies that one. LLM attempts go on while time and the LLM budgets last. Every agent has a deterministic
fallback."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Generator, Optional

from mlwright.coding.data_digest import data_digest
from mlwright.coding.error_analyst import ErrorAnalyst, log_tail
from mlwright.coding.llm_coder import CoderAgent, installed_libs
from mlwright.journal.store import lineage
from mlwright.planning.llm_planner import PlannerAgent, history_summary
from mlwright.planning.refinement import (RefinementAgent, changed_outside, decide_focus, merge_fragment,
                                          replace_block, top_level_blocks)
from mlwright.run_context import RunContext
from mlwright.schemas import AblationResult, AttemptPlan, AttemptRecord, Refinement
from mlwright.search.loop import SearchState, Step

MIN_USABLE_S = 25.0  # an LLM attempt needs at least this much of the budget
# log lines worth showing an agent: scores, folds, weights, chosen settings
_KEY_LINE = re.compile(r"score|auc|rmse|mae|accuracy|loss|f1|oof|fold|weight|blend|best|chose|selected", re.I)


def key_log_lines(workdir: str, n: int = 4) -> list[str]:
    """The last `n` lines of an attempt's log that report scores, folds or weights (what an engineer reads)."""
    f = Path(workdir) / "stdout.txt"
    if not f.is_file():
        return []
    lines = [ln.strip()[:160] for ln in f.read_text(errors="replace").splitlines()[-400:] if _KEY_LINE.search(ln)]
    return lines[-n:]


class LLMPolicy:
    def __init__(self, ctx: RunContext, knowledge: str, refinement: Optional[Refinement],
                 on_refinement: Callable[[Refinement], None], max_attempts: Optional[int] = None,
                 use_autogluon: bool = True):
        self.ctx, self.knowledge, self.max_attempts = ctx, knowledge, max_attempts
        self.refinement, self.on_refinement = refinement, on_refinement  # a resumed run keeps its ablation study
        self.libs = installed_libs(use_autogluon)
        self.attempts = 0  # LLM-written attempts run
        self.open_plans: list[str] = []  # candidate plans the planner proposed and has not tried yet
        self.failures: list[str] = []  # why LLM attempts gave nothing usable (run.json)

    def studied(self, rec: Optional[AttemptRecord], by_id: dict[int, AttemptRecord]) -> bool:
        """Whether `rec` belongs to the branch the current ablation study measured (its script or a descendant)."""
        return bool(rec and self.refinement and
                    self.refinement.parent_attempt in [r.attempt_id for r in lineage(rec, by_id)])

    def focus_line(self) -> str:
        ref = self.refinement
        if ref is None:
            return ("Block lock: none yet. The first improvement of an LLM-written attempt is preceded by an "
                    "ablation study that picks the one function its improvements may change.")
        return (f"Block lock: improvements of attempt {ref.parent_attempt} and its descendants (and debugging "
                f"them) may change only `{ref.focus}` (chosen by {ref.decided_by}); improving an attempt of "
                "another branch starts a new ablation study for that branch.")

    def track_plans(self, candidates: list[str], chosen: str) -> None:
        """The candidates the planner weighed stay open branches until one is taken (shown in its next prompts)."""
        def key(p: str) -> str:
            return " ".join(p.lower().split())
        taken = key(chosen)
        for c in candidates:
            if c.strip() and key(c) != taken and key(c) not in map(key, self.open_plans):
                self.open_plans.append(c.strip()[:200])
        self.open_plans = [p for p in self.open_plans if key(p) != taken and key(p) not in taken][-6:]

    def cost_so_far(self) -> str:
        if self.ctx.llm is None:
            return "none"
        t = self.ctx.llm.usage.total()
        return f"${t['cost_usd']:.4f}, {t['input_tokens'] + t['output_tokens']} tokens"

    def __call__(self, state: SearchState) -> Generator[Step | list[Step], AttemptRecord | list[AttemptRecord],
                                                          None]:
        ctx, spec = self.ctx, state.spec
        assert ctx.journal is not None
        journal = ctx.journal
        planner, coder = ctx.agent(PlannerAgent), ctx.agent(CoderAgent)
        analyst, refiner = ctx.agent(ErrorAnalyst), ctx.agent(RefinementAgent)
        digest = data_digest(spec, state.data.train)
        # a resumed run goes on counting the LLM attempts its journal holds
        self.attempts = max(self.attempts, sum(h.recipe == "llm" for h in state.history))
        unusable_in_a_row = 0
        while (self.max_attempts is None or self.attempts < self.max_attempts) and unusable_in_a_row < 2:
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
            logs = {h.attempt_id: key_log_lines(h.workdir) for h in state.history[-12:] if h.status == "succeeded"}
            decision, _ = planner.decide(spec=spec, history=state.history, diagnoses=diagnoses, time_left=usable,
                                         guidance=texts, logs=logs, focus=self.focus_line(),
                                         cost=self.cost_so_far(), open_plans=self.open_plans)
            self.track_plans(decision.candidates, decision.plan)
            if decision.action == "stop":
                ctx.emit("planning", "the planner chose to stop")
                return
            by_id = {h.attempt_id: h for h in state.history}
            parent = by_id.get(decision.parent_id) if decision.parent_id is not None else None
            parent_code = journal.attempt_code(parent.attempt_id) if parent else None
            carries_code = bool(parent and parent_code and parent.recipe in ("llm", "ablation"))
            focus_block = None
            if carries_code and parent and parent_code:
                if decision.action == "improve" and not self.studied(parent, by_id):
                    self.refinement = yield from self.refine(state, parent, parent_code, refiner)
                    self.on_refinement(self.refinement)
                    by_id = {h.attempt_id: h for h in state.history}
                    if ctx.clock.usable() < MIN_USABLE_S:
                        return
                # a debug of a locked improvement stays inside the lock: the fix may not rewrite the rest
                locked = decision.action == "improve" or parent.kind in ("improve", "debug")
                if self.refinement and locked and self.studied(parent, by_id) and \
                        self.refinement.focus in top_level_blocks(parent_code):
                    focus_block = self.refinement.focus
            usable = ctx.clock.usable()
            answer, _ = coder.ask(spec=spec, plan=decision.plan, knowledge=self.knowledge, data=digest,
                                  tried=history_summary(state.history, diagnoses, logs),
                                  parent_code=parent_code if carries_code else None,
                                  diagnosis=diagnoses.get(parent.attempt_id) if decision.action == "debug"
                                  and parent else None, focus_block=focus_block, guidance=texts,
                                  extra_libs=self.libs,
                                  focus_note=self.refinement.note() if focus_block and self.refinement else "")
            code, rejected = answer.code, None
            if answer.fragment:
                if focus_block and parent_code:
                    try:
                        code = merge_fragment(parent_code, focus_block, answer.code)
                    except (ValueError, SyntaxError) as e:
                        code, rejected = answer.code, str(e)
                else:
                    code = ""
                    ctx.failures.add("coder", "answered with part of a script where a whole script was needed")
            if not code:
                unusable_in_a_row += 1
                self.failures.append(f"before attempt {journal.next_attempt_id()}: no usable code from the LLM")
                continue
            unusable_in_a_row = 0
            budget = usable if usable < 60 else max(30.0, 0.5 * usable)
            if focus_block and parent_code and rejected is None:
                outside = changed_outside(parent_code, code, focus_block)
                if outside:
                    rejected = f"changed code outside the chosen block `{focus_block}`: {outside[:5]}"
            steps = [Step(AttemptPlan(parent_id=parent.attempt_id if parent else None, kind=decision.action,
                                      recipe="llm", title=(decision.plan or decision.action)[:200],
                                      time_budget_s=budget, params={"time_budget": round(budget, 1)}),
                          body=code, rejected=rejected, guidance=guidance)]
            ran = [parent_code if carries_code and parent and parent.status == "succeeded" else None]
            # free slots: the planner's other candidate plans, drafted as branches of their own, side by side
            room = ctx.slots - 1 if self.max_attempts is None else min(ctx.slots - 1,
                                                                       self.max_attempts - self.attempts - 1)
            for text in list(self.open_plans)[:max(0, room)]:
                self.track_plans([], text)
                draft, _ = coder.ask(spec=spec, plan=text, knowledge=self.knowledge, data=digest,
                                     tried=history_summary(state.history, diagnoses, logs), parent_code=None,
                                     diagnosis=None, focus_block=None, guidance=texts, extra_libs=self.libs)
                if draft.code and not draft.fragment:
                    steps.append(Step(AttemptPlan(kind="draft", recipe="llm", title=text[:200], time_budget_s=budget,
                                                  params={"time_budget": round(budget, 1)}), body=draft.code))
                    ran.append(None)
            if len(steps) > 1:  # the coder's calls took some of the time
                budget = min(budget, max(ctx.clock.usable(), 1.0))
                for st in steps:
                    st.plan = st.plan.model_copy(update={"time_budget_s": budget,
                                                         "params": {"time_budget": round(budget, 1)}})
            self.attempts += len(steps)
            got = yield steps if len(steps) > 1 else steps[0]
            for st, rec, parent_ran in zip(steps, got if isinstance(got, list) else [got], ran):
                if rec.status != "succeeded":
                    self.diagnose(rec, st.body or "", parent_ran, analyst)
            ctx.save()

    def diagnose(self, rec: AttemptRecord, code: str, parent_code: Optional[str], analyst: ErrorAnalyst) -> None:
        """The error analyst's reading of a failed attempt, journaled for the planner and the next debug step."""
        assert self.ctx.journal is not None
        self.failures.append(f"attempt {rec.attempt_id}: {(rec.error or '')[:200]}")
        diag, _ = analyst.ask(error=rec.error or "", log_tail=log_tail(Path(rec.workdir)), code=code,
                              parent_code=parent_code)
        self.ctx.journal.set_diagnosis(rec.attempt_id, diag.as_text())
        self.ctx.emit("analysis", f"attempt {rec.attempt_id} diagnosis: {diag.summary}", attempt_id=rec.attempt_id)

    def refine(self, state: SearchState, parent: AttemptRecord, parent_code: str,
               refiner: RefinementAgent) -> Generator[Step | list[Step], AttemptRecord | list[AttemptRecord],
                                                      Refinement]:
        """The ablation study: each proposed variant (one block simplified) runs and is validated like any
        attempt; the block whose simplification moves the score most is the one the next attempts refine."""
        ctx, spec = self.ctx, state.spec
        assert ctx.journal is not None and parent.score is not None
        plan, from_llm = refiner.plan(code=parent_code, spec=spec, score=parent.score)
        # a simplified variant should not need much longer than the script it simplifies
        per_variant = min(parent.time_budget_s, max(20.0, 2.5 * (parent.seconds or 0) + 15))
        params = (ctx.journal.attempt_params(parent.attempt_id) or {}) | {"time_budget": round(per_variant, 1)}
        results = []
        todo = list(plan.ablations)
        while todo:  # as many variants side by side as there are slots
            if ctx.clock.usable() < 2 * per_variant + MIN_USABLE_S:  # keep time for the refinement attempts
                for ab in todo:
                    ctx.emit("planning", f"ablation of `{ab.block}` skipped: not enough time left")
                break
            now, todo = todo[:ctx.slots], todo[ctx.slots:]
            steps = [Step(AttemptPlan(parent_id=parent.attempt_id, kind="ablation", recipe="ablation",
                                      title=f"ablation of {ab.block}: {ab.what}"[:100], time_budget_s=per_variant,
                                      params=params), body=replace_block(parent_code, ab.block, ab.code))
                     for ab in now]
            got = yield steps if len(steps) > 1 else steps[0]
            for ab, rec in zip(now, got if isinstance(got, list) else [got]):
                delta = rec.score - parent.score if rec.score is not None else None
                results.append(AblationResult(block=ab.block, what=ab.what, attempt_id=rec.attempt_id,
                                              status=rec.status, score=rec.score, delta=delta))
        focus, decided_by = decide_focus(results, plan.block, noise=parent.score_sd or 0.0)
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
