"""Thread-safe LLM usage accounting per role (planner, coder, ...), for budgets and run.json."""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

_LAST_REASONS = 5  # failure reasons kept per role: enough to explain, small enough for run.json


@dataclass
class _RoleUsage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    retries: int = 0
    failures: int = 0
    last_failures: deque = field(default_factory=lambda: deque(maxlen=_LAST_REASONS))

    def as_dict(self) -> dict:
        return {"calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": round(self.cost_usd, 6), "retries": self.retries, "failures": self.failures,
                "last_failures": list(self.last_failures)}


class Usage:
    """Counts successful calls (with tokens and estimated cost), retries and failed calls per role.

    One Usage may be shared by several LLM objects; the budget stop (stopped_reason) then holds for all.
    Failure reasons are stored already redacted (they come from LLMError messages).
    """

    def __init__(self, provider: str | None = None, model: str | None = None):
        self.provider, self.model = provider, model
        self._lock = threading.Lock()
        self._roles: dict[str, _RoleUsage] = {}
        self._stopped_reason: str | None = None

    def _role(self, role: str) -> _RoleUsage:
        return self._roles.setdefault(role, _RoleUsage())

    def record_call(self, role: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        with self._lock:
            r = self._role(role)
            r.calls += 1
            r.input_tokens += input_tokens
            r.output_tokens += output_tokens
            r.cost_usd += cost_usd

    def record_retry(self, role: str) -> None:
        with self._lock:
            self._role(role).retries += 1

    def record_failure(self, role: str, kind: str, message: str) -> None:
        with self._lock:
            r = self._role(role)
            r.failures += 1
            r.last_failures.append(f"{kind}: {message}")

    def stop(self, reason: str) -> None:
        """Remember that the budget ran out: every later call is refused. The first reason is kept."""
        with self._lock:
            if self._stopped_reason is None:
                self._stopped_reason = reason

    @property
    def stopped_reason(self) -> str | None:
        with self._lock:
            return self._stopped_reason

    def total(self) -> dict:
        with self._lock:
            roles = list(self._roles.values())
        return {"calls": sum(r.calls for r in roles), "input_tokens": sum(r.input_tokens for r in roles),
                "output_tokens": sum(r.output_tokens for r in roles),
                "cost_usd": round(sum(r.cost_usd for r in roles), 6),
                "retries": sum(r.retries for r in roles), "failures": sum(r.failures for r in roles)}

    def by_role(self) -> dict[str, dict]:
        with self._lock:
            return {name: r.as_dict() for name, r in self._roles.items()}

    def as_run_json(self) -> dict:
        """The `llm` block of run.json. cost_usd is an estimate from list prices (0.0 for local models)."""
        t = self.total()
        return {"provider": self.provider, "model": self.model, "calls": t["calls"],
                "input_tokens": t["input_tokens"], "output_tokens": t["output_tokens"],
                "cost_usd": t["cost_usd"], "cost_is_estimate": True, "by_role": self.by_role(),
                "failed_calls": t["failures"], "stopped_reason": self.stopped_reason}
