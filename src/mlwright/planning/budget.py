"""The run's time budget, in one place: every stage asks the clock how long is left and how much of it an attempt
may use; no stage does its own `time_left() - reserve` arithmetic. A resumed run's clock starts from the time its
earlier part already spent (run.json's wall_seconds)."""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from mlwright.schemas import AttemptRecord, TaskSpec

# seconds a finished run needs after the last attempt: copy the best model, write the report and run.json
FINISH_RESERVE_S = 3.0  # measured 2-3 s on 2 cores, mostly the report
FINISH_RESERVE_SHARE = 0.005  # ... plus this share of the limit (bigger runs have bigger models to copy and hash)
LLM_MARGIN_S = 5.0  # an LLM call ends this long before the attempts' share of the budget does
ENSEMBLE_MIN_S = 4.0  # the blend of the valid attempts runs only with this much usable time left (1-2 s measured)
# between two attempts: validating the one that ended, journaling, starting the next; before any attempt has been
# validated (Overheads.gap then uses what the run measured: a bigger test set or model takes longer to check)
ATTEMPT_GAP_S = 3.0
GAP_MARGIN, GAP_FLOOR_S = 1.5, 0.5


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


# ---- attempt overheads, measured in this run --------------------------------------------------------------------
# Seconds an attempt spends outside the library's fitting: before it (sandbox, interpreter, imports, reading the
# inputs) and after it (predicting the test rows, importance, saving). Each recipe script writes timings.json
# (runtime/common.write_timings); a library's time limit covers only its fitting, so the planner gives a library
# its attempt's budget minus these, taken from what the run has measured. Before anything is measured (the first
# attempt), the cautious rule of thumb below stands in.
TIMINGS_FILE = "timings.json"
START_MARGIN = 1.5  # the next attempt's start may be slower than the slowest measured one (a busier machine)
END_MARGIN = 1.25
AUTOGLUON = "autogluon_tabular"
AG_IMPORT_S = 3.0  # importing AutoGluon, beyond the imports every recipe has (measured start overheads hold those)
AG_RAY_START_S = 8.0  # starting the attempt's own Ray for AutoGluon's parallel folds (6-7 s measured, busy machine)
AG_END_PRIOR_S = 3.0  # leaderboard, saving; plus predicting: AG_PREDICT_ROWS_S test rows a second
AG_PREDICT_ROWS_S = 1500.0  # a bagged ensemble's prediction speed on 2 cores (AutoGluon logs ~1500 rows/s)
SAFETY_SHARE = 0.01  # of an AutoGluon attempt's budget, beyond the margins (an overrun past it has the grace below)
OVERRUN_PRIOR = 0.03  # a library's fitting ends this share of its limit late (its last model, its ensemble)


# A library that enforces its own time limit (AutoGluon) may end a model it began near the end well past it on a
# busy machine; killing the attempt then loses all of it, so such an attempt may run this share of the run's limit
# past its budget: the run may end that much late rather than lose its strongest model.
LIBRARY_OVERRUN_GRACE = 0.04
LIBRARY_TIMED = frozenset({AUTOGLUON})


def attempt_timeout(recipe: str, budget: float, time_limit: float) -> float:
    """When the attempt is killed: its budget, plus the grace for a library that keeps its own time."""
    return budget + (LIBRARY_OVERRUN_GRACE * time_limit if recipe in LIBRARY_TIMED else 0.0)


def attempt_timings(workdir: Path, seconds: float) -> dict[str, float]:
    """The attempt's start and end overheads and its library fitting time from its timings.json (empty when the
    script wrote none: an LLM's script without the common block's fit command, a failure before the end)."""
    try:
        t = json.loads((Path(workdir) / TIMINGS_FILE).read_text())
        script, setup, phases = float(t["script_s"]), float(t["setup_s"]), dict(t.get("phases") or {})
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    started = float(phases.get("library_start", 0.0))  # a library's own start inside the fit call (AutoGluon's Ray)
    out = {"start_overhead_s": round(max(0.0, seconds - script) + setup + started, 2)}
    if "model_fit" in phases:  # the recipe marked its library's fitting: the rest of the fit call is overhead
        fit = float(phases["model_fit"])
        out["end_overhead_s"] = round(max(0.0, script - setup - started - fit
                                          - float(phases.get("importance", 0.0))), 2)
        limit = float((t.get("limits") or {}).get("model_fit") or 0)
        if limit > 0:
            out["fit_overrun"] = round(fit / limit - 1.0, 4)
    return out


@dataclass
class Overheads:
    """What this run has measured so far (planning input; see attempt_timings)."""
    start_s: Optional[float] = None  # the slowest start of any attempt
    end_s: dict[str, float] = field(default_factory=dict)  # per recipe, the slowest end
    overrun: dict[str, float] = field(default_factory=dict)  # per recipe, fitting past its limit / the limit
    validation_s: Optional[float] = None  # the slowest validation of an attempt

    @classmethod
    def measured(cls, history: list[AttemptRecord]) -> "Overheads":
        o = cls()
        for h in history:
            if h.start_overhead_s is not None:
                o.start_s = max(o.start_s or 0.0, h.start_overhead_s)
            if h.end_overhead_s is not None:
                o.end_s[h.recipe] = max(o.end_s.get(h.recipe, 0.0), h.end_overhead_s)
            if h.fit_overrun is not None:
                o.overrun[h.recipe] = max(o.overrun.get(h.recipe, 0.0), h.fit_overrun)
            if h.validation_s is not None:
                o.validation_s = max(o.validation_s or 0.0, h.validation_s)
        return o

    def gap(self) -> float:
        """Seconds to keep between two attempts: the measured validation with a margin, the prior before one."""
        if self.validation_s is None:
            return ATTEMPT_GAP_S
        return GAP_FLOOR_S + GAP_MARGIN * self.validation_s

    def autogluon(self, spec: TaskSpec, budget: float, fits: int = 1) -> tuple[float, float]:
        """(seconds outside fitting, overrun share) for an AutoGluon attempt of `budget` seconds that fits `fits`
        predictors (one per target of several: each predicts, saves and ends past its limit on its own)."""
        if self.start_s is None:  # nothing measured yet: import, feature generation, predicting, saving, a slow machine
            return 12 + 0.12 * budget + fits * (spec.n_test_rows / 20000 + AG_END_PRIOR_S * (fits > 1)), 0.0
        # a measured end is this task's own (all its targets); the prior is one predictor's
        end = self.end_s.get(AUTOGLUON, fits * (AG_END_PRIOR_S + spec.n_test_rows / AG_PREDICT_ROWS_S))
        start = self.start_s * START_MARGIN + (0.0 if AUTOGLUON in self.end_s else AG_IMPORT_S + AG_RAY_START_S)
        overrun = max(0.0, self.overrun.get(AUTOGLUON, OVERRUN_PRIOR))
        # plus a safety share of the budget: what the margins do not cover comes out of the kill's grace
        return start + end * END_MARGIN + max(3.0, SAFETY_SHARE * budget), overrun
