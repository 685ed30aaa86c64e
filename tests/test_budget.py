"""The time budget in one place (issue #11, item 4): the run clock's arithmetic and the planner's split of what
it says is usable, tested in-process with an injected clock and made-up recipe cards (no fitting)."""
from __future__ import annotations

import json

import pytest

from mlwright.knowledge.library import Card
from mlwright.planning.budget import (ATTEMPT_GAP_S, ENSEMBLE_MIN_S, LLM_MARGIN_S, START_MARGIN, Overheads, RunClock,
                                      attempt_timings, finish_reserve)
from mlwright.planning.planner import INTERRUPTED, Planner, autogluon_params, params_for
from mlwright.schemas import AttemptRecord, TaskSpec


BLEND = ENSEMBLE_MIN_S + ATTEMPT_GAP_S  # kept after a main recipe when another attempt is valid: the ensemble's


class FakeTime:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_the_clock_counts_down_and_keeps_the_finish_reserve():
    now = FakeTime()
    clock = RunClock(300, now=now)
    assert clock.reserve == finish_reserve(300) == pytest.approx(4.5)
    now.t += 100
    assert (clock.elapsed(), clock.left(), clock.usable()) == pytest.approx((100, 200, 195.5))
    assert clock.llm_deadline() == pytest.approx(1000 + 300 - 4.5 - LLM_MARGIN_S)
    now.t += 250
    assert clock.left() == pytest.approx(-50) and clock.usable() < 0  # past the limit: nothing is usable


def test_a_resumed_clock_starts_from_what_was_spent():
    now = FakeTime()
    clock = RunClock(200, now=now)
    now.t += 5000  # mlwright was dead for a while: that time is not the run's
    clock.resume(spent=120)
    assert clock.elapsed() == pytest.approx(120) and clock.left() == pytest.approx(80)


def _spec() -> TaskSpec:
    return TaskSpec(problem_type="binary", target="y", metric="roc_auc", higher_is_better=True, train_table="t",
                    test_table="u", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", "y"], output_kind="probability", class_labels=["0", "1"],
                    positive_class="1", feature_columns=["a"], n_train_rows=100, n_test_rows=10)


def _planner(limit: float, keep: float = 0.0) -> Planner:
    p = Planner(_spec(), limit, use_autogluon=False, keep_for_later_s=keep)
    p.baselines = [Card(key="b", name="base", body="", recipe="fast", min_time_s=5, stage="baseline")]
    p.mains = [Card(key="m1", name="strong", body="", recipe="strong", min_time_s=45, time_share=0.6),
               Card(key="m2", name="other", body="", recipe="other", min_time_s=40, time_share=1.0)]
    return p


def _done(plan, status="succeeded", error=None) -> AttemptRecord:
    ids = {"fast": 1, "strong": 2, "other": 3, "light": 4, "lighter": 5}
    aid = ids[plan.recipe] + (10 if plan.kind == "debug" else 0)  # as if journaled
    return AttemptRecord(attempt_id=aid, parent_id=plan.parent_id, kind=plan.kind, recipe=plan.recipe, title=plan.title,
                         status=status, time_budget_s=plan.time_budget_s, metric="roc_auc", error=error,
                         score=0.8 if status == "succeeded" else None, started_at=0.0, workdir="w")


def test_the_planner_splits_the_usable_time():
    p = _planner(600)
    first = p.next_attempt([], 588)
    assert first.recipe == "fast" and first.time_budget_s == pytest.approx(150)  # a quarter of the limit
    history = [_done(first)]
    second = p.next_attempt(history, 430)
    # its share of what is usable, leaving the later main recipe its minimum and the ensemble its time
    room = 430 - BLEND
    assert second.recipe == "strong"
    assert second.time_budget_s == pytest.approx(min(0.6 * room, room - 40 - ATTEMPT_GAP_S))
    assert second.kind == "improve" and second.parent_id == 1  # its own id comes from the journal when it runs
    history.append(_done(second))
    third = p.next_attempt(history, 170)
    assert third.recipe == "other" and third.time_budget_s == pytest.approx(170 - BLEND)  # the last: the rest
    history.append(_done(third))
    assert p.next_attempt(history, 100) is None  # everything tried, nothing failed


def test_the_gap_kept_between_attempts_is_the_measured_validation_time():
    """Before an attempt has been validated the prior gap stands; then the slowest validation with a margin: a
    quick check leaves the main recipe more time, a slow one (a big test set, a big model to hash) keeps more."""
    p = _planner(600)
    base = _done(p.next_attempt([], 588))
    prior = p.next_attempt([base], 430).time_budget_s
    quick = p.next_attempt([base.model_copy(update={"validation_s": 0.1})], 430).time_budget_s
    slow = p.next_attempt([base.model_copy(update={"validation_s": 10.0})], 430).time_budget_s
    assert Overheads().gap() == ATTEMPT_GAP_S
    assert Overheads.measured([base.model_copy(update={"validation_s": 0.1})]).gap() < 1.0
    assert slow < prior < quick  # the strong recipe keeps the later one's minimum and the blend, each with a gap
    gap = Overheads(validation_s=0.1).gap()
    assert quick == pytest.approx(min(0.6 * (430 - ENSEMBLE_MIN_S - gap), 430 - ENSEMBLE_MIN_S - gap - 40 - gap))


def test_the_planner_keeps_time_for_later_and_stops_when_too_little_is_left():
    p = _planner(300, keep=100)
    first = p.next_attempt([], 288)
    assert first.time_budget_s == pytest.approx(75)
    history = [_done(first)]
    main = p.next_attempt(history, 200)
    assert main.time_budget_s <= 100  # the kept share stays for the LLM attempts
    assert _planner(300).next_attempt([], 7.9) is None
    only_baseline = _planner(30).next_attempt([], 18)
    assert only_baseline.time_budget_s == pytest.approx(18)  # no main recipe fits: the baseline takes it all


def test_a_failed_attempt_gets_one_lighter_retry_and_an_interrupted_one_is_run_again():
    p = _planner(600)
    first = p.next_attempt([], 588)
    assert p.next_attempt([_done(first, "failed", "boom")], 100).recipe == "strong"  # main recipes come first
    p.mains = []
    retry = p.next_attempt([_done(first, "failed", "boom")], 100)
    assert retry.kind == "debug" and retry.parent_id == 1 and retry.time_budget_s == pytest.approx(80)
    assert p.next_attempt([_done(first, "failed", "boom"), _done(retry, "failed", "again")], 100) is None
    again = p.next_attempt([_done(first, "failed", INTERRUPTED)], 100)
    assert again.recipe == "fast" and again.kind != "debug"  # a kill of mlwright says nothing about the recipe


def test_an_attempt_that_said_its_work_cannot_fit_its_time_is_not_retried_with_less():
    import re
    from pathlib import Path

    import mlwright
    from mlwright.planning.planner import NO_TIME_EXIT

    common = (Path(mlwright.__file__).parent / "runtime" / "common.py").read_text()
    assert int(re.search(r"^NO_TIME_EXIT = (\d+)", common, re.M).group(1)) == NO_TIME_EXIT  # one number, two sides
    p = _planner(600)
    p.mains = []
    first = p.next_attempt([], 588)
    gave_up = _done(first, "failed", "embedding would take longer").model_copy(
        update={"returncode": NO_TIME_EXIT, "time_budget_s": 150.0})
    assert p.next_attempt([gave_up], 100) is None  # 80 s < its 150 s: it would give up again
    assert p.next_attempt([gave_up], 300).kind == "debug"  # more time than it had: worth a lighter retry
    crashed = _done(first, "failed", "boom").model_copy(update={"returncode": 1})
    assert p.next_attempt([crashed], 100).kind == "debug"


def test_a_recipe_whose_work_grows_with_the_rows_keeps_that_time_from_the_one_before_it():
    """Encoding every text cannot shrink with the budget: the recipe before it leaves it time for all rows."""
    from mlwright.knowledge.library import usable_cores

    p = _planner(600)
    p.mains[0].time_share = 1.0  # it would take everything its successor does not need
    p.mains[1].row_core_s = 0.5 * usable_cores()  # half a second per row on this machine: 55 s for 110 rows
    need = p.mains[1].min_time_for(p.spec)
    assert need == pytest.approx(40 + 0.5 * 110)
    first = p.next_attempt([], 588)
    second = p.next_attempt([_done(first)], 430)
    assert second.recipe == "strong" and second.time_budget_s == pytest.approx(430 - BLEND - need - ATTEMPT_GAP_S)
    # with less than it needs left, it is not started at all (it would only stop itself for lack of time)
    history = [_done(first), _done(second)]
    assert p.next_attempt(history, need + BLEND - 1) is None
    assert p.next_attempt(history, need + BLEND).recipe == "other"


def test_light_recipes_keep_no_time_from_a_stronger_main_recipe_and_are_the_main_recipes_without_one():
    """CatBoost and the linear model (stage light) beside AutoGluon: they wait for it and use only what it leaves;
    with --no-autogluon they are the main recipes and split the time as main recipes do."""
    p = _planner(300)
    strong = Card(key="m1", name="strong", body="", recipe="strong", min_time_s=45, time_share=1.0)
    light = [Card(key="l1", name="light", body="", recipe="light", min_time_s=30, stage="light"),
             Card(key="l2", name="lighter", body="", recipe="lighter", min_time_s=10, stage="light")]
    p.mains = [strong, *light]
    first = p.next_attempt([], 288)
    assert first.recipe == "fast" and first.time_budget_s == pytest.approx(75)
    history = [_done(first)]
    second = p.next_attempt(history, 280)
    assert second.recipe == "strong" and second.time_budget_s == pytest.approx(280 - BLEND)  # none kept for light
    history.append(_done(second))
    assert p.next_attempt(history, 5 + BLEND) is None  # it used its time: nothing more runs
    left = p.next_attempt(history, 20 + BLEND)
    assert left.recipe == "lighter" and left.time_budget_s == pytest.approx(20)  # only what fits in what is left
    three = p.next_batch([], 288, slots=3)  # side by side: the light ones do not take a round from the strong one
    assert [x.recipe for x in three] == ["fast", "strong"] and three[1].time_budget_s == pytest.approx(288 - BLEND)
    p.mains = light  # no stronger main recipe (--no-autogluon): the light ones are the main recipes
    assert p.next_attempt([], 288).time_budget_s == pytest.approx(75)
    second = p.next_attempt(history[:1], 280)
    assert second.recipe == "light" and second.time_budget_s == pytest.approx(280 - BLEND - 10 - ATTEMPT_GAP_S)
    assert p.next_attempt([*history[:1], _done(second)], 40).recipe == "lighter"


def test_a_bounded_main_recipe_runs_before_one_that_uses_any_time():
    """Text: the embeddings (a share of the time: encoding the texts once) come before AutoGluon, which takes
    everything left, including what the embeddings did not use."""
    from mlwright.knowledge.library import recipes_for

    spec = _spec().model_copy(update={"modality": "text"})
    if not {"autogluon_tabular", "text_embeddings"} <= {c.recipe for c in recipes_for(spec)}:
        pytest.skip("AutoGluon or the embeddings extra is not installed")
    p = Planner(spec, 600, use_autogluon=True)
    assert [c.recipe for c in p.mains] == ["text_embeddings", "autogluon_tabular"]
    first = p.next_attempt([], 588)
    assert first.recipe == "text_tfidf_linear"
    history = [_done(first.model_copy(update={"recipe": "fast"})).model_copy(update={"recipe": first.recipe})]
    emb = p.next_attempt(history, 500)
    assert emb.recipe == "text_embeddings" and emb.time_budget_s == pytest.approx(0.3 * (500 - BLEND))
    history.append(_done(emb.model_copy(update={"recipe": "other"})).model_copy(update={"recipe": emb.recipe}))
    ag = p.next_attempt(history, 400)  # the embeddings ended early: AutoGluon gets all that is left
    assert ag.recipe == "autogluon_tabular" and ag.time_budget_s == pytest.approx(400 - BLEND)


def test_the_tabular_plan_with_and_without_autogluon():
    from mlwright.knowledge.library import _module_available

    if not (_module_available("catboost") and _module_available("xgboost")):
        pytest.skip("catboost or xgboost is not installed: its card is skipped")
    spec = _spec().model_copy(update={"modality": "tabular"})
    off = Planner(spec, 300, use_autogluon=False)
    assert off.recipes == ["lightgbm_baseline", "catboost_light", "xgboost_light", "linear_model"]
    with_llm = Planner(spec, 300, use_autogluon=False, light_recipes=False)  # an LLM writes what follows
    assert with_llm.recipes == ["lightgbm_baseline"]
    if _module_available("autogluon.tabular"):
        on = Planner(spec, 300, use_autogluon=True)
        assert on.recipes == ["lightgbm_baseline", "autogluon_tabular", "catboost_light", "xgboost_light",
                              "linear_model"]
    # --exclude-recipes: the named recipes are never planned, the baseline included
    assert Planner(spec, 300, use_autogluon=False, exclude=["catboost_light", "lightgbm_baseline"]).recipes == \
        ["xgboost_light", "linear_model"]


def test_with_two_slots_the_baseline_and_the_main_recipes_run_side_by_side():
    p = _planner(600, keep=100)
    assert [x.recipe for x in p.next_batch([], 588, slots=1)] == [p.next_attempt([], 588).recipe]  # one slot: as ever
    batch = p.next_batch([], 588, slots=2)
    # the baseline beside the first main recipe; the second main recipe waits a round: the two rounds split the time
    assert [(x.recipe, x.kind) for x in batch] == [("fast", "draft"), ("strong", "draft")]
    assert batch[0].time_budget_s == pytest.approx(150)
    assert batch[1].time_budget_s == pytest.approx((588 - 100 - BLEND) / 2)  # the baseline's blend follows
    history = [_done(x) for x in batch]
    rest = p.next_batch(history, 300, slots=2)
    assert [(x.recipe, x.kind, x.parent_id) for x in rest] == [("other", "improve", 1)]
    assert rest[0].time_budget_s == pytest.approx(200 - BLEND)  # the last round: all but the kept shares
    everything = p.next_batch([], 588, slots=3)
    assert [x.recipe for x in everything] == ["fast", "strong", "other"]
    assert all(x.time_budget_s == pytest.approx(488 - BLEND) for x in everything[1:])  # one round: the whole room


def test_with_two_slots_the_failures_get_their_lighter_retries_side_by_side():
    p = _planner(600)
    batch = p.next_batch([], 588, slots=3)
    history = [_done(batch[0]), _done(batch[1], "failed", "boom"), _done(batch[2], "failed", "bust")]
    retries = p.next_batch(history, 200, slots=3)
    assert [(x.kind, x.parent_id) for x in retries] == [("debug", 2), ("debug", 3)]
    history += [_done(x, "failed", "again") for x in retries]
    assert p.next_batch(history, 150, slots=3) == []  # a retry is not retried


def test_attempts_side_by_side_count_once_in_the_busy_time():
    from mlwright.planning.budget import BusyTime

    now = FakeTime()
    busy = BusyTime(spent=10, now=now)
    with busy.running():
        now.t += 5
        with busy.running():  # a second attempt, side by side with the first
            now.t += 20
            assert busy.seconds == pytest.approx(35)
        now.t += 5
    now.t += 100  # mlwright's own work: not attempt time
    assert busy.seconds == pytest.approx(40)


def _timings(tmp_path, name, script_s, setup_s, phases=None, limits=None):
    d = tmp_path / name
    d.mkdir()
    (d / "timings.json").write_text(json.dumps({"script_s": script_s, "setup_s": setup_s,
                                                "fit_call_s": script_s - setup_s, "phases": phases or {},
                                                "limits": limits or {}}))
    return d


def test_an_attempts_overheads_are_read_from_its_timings(tmp_path):
    """Start: the attempt's wall time the script did not see (sandbox, interpreter) plus its setup; end: what its
    fit call spent outside the library's fitting and the importance; the overrun: fitting past its own limit."""
    plain = _timings(tmp_path, "plain", script_s=10.0, setup_s=1.0)
    assert attempt_timings(plain, seconds=12.5) == pytest.approx({"start_overhead_s": 3.5})
    ag = _timings(tmp_path, "ag", script_s=230.0, setup_s=2.0, phases={"model_fit": 202.0, "importance": 20.0},
                  limits={"model_fit": 200.0})
    assert attempt_timings(ag, seconds=232.0) == pytest.approx({"start_overhead_s": 4.0, "end_overhead_s": 6.0,
                                                                "fit_overrun": 0.01})
    assert attempt_timings(tmp_path / "missing", seconds=5.0) == {}  # no timings: nothing learned, no error
    (plain / "timings.json").write_text("{not json")
    assert attempt_timings(plain, seconds=5.0) == {}


def test_autogluon_gets_the_time_the_measured_overheads_leave():
    """Before anything is measured the cautious rule stands; once the baseline's start is measured AutoGluon's
    fitting gets more of its budget, and after an AutoGluon attempt its own end and overrun are used."""
    spec = _spec().model_copy(update={"n_test_rows": 3000})
    base = AttemptRecord(attempt_id=1, kind="draft", recipe="fast", title="b", status="succeeded", started_at=0.0,
                         time_budget_s=75, workdir="w", start_overhead_s=2.0)
    cautious = autogluon_params(spec, 280.0)["time_limit"]
    measured = params_for("autogluon_tabular", spec, 280.0, history=[base])["time_limit"]
    assert cautious < measured < 280.0 - 2.0 * START_MARGIN - 8.4  # start, the importance, a safety share kept
    assert measured - cautious > 12  # the cautious rule keeps ~45 s of 280 s for what measures ~25 s here
    slow = base.model_copy(update={"start_overhead_s": 20.0})  # a slow machine measured: less for fitting
    assert params_for("autogluon_tabular", spec, 280.0, history=[slow])["time_limit"] < measured - 25
    ag = AttemptRecord(attempt_id=2, kind="draft", recipe="autogluon_tabular", title="ag", status="succeeded",
                       started_at=0.0, time_budget_s=280, workdir="w", start_overhead_s=3.0, end_overhead_s=30.0,
                       fit_overrun=0.1)
    after = params_for("autogluon_tabular", spec, 280.0, history=[base, ag])["time_limit"]
    assert after < measured - 35  # its measured 30 s end and 10% overrun are taken into account
    o = Overheads.measured([base, ag])
    assert (o.start_s, o.end_s, o.overrun) == (3.0, {"autogluon_tabular": 30.0}, {"autogluon_tabular": 0.1})


def test_a_lighter_retry_leaves_the_time_kept_for_the_llm():
    """With a valid attempt in hand, the retry of a failed main recipe gets what the LLM does not keep; with none,
    everything usable (a valid answer comes first)."""
    p = _planner(300, keep=100)
    first = p.next_attempt([], 288)
    history = [_done(first)]
    main = p.next_attempt(history, 200)
    history.append(_done(main, "failed", "boom"))
    p.mains = p.mains[:1]  # the other main recipe does not fit: the retry is next
    retry = p.next_attempt(history, 180)
    assert retry.kind == "debug" and retry.time_budget_s == pytest.approx(0.8 * (180 - 100 - BLEND))
    assert p.next_attempt(history, 125 + BLEND) is None  # 25 s beside the kept 100: too little for a retry
    p.mains = []
    alone = p.next_attempt([_done(first, "failed", "boom")], 180)
    assert alone.kind == "debug" and alone.time_budget_s == pytest.approx(0.8 * 180)  # nothing valid yet


def test_only_an_attempt_whose_library_keeps_its_own_time_gets_a_grace_before_the_kill():
    from mlwright.planning.budget import LIBRARY_OVERRUN_GRACE, attempt_timeout

    assert attempt_timeout("autogluon_tabular", 280.0, 300.0) == pytest.approx(280 + LIBRARY_OVERRUN_GRACE * 300)
    assert attempt_timeout("lightgbm_baseline", 280.0, 300.0) == 280.0  # deadline-checked recipes end in time
    assert attempt_timeout("llm", 50.0, 300.0) == 50.0


def test_a_further_seed_is_priced_without_its_first_attempts_feature_screen(tmp_path):
    """The baseline screens its feature groups before AutoGluon too (its bag blends with AutoGluon's answer); its
    further seeds take the groups it kept and screen nothing, so the bag's reserve and a seed's need are its
    seconds less the screen's (feature_work.json), not the whole first attempt's."""
    from mlwright.planning.planner import seed_seconds

    p = _planner(300)
    p.seeds_each = 4
    p.baselines = [Card(key="b", name="base", body="", recipe="fast", min_time_s=5, stage="baseline", seeded=True)]
    p.mains = [Card(key="m", name="strong", body="", recipe="strong", min_time_s=45, time_share=1.0)]
    assert "feature_work" not in p.next_attempt([], 288).params
    assert "feature_work" not in p.next_batch([], 288, 2)[0].params
    first = AttemptRecord(attempt_id=1, kind="draft", recipe="fast", title="fast", status="succeeded",
                          time_budget_s=75.0, seconds=9.0, score=0.8, started_at=0.0, workdir=str(tmp_path))
    assert seed_seconds(first) == 9.0  # no screen
    (tmp_path / "feature_work.json").write_text(json.dumps({"seconds": 4.0, "groups": [
        {"group": "periods", "kept": True}]}))
    assert seed_seconds(first) == 5.0
    ag = p.next_attempt([first], 250)
    assert ag.time_budget_s == pytest.approx(250 - BLEND - 4 * (5.0 + p.gap))
    (tmp_path / "feature_work.json").write_text(json.dumps({"seconds": 8.5, "groups": []}))
    assert seed_seconds(first) == 4.5  # never below half its seconds: a seed still fits its folds


def test_time_left_after_every_recipe_goes_to_other_seeds_of_the_best_seeded_recipes(tmp_path):
    """Further seeds (other folds, stopping rows, subsamples) of the two best recipes whose seed matters, in turns,
    each with the feature groups its first attempt's screen kept and only when its first attempt's measured time
    fits, then more while time is left (up to a cap); none with an LLM (it improves instead) and none where
    attempts are not blended (forecasts)."""
    from mlwright.planning.planner import TAIL_SEEDS_FACTOR, VARIANT_MARGIN

    p = _planner(300)
    p.seeds_each = 2
    p.baselines = [Card(key="b", name="base", body="", recipe="fast", min_time_s=5, stage="baseline", seeded=True)]
    p.mains = [Card(key="m1", name="strong", body="", recipe="strong", min_time_s=45, seeded=True),
               Card(key="m2", name="other", body="", recipe="other", min_time_s=40)]  # its seed changes nothing
    scores = {"fast": 0.80, "strong": 0.85, "other": 0.90}
    history = []
    for recipe, seconds in (("fast", 10.0), ("strong", 30.0), ("other", 20.0)):
        work = tmp_path / recipe
        work.mkdir()
        history.append(AttemptRecord(attempt_id=len(history) + 1, kind="draft", recipe=recipe, title=recipe,
                                     status="succeeded", time_budget_s=100.0, seconds=seconds, score=scores[recipe],
                                     started_at=0.0, workdir=str(work)))
    (tmp_path / "strong" / "feature_work.json").write_text(json.dumps({"groups": [
        {"group": "counts", "kept": True}, {"group": "target_encoding", "kept": False}]}))
    assert p.next_attempt(history[:2], 150).recipe == "other"  # planned recipes come first
    plans = []
    while (plan := p.next_attempt(history, 200)) is not None:
        plans.append(plan)
        history.append(AttemptRecord(attempt_id=len(history) + 1, parent_id=plan.parent_id, kind=plan.kind,
                                     recipe=plan.recipe, title=plan.title, status="succeeded",
                                     time_budget_s=plan.time_budget_s, seconds=30.0 if plan.recipe == "strong" else
                                     10.0, score=0.7, started_at=0.0, workdir=str(tmp_path)))
    assert [(x.recipe, x.params["seed"], x.parent_id) for x in plans[:4]] == [
        ("strong", 1, 2), ("fast", 1, 1), ("strong", 2, 2), ("fast", 2, 1)]
    # time still left: both bags keep growing in turns, up to TAIL_SEEDS_FACTOR times `seeds_each`, then none
    assert [(x.recipe, x.params["seed"]) for x in plans[4:]] == [
        (r, s) for s in range(3, 2 * TAIL_SEEDS_FACTOR + 1) for r in ("strong", "fast")]
    assert all(x.kind == "improve" for x in plans)
    assert plans[0].params["feature_groups"] == ["counts"] and plans[1].params["feature_groups"] == []
    assert plans[0].time_budget_s == pytest.approx(100.0)  # its first attempt's budget
    # the better one does not fit what is left: the cheaper one runs; neither fits: none
    room = VARIANT_MARGIN * 30.0 + ATTEMPT_GAP_S - 1
    assert p.next_attempt(history[:4], room + BLEND).recipe == "fast"
    assert p.next_attempt(history[:4], VARIANT_MARGIN * 10.0 + ATTEMPT_GAP_S - 1 + BLEND) is None
    failed = history[3].model_copy(update={"status": "failed", "score": None})  # a variant that failed: no retry
    assert p.next_attempt([*history[:3], failed], 200).kind == "improve"
    with_llm = _planner(300)
    with_llm.baselines, with_llm.mains = p.baselines, p.mains  # seeds_each 0 (engine.policies)
    assert with_llm.next_attempt(history[:4], 200) is None
    from mlwright.schemas import TimeSeriesSpec

    p.spec = _spec().model_copy(update={"timeseries": TimeSeriesSpec(item_column="i", timestamp_column="t", horizon=3)})
    assert p.next_attempt(history[:4], 200) is None  # a forecast is one attempt's answer: no blend, no variants
    assert p.main_room(100, blend_after=True) == 100  # and no time kept for a blend


def test_the_seeds_default_comes_from_the_environment_and_a_bad_value_is_a_clear_error(monkeypatch, tmp_path):
    """Every interface builds RunOptions: MLWRIGHT_SEEDS sets its default as it does the CLI's; a value that is no
    whole number is the user's error (what, where, what to do), not a traceback."""
    from mlwright.errors import MlwrightError
    from mlwright.options import RunOptions
    from mlwright.planning.defaults import DEFAULT_SEEDS

    def opts(**kw):
        return RunOptions(data_dir=tmp_path, task_text="t", output_dir=tmp_path / "o", **kw)

    monkeypatch.setenv("MLWRIGHT_SEEDS", "3")
    assert opts().seeds == 3 and opts(seeds=1).seeds == 1
    monkeypatch.delenv("MLWRIGHT_SEEDS")
    assert opts().seeds == DEFAULT_SEEDS
    for bad in ("abc", "-1", "2.5"):
        monkeypatch.setenv("MLWRIGHT_SEEDS", bad)
        with pytest.raises(MlwrightError, match="MLWRIGHT_SEEDS must be a whole number") as e:
            opts()
        assert e.value.where and e.value.hint
    monkeypatch.delenv("MLWRIGHT_SEEDS")
    with pytest.raises(ValueError):
        opts(seeds=-1)


def test_a_main_recipe_that_takes_all_time_left_keeps_the_baselines_bag_and_the_bag_runs_first(tmp_path):
    """AutoGluon takes everything left but the time of the baseline's further seeds (their measured seconds, at
    most BAG_RESERVE_SHARE of its room): the bag blends with AutoGluon's ensemble. After it, the seeds run before
    the light recipes (which re-fit model families AutoGluon has); without a measured seeded baseline, no reserve."""
    from mlwright.planning.planner import BAG_RESERVE_SHARE

    p = _planner(300)
    p.seeds_each = 4
    p.baselines = [Card(key="b", name="base", body="", recipe="fast", min_time_s=5, stage="baseline", seeded=True)]
    p.mains = [Card(key="m", name="strong", body="", recipe="strong", min_time_s=45, time_share=1.0),
               Card(key="l", name="light", body="", recipe="light", min_time_s=10, stage="light")]

    def rec(recipe, seconds, parent=None, params=None):
        return AttemptRecord(attempt_id=len(history) + 1, parent_id=parent, kind="improve" if parent else "draft",
                             recipe=recipe, title=recipe, status="succeeded", time_budget_s=60.0, seconds=seconds,
                             score=0.8, started_at=0.0, workdir=str(tmp_path), params=params or {})

    history: list[AttemptRecord] = []
    history.append(rec("fast", 5.0))
    ag = p.next_attempt(history, 250)
    room = 250 - BLEND
    assert ag.recipe == "strong" and ag.time_budget_s == pytest.approx(room - 4 * (5.0 + p.gap))
    slow = [history[0].model_copy(update={"seconds": 30.0})]
    assert p.next_attempt(slow, 250).time_budget_s == pytest.approx((1 - BAG_RESERVE_SHARE) * room)
    history.append(rec("strong", 200.0, parent=1))
    order = []
    while (plan := p.next_attempt(history, 80)) is not None and len(order) < 8:
        order.append((plan.recipe, plan.params.get("seed")))
        history.append(rec(plan.recipe, 5.0, parent=plan.parent_id, params=plan.params))
    assert order[:5] == [("fast", 1), ("fast", 2), ("fast", 3), ("fast", 4), ("light", None)]
    assert order[5:] == [("fast", 5), ("fast", 6), ("fast", 7)]  # then the bag grows in the time still left
    p.baselines = [Card(key="b", name="base", body="", recipe="fast", min_time_s=5, stage="baseline")]  # not seeded
    assert p.next_attempt(history[:1], 250).time_budget_s == pytest.approx(room)
