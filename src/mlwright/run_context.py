"""What the stages of one run share: the user's options, the run folder, the clock that holds the budget, the
journal, the event sink, and the LLM with its agents (None offline). Stages get this, not the Run."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from mlwright.journal.store import Journal
from mlwright.llm.agent import AgentFailures
from mlwright.llm.client import LLM
from mlwright.options import RunOptions
from mlwright.perception.infer import Asker
from mlwright.planning.budget import BusyTime, RunClock


def _no_events(stage: str, message: str, **data: Any) -> None:
    pass


@dataclass
class RunContext:
    opts: RunOptions
    out: Path  # the run folder
    clock: RunClock
    emit: Callable[..., None] = _no_events  # emit(stage, message, **data): journaled and shown to the user
    save: Callable[[], None] = lambda: None  # write run.json now (elapsed time, a resume's budget)
    journal: Optional[Journal] = None  # opened once the run folder is ready (explain has none)
    llm: Optional[LLM] = None
    failures: AgentFailures = field(default_factory=AgentFailures)
    ask: Optional[Asker] = None  # a person to ask (interactive runs)
    busy: BusyTime = field(default_factory=BusyTime)  # when attempts ran (run.json: the rest is overhead)
    cancelled: threading.Event = field(default_factory=threading.Event)  # set when the run is being cancelled

    def agent(self, cls: type) -> Any:
        """An LLM agent (its deterministic fallback when llm is None) whose calls end before the budget does."""
        a = cls(self.llm, self.failures, lambda m: self.emit("llm", m))
        a.deadline = self.clock.llm_deadline()
        return a

    @property
    def slots(self) -> int:
        """Attempts that may run at the same time (--parallel-attempts); 1: one after another."""
        return max(1, self.opts.parallel_attempts)

    def interactive_ask(self) -> Optional[Asker]:
        return self.ask if self.opts.interactive else None
