"""Estimated cost of a call: list prices in USD per 1M tokens (input, output), matched by model-name prefix.

An estimate only (list prices change; caching, batch and regional prices are ignored). Local and
openai-compatible servers, and unknown models, cost 0.0 — so max_cost_usd does not limit them; use
max_tokens_total there.
"""
from __future__ import annotations

import re

# Longest matching prefix wins ("gpt-4o-mini" beats "gpt-4o"), and a prefix never stretches over a newer
# version ("gpt-5" does not price "gpt-5.5", "claude-opus-4" does not price "claude-opus-4-7"): an unknown
# model costs 0.0 (with a warning from LLM) rather than a guessed price.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-5-nano": (0.05, 0.40), "gpt-5-mini": (0.25, 2.00), "gpt-5": (1.25, 10.00),
    "gpt-4.1-nano": (0.10, 0.40), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1": (2.00, 8.00),
    "gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00),
    "gpt-4-turbo": (10.00, 30.00), "gpt-4": (30.00, 60.00), "gpt-3.5-turbo": (0.50, 1.50),
    "o4-mini": (1.10, 4.40), "o3-mini": (1.10, 4.40), "o3-pro": (20.00, 80.00), "o3": (2.00, 8.00),
    "o1-mini": (1.10, 4.40), "o1-pro": (150.00, 600.00), "o1": (15.00, 60.00),
    # Anthropic (also Bedrock "anthropic.claude-..." ids, see _normalize)
    "claude-opus-4-5": (5.00, 25.00), "claude-opus-4-1": (15.00, 75.00), "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4-5": (3.00, 15.00), "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00), "claude-3-5-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00), "claude-3-5-haiku": (0.80, 4.00), "claude-3-haiku": (0.25, 1.25),
    "claude-3-opus": (15.00, 75.00),
    # Amazon (Bedrock)
    "amazon.nova-micro": (0.035, 0.14), "amazon.nova-lite": (0.06, 0.24), "amazon.nova-pro": (0.80, 3.20),
}
_PRICED_PROVIDERS = {"openai", "anthropic", "bedrock"}
# Bedrock cross-region inference profiles prefix the model id with a geography ("us.", "eu.", "global.").
_REGION_PREFIX = re.compile(r"^(us|eu|apac|jp|au|ca|global|us-gov)\.")


def _normalize(model: str) -> str:
    m = _REGION_PREFIX.sub("", model.strip().lower())
    return m.removeprefix("anthropic.")


# What may follow a prefix: nothing, a date/snapshot or variant ("-2024-08-06", "-20250514", "-v1:0",
# "-latest"), but not a newer version (".5", "-7", "-1-2025...").
_NEWER_VERSION = re.compile(r"^(\.|\d|-\d{1,2}(-|:|$))")


def price_per_mtok(provider: str, model: str | None) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens; (0, 0) for unpriced providers; None for an unknown priced model."""
    if provider not in _PRICED_PROVIDERS:
        return (0.0, 0.0)
    name = _normalize(model or "")
    for prefix in sorted(PRICES_PER_MTOK, key=len, reverse=True):
        if name.startswith(prefix) and not _NEWER_VERSION.match(name[len(prefix):]):
            return PRICES_PER_MTOK[prefix]
    return None


def estimate_cost(provider: str, model: str | None, input_tokens: int, output_tokens: int) -> float:
    pin, pout = price_per_mtok(provider, model) or (0.0, 0.0)
    return (input_tokens * pin + output_tokens * pout) / 1_000_000
