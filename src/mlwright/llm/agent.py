"""The agent pattern every LLM role follows: a prompt, a pydantic output, and a deterministic fallback.
An agent never raises for a bad answer: unusable output (no JSON, wrong fields, an LLM error, a spent
budget) is recorded and the fallback answers instead."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Optional, TypeVar

from pydantic import BaseModel, ValidationError

from mlwright.llm.client import LLM
from mlwright.llm.errors import BudgetExceeded, LLMError

T = TypeVar("T", bound=BaseModel)


@dataclass
class AgentFailures:
    """Why LLM answers were not used, per role (reported in run.json)."""

    counts: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def add(self, role: str, reason: str) -> None:
        self.counts[role] = self.counts.get(role, 0) + 1
        self.reasons.append(f"{role}: {reason}"[:300])
        del self.reasons[:-20]


def extract_json(text: str) -> dict:
    """The JSON object in an answer (bare, or in a ```json fence, or the outermost {...})."""
    fence = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)
    candidates = [fence.group(1)] if fence else []
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        candidates.append(text[start:end + 1])
    for c in candidates:
        try:
            obj = json.loads(c)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError("no JSON object in the answer")


def extract_code(text: str) -> str:
    """The Python code in an answer: the longest ```python fence, else the whole text if it parses."""
    blocks = re.findall(r"```(?:python|py)?\s*\n(.*?)```", text, re.S)
    code = max(blocks, key=len) if blocks else text
    code = code.strip("\n")
    if not code.strip():
        raise ValueError("no code in the answer")
    compile(code, "<llm>", "exec")  # SyntaxError is a usable diagnosis, raised to the caller
    return code + "\n"


TRUNCATED = {"length", "max_tokens"}  # finish reasons of an answer cut at the token cap (OpenAI; Anthropic, Bedrock)
TRUNCATION_GROWTH = 4


class Agent(Generic[T]):
    """Subclasses set `role`, `system` and `output`, and implement `prompt()` and `fallback()`. The prompt texts
    are templates in mlwright/llm/prompts/ (one file per role), rendered with `prompts.render()`."""

    role: str = "agent"
    system: str = ""
    output: type[T]
    max_tokens: int = 1200
    json_mode: bool = True
    deadline: Optional[float] = None  # epoch seconds: the run's budget also bounds LLM calls

    def __init__(self, llm: Optional[LLM], failures: AgentFailures, on_event: Optional[Callable[[str], None]] = None):
        self.llm = llm
        self.failures = failures
        self.on_event = on_event or (lambda msg: None)

    # (*args, **ctx): Any-typed, so a subclass may take its own keyword arguments; `ask()` passes them through.
    def prompt(self, *args: Any, **ctx: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def fallback(self, *args: Any, **ctx: Any) -> T:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, text: str) -> T:
        return self.output.model_validate(extract_json(text))

    def _answer(self, prompt: str) -> str:
        """The LLM's answer text. An answer cut at the token cap (reasoning models spend much of it thinking) is
        asked for once more with TRUNCATION_GROWTH times the cap; cut again, it is refused as truncated."""
        assert self.llm is not None
        cap = self.llm.settings.max_tokens.get(self.role, self.max_tokens)  # mlwright.yaml llm.max_tokens
        for last in (False, True):
            resp = self.llm.complete([{"role": "system", "content": self.system}, {"role": "user", "content": prompt}],
                                     role=self.role, max_tokens=cap, json_mode=self.json_mode, deadline=self.deadline)
            if resp.finish_reason not in TRUNCATED:
                return resp.text
            if not last:
                self.on_event(f"{self.role}: the answer was cut at {cap} tokens; asking again with "
                              f"{cap * TRUNCATION_GROWTH}")
                cap *= TRUNCATION_GROWTH
        raise ValueError(f"the answer was cut at the {cap}-token cap twice (finish reason {resp.finish_reason!r})")

    def ask(self, **ctx) -> tuple[T, bool]:
        """(answer, from_llm). Falls back on any failure and records why."""
        if self.llm is None:
            return self.fallback(**ctx), False
        try:
            return self.parse(self._answer(self.prompt(**ctx))), True
        except BudgetExceeded as e:
            self.failures.add(self.role, f"budget reached: {e}")
            if self.deadline is not None and time.time() >= self.deadline - 3:
                return self.fallback(**ctx), False
            self.on_event(f"{self.role}: LLM budget reached, using the deterministic {self.role}")
        except LLMError as e:
            self.failures.add(self.role, f"LLM error ({e.kind}): {e}")
            if e.kind in ("auth", "not_found", "unreachable"):
                # a configuration problem will not heal within the run: stop asking, say so once, go offline
                self.llm.usage.stop(f"LLM unavailable ({e.kind}): {e}")
                self.on_event(f"LLM unavailable ({e.kind}): {e} -- continuing with the offline engine")
            else:
                self.on_event(f"{self.role}: LLM error ({e.kind}), using the deterministic {self.role}")
        except (ValueError, ValidationError, SyntaxError) as e:
            self.failures.add(self.role, f"unusable answer: {type(e).__name__}: {str(e)[:200]}")
            self.on_event(f"{self.role}: unusable LLM answer ({type(e).__name__}), using the deterministic {self.role}")
        return self.fallback(**ctx), False
