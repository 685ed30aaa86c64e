"""LLM settings and where they come from: CLI > config file (mlwright.yaml) > environment."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr

Provider = Literal["none", "openai", "anthropic", "bedrock", "openai-compatible"]

# Passed to the SDKs explicitly so they never pick up OPENAI_BASE_URL / ANTHROPIC_BASE_URL on their own.
DEFAULT_BASE_URLS: dict[str, str] = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
# Environment variables that may hold a key; redact() masks these too.
KEY_ENV_VARS = ("MLWRIGHT_LLM_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK")


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider = "none"
    model: str | None = None
    # openai-compatible servers (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter) or a proxy; Bedrock: endpoint_url
    base_url: str | None = None
    # else from the environment (see load_settings); never shown: SecretStr masks it in repr/dumps
    api_key: SecretStr | None = None
    region: str | None = None  # bedrock
    max_cost_usd: float | None = Field(default=None, ge=0)
    max_tokens_total: int | None = Field(default=None, ge=0)
    request_timeout_s: float = Field(default=120, gt=0)
    max_retries: int = Field(default=4, ge=0)  # rate limits, resets, 5xx; a timed-out call is resent once at most
    # answer caps per role (planner, coder, analyst, refinement, perception, reader), over the agents' defaults;
    # reasoning models count their hidden reasoning in the cap: give them room
    max_tokens: dict[str, int] = Field(default_factory=dict)
    # sent to OpenAI-style APIs that know it (reasoning models); Anthropic: extended thinking with a token budget by
    # effort (1k-16k, added to the answer's cap), else adaptive thinking with that effort; dropped once if refused
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    temperature: float = Field(default=0.2, ge=0, le=2)

    @property
    def available(self) -> bool:
        return self.provider != "none"

    def resolved_model(self) -> str | None:
        # No default model: model names and prices move fast, a stale default would fail at the first call.
        return self.model or None

    def describe(self) -> str:
        """'provider/model at base_url' for messages; never the key."""
        where = f" at {self.base_url}" if self.base_url else ""
        if self.provider == "bedrock" and self.region:
            where += f" (region {self.region})"
        return f"{self.provider} model {self.resolved_model() or '<unset>'!r}{where}"


_FIELDS = set(LLMSettings.model_fields)
_CLI_ALIASES = {"llm": "provider", "llm_provider": "provider", "llm_model": "model", "llm_base_url": "base_url",
                "llm_api_key": "api_key", "llm_region": "region", "llm_max_cost_usd": "max_cost_usd",
                "llm_max_tokens_total": "max_tokens_total", "llm_timeout": "request_timeout_s",
                "llm_retries": "max_retries"}


def _from_cli(cli: Mapping[str, Any]) -> dict[str, Any]:
    # The CLI dict may carry other options too (and --llm for the provider): keep only ours, and only set ones.
    out: dict[str, Any] = {}
    for key, value in cli.items():
        name = _CLI_ALIASES.get(key, key)
        if name in _FIELDS and value is not None:
            out[name] = value
    return out


def config_file(config_path: Path | None) -> dict[str, Any]:
    """The settings file as a mapping: `config_path`, else ./mlwright.yaml when there is one, else empty."""
    if config_path is None:
        config_path = Path.cwd() / "mlwright.yaml"
        if not config_path.is_file():
            return {}
    elif not Path(config_path).is_file():
        raise ValueError(f"config file {config_path} does not exist")
    try:
        data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{config_path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{config_path}: expected a mapping at the top level")
    return data


def cluster_address(config_path: Path | None) -> str | None:
    """`cluster: {address: ...}` of the settings file (the Ray cluster attempts run on), or None."""
    section = config_file(config_path).get("cluster") or {}
    if not isinstance(section, dict) or set(section) - {"address"}:
        raise ValueError("'cluster' must be a mapping with one key, address (auto, HOST:PORT or ray://HOST:10001)")
    address = section.get("address")
    return str(address) if address else None


def _from_config(config_path: Path | None) -> dict[str, Any]:
    data = config_file(config_path)
    config_path = config_path or Path("mlwright.yaml")  # for the messages
    section = data.get("llm") or {}
    if isinstance(section, str):  # `llm: openai` shorthand
        section = {"provider": section}
    if not isinstance(section, dict):
        raise ValueError(f"{config_path}: 'llm' must be a mapping (provider, model, base_url, ...)")
    unknown = sorted(set(section) - _FIELDS)
    if unknown:  # a typo (max_cost vs max_cost_usd) would otherwise silently lift a budget
        raise ValueError(f"{config_path}: unknown llm keys {unknown}; allowed: {sorted(_FIELDS)}")
    if section.get("api_key"):
        warnings.warn(f"{config_path} holds an LLM API key; prefer an environment variable "
                      "(OPENAI_API_KEY, ANTHROPIC_API_KEY or MLWRIGHT_LLM_API_KEY)", stacklevel=3)
    return {k: v for k, v in section.items() if v is not None}


def env_key(provider: str, base_url: str | None, env: Mapping[str, str]) -> str | None:
    """The key the environment holds for this provider. An openai-compatible server gets OPENAI_API_KEY only
    when OPENAI_BASE_URL points at it (the usual pairing): a real OpenAI key is not sent to other hosts."""
    if env.get("MLWRIGHT_LLM_API_KEY"):
        return env["MLWRIGHT_LLM_API_KEY"]
    if provider == "openai" or (provider == "openai-compatible" and base_url
                                and base_url == env.get("OPENAI_BASE_URL")):
        return env.get("OPENAI_API_KEY") or None
    if provider == "anthropic":
        return env.get("ANTHROPIC_API_KEY") or None
    return None  # bedrock: the boto3 credential chain finds AWS credentials itself


def load_settings(cli: Mapping[str, Any] | None = None, config_path: Path | None = None,
                  env: Mapping[str, str] = os.environ) -> LLMSettings:
    """Merge field by field: CLI values (non-None) > config file `llm:` section > environment variables."""
    cli_vals, file_vals = _from_cli(cli or {}), _from_config(config_path)
    provider = cli_vals.get("provider") or file_vals.get("provider") or env.get("MLWRIGHT_LLM_PROVIDER") or "none"
    env_vals: dict[str, Any] = {"provider": provider}
    if env.get("MLWRIGHT_LLM_MODEL"):
        env_vals["model"] = env["MLWRIGHT_LLM_MODEL"]
    base_url = env.get("MLWRIGHT_LLM_BASE_URL")
    if not base_url and provider in ("openai", "openai-compatible"):
        base_url = env.get("OPENAI_BASE_URL")
    if not base_url and provider == "anthropic":
        base_url = env.get("ANTHROPIC_BASE_URL")
    if base_url:
        env_vals["base_url"] = base_url
    region = env.get("MLWRIGHT_LLM_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        env_vals["region"] = region
    merged = {**env_vals, **file_vals, **cli_vals}
    if "api_key" not in merged:
        key = env_key(provider, merged.get("base_url"), env)
        if key:
            merged["api_key"] = key
    return LLMSettings(**merged)


def provider_choices(env: Mapping[str, str] = os.environ, config_path: Path | None = None) -> dict[str, Any]:
    """What a client that must never see a key (the web page) may offer: each provider, whether this machine
    can use it as is (a key in the environment, or a server address for openai-compatible), and the model the
    environment or mlwright.yaml names for it. Never the key itself; a base URL only as its host."""
    from urllib.parse import urlsplit

    try:
        default = load_settings(None, config_path, env)
    except ValueError:
        default = LLMSettings()
    choices = []
    for provider in ("openai", "anthropic", "bedrock", "openai-compatible"):
        try:
            s = load_settings({"provider": provider}, config_path, env)
        except ValueError:
            continue
        if provider == "bedrock":
            ready, why = bool(s.region), "" if s.region else "no AWS region in the server's environment"
        elif provider == "openai-compatible":
            ready, why = bool(s.base_url), "" if s.base_url else "no server address (MLWRIGHT_LLM_BASE_URL)"
        else:
            ready, why = s.api_key is not None, "" if s.api_key else "no API key in the server's environment"
        choices.append({"provider": provider, "ready": ready, "why_not": why, "model": s.resolved_model(),
                        "host": urlsplit(s.base_url).hostname if s.base_url else None})
    return {"default": default.provider, "providers": choices}
