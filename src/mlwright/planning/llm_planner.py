"""The LLM planner: it proposes a few distinct candidate plans and picks
the next node of the attempt tree (draft / debug / improve), with a deterministic fallback. Refinement (which
block the improve attempts may change) is in refinement.py."""
from __future__ import annotations

from typing import Literal, Optional, Sequence

from pydantic import BaseModel, Field

from mlwright.journal.store import debug_depth
from mlwright.llm import prompts
from mlwright.llm.agent import Agent
from mlwright.schemas import AttemptRecord, TaskSpec

MAX_DEBUG_DEPTH = 2


class PlanDecision(BaseModel):
    action: Literal["draft", "debug", "improve", "stop"]
    parent_id: Optional[int] = None
    plan: str = Field(default="", description="what the next script does, concretely")
    candidates: list[str] = Field(default_factory=list)



def deterministic_decision(history: list[AttemptRecord], spec: TaskSpec) -> PlanDecision:
    """Debug the last failed LLM attempt (bounded depth), else improve the best valid one, else draft."""
    by_id = {h.attempt_id: h for h in history}
    llm_attempts = [h for h in history if h.recipe == "llm"]
    if llm_attempts:
        last = llm_attempts[-1]
        if last.status != "succeeded" and debug_depth(last, by_id) < MAX_DEBUG_DEPTH:
            return PlanDecision(action="debug", parent_id=last.attempt_id, plan="fix the failure")
    valid = [h for h in history if h.status == "succeeded"]
    if valid:
        best = (max if spec.higher_is_better else min)(valid, key=lambda h: h.score)
        return PlanDecision(action="improve", parent_id=best.attempt_id,
                            plan="improve the feature engineering and tune the model for the metric")
    return PlanDecision(action="draft", plan="gradient boosting (LightGBM) with careful feature preparation and "
                                             "5-fold out-of-fold validation")


def history_summary(history: list[AttemptRecord], diagnoses: dict[int, str],
                    logs: Optional[dict[int, list[str]]] = None, last: int = 12) -> str:
    """The attempt tree as the planner (and a drafting coder) reads it: each attempt's place in the tree, plan,
    outcome and time; the key lines of its log (per-model scores, weights) and, for a failure, the diagnosis."""
    lines = []
    for h in history[-last:]:
        s = f"#{h.attempt_id} {h.kind} of {h.parent_id or '-'} [{h.recipe}] {h.title[:200]}: {h.status}"
        s += f" score={h.score:.5f}" if h.score is not None else f" error={(h.error or '')[:200]}"
        s += f" ±{h.score_sd:.4f}" if h.score is not None and h.score_sd is not None else ""
        s += f" ({h.seconds:.0f}s)" if h.seconds is not None else ""
        s += f" data use: {h.data_note}" if h.data_note else ""
        if h.attempt_id in diagnoses:
            s += f" diagnosis: {diagnoses[h.attempt_id][:300]}"
        lines.append(s)
        lines.extend(f"    | {line}" for line in (logs or {}).get(h.attempt_id, []))
    return "\n".join(lines) or "(none yet)"


class PlannerAgent(Agent[PlanDecision]):
    role = "planner"
    output = PlanDecision
    max_tokens = 700
    system = prompts.render("planner", "system")

    def prompt(self, *, spec: TaskSpec, history: list[AttemptRecord], diagnoses: dict[int, str], time_left: float,
               guidance: Sequence[str] = (), logs: Optional[dict[int, list[str]]] = None, focus: str = "",
               cost: str = "not counted", open_plans: Sequence[str] = ()) -> str:
        """The user prompt (template `planner.md`)."""
        return prompts.render(
            "planner", "user", problem_type=spec.problem_type, target=repr(spec.target), metric=spec.metric,
            direction="higher" if spec.higher_is_better else "lower", n_rows=spec.n_train_rows,
            n_features=len(spec.feature_columns), time_left=f"{time_left:.0f}", cost=cost, focus=focus,
            open_plans="\n" + prompts.render("planner", "open_plans", plans="\n".join(f"- {p}" for p in open_plans))
            if open_plans else "",
            history=history_summary(history, diagnoses, logs),
            guidance="\n" + prompts.render("planner", "guidance", guidance=" | ".join(guidance)) if guidance else "")

    def fallback(self, *, spec: TaskSpec, history: list[AttemptRecord], **_) -> PlanDecision:
        return deterministic_decision(history, spec)

    def decide(self, *, spec: TaskSpec, history: list[AttemptRecord], **ctx) -> tuple[PlanDecision, bool]:
        d, from_llm = self.ask(spec=spec, history=history, **ctx)
        by_id = {h.attempt_id: h for h in history}
        parent = by_id.get(d.parent_id) if d.parent_id is not None else None
        # code decides: an action must fit the tree (debug a failure, improve a success)
        if (d.action == "debug" and (not parent or parent.status == "succeeded" or parent.recipe != "llm")) or \
                (d.action == "improve" and (not parent or parent.status != "succeeded")):
            self.failures.add(self.role, f"inconsistent decision {d.action} of #{d.parent_id}; using the fallback")
            return deterministic_decision(history, spec), False
        return d, from_llm
