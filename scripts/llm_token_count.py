"""How many LLM tokens a task costs with the scripted LLM flow (draft fails, analyst diagnoses, debug fixes,
ablation study + one improve): runs the real CLI against the fake OpenAI-compatible server from the tests.

usage: python scripts/llm_token_count.py DATA_DIR TASK_FILE [TIME_LIMIT] [MAX_LLM_ATTEMPTS]
(MAX_LLM_ATTEMPTS 0: no cap, as a run without --max-llm-attempts; default 3)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_llm_server import FakeLLMServer  # noqa: E402

GENERIC = '''```python
# <<common>>
import joblib
import lightgbm as lgb
from sklearn.model_selection import KFold, StratifiedKFold


def prepare(df):
    X = df[FEATURES].copy()
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = X[c].astype(str).astype("category")
    return X


def model():
    kw = dict(n_estimators=300, learning_rate=0.05, verbose=-1, n_jobs=1)
    return lgb.LGBMRegressor(**kw) if PROBLEM == "regression" else lgb.LGBMClassifier(**kw)


def out(m, X):
    return m.predict(X) if PROBLEM == "regression" else as_class_frame(m.predict_proba(X), m.classes_)


def fit(train, test, out_dir, model_dir):
    X, y = prepare(train), target_series(train)
    BUG
    cv = (KFold(5, shuffle=True, random_state=0) if PROBLEM == "regression"
          else StratifiedKFold(5, shuffle=True, random_state=0))
    parts, rows = [], []
    for tr, va in cv.split(X, y):
        parts.append(out(model().fit(X.iloc[tr], y.iloc[tr]), X.iloc[va]))
        rows.append(va)
    oof = np.concatenate(parts) if PROBLEM == "regression" else pd.concat(parts, ignore_index=True)
    m = model().fit(X, y)
    joblib.dump(m, os.path.join(model_dir, "m.joblib"))
    write_outputs(out_dir, test, out(m, prepare(test)), np.concatenate(rows), oof)


def predict(model_dir, new):
    return out(joblib.load(os.path.join(model_dir, "m.joblib")), prepare(new))


if __name__ == "__main__":
    cli(fit, predict)
```'''


ABLATED_MODEL = (
    "def model():\n"
    "    return lgb.LGBMRegressor(verbose=-1) if PROBLEM == 'regression' else lgb.LGBMClassifier(verbose=-1)\n")
ABLATED_PREPARE = "def prepare(df):\n    return df[FEATURES].select_dtypes('number')\n"


def answer(state):
    def reply(req):
        system = " ".join(m["content"] for m in req.messages if m["role"] == "system")
        if "check how an AutoML system" in system:
            return '{"comments": "the reading is right"}'
        if "plan machine-learning" in system:
            state["plans"] += 1
            llm = re.findall(r"#(\d+) \w+ of \S+ \[llm\].*?: (\w+)", req.prompt_text)
            if not llm:
                return json.dumps({"candidates": ["lightgbm", "linear"], "action": "draft", "plan": "lightgbm"})
            last_id, status = int(llm[-1][0]), llm[-1][1]
            return json.dumps({"action": "debug" if status != "succeeded" else "improve", "parent_id": last_id,
                               "plan": "fix it" if status != "succeeded" else "tune the model"})
        if "writes complete, correct" in system:
            state["codes"] += 1
            return GENERIC.replace("BUG", "raise ValueError('boom')" if state["codes"] == 1 else "pass")
        if "diagnose failed" in system:
            return json.dumps({"summary": "fit raises", "likely_cause": "a raise", "suggested_fix": "remove it"})
        if "targeted refinement" in system:
            return json.dumps({"block": "model", "reason": "tuning", "ideas": ["more trees"], "ablations": [
                {"block": "model", "what": "library defaults", "code": ABLATED_MODEL},
                {"block": "prepare", "what": "numeric columns only", "code": ABLATED_PREPARE}]})
        return "{}"
    return reply


def main():
    data, task = sys.argv[1], sys.argv[2]
    tl = sys.argv[3] if len(sys.argv) > 3 else "120"
    cap = sys.argv[4] if len(sys.argv) > 4 else "3"
    out = Path(tempfile.mkdtemp()) / "run"
    with FakeLLMServer(default=answer({"plans": 0, "codes": 0})) as srv:
        r = subprocess.run([sys.executable, "-m", "mlwright", "run", data, "--task-file", task, "--output", str(out),
                            "--time-limit", tl, "--no-autogluon", "--llm", "openai-compatible", "--base-url",
                            srv.base_url, "--model", "scripted"] + (["--max-llm-attempts", cap] if cap != "0" else []),
                           capture_output=True, text=True, env=os.environ)
    s = json.loads((out / "run.json").read_text())
    llm = s["llm"]
    print(json.dumps({"task": Path(task).parent.name, "status": s["status"], "calls": llm["calls"],
                      "input_tokens": llm["input_tokens"], "output_tokens": llm["output_tokens"],
                      "total_tokens": llm["input_tokens"] + llm["output_tokens"], "llm_attempts": llm["attempts"],
                      "ablation": [(r["block"], r["delta"]) for r in (s.get("refinement") or {}).get("results", [])],
                      "focus": (s.get("refinement") or {}).get("focus"),
                      "by_role": {k: v.get("input_tokens", 0) + v.get("output_tokens", 0)
                                  for k, v in llm["by_role"].items()},
                      "input_by_role": {k: v.get("input_tokens", 0) for k, v in llm["by_role"].items()},
                      "calls_by_role": {k: v.get("calls", 0) for k, v in llm["by_role"].items()}}))
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
