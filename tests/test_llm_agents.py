"""The LLM agents end to end: the real CLI and the real openai/anthropic clients against a scripted fake
service on 127.0.0.1. Code decides success: scores come from mlwright's validation, never from the LLM."""
from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import run_cli
from fake_llm_server import FakeLLMServer, Status

GOOD_SCRIPT = '''```python
# <<common>>
import joblib
import lightgbm as lgb
from sklearn.model_selection import StratifiedKFold


def prepare(df):
    X = df[FEATURES].copy()
    for c in X.columns:
        if X[c].dtype == object:
            X[c] = X[c].astype("category")
    return X


def fit(train, test, out_dir, model_dir):
    X, y = prepare(train), target_series(train)
    oof = pd.DataFrame(0.0, index=range(len(X)), columns=CLASSES)
    for tr, va in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        m = lgb.LGBMClassifier(n_estimators=150, verbose=-1, n_jobs=1).fit(X.iloc[tr], y.iloc[tr])
        oof.iloc[va] = as_class_frame(m.predict_proba(X.iloc[va]), m.classes_).to_numpy()
    model = lgb.LGBMClassifier(n_estimators=150, verbose=-1, n_jobs=1).fit(X, y)
    joblib.dump(model, os.path.join(model_dir, "m.joblib"))
    write_outputs(out_dir, test, predict(model_dir, test), np.arange(len(X)), oof)


def predict(model_dir, new):
    m = joblib.load(os.path.join(model_dir, "m.joblib"))
    return as_class_frame(m.predict_proba(prepare(new)), m.classes_)


if __name__ == "__main__":
    cli(fit, predict)
```'''
BROKEN_SCRIPT = GOOD_SCRIPT.replace("    X, y = prepare(train), target_series(train)",
                                    "    raise ValueError('boom: feature matrix has the wrong shape')")


def _role(req) -> str:
    """Which agent sent the request, from its system prompt."""
    text = " ".join(m["content"] for m in req.messages if m["role"] == "system")
    for key, role in (("check how an AutoML system", "perception"), ("plan machine-learning", "planner"),
                      ("writes complete, correct", "coder"), ("diagnose failed", "analyst"),
                      ("targeted refinement", "refinement"), ("reader functions", "reader")):
        if key in text:
            return role
    return "unknown"


def _run(srv, data, out, *extra, provider="openai-compatible", env=None, attempts="2"):
    base = srv.base_url if provider != "anthropic" else srv.url
    return run_cli("run", str(data), "--task", "predict label as the probability of yes", "--output", str(out),
                   "--time-limit", "120", "--no-autogluon", "--llm", provider, "--base-url", base, "--model",
                   "fake-model", "--max-llm-attempts", attempts, *extra, env=env or {})


def test_llm_fixes_a_failing_script_on_the_second_try(churn_dir, tmp_path):
    coder_calls = []

    def answer(req):
        role = _role(req)
        if role == "perception":
            return '{"comments": "looks right"}'
        if role == "planner":
            return json.dumps({"candidates": ["lightgbm", "logistic regression"], "action": "draft",
                               "plan": "lightgbm"}) \
                if not coder_calls else json.dumps({"action": "debug", "parent_id": 2, "plan": "fix the bug"})
        if role == "coder":
            coder_calls.append(req.prompt_text)
            return BROKEN_SCRIPT if len(coder_calls) == 1 else GOOD_SCRIPT
        if role == "analyst":
            return json.dumps({"summary": "fit raises ValueError boom", "likely_cause": "a raise left in fit",
                               "suggested_fix": "remove the raise statement"})
        return "{}"

    out = tmp_path / "run"
    with FakeLLMServer(default=answer) as srv:
        r = _run(srv, churn_dir, out)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["llm"]["calls"] >= 5 and s["llm"]["input_tokens"] > 0 and s["llm"]["output_tokens"] > 0
    assert s["llm"]["attempts"] == 2 and s["llm"]["attempts_failed"] == 1
    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = con.execute("SELECT attempt_id, parent_id, kind, recipe, status, score, diagnosis FROM attempts "
                           "ORDER BY attempt_id").fetchall()
    assert [r[2:5] for r in rows] == [("draft", "lightgbm_baseline", "succeeded"), ("draft", "llm", "failed"),
                                      ("debug", "llm", "succeeded")]
    assert rows[2][1] == 2 and rows[2][5] > 0.8  # scored by mlwright on its own OOF labels
    assert "boom" in rows[1][6]  # the analyst's diagnosis is journaled with the failed attempt
    assert "remove the raise statement" in coder_calls[1]  # and the debug attempt's prompt saw it
    assert "boom" not in coder_calls[0]


def test_garbage_answers_fall_back_to_the_engine(churn_dir, tmp_path):
    out = tmp_path / "run"
    with FakeLLMServer(default="lorem ipsum, no json and no code here") as srv:
        r = _run(srv, churn_dir, out)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and s["best"]["recipe"] == "lightgbm_baseline"
    assert s["llm"]["fallbacks"].get("coder", 0) >= 1 and s["llm"]["fallbacks"].get("perception", 0) >= 1
    assert any("no usable code" in f for f in s["llm"]["attempt_failures"])


def test_token_budget_stops_llm_use(churn_dir, tmp_path):
    out = tmp_path / "run"
    with FakeLLMServer(default='{"comments": "ok"}') as srv:
        r = _run(srv, churn_dir, out, "--max-llm-tokens", "50")
        n_requests = len(srv.requests)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["llm"]["stopped_reason"] and n_requests == 1 and s["llm"]["calls"] == 1
    assert s["status"] == "succeeded"


def test_rate_limit_is_retried_with_anthropic_protocol(churn_dir, tmp_path):
    out = tmp_path / "run"
    secret = "sk-ant-test-secret-0123456789"
    with FakeLLMServer(script=[Status(429, "slow down"), '{"comments": "fine"}'], default="no code") as srv:
        r = _run(srv, churn_dir, out, provider="anthropic", env={"ANTHROPIC_API_KEY": secret}, attempts="1")
        first_two = srv.requests[:2]
    assert r.returncode == 0, r.stderr
    assert [q.path.endswith("/messages") for q in first_two] == [True, True]
    s = json.loads((out / "run.json").read_text())
    assert s["llm"]["by_role"]["perception"]["retries"] == 1
    for f in out.rglob("*"):  # the key is never written to the run folder
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_bad_provider_settings_fail_clearly(churn_dir, tmp_path):
    r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(tmp_path / "o"), "--llm", "openai")
    assert r.returncode == 2 and "--model" in r.stderr


def test_interactive_guidance_reaches_the_coder_and_is_journaled(churn_dir, tmp_path):
    prompts = []

    def answer(req):
        role = _role(req)
        if role == "coder":
            prompts.append(req.prompt_text)
            return GOOD_SCRIPT
        if role == "planner":
            return json.dumps({"action": "draft", "plan": "lightgbm"})
        return "{}"

    out = tmp_path / "run"
    with FakeLLMServer(default=answer) as srv:
        r = run_cli("run", str(churn_dir), "--task", "predict label as the probability of yes", "--output", str(out),
                    "--time-limit", "90", "--no-autogluon", "--llm", "openai-compatible", "--base-url", srv.base_url,
                    "--model", "m", "--max-llm-attempts", "1", "--interactive", input_text="use at most 150 trees\n")
    assert r.returncode == 0, r.stderr
    assert "use at most 150 trees" in prompts[0]
    with sqlite3.connect(out / "journal.sqlite") as con:
        assert con.execute("SELECT text, consumed_by_attempt FROM guidance").fetchall() == \
            [("use at most 150 trees", 2)]


READER = '''```python
import pandas as pd

def read(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        if line.strip():
            rows.append(dict(kv.split("=", 1) for kv in line.strip().split("|")))
    df = pd.DataFrame(rows)
    for c in ("x1", "x2"):
        df[c] = df[c].astype(float)
    return df
```'''


def test_llm_writes_reader_code_for_an_unknown_format(tmp_path):
    from conftest import make_classification_frame

    df = make_classification_frame()
    d = tmp_path / "weird"
    d.mkdir()
    for name, part in (("history.rec", df.iloc[60:]), ("current.rec", df.iloc[:60].drop(columns=["label"]))):
        (d / name).write_text("\n".join("|".join(f"{k}={v}" for k, v in row.items())
                                        for row in part.to_dict("records")) + "\n")

    def answer(req):
        role = _role(req)
        return READER if role == "reader" else "no code" if role == "coder" else "{}"

    out = tmp_path / "run"
    with FakeLLMServer(default=answer) as srv:
        r = run_cli("run", str(d), "--task", "predict label; write predictions.csv with customer_id,label",
                    "--output", str(out), "--time-limit", "60", "--no-autogluon", "--llm", "openai-compatible",
                    "--base-url", srv.base_url, "--model", "m", "--max-llm-attempts", "1")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["train_table"] == "history.rec" and s["task"]["n_test_rows"] == 60
    assert (out / "readers").is_dir() and s["best"]["validation_score"] > 0.8
    # without an LLM the same folder is a clear error, not a crash
    r = run_cli("run", str(d), "--task", "predict label", "--output", str(tmp_path / "o2"), "--time-limit", "30")
    assert r.returncode == 2 and "No readable table" in r.stderr


REFINABLE = GOOD_SCRIPT.replace('''def fit(train, test, out_dir, model_dir):''', '''def make_model():
    return lgb.LGBMClassifier(n_estimators=150, learning_rate=0.05, verbose=-1, n_jobs=1)


def fit(train, test, out_dir, model_dir):''').replace(
    "m = lgb.LGBMClassifier(n_estimators=150, verbose=-1, n_jobs=1).fit(", "m = make_model().fit(").replace(
    "model = lgb.LGBMClassifier(n_estimators=150, verbose=-1, n_jobs=1).fit(X, y)", "model = make_model().fit(X, y)")
ABLATIONS = {"block": "make_model", "reason": "trees matter", "ideas": ["ratio features"], "ablations": [
    {"block": "prepare", "what": "no features at all",
     "code": "def prepare(df):\n    return pd.DataFrame({'const': np.zeros(len(df))})"},
    {"block": "make_model", "what": "library defaults",
     "code": "def make_model():\n    return lgb.LGBMClassifier(verbose=-1, n_jobs=1)"},
    {"block": "no_such_block", "what": "x", "code": "def no_such_block():\n    pass"}]}


def test_ablation_study_picks_the_block_that_matters_and_refinement_stays_inside_it(churn_dir, tmp_path):
    coder_prompts = []

    def answer(req):
        role = _role(req)
        if role == "planner":
            return json.dumps({"action": "draft", "plan": "lightgbm"}) if not coder_prompts else \
                json.dumps({"action": "improve", "parent_id": 2, "plan": "better features"})
        if role == "refinement":
            return json.dumps(ABLATIONS)
        if role == "coder":
            coder_prompts.append(req.prompt_text)
            if len(coder_prompts) == 1:
                return REFINABLE
            if len(coder_prompts) == 2:  # stays inside `prepare`: accepted
                return REFINABLE.replace("    return X\n", "    X['sum'] = X.select_dtypes('number').sum(axis=1)\n"
                                                          "    return X\n", 1)
            return REFINABLE.replace("n_estimators=150", "n_estimators=300")  # outside the block: rejected
        return '{"comments": "ok"}'

    out = tmp_path / "run"
    with FakeLLMServer(default=answer) as srv:
        r = _run(srv, churn_dir, out, attempts="3")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    ref = s["refinement"]
    assert ref["parent_attempt"] == 2 and ref["decided_by"] == "ablation"
    measured = {x["block"]: x for x in ref["results"]}
    assert set(measured) == {"prepare", "make_model"}  # the variant of an unknown block is not run
    # the scores are mlwright's own: no features at all is worse by far than default hyperparameters
    assert measured["prepare"]["delta"] < -0.1 and abs(measured["make_model"]["delta"]) < 0.1
    assert ref["focus"] == "prepare"  # chosen by the measurement, not by the LLM's guess (make_model)
    assert any("no_such_block" in f for f in s["llm"]["fallback_reasons"])
    with sqlite3.connect(out / "journal.sqlite") as con:
        rows = con.execute("SELECT attempt_id, parent_id, kind, recipe, status, score, error FROM attempts "
                           "ORDER BY attempt_id").fetchall()
    assert [r[2:4] for r in rows[:6]] == [("draft", "lightgbm_baseline"), ("draft", "llm"), ("ablation", "ablation"),
                                          ("ablation", "ablation"), ("improve", "llm"), ("improve", "llm")]
    assert rows[2][1] == 2 and rows[2][5] == pytest.approx(measured["prepare"]["score"])
    assert rows[4][4] == "succeeded"
    assert rows[5][4] == "invalid" and "outside the chosen block `prepare`" in rows[5][6]
    assert "Change ONLY the function `prepare`" in coder_prompts[1] and "Ablation study" in coder_prompts[1]
    assert s["llm"]["attempts"] == 3  # ablation variants are measurements, not LLM attempts


def test_unusable_ablation_answer_falls_back_to_deterministic_variants(churn_dir, tmp_path):
    calls = []

    def answer(req):
        role = _role(req)
        if role == "planner":
            return json.dumps({"action": "draft", "plan": "lgbm"}) if not calls else \
                json.dumps({"action": "improve", "parent_id": 2, "plan": "tune"})
        if role == "coder":
            calls.append(1)
            return GOOD_SCRIPT
        if role == "refinement":
            return "I would look at the features, probably."  # no JSON
        return '{"comments": "ok"}'

    out = tmp_path / "run"
    with FakeLLMServer(default=answer) as srv:
        r = _run(srv, churn_dir, out, attempts="2")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["llm"]["fallbacks"]["refinement"] == 1
    ref = s["refinement"]
    # GOOD_SCRIPT's fit holds the tuned constant n_estimators=150: its variant runs with library defaults
    assert [x["block"] for x in ref["results"]] == ["fit"] and ref["results"][0]["status"] == "succeeded"
    assert "library defaults" in ref["results"][0]["what"]
    assert (ref["focus"], ref["decided_by"]) in (("fit", "ablation"), ("prepare", "heuristic"))  # heuristic: no change
