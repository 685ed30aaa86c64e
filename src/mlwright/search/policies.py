"""The offline policies: the recipe planner's plan (a fast baseline, then the strong recipes for the task, a
lighter retry of a failure) and the ensemble of the best valid attempts. The LLM policy is llm_policy.py."""
from __future__ import annotations

from typing import Generator

from mlwright.planning.budget import ENSEMBLE_MIN_S
from mlwright.planning.ensemble import blendable, select_blend
from mlwright.planning.planner import Planner
from mlwright.run_context import RunContext
from mlwright.schemas import AttemptPlan, AttemptRecord
from mlwright.search.loop import SearchState, Step


def recipe_policy(ctx: RunContext, planner: Planner):
    def steps(state: SearchState) -> Generator[Step | list[Step], AttemptRecord | list[AttemptRecord], None]:
        assert ctx.journal is not None
        while plans := planner.next_batch(state.history, ctx.clock.usable(), ctx.slots):
            # the deterministic planner cannot act on free text; it is journaled with the attempt it preceded
            steps = [Step(plan, guidance=ctx.journal.pending_guidance() if i == 0 else [])
                     for i, plan in enumerate(plans)]
            yield steps if len(steps) > 1 else steps[0]
    return steps


def reclaim_policy(ctx: RunContext, planner: Planner):
    """After the LLM policy: when it left no valid attempt (no usable answer, or only failing scripts), the time
    it kept goes back to the recipe plan (`planner` keeps nothing): the main recipes that kept time kept out."""
    inner = recipe_policy(ctx, planner)

    def steps(state: SearchState) -> Generator[Step | list[Step], AttemptRecord | list[AttemptRecord], None]:
        if any(h.recipe == "llm" and h.status == "succeeded" for h in state.history):
            return
        if planner.next_batch(state.history, ctx.clock.usable(), ctx.slots):
            ctx.emit("planning", "no valid LLM-written attempt: the time kept for them goes back to the recipe plan")
            yield from inner(state)
    return steps


def ensemble_policy(ctx: RunContext):
    def steps(state: SearchState) -> Generator[Step, AttemptRecord, None]:
        """Blend the best few valid attempts when their out-of-fold predictions say it helps."""
        if ctx.clock.usable() < ENSEMBLE_MIN_S or not blendable(state.spec):
            return
        spec = state.spec
        blend = select_blend(spec, state.data.train, state.history)
        usable = ctx.clock.usable()  # choosing the blend took some of it
        if blend is None or usable < 3:  # the blend itself takes 1-3 s
            return
        desc = ", ".join(f"#{m.attempt_id} x{w:.2f}" for m, w in zip(blend.members, blend.weights))
        ctx.emit("planning", f"ensemble: {desc} scores {spec.metric}={blend.score:.5f} out of fold "
                 "(cross-fitted: each fold blended with weights chosen on the other folds)")
        members = [{"dir": m.workdir, "weight": w, "fold_weights": [fw[j] for fw in blend.fold_weights]}
                   for j, (m, w) in enumerate(zip(blend.members, blend.weights))]
        yield Step(AttemptPlan(parent_id=state.best.attempt_id if state.best else None, kind="improve",
                               recipe="ensemble", title=f"weighted blend of {desc}", time_budget_s=usable,
                               params={"time_budget": round(usable, 1), "folds": len(blend.fold_weights),
                                       "members": members}))
    return steps
