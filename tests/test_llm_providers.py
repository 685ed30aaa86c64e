"""The LLM provider layer against a real local HTTP server (tests/fake_llm_server.py) with the real SDKs."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from fake_llm_server import Drop, FakeLLMServer, Garbage, Reply, Status
from mlwright.llm import (LLM, BudgetExceeded, LLMError, LLMResponse, LLMSettings, Usage, estimate_cost,
                          load_settings, make_llm, redact)
from mlwright.llm.pricing import price_per_mtok
from mlwright.schemas import TaskSpec

KEY = "sk-test-SECRET-0123456789abcdef"
USER = [{"role": "user", "content": "Which model fits a tabular churn task?"}]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The SDKs and our fallbacks read these; a developer's real keys must not leak into (or break) tests.
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MLWRIGHT_LLM_API_KEY", "OPENAI_BASE_URL",
                 "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "MLWRIGHT_LLM_PROVIDER", "MLWRIGHT_LLM_MODEL",
                 "MLWRIGHT_LLM_BASE_URL", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def srv():
    with FakeLLMServer() as server:
        yield server


def make(srv: FakeLLMServer, provider: str = "openai-compatible", **kw) -> LLM:
    base = srv.base_url if provider in ("openai", "openai-compatible") else srv.url
    settings = LLMSettings(**{"provider": provider, "model": "fake-model", "base_url": base,
                              "request_timeout_s": 5, **kw})
    llm = LLM(settings)
    llm.backoff_base_s = 0.01  # keep backoff short; Retry-After handling is tested separately
    return llm


def auth_value(req) -> str:
    return req.headers.get("x-api-key") or req.headers.get("authorization", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- completions ------------------------------------------------------------------------------------------
def test_openai_compatible_completion_and_token_counting(srv):
    srv.add(Reply("Use LightGBM.", input_tokens=11, output_tokens=7), Reply("Then AutoGluon.", input_tokens=5,
                                                                             output_tokens=3))
    llm = make(srv, temperature=0.3)
    msgs = [{"role": "system", "content": "You are an ML planner."}] + USER
    r = llm.complete(msgs, role="planner", max_tokens=100)
    assert isinstance(r, LLMResponse)
    assert (r.text, r.input_tokens, r.output_tokens, r.model) == ("Use LightGBM.", 11, 7, "fake-model")
    assert r.cost_usd == 0.0 and r.finish_reason == "stop"  # openai-compatible: no price
    llm.complete(USER, role="coder")

    req = srv.requests[0]
    assert req.path == "/v1/chat/completions" and req.model == "fake-model"
    assert req.json["messages"] == msgs and "churn" in req.prompt_text
    assert req.json["max_tokens"] == 100 and req.json["temperature"] == 0.3
    assert auth_value(req) == "Bearer not-needed"  # local servers need no key, the client needs a value
    assert llm.usage.total() == {"calls": 2, "input_tokens": 16, "output_tokens": 10, "cost_usd": 0.0,
                                 "retries": 0, "failures": 0}
    by_role = llm.usage.by_role()
    assert by_role["planner"]["input_tokens"] == 11 and by_role["coder"]["output_tokens"] == 3
    run = llm.usage.as_run_json()
    assert run["provider"] == "openai-compatible" and run["model"] == "fake-model" and run["calls"] == 2
    assert run["failed_calls"] == 0 and run["stopped_reason"] is None


def test_openai_provider_sends_key_and_prices_known_models(srv):
    srv.add(Reply("ok", input_tokens=1_000_000, output_tokens=1_000_000))
    llm = make(srv, provider="openai", model="gpt-4o-mini-2024-07-18", api_key=KEY)
    r = llm.complete(USER, role="planner", max_tokens=50)
    assert auth_value(srv.requests[0]) == f"Bearer {KEY}"
    assert srv.requests[0].json["max_completion_tokens"] == 50  # OpenAI's current name for it
    assert r.cost_usd == pytest.approx(0.15 + 0.60)


def test_anthropic_completion_via_base_url(srv):
    srv.add(Reply("Claude says hi", input_tokens=20, output_tokens=4))
    # a base_url pasted with /v1 still works: the SDK appends /v1/messages itself
    llm = make(srv, provider="anthropic", model="claude-3-5-haiku-latest", api_key=KEY,
               base_url=srv.url + "/v1")
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"},
            {"role": "user", "content": "second part"}]
    r = llm.complete(msgs, role="reviewer", max_tokens=64)
    assert (r.text, r.input_tokens, r.output_tokens) == ("Claude says hi", 20, 4)
    assert r.cost_usd == pytest.approx((20 * 0.80 + 4 * 4.00) / 1e6)
    req = srv.requests[0]
    assert req.path == "/v1/messages" and req.model == "claude-3-5-haiku-latest"
    assert req.json["system"] == "Be brief." and req.json["max_tokens"] == 64
    # consecutive user turns merged: the Messages API wants alternating roles
    assert req.json["messages"] == [{"role": "user", "content": "hello\n\nsecond part"}]
    assert KEY in auth_value(req) and "anthropic-version" in req.headers


def test_json_mode_asks_for_json_and_adapts_when_response_format_is_rejected(srv):
    def answer(req):  # a server that does not know response_format, like some local ones
        if "response_format" in req.json:
            return Status(400, "Unrecognized request argument supplied: response_format")
        return Reply('{"model": "lightgbm"}')

    srv.default = answer
    llm = make(srv)
    r = llm.complete(USER, role="planner", json_mode=True)
    assert json.loads(r.text) == {"model": "lightgbm"}
    assert len(srv.requests) == 2 and "response_format" not in srv.requests[1].json
    assert "JSON" in srv.requests[1].prompt_text
    llm.complete(USER, role="planner", json_mode=True)  # remembered: no second rejected request
    assert len(srv.requests) == 3
    assert llm.usage.total()["failures"] == 0


def test_reasoning_effort_is_sent_and_dropped_once_where_unknown(srv):
    def answer(req):  # a server that does not know reasoning_effort
        if "reasoning_effort" in req.json:
            return Status(400, "Unrecognized request argument supplied: reasoning_effort")
        return Reply("ok")

    srv.default = answer
    llm = make(srv, reasoning_effort="high")
    assert llm.complete(USER, role="planner").text == "ok"
    assert srv.requests[0].json["reasoning_effort"] == "high" and "reasoning_effort" not in srv.requests[1].json
    llm.complete(USER, role="planner")
    assert len(srv.requests) == 3  # remembered


def test_rejected_temperature_is_dropped_once(srv):
    srv.add(Status(400, "Unsupported value: 'temperature' does not support 0.2 with this model."), "fine")
    llm = make(srv, provider="openai", model="o3-mini", api_key=KEY)
    assert llm.complete(USER, role="coder").text == "fine"
    assert "temperature" in srv.requests[0].json and "temperature" not in srv.requests[1].json


# -- retries ----------------------------------------------------------------------------------------------
def test_429_then_success_is_retried_and_counted_once(srv):
    srv.add(Status(429, "slow down"), Reply("done", input_tokens=3, output_tokens=2))
    llm = make(srv)
    assert llm.complete(USER, role="planner").text == "done"
    assert len(srv.requests) == 2
    t = llm.usage.total()
    assert (t["calls"], t["input_tokens"], t["retries"], t["failures"]) == (1, 3, 1, 0)


def test_retry_after_is_honoured_and_backoff_grows_without_it(srv):
    srv.add(Status(429, headers={"Retry-After": "7"}), Status(503, headers={}), Status(500, headers={}), "ok")
    llm = make(srv)
    llm.backoff_base_s = 1.0
    slept: list[float] = []
    llm._sleep = slept.append
    assert llm.complete(USER, role="planner").text == "ok"
    assert slept[0] == 7.0
    assert 1.0 <= slept[1] <= 2.0 and 2.0 <= slept[2] <= 4.0  # base * 2**attempt, jittered in [0.5, 1]x


def test_500_is_retried_then_fails_with_server_kind(srv):
    srv.add(Status(500, "boom"), "recovered")
    llm = make(srv)
    assert llm.complete(USER, role="coder").text == "recovered"
    assert len(srv.requests) == 2

    srv.add(*[Status(502, "bad gateway")] * 3)
    llm = make(srv, max_retries=2)
    with pytest.raises(LLMError) as ei:
        llm.complete(USER, role="coder")
    assert ei.value.kind == "server" and ei.value.status == 502
    assert len(srv.requests) == 2 + 3 and "after 3 attempts" in str(ei.value)
    run = llm.usage.as_run_json()
    assert run["failed_calls"] == 1 and run["calls"] == 0
    assert run["by_role"]["coder"]["last_failures"][0].startswith("server:")


def test_connection_reset_is_retried(srv):
    srv.add(Drop(), "after reset")
    llm = make(srv)
    assert llm.complete(USER, role="planner").text == "after reset"
    assert len(srv.requests) == 2 and llm.usage.total()["retries"] == 1


def test_timeout_is_resent_once_then_reported(srv):
    """A model that needed longer than the timeout will likely need it again: resent once, not max_retries
    times (five 120 s waits would burn ten minutes of a run before its fallback)."""
    srv.add(Reply("too late", delay_s=1.5), Reply("too late", delay_s=1.5), Reply("too late", delay_s=1.5))
    llm = make(srv, request_timeout_s=0.3, max_retries=4)
    with pytest.raises(LLMError) as ei:
        llm.complete(USER, role="planner")
    assert ei.value.kind == "server" and "request_timeout_s" in str(ei.value)
    assert len(srv.requests) == 2


def test_garbage_answer_is_a_clear_error_not_retried(srv):
    srv.add(Garbage())
    llm = make(srv)
    with pytest.raises(LLMError) as ei:
        llm.complete(USER, role="planner")
    assert ei.value.kind == "server" and "base_url" in str(ei.value) and "/v1" in str(ei.value)
    assert len(srv.requests) == 1


# -- errors that must not be retried ---------------------------------------------------------------------
def test_401_is_auth_with_clear_message_and_no_key(srv):
    # a server that echoes the key back must not get it into our message either
    srv.add(Status(401, f"Incorrect API key provided: {KEY}"))
    llm = make(srv, provider="openai", model="gpt-4o", api_key=KEY)
    with pytest.raises(LLMError) as ei:
        llm.complete(USER, role="planner")
    err = ei.value
    assert err.kind == "auth" and err.status == 401 and len(srv.requests) == 1
    text = str(err) + repr(err)
    assert KEY not in text and "OPENAI_API_KEY" in text and "gpt-4o" in text and srv.base_url in text
    assert KEY not in json.dumps(llm.usage.as_run_json())


def test_404_model_is_not_found(srv):
    srv.add(Status(404, "The model `nope` does not exist."))
    llm = make(srv, model="nope")
    with pytest.raises(LLMError) as ei:
        llm.complete(USER, role="planner")
    assert ei.value.kind == "not_found" and "'nope'" in str(ei.value) and "/models" in str(ei.value)
    assert len(srv.requests) == 1


def test_400_model_not_found_code_is_not_found(srv):
    srv.add(Status(400, "model 'x' not found, try pulling it first", error_code="model_not_found"))
    with pytest.raises(LLMError) as ei:
        make(srv, model="x").complete(USER, role="planner")
    assert ei.value.kind == "not_found"


def test_anthropic_errors_map_too(srv):
    srv.add(Status(401, "invalid x-api-key"), Status(529, "Overloaded"), "ok")
    llm = make(srv, provider="anthropic", model="claude-haiku-4-5", api_key=KEY)
    with pytest.raises(LLMError) as ei:
        llm.complete(USER, role="planner")
    assert ei.value.kind == "auth" and "ANTHROPIC_API_KEY" in str(ei.value) and KEY not in str(ei.value)
    assert llm.complete(USER, role="planner").text == "ok"  # 529 overloaded was retried


def test_unreachable_port_fails_fast():
    port = free_port()
    llm = LLM(LLMSettings(provider="openai-compatible", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                          request_timeout_s=2, max_retries=3))
    start = time.monotonic()
    with pytest.raises(LLMError) as ei:
        llm.complete(USER, role="planner")
    assert ei.value.kind == "unreachable" and f"127.0.0.1:{port}" in str(ei.value)
    assert time.monotonic() - start < 2.0  # refused: no retries, no backoff
    assert llm.usage.total()["retries"] == 0


def test_insufficient_quota_is_not_retried(srv):
    srv.add(Status(429, "You exceeded your current quota", error_code="insufficient_quota"))
    with pytest.raises(LLMError) as ei:
        make(srv).complete(USER, role="planner")
    assert ei.value.kind == "rate_limit" and "billing" in str(ei.value) and len(srv.requests) == 1


# -- budgets ----------------------------------------------------------------------------------------------
def test_max_tokens_total_stops_second_call_and_is_remembered(srv):
    srv.add(Reply("first", input_tokens=15, output_tokens=10))
    llm = make(srv, max_tokens_total=20)
    llm.complete(USER, role="planner")
    for _ in range(2):
        with pytest.raises(BudgetExceeded) as ei:
            llm.complete(USER, role="coder")
        assert ei.value.kind == "budget" and "max_tokens_total" in str(ei.value)
    assert len(srv.requests) == 1  # checked before the call: nothing sent
    run = llm.usage.as_run_json()
    assert run["stopped_reason"] and "max_tokens_total" in run["stopped_reason"]
    assert run["calls"] == 1 and run["failed_calls"] == 0


def test_max_cost_stops_and_a_shared_usage_stops_every_llm(srv):
    srv.add(Reply("pricey", input_tokens=100_000, output_tokens=100_000))
    usage = Usage()
    a = LLM(LLMSettings(provider="openai", model="gpt-4o", base_url=srv.base_url, api_key=KEY,
                        max_cost_usd=0.5), usage)
    b = LLM(LLMSettings(provider="openai", model="gpt-4o", base_url=srv.base_url, api_key=KEY), usage)
    assert a.complete(USER, role="planner").cost_usd == pytest.approx(0.25 + 1.0)
    with pytest.raises(BudgetExceeded):
        a.complete(USER, role="planner")
    with pytest.raises(BudgetExceeded):  # the stop is remembered in the shared Usage
        b.complete(USER, role="coder")
    assert "max_cost_usd" in usage.as_run_json()["stopped_reason"] and len(srv.requests) == 1


def test_usage_is_thread_safe(srv):
    srv.default = lambda req: Reply("x", input_tokens=2, output_tokens=1)
    llm = make(srv)
    roles = ["planner", "coder", "reviewer", "debugger"]

    def work(role):
        for _ in range(5):
            llm.complete(USER, role=role)

    threads = [threading.Thread(target=work, args=(roles[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t = llm.usage.total()
    assert (t["calls"], t["input_tokens"], t["output_tokens"]) == (40, 80, 40)
    assert sum(r["calls"] for r in llm.usage.by_role().values()) == 40


# -- settings ---------------------------------------------------------------------------------------------
def test_load_settings_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "mlwright.yaml"
    cfg.write_text("llm:\n  provider: openai-compatible\n  model: file-model\n  base_url: http://file:1/v1\n"
                   "  max_cost_usd: 2.5\n")
    env = {"MLWRIGHT_LLM_PROVIDER": "anthropic", "MLWRIGHT_LLM_MODEL": "env-model",
           "MLWRIGHT_LLM_BASE_URL": "http://env:1/v1", "OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": "sk-ant-other"}
    monkeypatch.chdir(tmp_path)  # mlwright.yaml in the cwd is found without config_path

    s = load_settings({"model": "cli-model", "base_url": None, "region": None}, env=env)
    assert (s.provider, s.model, s.base_url, s.max_cost_usd) == ("openai-compatible", "cli-model",
                                                                 "http://file:1/v1", 2.5)
    assert s.api_key is None  # OPENAI_API_KEY is not sent to an openai-compatible host it was not paired with

    s = load_settings({"llm": "anthropic"}, config_path=cfg, env=env)  # --llm is an alias for provider
    assert s.provider == "anthropic" and s.model == "file-model"
    assert s.api_key.get_secret_value() == "sk-ant-other"

    s = load_settings({}, env=env)  # file beats env, field by field
    assert (s.provider, s.model, s.base_url) == ("openai-compatible", "file-model", "http://file:1/v1")

    monkeypatch.chdir(tmp_path / "..")
    s = load_settings({}, env=env)  # no config file: the environment decides
    assert (s.provider, s.model, s.base_url) == ("anthropic", "env-model", "http://env:1/v1")
    s = load_settings({}, env={"OPENAI_BASE_URL": "http://proxy/v1", "MLWRIGHT_LLM_PROVIDER": "openai"})
    assert s.base_url == "http://proxy/v1" and s.api_key is None
    paired = {"OPENAI_BASE_URL": "http://router/v1", "OPENAI_API_KEY": KEY}
    s = load_settings({"provider": "openai-compatible", "model": "m"}, env=paired)
    assert s.base_url == "http://router/v1" and s.api_key.get_secret_value() == KEY
    s = load_settings({"provider": "openai", "model": "m", "api_key": "sk-cli-1234567"}, env={**env, **paired})
    assert s.api_key.get_secret_value() == "sk-cli-1234567"  # CLI beats env for the key too
    assert load_settings({"provider": "openai"}, env={"MLWRIGHT_LLM_API_KEY": "generic-key", **paired}
                         ).api_key.get_secret_value() == "generic-key"
    assert load_settings({}, env={}).provider == "none"


def test_load_settings_rejects_typos_and_warns_about_keys_in_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("llm:\n  provider: openai\n  max_cost: 1\n")
    with pytest.raises(ValueError, match="max_cost"):
        load_settings({}, config_path=bad, env={})
    with pytest.raises(ValueError, match="does not exist"):
        load_settings({}, config_path=tmp_path / "nope.yaml", env={})
    keyed = tmp_path / "keyed.yaml"
    keyed.write_text(f"llm:\n  provider: openai\n  api_key: {KEY}\n")
    with pytest.warns(UserWarning, match="environment variable"):
        s = load_settings({}, config_path=keyed, env={})
    assert s.api_key.get_secret_value() == KEY


def test_key_never_shown(srv):
    s = LLMSettings(provider="openai", model="gpt-4o", api_key=KEY, base_url=srv.base_url)
    assert KEY not in repr(s) and KEY not in str(s) and KEY not in s.model_dump_json()
    llm = LLM(s)
    assert KEY not in repr(llm)
    assert redact(f"header Authorization: Bearer {KEY}", s) == "header Authorization: Bearer [REDACTED]"
    assert "sk-" not in redact("echoed sk-proj-abcdefghijkl1234", None)
    err = LLMError(f"failed with key {KEY}", kind="auth", settings=s)
    assert KEY not in str(err) and KEY not in repr(err)


def test_missing_config_gives_clear_errors(monkeypatch):
    with pytest.raises(LLMError) as ei:
        LLM(LLMSettings(provider="openai", model="gpt-4o"))
    assert ei.value.kind == "auth" and "OPENAI_API_KEY" in str(ei.value)
    with pytest.raises(LLMError, match="base_url"):
        LLM(LLMSettings(provider="openai-compatible", model="m"))
    with pytest.raises(LLMError, match="no model"):
        LLM(LLMSettings(provider="openai-compatible", base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(LLMError, match="region"):
        LLM(LLMSettings(provider="bedrock", model="amazon.nova-lite-v1:0"))
    with pytest.raises(LLMError, match="no model"):  # no default model: names go stale
        LLM(LLMSettings(provider="anthropic", api_key=KEY))
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)  # hand-built settings still find the usual variable
    assert LLM(LLMSettings(provider="anthropic", model="claude-haiku-4-5")).available


def test_provider_none():
    s = LLMSettings()
    assert make_llm(s) is None
    llm = LLM(s)
    assert llm.available is False
    with pytest.raises(LLMError, match="none"):
        llm.complete(USER, role="planner")


def test_pricing_prefixes():
    assert estimate_cost("openai", "gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert estimate_cost("openai", "gpt-4o-2024-08-06", 0, 1_000_000) == pytest.approx(10.0)
    assert estimate_cost("anthropic", "claude-opus-4-5-20251101", 1_000_000, 0) == pytest.approx(5.0)
    assert estimate_cost("bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0", 1_000_000, 0) == pytest.approx(0.8)
    assert estimate_cost("openai-compatible", "gpt-4o", 10**6, 10**6) == 0.0
    assert estimate_cost("openai", "my-finetune", 10**6, 10**6) == 0.0
    # a prefix does not stretch over newer versions: unknown, so 0.0 rather than a guess
    assert price_per_mtok("openai", "gpt-5.5") is None and price_per_mtok("anthropic", "claude-opus-4-7") is None
    assert price_per_mtok("openai", "gpt-5-mini-2025-08-07") == (0.25, 2.00)


def test_unknown_price_warns_when_a_cost_budget_is_set(caplog):
    with caplog.at_level("WARNING", logger="mlwright.llm"):
        LLM(LLMSettings(provider="openai", model="gpt-99", api_key=KEY, max_cost_usd=1.0))
    assert "max_tokens_total" in caplog.text and KEY not in caplog.text


# -- bedrock ----------------------------------------------------------------------------------------------
@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    # dummy credentials, and no user config or instance metadata lookups (nothing beyond 127.0.0.1)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-access-key-for-tests")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-creds"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_bedrock_settings_build_a_client(aws_env):
    s = load_settings({"provider": "bedrock", "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
                      env={"AWS_REGION": "eu-central-1"})
    llm = LLM(s)
    client = llm._backend.client
    assert client.meta.region_name == "eu-central-1" and client.meta.service_model.service_name == "bedrock-runtime"
    assert client.meta.config.retries["total_max_attempts"] == 1  # retries are ours


def test_bedrock_converse_against_fake_endpoint(aws_env, srv):
    srv.add(Status(429, "Too many requests"), Reply("from bedrock", input_tokens=9, output_tokens=4),
            Status(403, "not authorized to invoke model"))
    llm = make(srv, provider="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0", region="us-east-1",
               base_url=srv.url)
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    r = llm.complete(msgs, role="planner", max_tokens=32)
    assert (r.text, r.input_tokens, r.output_tokens) == ("from bedrock", 9, 4)
    assert r.cost_usd == pytest.approx((9 * 0.25 + 4 * 1.25) / 1e6)
    req = srv.requests[-1]
    assert req.protocol == "bedrock" and req.model == "anthropic.claude-3-haiku-20240307-v1:0"
    assert req.json["system"] == [{"text": "sys"}] and req.json["inferenceConfig"]["maxTokens"] == 32
    assert len(srv.requests) == 2  # the throttle was retried
    with pytest.raises(LLMError) as ei:
        llm.complete(msgs, role="planner")
    assert ei.value.kind == "auth" and "AWS" in str(ei.value)
    assert "fake-secret-access-key-for-tests" not in str(ei.value)


# -- the fake server itself (reused by engine tests) -----------------------------------------------------
def test_fake_server_callable_answers_models_and_exhaustion(srv):
    srv.models = ["a", "b"]
    srv.add(lambda req: "echo: " + req.messages[-1]["content"])
    llm = make(srv)
    assert llm.complete(USER, role="planner").text == "echo: " + USER[0]["content"]
    import urllib.request
    with urllib.request.urlopen(srv.base_url + "/models") as resp:
        assert [m["id"] for m in json.load(resp)["data"]] == ["a", "b"]
    with pytest.raises(LLMError, match="script exhausted"):
        llm.complete(USER, role="planner")
    assert [r.protocol for r in srv.requests] == ["openai", "models", "openai"]


@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
def test_an_answer_cut_at_the_token_cap_is_asked_again_with_room_then_refused(srv, provider, monkeypatch):
    """Reasoning models spend much of the cap thinking: a `length` finish gets one retry with 4x the cap; cut
    twice, the agent falls back and says why (not a silent 'unusable answer')."""
    from mlwright.llm.agent import AgentFailures
    from mlwright.planning.llm_planner import PlannerAgent

    if provider == "anthropic":
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    good = '{"candidates": ["lgbm"], "action": "draft", "parent_id": null, "plan": "LightGBM with early stopping"}'
    srv.add(Reply('{"candidates": ["lgbm", "ca', finish_reason="length"), Reply(good))
    spec = TaskSpec(problem_type="binary", target="y", metric="roc_auc", higher_is_better=True, train_table="t",
                    test_table="u", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", "y"], output_kind="probability", class_labels=["0", "1"],
                    positive_class="1", feature_columns=["a"], n_train_rows=100, n_test_rows=10)
    failures = AgentFailures()
    agent = PlannerAgent(make(srv, provider), failures)
    decision, from_llm = agent.ask(spec=spec, history=[], diagnoses={}, time_left=100.0, guidance=[])
    assert from_llm and decision.plan == "LightGBM with early stopping"
    caps = [r.json.get("max_tokens") or r.json.get("max_completion_tokens") for r in srv.requests]
    assert caps == [agent.max_tokens, 4 * agent.max_tokens]
    srv.add(Reply('{"cand', finish_reason="length"), Reply('{"candidates": ["lg', finish_reason="length"))
    decision, from_llm = agent.ask(spec=spec, history=[], diagnoses={}, time_left=100.0, guidance=[])
    assert not from_llm and "cut at the" in failures.reasons[-1]


def test_reasoning_effort_becomes_anthropic_extended_thinking_in_the_form_the_model_takes(srv, monkeypatch):
    """A thinking budget by effort, on top of the answer's cap and without a temperature; a model that refuses a
    budget gets the adaptive form with the effort; a model without thinking gets neither (remembered)."""
    from mlwright.llm.backends import THINKING_BUDGET

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)

    def answer(req):  # a model that takes only adaptive thinking
        if (req.json.get("thinking") or {}).get("type") == "enabled":
            return Status(400, "thinking.type.enabled is not supported for this model; use thinking.type.adaptive")
        return Reply("ok")

    srv.default = answer
    llm = make(srv, provider="anthropic", reasoning_effort="high")
    assert llm.complete(USER, role="planner", max_tokens=500).text == "ok"
    first, second = srv.requests[0].json, srv.requests[1].json
    assert first["thinking"] == {"type": "enabled", "budget_tokens": THINKING_BUDGET["high"]}
    assert first["max_tokens"] == 500 + THINKING_BUDGET["high"] and "temperature" not in first
    assert second["thinking"] == {"type": "adaptive"} and second["output_config"] == {"effort": "high"}
    llm.complete(USER, role="planner", max_tokens=500)
    assert srv.requests[2].json["thinking"] == {"type": "adaptive"}  # remembered
    srv.requests.clear()

    def plain(req):  # a model without extended thinking
        if "thinking" in req.json or "output_config" in req.json:
            return Status(400, "output_config: Extra inputs are not permitted")
        return Reply("ok")

    srv.default = plain
    llm = make(srv, provider="anthropic", reasoning_effort="low")
    assert llm.complete(USER, role="planner", max_tokens=500).text == "ok"
    last = srv.requests[-1].json
    assert "thinking" not in last and last["max_tokens"] == 500 and last["temperature"] == pytest.approx(0.2)
