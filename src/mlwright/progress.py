"""Live terminal progress (Rich): current stage, attempts with scores, best score so far, time left."""
from __future__ import annotations

import time
from typing import Optional

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


class LiveProgress:
    """On a terminal: a live panel (stage, attempts, best, time left) that clears when the run ends, with each
    attempt's result printed once above it. Piped: plain lines, one per event, never wrapped or redrawn. The
    final result is the CLI's to print (on stdout), not this."""

    def __init__(self, time_limit: float, console: Optional[Console] = None):
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.time_limit = time_limit
        self.t0 = time.time()
        self.stage = "starting"
        self.message = ""
        self.attempts: dict[int, dict] = {}
        self.best: Optional[str] = None
        self.metric = ""
        self.live = Live(console=self.console, refresh_per_second=2, transient=True, get_renderable=self.render) \
            if self.console.is_terminal else None

    def __enter__(self):
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def __call__(self, stage: str, message: str, data: dict) -> None:
        """The engine's emit hook."""
        self.stage, self.message = stage, message
        if stage == "perception" and data.get("spec"):
            self.metric = data["spec"]["metric"]
        if stage == "execution" and "attempt_id" in data:
            self.attempts[data["attempt_id"]] = {"recipe": data["recipe"], "status": "running", "score": None,
                                                 "budget": data["budget"], "start": time.time()}
        if stage == "validation" and "attempt_id" in data:
            a = self.attempts.setdefault(data["attempt_id"], {"recipe": "?", "budget": 0, "start": time.time()})
            a.update(status=data["status"], score=data.get("score"), error=data.get("error"),
                     seconds=time.time() - a["start"])
        if stage == "best":
            self.best = f"{self.metric}={data['score']:.5f} (attempt {data['attempt_id']})"
        if stage in ("done", "failed"):
            return  # the CLI prints the result (or the error) once
        if self.live is None:  # piped: every event, one plain line each
            self.console.print(f"{stage}: {message}", markup=False, highlight=False)
        elif stage in ("validation", "llm", "guidance", "warning"):
            self.console.print(f"[bold]{stage}[/]: {message}", highlight=False)

    def render(self):
        elapsed = time.time() - self.t0
        head = Text.assemble(("mlwright ", "bold cyan"), (f"stage: {self.stage}", "bold"),
                             f"   elapsed {elapsed:5.0f}s   time left {max(0.0, self.time_limit - elapsed):5.0f}s",
                             ("   best: " + (self.best or "-"), "green"))
        t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("#", "recipe", "status", "score", "seconds"):
            t.add_column(col)
        for i, a in sorted(self.attempts.items()):
            secs = a.get("seconds", time.time() - a["start"])
            t.add_row(str(i), a["recipe"], a["status"], "-" if a.get("score") is None else f"{a['score']:.5f}",
                      f"{secs:.0f}/{a['budget']:.0f}")
        return Group(head, Text(self.message[:160], style="dim"), t)
