"""Readable attempt logs: the script's own lines and every error stay in view, library chatter is folded away.

A successful AutoGluon attempt writes hundreds of lines of banners, feature-generator steps, per-model scores and
warnings from pandas or a missing optional import ("Failed to import torch"): true, but not what a person reads a
log for. `fold_log` keeps the lines that matter (mlwright's own timestamped lines, tracebacks, lines that say error /
exception / killed) and gathers each run of other library lines into one folded segment that says how many lines it
holds and from where; nothing is dropped, a viewer can open a fold. The patterns are data: add one line to teach it
a new library.
"""
from __future__ import annotations

import re
from typing import Literal, TypedDict

# lines worth reading whatever stream they are on
KEEP = re.compile(r"^\[\s*\d+(\.\d+)?s\]|^\[mlwright\]|\b(error|exception|killed|fatal|out of memory|oom)\b|"
                  r"^Traceback \(most recent call last\)", re.I)
# a warning's own line: it names its category; warnings print the source line after it, indented
WARNING_LINE = re.compile(r"\b\w*Warning\b|^\s*warnings\.warn\(")
# where a folded run of lines comes from, for its one-line summary (first match wins)
SOURCES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("warnings", WARNING_LINE),
    ("AutoGluon", re.compile(r"AutoGluon|TabularPredictor|Fitting model|Validation score|= Training\s+runtime|"
                             r"Feature ?Generator|child models|\bS1F\d|_BAG_L\d|Stage \d Generators|"
                             r"Presets specified")),
    ("LightGBM", re.compile(r"\[LightGBM\]|^\[\d+\]\s+\w+'s \w+")),
    ("CatBoost", re.compile(r"\bCatBoost|^\d+:\s+learn:")),
    ("PyTorch", re.compile(r"\btorch\b|\bcuda\b", re.I)),
    ("progress bars", re.compile(r"\d+%\|")),
)
# what libraries print on stdout themselves (the script's own lines stay): evaluation logs of boosting rounds,
# progress bars, AutoGluon's per-model lines
LIBRARY_STDOUT = re.compile(r"^\[\d+\]\s+\w+'s \w+|^\d+:\s+learn:|\d+%\||^\s*(Epoch|epoch) \d+|"
                            r"^\[LightGBM\]|^\tFitting|= Validation score")
# a folded run shorter than this is shown as is: folding two lines hides more than it saves
MIN_FOLD = 3


class Segment(TypedDict):
    kind: Literal["text", "folded"]
    text: str
    lines: int
    summary: str


def _traceback_lines(lines: list[str]) -> set[int]:
    """Indices of the lines of each traceback: its header, the indented frames, and the exception line after."""
    inside, out = False, set()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            inside = True
        if inside:
            out.add(i)
            if line and not line[0].isspace() and not line.startswith("Traceback"):
                inside = False  # the exception's own line ends the block
    return out


def _summary(block: list[str]) -> str:
    found = [name for name, pattern in SOURCES if any(pattern.search(line) for line in block)]
    n = len(block)
    return f"{n} line{'s' if n != 1 else ''} of library output" + (f" ({', '.join(found)})" if found else "")


def fold_log(text: str, stream: Literal["stdout", "stderr"]) -> list[Segment]:
    """`text` as segments in order: kept text, and folds of library lines. On stdout (the script's own printing)
    warnings and the libraries' known chatter fold; on stderr every line that is not kept folds."""
    lines = text.split("\n")
    tb = _traceback_lines(lines)
    segments: list[Segment] = []
    in_warning = False

    def keep(i: int, line: str) -> bool:
        nonlocal in_warning
        if i in tb or (KEEP.search(line) and not WARNING_LINE.search(line)):
            in_warning = False
            return True
        if WARNING_LINE.search(line):
            in_warning = True
            return False
        if in_warning and (line.startswith((" ", "\t")) or not line.strip()):
            return False  # the source line a warning prints under itself
        in_warning = False
        return stream == "stdout" and not LIBRARY_STDOUT.search(line)

    def add(kind: Literal["text", "folded"], block: list[str]) -> None:
        if not block:
            return
        if kind == "folded" and len(block) < MIN_FOLD:
            kind = "text"
        if segments and segments[-1]["kind"] == kind == "text":
            last = segments[-1]
            last["text"] += "\n" + "\n".join(block)
            last["lines"] += len(block)
            return
        segments.append({"kind": kind, "text": "\n".join(block), "lines": len(block),
                         "summary": _summary(block) if kind == "folded" else ""})

    current: list[str] = []
    current_kind: Literal["text", "folded"] = "text"
    for i, line in enumerate(lines):
        kind: Literal["text", "folded"] = "text" if keep(i, line) else "folded"
        if kind != current_kind:
            add(current_kind, current)
            current, current_kind = [], kind
        current.append(line)
    add(current_kind, current)
    return segments
