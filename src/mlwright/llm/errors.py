"""LLM errors with a kind the caller can act on, and key redaction."""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import LLMSettings

KINDS = ("auth", "not_found", "unreachable", "rate_limit", "bad_request", "server", "budget", "other")


class LLMError(Exception):
    """kind: one of KINDS. The message says what failed, where (provider, model, base_url) and what to do;
    it never holds the key (it passes through redact())."""

    def __init__(self, message: str, *, kind: str = "other", provider: str | None = None,
                 model: str | None = None, base_url: str | None = None, status: int | None = None,
                 settings: "LLMSettings | None" = None):
        if kind not in KINDS:
            raise ValueError(f"unknown LLMError kind {kind!r}")
        message = redact(message, settings)
        super().__init__(message)
        self.message, self.kind, self.status = message, kind, status
        self.provider, self.model, self.base_url = provider, model, base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, message={self.message!r})"


class BudgetExceeded(LLMError):
    def __init__(self, message: str, **kw):
        kw.setdefault("kind", "budget")
        super().__init__(message, **kw)


# Things that look like keys even when we do not know them (e.g. a server echoing part of one).
_KEY_PATTERNS = [re.compile(r"\bsk-[A-Za-z0-9_\-*]{8,}"), re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")]
_MASK = "[REDACTED]"


def redact(text: str, settings: "LLMSettings | None" = None) -> str:
    """Mask the configured key, keys held in the usual environment variables, and key-like strings."""
    if not text:
        return text
    from .settings import KEY_ENV_VARS

    secrets = [os.environ.get(name, "") for name in KEY_ENV_VARS]
    if settings is not None and settings.api_key is not None:
        secrets.append(settings.api_key.get_secret_value())
    # Longest first so a key that contains another is masked whole; very short values would mask
    # ordinary words ("not-needed" is a placeholder, not a secret, but masking it is harmless).
    for secret in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(_MASK, text)
    return text
