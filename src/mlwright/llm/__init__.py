"""LLM provider layer: OpenAI, Anthropic, AWS Bedrock and any OpenAI-compatible server behind one call.

    llm = make_llm(load_settings({"provider": "openai-compatible", "base_url": "http://localhost:11434/v1",
                                  "model": "llama3.1:8b"}))
    if llm:  # None when provider is "none": use the deterministic path
        answer = llm.complete([{"role": "user", "content": "..."}], role="planner").text

Budgets (max_cost_usd, max_tokens_total) are checked before every call; retries, usage per role and
error mapping happen in LLM.complete. Keys never appear in reprs, errors or usage records.
"""
from .client import LLM, LLMResponse, make_llm
from .errors import KINDS, BudgetExceeded, LLMError, redact
from .pricing import estimate_cost
from .settings import LLMSettings, load_settings
from .usage import Usage

__all__ = ["LLM", "LLMResponse", "LLMSettings", "LLMError", "BudgetExceeded", "Usage", "KINDS", "make_llm",
           "load_settings", "redact", "estimate_cost"]
