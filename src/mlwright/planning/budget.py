"""The run's time budget, in one place: every stage asks the clock how long is left and how much of it an attempt
may use; no stage does its own `time_left() - reserve` arithmetic. A resumed run's clock starts from the time its
earlier part already spent (run.json's wall_seconds)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

# seconds a finished run needs after the last attempt: copy the best model, write the report and run.json
FINISH_RESERVE_S = 6.0
FINISH_RESERVE_SHARE = 0.02  # ... plus this share of the limit (bigger runs have bigger models to copy)
LLM_MARGIN_S = 5.0  # an LLM call ends this long before the attempts' share of the budget does


def finish_reserve(time_limit: float) -> float:
    return FINISH_RESERVE_S + FINISH_RESERVE_SHARE * time_limit


class RunClock:
    """Elapsed, left and usable time of one run. `now` is injectable so the budget rules are unit-testable."""

    def __init__(self, time_limit: float, spent: float = 0.0, now: Callable[[], float] = time.time):
        self.time_limit = float(time_limit)
        self._now = now
        self._t0 = now() - spent

    def resume(self, spent: float) -> None:
        """Continue a run that had already spent `spent` seconds."""
        self._t0 = self._now() - spent

    def elapsed(self) -> float:
        return self._now() - self._t0

    def left(self) -> float:
        """Seconds until the run's limit."""
        return self.time_limit - self.elapsed()

    @property
    def reserve(self) -> float:
        return finish_reserve(self.time_limit)

    def usable(self) -> float:
        """Seconds attempts may still use: what is left minus the finish reserve."""
        return self.left() - self.reserve

    def llm_deadline(self) -> float:
        """The wall-clock time (time.time()) by which an LLM call must have ended."""
        return self._t0 + self.time_limit - self.reserve - LLM_MARGIN_S


class BusyTime:
    """Seconds of the run during which at least one attempt ran (the rest is mlwright's overhead); attempts that
    run side by side count once."""

    def __init__(self, spent: float = 0.0, now: Callable[[], float] = time.time):
        self._spent, self._now = spent, now
        self._running, self._since = 0, 0.0
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._spent + (self._now() - self._since if self._running else 0.0)

    @seconds.setter
    def seconds(self, spent: float) -> None:  # a resumed run's earlier share
        with self._lock:
            self._spent = spent

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            if not self._running:
                self._since = self._now()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self._spent += self._now() - self._since
