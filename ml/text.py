"""Plain-text output for a terminal: every line within 120 columns, but for a word longer than that (a path)."""

from __future__ import annotations

import textwrap

WIDTH = 120


def fit(text: str, width: int = WIDTH) -> str:
    """Each line longer than `width` wrapped at spaces, its continuation indented 4 more than the line. A word
    longer than the width (a file's path) stays whole on a line of its own, so that it can still be copied."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        out += textwrap.wrap(
            line.strip(),
            width,
            initial_indent=indent,
            subsequent_indent=indent + "    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(out)
