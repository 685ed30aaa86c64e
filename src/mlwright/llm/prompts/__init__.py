"""The agents' prompts as data: one template file per agent role (`coder.md`, `planner.md`, ...).

A file holds named sections, each starting with a line `<!-- section: NAME -->` (`system` is the system prompt,
`user` the layout of the user prompt; other sections are pieces the agent adds only when it has a value for
them). A section's text runs to the next marker or the end of the file, without its leading and trailing
newlines; anything before the first marker is a note for the reader. Placeholders are `$name` or `${name}`
(string.Template), so the braces of code and JSON are plain text; a literal dollar sign is written `$$`.
Every placeholder of a section must be given a value.

    render("coder", "focus", block="prepare")  # -> "Change ONLY the function `prepare`; ..."
"""
from __future__ import annotations

import re
from functools import cache
from importlib import resources
from string import Template

_MARKER = re.compile(r"^<!-- section: (\w+) -->$", re.M)


@cache
def sections(name: str) -> dict[str, Template]:
    """The sections of the template file `name`.md, by section name (read once)."""
    text = resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    parts = _MARKER.split(text)  # [note, name, body, name, body, ...]
    out: dict[str, Template] = {}
    for key, body in zip(parts[1::2], parts[2::2]):
        if key in out:
            raise ValueError(f"prompt template {name}.md: section {key!r} appears twice")
        out[key] = Template(body.strip("\n"))
    return out


def render(name: str, section: str = "user", /, **values: object) -> str:
    """Section `section` of the template `name`.md with its `$placeholders` filled from `values`."""
    try:
        template = sections(name)[section]
    except KeyError:
        raise KeyError(f"prompt template {name}.md has no section {section!r}") from None
    return template.substitute(values)


__all__ = ["render", "sections"]
