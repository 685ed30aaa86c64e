"""LLM attempts beyond tables: a forecasting task and an image task, against a scripted OpenAI-compatible server on
127.0.0.1 and the real CLI. The coder gets the modality's contract and mlwright's own baseline of that kind as a
working example; what it writes runs in the sandbox and is validated like any attempt."""
from __future__ import annotations

import json
import re
import sqlite3

from conftest import run_cli
from fake_llm_server import FakeLLMServer
from mlwright.coding.llm_coder import example_script
from test_images import TASK as IMAGE_TASK
from test_images import make_folder_layout
from test_llm_agents import _role
from test_timeseries import TASK as FORECAST_TASK
from test_timeseries import make_monthly


def _scripted(code: str, coder_prompts: list[str]):
    def answer(req):
        role = _role(req)
        if role == "planner":
            return json.dumps({"action": "draft", "plan": "a variant of the baseline"} if not coder_prompts
                              else {"action": "stop"})
        if role == "coder":
            coder_prompts.append(req.prompt_text)
            return f"```python\n{code}```"
        return '{"comments": "ok"}'
    return answer


def _llm_attempts(out):
    with sqlite3.connect(out / "journal.sqlite") as con:
        return con.execute("SELECT kind, status, score, error FROM attempts WHERE recipe = 'llm'").fetchall()


def _run(data, task, out, srv, limit="90"):
    return run_cli("run", str(data), "--task", task, "--output", str(out), "--time-limit", limit, "--no-autogluon",
                   "--llm", "openai-compatible", "--base-url", srv.base_url, "--model", "fake-model")


def test_an_llm_attempt_on_a_forecasting_task(tmp_path):
    data, _ = make_monthly(tmp_path / "monthly")
    code = example_script("timeseries").replace('("naive", "drift", "mean")', '("naive", "drift")')
    assert "# <<common>>" in code and "from mlwright" not in code
    prompts: list[str] = []
    out = tmp_path / "run"
    with FakeLLMServer(default=_scripted(code, prompts)) as srv:
        r = _run(data, FORECAST_TASK, out, srv)
    assert r.returncode == 0, r.stderr
    [(kind, status, score, error)] = _llm_attempts(out)
    assert (kind, status) == ("draft", "succeeded"), error
    assert score is not None  # mlwright's own holdout score of the forecast
    prompt = prompts[0]
    assert "HORIZON (steps to forecast" in prompt and "main(fit, predict)" in prompt
    assert "mlwright's own baseline for this kind of task" in prompt and "def run_config" in prompt
    assert "Series: " in prompt and "forecast 6 steps" in prompt


def test_an_llm_attempt_on_an_image_task(tmp_path):
    data = tmp_path / "shapes"
    make_folder_layout(data, n_per_class=25, n_test=10)
    code = example_script("image").replace('N_FOLDS = int(PARAMS.get("n_folds", 3 if LIGHT else 5))',
                                           'N_FOLDS = 3')
    prompts: list[str] = []
    out = tmp_path / "run"
    with FakeLLMServer(default=_scripted(code, prompts)) as srv:
        r = _run(data, IMAGE_TASK, out, srv, limit="120")
    assert r.returncode == 0, r.stderr
    [(kind, status, score, error)] = _llm_attempts(out)
    assert (kind, status) == ("draft", "succeeded"), error
    assert score > 0.6  # three shapes: chance is 1/3
    prompt = prompts[0]
    assert 'SPEC["image"]["path_column"] holds its absolute path' in prompt and "PIL (Pillow)" in prompt
    assert "Images: column" in prompt


def test_an_llm_script_that_never_opens_the_images_gets_a_data_use_note(tmp_path):
    """The traced file opens of an LLM-written script: one that reads the images has no note (previous test's
    kind of script, checked here on the same run), one that draws blank images instead is said to ignore them."""
    data = tmp_path / "shapes"
    make_folder_layout(data, n_per_class=15, n_test=6)
    base = example_script("image").replace('N_FOLDS = int(PARAMS.get("n_folds", 3 if LIGHT else 5))', 'N_FOLDS = 3')
    blind = base.replace("with Image.open(path) as im:", "with Image.new('RGB', (40, 40)) as im:")
    assert blind != base
    coder_prompts: list[str] = []

    def answer(req):
        role = _role(req)
        if role == "planner":
            plans = ["features of the images", "features without looking"]
            return json.dumps({"action": "draft", "plan": plans[len(coder_prompts)]} if len(coder_prompts) < 2
                              else {"action": "stop"})
        if role == "coder":
            coder_prompts.append(req.prompt_text)
            return f"```python\n{base if len(coder_prompts) == 1 else blind}```"
        return '{"comments": "ok"}'

    out = tmp_path / "run"
    with FakeLLMServer(default=answer) as srv:
        r = _run(data, IMAGE_TASK, out, srv, limit="150")
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "journal.sqlite") as con:
        notes = con.execute("SELECT title, status, data_note FROM attempts WHERE recipe = 'llm' "
                            "ORDER BY attempt_id").fetchall()
    assert [(t, st) for t, st, _ in notes] == [("features of the images", "succeeded"),
                                               ("features without looking", "succeeded")]
    assert notes[0][2] is None  # read both tables and the images (in its worker threads too)
    assert re.fullmatch(r"never opened any of the \d+ training images; never opened any of the \d+ test images",
                        notes[1][2] or ""), notes[1][2]
    report = (out / "report.html").read_text()
    assert "<h3>Data use</h3>" in report and "training images; never opened any of the" in report
    events = (out / "journal.sqlite").read_bytes()
    assert b"data use: its code never opened" in events
