"""Errors a user can act on: what went wrong, where, and what to do about it."""
from __future__ import annotations

from typing import Optional


class MlwrightError(Exception):
    """A problem with the user's input or request; the CLI prints it and exits non-zero."""

    exit_code = 2

    def __init__(self, what: str, where: Optional[str] = None, hint: Optional[str] = None):
        self.what, self.where, self.hint = what, where, hint
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"  where: {self.where}")
        if self.hint:
            parts.append(f"  what to do: {self.hint}")
        return printable("\n".join(parts))


def printable(text: str) -> str:
    """`text` as valid UTF-8: a file name's bytes that are not UTF-8 (Python holds them as lone surrogates,
    b"\\xff" -> "\\udcff") are written as `\\xff`, so the name can be printed, logged and stored in JSON."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class DataError(MlwrightError):
    """The data folder cannot be read or does not make a learnable task."""


class DataTooLargeError(DataError):
    """A file that cannot be taken in here at all (more memory than allowed, a compression bomb, more columns than
    the cap): the run stops with what to do, rather than skipping the file and failing later for want of it."""


class AmbiguousTaskError(MlwrightError):
    """The target or the task cannot be determined without the user's help."""

    def __init__(self, what: str, candidates: list[str], hint: str, where: Optional[str] = None):
        self.candidates = candidates
        super().__init__(what, where=where, hint=hint)


class RunFailedError(MlwrightError):
    """No attempt produced a valid prediction file."""

    exit_code = 1
