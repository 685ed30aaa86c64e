"""One small adapter per wire protocol: send a chat, return (text, tokens), and classify failures.

The SDKs are imported lazily (they are the optional `llm` extra) and built with max_retries=0: retries
happen in one place (client.LLM) so counting, budgets and tests are deterministic.
"""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any

from .settings import DEFAULT_BASE_URLS, LLMSettings

JSON_INSTRUCTION = ("Answer with one valid JSON value only (JSON: no prose, no markdown code fences).")


@dataclass
class Result:
    text: str
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str | None = None


@dataclass
class Failure:
    kind: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""
    code: str | None = None  # provider error code (model_not_found, insufficient_quota, ThrottlingException ...)


class BadResponse(Exception):
    """The server answered 2xx with something that is not the protocol's response (wrong base_url, proxy page)."""


def rough_tokens(text: str) -> int:
    # Servers that report no usage still count against max_tokens_total: ~4 characters per token.
    return max(1, len(text) // 4) if text else 0


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:  # an HTTP date
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def _cause_chain(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _short(text: Any, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " ..."


_MODEL_MISSING = ("model_not_found", "does not exist", "not found", "no such model", "unknown model",
                  "invalid model", "model identifier is invalid")


def _status_failure(status: int, detail: str, code: str | None, retry_after: float | None) -> Failure:
    """HTTP status (+ provider code/message) -> kind and whether a retry may help."""
    low = f"{code or ''} {detail}".lower()
    if status in (401, 403):
        return Failure("auth", False, status, None, detail, code)
    if status == 404 or (status in (400, 422) and "model" in low and any(s in low for s in _MODEL_MISSING)):
        return Failure("not_found", False, status, None, detail, code)
    if status == 429:
        # insufficient_quota is a billing state, not a burst: retrying only burns time
        billing = "insufficient_quota" in low or "exceeded your current quota" in low
        return Failure("rate_limit", not billing, status, retry_after, detail, code)
    if status in (408, 409) or status >= 500:
        return Failure("server", True, status, retry_after, detail, code)
    if 400 <= status < 500:
        return Failure("bad_request", False, status, None, detail, code)
    return Failure("other", False, status, None, detail, code)


def _connection_failure(exc: BaseException) -> Failure:
    """Connection-level failures: refused/DNS fail fast; timeouts and resets are worth a retry."""
    chain = _cause_chain(exc)
    names = {type(e).__name__ for e in chain}
    last = chain[-1]
    detail = _short(f"{type(last).__name__}: {last}")
    if any(isinstance(e, (ConnectionRefusedError, socket.gaierror)) for e in chain) or "ConnectError" in names \
            or "ProxyError" in names or "EndpointConnectionError" in names:
        return Failure("unreachable", False, detail=detail)
    if "ConnectTimeout" in names or "ConnectTimeoutError" in names:
        return Failure("unreachable", True, detail=detail)
    if names & {"APITimeoutError", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException",
                "ReadTimeoutError", "TimeoutError"}:
        return Failure("server", True, detail="timeout: " + detail, code="timeout")
    return Failure("unreachable", True, detail=detail)  # reset / closed / protocol error mid-flight


def _split_system(messages: list[dict]) -> tuple[str, list[dict]]:
    """Anthropic and Bedrock take the system prompt apart and want user/assistant turns alternating."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns: list[dict] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if turns and turns[-1]["role"] == m["role"]:
            turns[-1] = {"role": m["role"], "content": turns[-1]["content"] + "\n\n" + m["content"]}
        else:
            turns.append(dict(m))
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "Continue."})
    return system, turns


def _mentions(detail: str, word: str) -> bool:
    return word in detail.lower()


# -- Stainless SDKs (openai, anthropic): same exception shapes ---------------------------------------------
def _classify_stainless(sdk: Any, exc: BaseException) -> Failure | None:
    if isinstance(exc, BadResponse):
        return Failure("server", False, detail=str(exc), code="bad_response")
    if isinstance(exc, sdk.APIStatusError):
        body = exc.body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = body["error"]
        detail = body.get("message") if isinstance(body, dict) else None
        code = body.get("code") or body.get("type") if isinstance(body, dict) else None
        detail = _short(detail or body or exc.message)
        return _status_failure(exc.status_code, detail, str(code) if code else None,
                               _retry_after(getattr(exc.response, "headers", None)))
    if isinstance(exc, sdk.APIConnectionError):
        return _connection_failure(exc)
    if isinstance(exc, (sdk.APIResponseValidationError, json.JSONDecodeError)):
        return Failure("server", False, detail=_short(exc), code="bad_response")
    return None


class OpenAIBackend:
    """OpenAI and every OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter, proxies)."""

    def __init__(self, settings: LLMSettings, api_key: str):
        import openai

        self.sdk = openai
        self.base_url = settings.base_url or DEFAULT_BASE_URLS["openai"]
        self.client = openai.OpenAI(api_key=api_key, base_url=self.base_url, timeout=settings.request_timeout_s,
                                    max_retries=0)
        # OpenAI's newer models take max_completion_tokens; many local servers only know max_tokens.
        self.max_tokens_param = "max_completion_tokens" if settings.provider == "openai" else "max_tokens"
        self.swapped_max_tokens = False
        self.send_temperature = True
        self.send_response_format = True
        self.reasoning_effort = settings.reasoning_effort

    def call(self, messages: list[dict], model: str, max_tokens: int, temperature: float, json_mode: bool,
             timeout: float | None = None) -> Result:
        while True:
            kwargs: dict[str, Any] = {"model": model, "messages": messages, self.max_tokens_param: max_tokens}
            if timeout is not None:
                kwargs["timeout"] = timeout
            if self.send_temperature:
                kwargs["temperature"] = temperature
            if json_mode and self.send_response_format:
                kwargs["response_format"] = {"type": "json_object"}
            if self.reasoning_effort:
                kwargs["reasoning_effort"] = self.reasoning_effort
            try:
                resp = self.client.chat.completions.create(**kwargs)
                break
            except self.sdk.BadRequestError as exc:
                if not self._adapt(str(exc.message), json_mode):
                    raise
        choices = getattr(resp, "choices", None)
        if isinstance(resp, str) or not choices or getattr(choices[0], "message", None) is None:
            raise BadResponse(f"not a chat completion: {_short(resp, 200)}")
        text = choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        tin = getattr(usage, "prompt_tokens", None)
        tout = getattr(usage, "completion_tokens", None)
        if tin is None or tout is None:
            tin = rough_tokens("".join(m["content"] for m in messages))
            tout = rough_tokens(text)
        return Result(text, int(tin), int(tout), getattr(resp, "model", None) or model, choices[0].finish_reason)

    def _adapt(self, message: str, json_mode: bool) -> bool:
        """Some models reject a parameter (reasoning models: temperature, max_tokens; some servers:
        response_format). Drop or rename it once and resend, rather than keep a per-model list."""
        low = message.lower()
        if "max_completion_tokens" in low and not self.swapped_max_tokens:
            self.swapped_max_tokens = True
            self.max_tokens_param = ("max_tokens" if self.max_tokens_param == "max_completion_tokens"
                                     else "max_completion_tokens")
            return True
        if self.reasoning_effort and "reasoning_effort" in low:
            self.reasoning_effort = None
            return True
        if self.send_temperature and "temperature" in low:
            self.send_temperature = False
            return True
        if json_mode and self.send_response_format and "response_format" in low:
            self.send_response_format = False  # the JSON instruction in the prompt still asks for JSON
            return True
        return False

    def classify(self, exc: BaseException) -> Failure | None:
        return _classify_stainless(self.sdk, exc)


THINKING_BUDGET = {"minimal": 1024, "low": 2048, "medium": 6000, "high": 16000}  # Anthropic's minimum is 1024
_ANTHROPIC_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}


class AnthropicBackend:
    def __init__(self, settings: LLMSettings, api_key: str):
        import anthropic

        self.sdk = anthropic
        # The SDK appends /v1/messages itself; people often paste a base_url ending in /v1.
        base = (settings.base_url or DEFAULT_BASE_URLS["anthropic"]).rstrip("/")
        self.base_url = base[:-3] if base.endswith("/v1") else base
        self.client = anthropic.Anthropic(api_key=api_key, base_url=self.base_url,
                                          timeout=settings.request_timeout_s, max_retries=0)
        self.send_temperature = True
        # reasoning_effort as extended thinking: a token budget ("enabled", every thinking model), else the
        # adaptive form with an effort (models that refuse a budget), else none (a model without thinking)
        self.effort = settings.reasoning_effort
        self.thinking_forms = ["enabled", "adaptive"] if self.effort else []

    def thinking(self, max_tokens: int) -> tuple[dict[str, Any], int]:
        """The request fields for extended thinking and the cap to send: the answer's cap plus the budget (thinking
        counts in max_tokens), so a thinking model keeps the room an answer needs."""
        if not self.thinking_forms or self.effort is None:
            return {}, max_tokens
        if self.thinking_forms[0] == "adaptive":
            return {"thinking": {"type": "adaptive"}, "output_config": {"effort": _ANTHROPIC_EFFORT[self.effort]}}, \
                max_tokens
        budget = THINKING_BUDGET[self.effort]
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}, max_tokens + budget

    def call(self, messages: list[dict], model: str, max_tokens: int, temperature: float, json_mode: bool,
             timeout: float | None = None) -> Result:
        system, turns = _split_system(messages)
        while True:
            extra, cap = self.thinking(max_tokens)
            kwargs: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": cap}
            if timeout is not None:
                kwargs["timeout"] = timeout
            if system:
                kwargs["system"] = system
            if self.send_temperature and not extra:  # thinking takes no temperature
                extra = {"temperature": temperature}
            if extra:
                # via extra_body: recent SDK versions dropped the sampling parameters from the signature
                kwargs["extra_body"] = extra
            try:
                resp = self.client.messages.create(**kwargs)
                break
            except self.sdk.BadRequestError as exc:
                msg = str(exc.message)
                if self.thinking_forms and any(_mentions(msg, w) for w in ("thinking", "budget_tokens", "effort",
                                                                           "output_config", "adaptive")):
                    self.thinking_forms.pop(0)  # this model takes the other form, or none
                    continue
                if not (self.send_temperature and _mentions(msg, "temperature")):
                    raise
                self.send_temperature = False
        content = getattr(resp, "content", None)
        if isinstance(resp, str) or content is None:
            raise BadResponse(f"not an Anthropic message: {_short(resp, 200)}")
        text = "".join(getattr(b, "text", "") for b in content if getattr(b, "type", None) == "text")
        usage = getattr(resp, "usage", None)
        tin = getattr(usage, "input_tokens", None)
        tout = getattr(usage, "output_tokens", None)
        if tin is None or tout is None:
            tin, tout = rough_tokens(system + "".join(t["content"] for t in turns)), rough_tokens(text)
        # prompt-cache reads/writes are input too (priced differently; the estimate ignores that)
        tin += ((getattr(usage, "cache_creation_input_tokens", 0) or 0)
                + (getattr(usage, "cache_read_input_tokens", 0) or 0))
        return Result(text, int(tin), int(tout), getattr(resp, "model", None) or model,
                      getattr(resp, "stop_reason", None))

    def classify(self, exc: BaseException) -> Failure | None:
        return _classify_stainless(self.sdk, exc)


_BEDROCK_THROTTLE = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_BEDROCK_AUTH = {"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException",
                 "InvalidSignatureException", "ExpiredToken", "InvalidClientTokenId"}
_BEDROCK_TRANSIENT = {"InternalServerException", "ServiceUnavailableException", "ModelNotReadyException",
                      "ModelTimeoutException", "ModelErrorException"}


class BedrockBackend:
    """AWS Bedrock via the Converse API (one request shape for every model family)."""

    def __init__(self, settings: LLMSettings):
        import boto3
        import botocore.config
        import botocore.exceptions

        self.botocore_exc = botocore.exceptions
        self.base_url = settings.base_url
        config = botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},  # no SDK retries: LLM retries
            connect_timeout=min(10.0, settings.request_timeout_s), read_timeout=settings.request_timeout_s)
        session = boto3.session.Session(region_name=settings.region)
        self.client = session.client("bedrock-runtime", region_name=settings.region, config=config,
                                     endpoint_url=settings.base_url or None)
        self.send_temperature = True

    def call(self, messages: list[dict], model: str, max_tokens: int, temperature: float, json_mode: bool,
             timeout: float | None = None) -> Result:
        system, turns = _split_system(messages)
        while True:
            inference: dict[str, Any] = {"maxTokens": max_tokens}
            if self.send_temperature:
                inference["temperature"] = temperature
            kwargs: dict[str, Any] = {"modelId": model, "inferenceConfig": inference,
                                      "messages": [{"role": t["role"], "content": [{"text": t["content"]}]}
                                                   for t in turns]}
            if system:
                kwargs["system"] = [{"text": system}]
            try:
                resp = self.client.converse(**kwargs)
                break
            except self.botocore_exc.ClientError as exc:
                err = exc.response.get("Error", {})
                if not (self.send_temperature and err.get("Code") == "ValidationException"
                        and _mentions(str(err.get("Message", "")), "temperature")):
                    raise
                self.send_temperature = False
        try:
            blocks = resp["output"]["message"]["content"]
        except (KeyError, TypeError):
            raise BadResponse(f"not a Converse response: {_short(resp, 200)}") from None
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict))
        usage = resp.get("usage") or {}
        tin, tout = usage.get("inputTokens"), usage.get("outputTokens")
        if tin is None or tout is None:
            tin, tout = rough_tokens(system + "".join(t["content"] for t in turns)), rough_tokens(text)
        return Result(text, int(tin), int(tout), model, resp.get("stopReason"))

    def classify(self, exc: BaseException) -> Failure | None:
        e = self.botocore_exc
        if isinstance(exc, BadResponse):
            return Failure("server", False, detail=str(exc), code="bad_response")
        if isinstance(exc, e.ClientError):
            err = exc.response.get("Error", {})
            code, detail = err.get("Code", ""), _short(err.get("Message", "") or exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            retry_after = _retry_after({k.lower(): v for k, v in
                                        exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).items()})
            if code in _BEDROCK_THROTTLE:
                return Failure("rate_limit", True, status or 429, retry_after, detail, code)
            if code in _BEDROCK_AUTH:
                return Failure("auth", False, status or 403, None, detail, code)
            if code == "ResourceNotFoundException":
                return Failure("not_found", False, status or 404, None, detail, code)
            if code in _BEDROCK_TRANSIENT:
                return Failure("server", True, status or 500, retry_after, detail, code)
            return _status_failure(status or 400, detail, code, retry_after)
        if isinstance(exc, (e.NoCredentialsError, e.PartialCredentialsError)):
            return Failure("auth", False, detail=_short(exc), code=type(exc).__name__)
        if isinstance(exc, (e.EndpointConnectionError, e.ConnectTimeoutError, e.ReadTimeoutError,
                            e.ConnectionClosedError, e.ProxyConnectionError)):
            return _connection_failure(exc)
        if isinstance(exc, e.BotoCoreError):
            return Failure("other", False, detail=_short(exc), code=type(exc).__name__)
        return None
