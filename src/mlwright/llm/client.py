"""LLM: one entry point for every provider, with budgets, retries, usage accounting and clear errors."""
from __future__ import annotations

import logging
import os
import random
import time
from typing import Callable

from pydantic import BaseModel

from .backends import JSON_INSTRUCTION, AnthropicBackend, BedrockBackend, Failure, OpenAIBackend
from .errors import BudgetExceeded, LLMError, redact
from .transcript import Transcript
from .pricing import estimate_cost, price_per_mtok
from .settings import LLMSettings, env_key
from .usage import Usage

log = logging.getLogger(__name__)
_ROLES = {"system", "user", "assistant"}
_LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "bedrock": "AWS Bedrock",
           "openai-compatible": "OpenAI-compatible server"}


class LLMResponse(BaseModel):
    text: str
    input_tokens: int
    output_tokens: int
    model: str
    cost_usd: float  # an estimate from list prices; 0.0 for local / openai-compatible / unknown models
    finish_reason: str | None = None  # "length"/"max_tokens" means the answer was cut at max_tokens


class LLM:
    # Backoff when the server gives no Retry-After: base * 2**attempt with jitter, capped.
    backoff_base_s = 1.0
    backoff_max_s = 30.0
    retry_after_max_s = 60.0  # a server asking for longer is not worth waiting for inside one run

    def __init__(self, settings: LLMSettings, usage: Usage | None = None):
        self.settings = settings
        self.available = settings.provider != "none"
        self.model = settings.resolved_model()
        self._usage = usage if usage is not None else Usage()
        if self._usage.provider is None:
            self._usage.provider, self._usage.model = settings.provider, self.model
        self._sleep: Callable[[float], None] = time.sleep  # tests may replace it
        self.transcript: Transcript | None = None  # the run folder's llm/transcript.jsonl, when a run sets it
        self._backend = self._make_backend() if self.available else None

    def __repr__(self) -> str:
        return f"LLM({self.settings.describe()})"

    @property
    def usage(self) -> Usage:
        return self._usage

    # -- construction ------------------------------------------------------------------------------
    def _config_error(self, message: str, kind: str = "other") -> LLMError:
        s = self.settings
        return LLMError(message, kind=kind, provider=s.provider, model=self.model, base_url=s.base_url, settings=s)

    def _make_backend(self):
        s = self.settings
        if not self.model:
            hint = {"openai": "e.g. 'gpt-4.1-mini'", "anthropic": "e.g. 'claude-haiku-4-5'",
                    "openai-compatible": "the name the server knows (e.g. 'llama3.1:8b' for Ollama)",
                    "bedrock": "a model or inference-profile id enabled in your region"}[s.provider]
            raise self._config_error(f"{_LABELS[s.provider]}: no model set. Pass --model or set "
                                     f"MLWRIGHT_LLM_MODEL ({hint}; the provider's model list has the current ones).")
        if price_per_mtok(s.provider, self.model) is None:
            log.warning("no list price known for %s model %r: its cost counts as $0.00%s", s.provider, self.model,
                        "; max_cost_usd cannot limit it, use max_tokens_total" if s.max_cost_usd is not None else "")
        try:
            if s.provider == "bedrock":
                if not s.region:
                    raise self._config_error("AWS Bedrock: no region set. Pass --region or set AWS_REGION "
                                             "(a region where the model is enabled, e.g. us-east-1).")
                return BedrockBackend(s)
            key = self._api_key()
            if s.provider == "anthropic":
                return AnthropicBackend(s, key)
            if s.provider == "openai-compatible" and not s.base_url:
                raise self._config_error(
                    "OpenAI-compatible provider needs base_url (--base-url / MLWRIGHT_LLM_BASE_URL), e.g. "
                    "http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM, "
                    "https://openrouter.ai/api/v1 for OpenRouter.")
            return OpenAIBackend(s, key)
        except ImportError as exc:
            raise self._config_error(f"the '{exc.name}' package is missing for provider {s.provider}: "
                                     "pip install 'mlwright[llm]'") from None

    def _api_key(self) -> str:
        s = self.settings
        if s.api_key is not None and s.api_key.get_secret_value():
            return s.api_key.get_secret_value()
        # Settings built by hand (not via load_settings) still find the usual variables.
        key = env_key(s.provider, s.base_url, os.environ)
        if key:
            return key
        if s.provider == "openai-compatible":
            return "not-needed"  # local servers ignore it, but the client insists on some value
        env_name = "OPENAI_API_KEY" if s.provider == "openai" else "ANTHROPIC_API_KEY"
        raise self._config_error(f"{_LABELS[s.provider]}: no API key. Set {env_name} (or MLWRIGHT_LLM_API_KEY) "
                                 "in the environment.", kind="auth")

    # -- the call ----------------------------------------------------------------------------------
    def complete(self, messages: list[dict], *, role: str, max_tokens: int = 2048,
                 json_mode: bool = False, deadline: float | None = None) -> LLMResponse:
        """`deadline` (epoch seconds): no call or retry runs past it (the run's time budget)."""
        if not self.available:
            raise self._config_error("no LLM provider configured (provider 'none'); pass --llm to use one.")
        messages = _checked(messages)
        if json_mode:  # every provider gets the instruction; OpenAI-style ones also get response_format
            messages = [{"role": "system", "content": JSON_INSTRUCTION}] + messages
        self._check_budget()
        attempt = timeouts = 0
        started = time.time()
        while True:
            timeout = None
            if deadline is not None:
                timeout = min(self.settings.request_timeout_s, deadline - time.time())
                if timeout < 3:
                    raise BudgetExceeded("no time left in the run's budget for another LLM call", kind="budget",
                                         provider=self.settings.provider, model=self.model, settings=self.settings)
            try:
                result = self._backend.call(messages, self.model, max_tokens, self.settings.temperature, json_mode,
                                            timeout=timeout)
                break
            except Exception as exc:  # noqa: BLE001 - classify() decides; unknown errors are re-raised
                failure = self._backend.classify(exc)
                if failure is None:
                    raise
                timeouts += failure.code == "timeout"
                # a model that needed longer than the timeout will likely need it again: resend once, not
                # max_retries times (five 120 s waits would burn ten minutes of the run before falling back)
                if failure.retryable and attempt < self.settings.max_retries and timeouts <= 1:
                    self._usage.record_retry(role)
                    self._sleep(self._delay(attempt, failure.retry_after))
                    attempt += 1
                    continue
                err = self._error(failure, attempt + 1)
                self._usage.record_failure(role, err.kind, err.message)
                if self.transcript is not None:
                    self.transcript.add(role, messages, None, error=err.message,
                                        seconds=round(time.time() - started, 2))
                raise err from None
        # an answer that echoes a key (a server's error text, a model repeating its context) is masked before
        # anything can store it: the journal, a script, a diagnosis, the transcript
        result.text = redact(result.text, self.settings)
        cost = estimate_cost(self.settings.provider, self.model, result.input_tokens, result.output_tokens)
        self._usage.record_call(role, result.input_tokens, result.output_tokens, cost)
        if self.transcript is not None:
            self.transcript.add(role, messages, result.text, finish_reason=result.finish_reason,
                                input_tokens=result.input_tokens, output_tokens=result.output_tokens,
                                seconds=round(time.time() - started, 2), max_tokens=max_tokens)
        return LLMResponse(text=result.text, input_tokens=result.input_tokens, output_tokens=result.output_tokens,
                           model=result.model, cost_usd=cost, finish_reason=result.finish_reason)

    def _check_budget(self) -> None:
        """Refuse the call once a budget is reached; the stop is remembered in Usage (shared by all users)."""
        s, u = self.settings, self._usage
        if u.stopped_reason is None:
            t = u.total()
            used = t["input_tokens"] + t["output_tokens"]
            if s.max_tokens_total is not None and used >= s.max_tokens_total:
                u.stop(f"max_tokens_total reached ({used} of {s.max_tokens_total} tokens used)")
            elif s.max_cost_usd is not None and t["cost_usd"] >= s.max_cost_usd:
                u.stop(f"max_cost_usd reached (estimated ${t['cost_usd']:.4f} of ${s.max_cost_usd:.4f})")
        if u.stopped_reason is not None:
            raise BudgetExceeded(f"LLM budget exhausted: {u.stopped_reason}; no further LLM calls in this run "
                                 "(raise the budget to allow more).", provider=s.provider, model=self.model,
                                 base_url=s.base_url, settings=s)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_max_s)
        # jitter spreads out clients that failed together
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** attempt) * random.uniform(0.5, 1.0)

    def _error(self, f: Failure, attempts: int) -> LLMError:
        s = self.settings
        who = f"{_LABELS[s.provider]} (model {self.model!r}" + (f", base_url {s.base_url}" if s.base_url else "") \
            + (f", region {s.region}" if s.provider == "bedrock" and s.region else "") + ")"
        http = f" (HTTP {f.status})" if f.status else ""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        detail = f": {f.detail.rstrip('. ')}" if f.detail else ""
        compat = s.provider == "openai-compatible"
        if f.kind == "auth":
            fix = {"openai": "Check OPENAI_API_KEY (or MLWRIGHT_LLM_API_KEY).",
                   "anthropic": "Check ANTHROPIC_API_KEY (or MLWRIGHT_LLM_API_KEY).",
                   "openai-compatible": "Check the server's API key (MLWRIGHT_LLM_API_KEY or OPENAI_API_KEY).",
                   "bedrock": "Check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                              "an IAM role) and that access to this model is granted in this region."}[s.provider]
            msg = f"{who} rejected the credentials{http}{detail}. {fix}"
        elif f.kind == "not_found":
            fix = "Check the model name (--model)."
            if compat:
                fix += f" For an OpenAI-compatible server also check that base_url ends in /v1 and the model is " \
                       f"pulled/loaded (GET {s.base_url.rstrip('/')}/models lists them)."
            elif s.provider == "bedrock":
                fix += " Newer Bedrock models need an inference-profile id (e.g. 'us.anthropic...')."
            msg = f"{who}: model not found{http}{detail}. {fix}"
        elif f.kind == "unreachable":
            msg = (f"cannot reach {who}{tries}{detail}. Check that the server is running and the address "
                   "(base_url), network or proxy is right.")
        elif f.kind == "rate_limit":
            if f.retryable:
                msg = f"{who} kept rate-limiting{tries}{http}{detail}. Wait and retry, or use a lower request rate."
            else:
                msg = f"{who}: quota exhausted{http}{detail}. Check the account's billing and limits."
        elif f.kind == "server" and f.code == "bad_response":
            msg = (f"{who} answered with something that is not a valid API response{detail}. "
                   "Check base_url (OpenAI-compatible servers usually end in /v1).")
        elif f.kind == "server" and f.code == "timeout":
            msg = (f"{who} did not answer within request_timeout_s={s.request_timeout_s:g}s{tries}. "
                   "Raise the timeout or use a faster model.")
        elif f.kind == "server":
            msg = f"{who} failed{http}{tries}{detail}. The service may be down or overloaded; try again later."
        elif f.kind == "bad_request":
            msg = (f"{who} rejected the request{http}{detail}. The prompt may be too long for the model, or a "
                   "parameter unsupported.")
        else:
            msg = f"{who} call failed{http}{tries}{detail}."
        return LLMError(msg, kind=f.kind, provider=s.provider, model=self.model, base_url=s.base_url,
                        status=f.status, settings=s)


def _checked(messages: list[dict]) -> list[dict]:
    if not messages:
        raise ValueError("messages must not be empty")
    out = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"each message must be {{'role': system|user|assistant, 'content': str}}, got {m!r:.200}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def make_llm(settings: LLMSettings, usage: Usage | None = None) -> LLM | None:
    """None when no provider is configured: callers then use the deterministic implementation."""
    return LLM(settings, usage) if settings.provider != "none" else None
