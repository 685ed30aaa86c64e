"""The LLM path as a strong model would use it, against a scripted OpenAI-compatible server on 127.0.0.1 and the
real CLI: what each agent is shown (the data, the whole parent script, the block lock, the attempt tree), an
improvement answered with the changed block alone, the lock kept through a debug, attempts going on while time
remains, and a transcript of every call with the key masked."""
from __future__ import annotations

import json
import re
import sqlite3

from conftest import run_cli
from fake_llm_server import FakeLLMServer
from test_llm_agents import ABLATIONS, GOOD_SCRIPT, REFINABLE, _role

FAKE_KEY = "sk-test-transcript-0123456789abcdef"
NEW_PREPARE = '''```python
def prepare(df):
    X = df[FEATURES].copy()
    for c in X.columns:
        if X[c].dtype == object:
            X[c] = X[c].astype("category")
    X["numeric_sum"] = X.select_dtypes("number").sum(axis=1)
    return X
```'''
BROKEN_PREPARE = NEW_PREPARE.replace('    X["numeric_sum"]', '    raise KeyError("no_such_column")\n    X["s"]')


def _run(answer, data, out, limit: str, env: dict | None = None, args: tuple[str, ...] = ()):
    """The real CLI against a scripted OpenAI-compatible server answering with `answer`."""
    with FakeLLMServer(default=answer) as srv:
        return run_cli("run", str(data), "--task", "predict label as the probability of yes", "--output", str(out),
                       "--time-limit", limit, "--no-autogluon", "--llm", "openai-compatible", "--base-url",
                       srv.base_url, "--model", "fake-model", *args, env=env or {})


def _tables(out):
    with sqlite3.connect(out / "journal.sqlite") as con:
        return con.execute("SELECT attempt_id, parent_id, kind, recipe, status, error FROM attempts "
                           "ORDER BY attempt_id").fetchall()


def test_a_block_alone_improves_a_branch_and_a_debug_stays_in_the_lock(churn_dir, tmp_path):
    planner_prompts, coder_prompts, analyst_prompts = [], [], []

    def answer(req):
        role = _role(req)
        if role == "planner":
            planner_prompts.append(req.prompt_text)
            step = [{"action": "draft", "plan": "lightgbm with categories", "candidates": [
                        "lightgbm with categories", "a linear model on one-hot features", "extra trees"]},
                    {"action": "improve", "parent_id": 2, "plan": "add a sum feature"},
                    {"action": "improve", "parent_id": 5, "plan": "a risky feature"},
                    {"action": "debug", "parent_id": 6, "plan": "fix the failure"}]
            return json.dumps(step[len(coder_prompts)] if len(coder_prompts) < len(step) else {"action": "stop"})
        if role == "refinement":
            return json.dumps(ABLATIONS)
        if role == "coder":
            coder_prompts.append(req.prompt_text)
            return [REFINABLE, NEW_PREPARE, BROKEN_PREPARE,
                    REFINABLE.replace("n_estimators=150", "n_estimators=300")][len(coder_prompts) - 1]
        if role == "analyst":  # an answer echoing the key: the transcript must not keep it
            analyst_prompts.append(req.prompt_text)
            return json.dumps({"summary": f"prepare reads a missing column (key {FAKE_KEY})",
                               "cause": "KeyError", "fix": "drop the line"})
        return '{"comments": "ok"}'

    out = tmp_path / "run"
    r = _run(answer, churn_dir, out, "150", env={"MLWRIGHT_LLM_API_KEY": FAKE_KEY})
    assert r.returncode == 0, r.stderr
    rows = _tables(out)
    kinds = [(a, p, k, rec, st) for a, p, k, rec, st, _ in rows]
    assert kinds[:7] == [(1, None, "draft", "lightgbm_baseline", "succeeded"), (2, None, "draft", "llm", "succeeded"),
                         (3, 2, "ablation", "ablation", "succeeded"), (4, 2, "ablation", "ablation", "succeeded"),
                         (5, 2, "improve", "llm", "succeeded"), (6, 5, "improve", "llm", "failed"),
                         (7, 6, "debug", "llm", "invalid")]
    # the block alone was put into the parent script: the attempt's script is whole and holds the new feature
    script5 = (out / "attempts" / "005-llm" / "solution.py").read_text()
    assert 'X["numeric_sum"]' in script5 and "def make_model():" in script5 and "cli(fit, predict)" in script5
    assert "outside the chosen block `prepare`" in rows[6][5]  # the debug of a locked improvement stays locked
    # what the agents were shown
    draft = coder_prompts[0]
    assert "Features (kind as mlwright read it" in draft and "Target 'label': 2 classes" in draft
    assert "Attempts so far" in draft and "#1 draft of - [lightgbm_baseline]" in draft  # what was tried
    improve = coder_prompts[1]
    assert "def make_model():" in improve and "if __name__ == \"__main__\":" in improve  # the whole parent script
    assert "Ablation study on attempt 2's script" in improve and "Change ONLY the function `prepare`" in improve
    assert "Block lock: none yet" in planner_prompts[0]
    # the candidates it weighed and did not take stay open branches in its next prompts
    assert "Candidate plans you proposed earlier" in planner_prompts[1]
    assert "- a linear model on one-hot features\n- extra trees" in planner_prompts[1]
    assert "Block lock: improvements of attempt 2" in planner_prompts[2] and "LLM cost so far" in planner_prompts[2]
    assert "#5 improve of 2 [llm] add a sum feature: succeeded score=" in planner_prompts[2]
    assert re.search(r"#5 improve of 2 \[llm\] add a sum feature: succeeded score=[\d.]+ ±0\.\d{4}", planner_prompts[2])
    # the analyst sees the traceback (the error stream comes last) and what the failing improvement changed
    first = analyst_prompts[0]
    assert "KeyError: 'no_such_column'" in first and "[stderr.txt]" in first
    assert "```diff" in first and '+    raise KeyError("no_such_column")' in first
    # the transcript: every call, in order, keys masked; the key is in no file of the run folder
    calls = [json.loads(line) for line in (out / "llm" / "transcript.jsonl").read_text().splitlines()]
    assert [c["role"] for c in calls].count("coder") == 4 and all(c["messages"] and "answer" in c for c in calls)
    assert any("[REDACTED]" in (c["answer"] or "") for c in calls if c["role"] == "error_analyst")
    for f in out.rglob("*"):
        if f.is_file():
            assert FAKE_KEY.encode() not in f.read_bytes(), f
    # the report's LLM section: usage per role, the planner's steps, the transcript linked
    report = (out / "report.html").read_text()
    assert "<h2>LLM</h2>" in report and 'href="llm/transcript.jsonl"' in report
    assert "The planner's decisions" in report and "improve of #5" in report and "debug of #6" in report


def test_llm_attempts_go_on_while_time_remains(churn_dir, tmp_path):
    """No fixed count: a planner that keeps drafting gets attempts until the budget is used."""
    def answer(req):
        role = _role(req)
        if role == "planner":
            return json.dumps({"action": "draft", "plan": "lightgbm"})
        if role == "coder":
            return GOOD_SCRIPT
        return '{"comments": "ok"}'

    out = tmp_path / "run"
    r = _run(answer, churn_dir, out, "90")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    llm_rows = [row for row in _tables(out) if row[3] == "llm"]
    assert len(llm_rows) > 6 and s["llm"]["attempts"] == len(llm_rows)  # more than the old fixed cap of 6
    assert s["wall_seconds"] > 0.6 * 90


def test_with_two_slots_candidate_drafts_and_ablation_variants_run_side_by_side(churn_dir, tmp_path):
    """--parallel-attempts 2: the planner's other candidate plan is drafted beside its choice, the ablation
    variants run two at a time, an improvement runs beside the next open candidate."""
    planner_calls = []

    def answer(req):
        role = _role(req)
        if role == "planner":
            planner_calls.append(req.prompt_text)
            step = [{"action": "draft", "plan": "lightgbm with categories", "candidates": [
                        "lightgbm with categories", "a linear model on one-hot features", "extra trees"]},
                    {"action": "improve", "parent_id": 2, "plan": "add a sum feature"}]
            return json.dumps(step[len(planner_calls) - 1] if len(planner_calls) <= len(step) else {"action": "stop"})
        if role == "refinement":
            return json.dumps(ABLATIONS)
        if role == "coder":
            return NEW_PREPARE if "Plan for this attempt: add a sum feature" in req.prompt_text else REFINABLE
        return '{"comments": "ok"}'

    out = tmp_path / "run"
    r = _run(answer, churn_dir, out, "150", args=("--parallel-attempts", "2"))
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = con.execute("SELECT attempt_id, parent_id, kind, title, status, started_at, ended_at FROM attempts "
                           "ORDER BY attempt_id").fetchall()
    got = [(a, p, k, t[:30], st) for a, p, k, t, st, _, _ in rows]
    assert got[:7] == [(1, None, "draft", "baseline: LightGBM gradient bo", "succeeded"),
                       (2, None, "draft", "lightgbm with categories", "succeeded"),
                       (3, None, "draft", "a linear model on one-hot feat", "succeeded"),
                       (4, 2, "ablation", "ablation of prepare: no featur", "succeeded"),
                       (5, 2, "ablation", "ablation of make_model: librar", "succeeded"),
                       (6, 2, "improve", "add a sum feature", "succeeded"),
                       (7, None, "draft", "extra trees", "succeeded")]
    times = {a: (t0, t1) for a, _, _, _, _, t0, t1 in rows}
    for x, y in ((2, 3), (4, 5), (6, 7)):  # each pair ran at the same time
        assert times[x][0] < times[y][1] and times[y][0] < times[x][1], (x, y, times)
    assert json.loads((out / "run.json").read_text())["sandbox"]["parallel_attempts"] == 2


LEAKY_SCRIPT = GOOD_SCRIPT.replace('''            X[c] = X[c].astype("category")
    return X''', '''            X[c] = X[c].astype("category")
    # the label itself, when the rows carry it: perfect out of fold, meaningless on the test rows
    X["peek"] = (df[TARGET].astype(str) == CLASSES[-1]).astype(float) if TARGET in df.columns else 0.0
    return X''')


def test_a_script_that_leaks_the_target_is_flagged_and_an_honest_one_wins(churn_dir, tmp_path):
    coder_calls = []

    def answer(req):
        role = _role(req)
        if role == "planner":
            return json.dumps({"action": "draft", "plan": "lightgbm"} if len(coder_calls) < 2 else {"action": "stop"})
        if role == "coder":
            coder_calls.append(1)
            return LEAKY_SCRIPT if len(coder_calls) == 1 else GOOD_SCRIPT
        return '{"comments": "ok"}'

    out = tmp_path / "run"
    r = _run(answer, churn_dir, out, "120")
    assert r.returncode == 0, r.stderr
    rows = {a: (st, err) for a, _, _, rec, st, err in _tables(out) if rec == "llm"}
    leaky, honest = rows[2], rows[3]
    assert leaky[0] == "invalid" and leaky[1].startswith("leakage: on shuffled labels"), leaky
    assert honest[0] == "succeeded"  # the same script without the peek passes the same check
    s = json.loads((out / "run.json").read_text())
    assert s["best"]["attempt_id"] != 2 and s["best"]["validation_score"] < 0.99
    with sqlite3.connect(out / "journal.sqlite") as con:
        score = con.execute("SELECT score FROM attempts WHERE attempt_id = 2").fetchone()[0]
    assert score > 0.99  # it did look perfect by its own out-of-fold predictions
