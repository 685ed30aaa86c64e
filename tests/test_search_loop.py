"""The one search loop: policies are generators of steps; the journal hands out attempt ids in the order
attempts start; the guidance a step acted on is journaled with the attempt that step became, even when other
attempts (an ablation study) ran in between; the best valid attempt is tracked with the metric's direction.
Execution is injected (as in AIDE's agent), so the loop is tested in-process with a real journal."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pandas as pd

from mlwright.journal.store import Journal
from mlwright.options import RunOptions
from mlwright.perception.stage import Perceived
from mlwright.planning.budget import RunClock
from mlwright.run_context import RunContext
from mlwright.schemas import AttemptPlan, AttemptRecord, TaskSpec
from mlwright.search.loop import Search, Step


def _spec(higher: bool) -> TaskSpec:
    return TaskSpec(problem_type="regression", target="y", metric="r2" if higher else "rmse", higher_is_better=higher,
                    train_table="t", test_table="u", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", "y"], output_kind="value", feature_columns=["a"], n_train_rows=10,
                    n_test_rows=2)


def _search(tmp_path: Path, higher: bool, scores: dict[str, float | None]):
    journal = Journal(tmp_path / "journal.sqlite")
    events: list[tuple[str, str]] = []
    ctx = RunContext(opts=RunOptions(data_dir=tmp_path, task_text="t", output_dir=tmp_path), out=tmp_path,
                     clock=RunClock(100), emit=lambda stage, msg, **d: events.append((stage, msg)), journal=journal)
    ran: list[AttemptPlan] = []

    def execute(plan: AttemptPlan, body, rejected) -> AttemptRecord:
        ran.append(plan)
        score = scores[plan.title]
        rec = AttemptRecord(attempt_id=plan.attempt_id, parent_id=plan.parent_id, kind=plan.kind, recipe=plan.recipe,
                            title=plan.title, status="succeeded" if score is not None else "failed", score=score,
                            started_at=time.time(), time_budget_s=plan.time_budget_s, workdir=str(tmp_path))
        journal.save_attempt(rec)
        return rec

    data = Perceived(_spec(higher), pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]}))
    return Search(ctx, data, execute), journal, ran, events


def _plan(title: str, **kw) -> AttemptPlan:
    return AttemptPlan(recipe="r", title=title, time_budget_s=10, **kw)


def test_ids_come_from_the_journal_and_results_go_back_to_the_policy(tmp_path):
    search, journal, ran, _ = _search(tmp_path, higher=False, scores={"a": 2.0, "b": None, "c": 1.5, "d": 3.0})
    seen: list[tuple[int, str]] = []

    def first(state):
        rec = yield Step(_plan("a"))
        seen.append((rec.attempt_id, rec.status))
        rec = yield Step(_plan("b", parent_id=rec.attempt_id))
        seen.append((rec.attempt_id, rec.status))

    def second(state):
        assert [h.attempt_id for h in state.history] == [1, 2]  # the same history, in order
        yield Step(_plan("c"))
        yield Step(_plan("d"))

    best = search.run([first, second])
    assert seen == [(1, "succeeded"), (2, "failed")]
    assert [p.attempt_id for p in ran] == [1, 2, 3, 4] and ran[1].parent_id == 1
    assert best is not None and best.title == "c"  # rmse: lower is better
    assert journal.best_attempt(higher_is_better=False).attempt_id == 3
    assert journal.best_attempt(higher_is_better=True).attempt_id == 4
    assert journal.next_attempt_id() == 5


def test_guidance_is_journaled_with_the_attempt_that_acted_on_it(tmp_path):
    search, journal, ran, events = _search(tmp_path, higher=True, scores={"parent": 0.5, "ablation 1": 0.4,
                                                                          "ablation 2": 0.45, "improved": 0.6})
    journal.add_guidance("use fewer trees")

    def policy(state):
        parent = yield Step(_plan("parent"))
        guidance = journal.pending_guidance()  # read before the study: the improvement acts on it
        for i in (1, 2):
            yield Step(_plan(f"ablation {i}", parent_id=parent.attempt_id, kind="ablation"))
        yield Step(_plan("improved", parent_id=parent.attempt_id, kind="improve"), guidance=guidance)

    best = search.run([policy])
    assert best is not None and best.title == "improved" and best.attempt_id == 4
    with sqlite3.connect(tmp_path / "journal.sqlite") as con:
        assert con.execute("SELECT text, consumed_by_attempt FROM guidance").fetchall() == [("use fewer trees", 4)]
    assert ("guidance", "user guidance before attempt 4: use fewer trees") in events
    assert journal.pending_guidance() == []


def test_a_resumed_search_goes_on_from_the_journal(tmp_path):
    search, journal, _, _ = _search(tmp_path, higher=True, scores={"a": 0.7, "b": 0.6})
    search.run([lambda state: (yield Step(_plan("a")))])
    again, _, ran, _ = _search(tmp_path, higher=True, scores={"a": 0.7, "b": 0.6})
    assert again.state.best is not None and again.state.best.attempt_id == 1  # found in the journal
    best = again.run([lambda state: (yield Step(_plan("b")))])
    assert ran[0].attempt_id == 2 and best is not None and best.attempt_id == 1


def test_the_tree_shape_is_derived_from_parent_ids():
    from mlwright.journal.store import debug_depth, lineage
    from mlwright.schemas import AttemptRecord

    def rec(i, parent, kind):
        return AttemptRecord(attempt_id=i, parent_id=parent, kind=kind, recipe="llm", title="", status="failed",
                             started_at=0.0, time_budget_s=1.0, workdir="")
    tree = [rec(1, None, "draft"), rec(2, 1, "improve"), rec(3, 2, "debug"), rec(4, 3, "debug"), rec(5, 9, "debug")]
    by_id = {r.attempt_id: r for r in tree}
    assert [r.attempt_id for r in lineage(by_id[4], by_id)] == [4, 3, 2, 1]
    assert [debug_depth(by_id[i], by_id) for i in (1, 2, 3, 4, 5)] == [0, 0, 1, 2, 1]
    by_id[1] = rec(1, 4, "draft")  # a cycle ends the walk instead of looping
    assert [r.attempt_id for r in lineage(by_id[4], by_id)] == [4, 3, 2, 1]


def test_a_list_of_steps_runs_side_by_side_and_its_records_come_back_in_order(tmp_path):
    import threading

    search, journal, ran, _ = _search(tmp_path, higher=True, scores={"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.1})
    search.ctx.opts.parallel_attempts = 2
    together = threading.Barrier(2, timeout=10)  # both steps of the list must be running at the same time
    inner = search.execute

    def execute(plan, body, rejected):
        if plan.title in ("b", "c"):
            together.wait()
        return inner(plan, body, rejected)

    search.execute = execute
    got = []

    def policy(state):
        first = yield Step(_plan("a"))
        recs = yield [Step(_plan("b", parent_id=first.attempt_id)), Step(_plan("c"))]
        got.extend((r.attempt_id, r.title) for r in recs)
        yield Step(_plan("d"))

    best = search.run([policy])
    assert got == [(2, "b"), (3, "c")]  # ids in list order, as if run one after another
    assert [h.attempt_id for h in search.state.history] == [1, 2, 3, 4]
    assert best is not None and best.title == "b" and sorted(p.attempt_id for p in ran) == [1, 2, 3, 4]
    assert journal.next_attempt_id() == 5
