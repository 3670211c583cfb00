"""Self-contained HTML pages (the data-health report, the Sentinel report): matplotlib figures inlined as PNG
data URIs, a Jinja template rendered with the shared filters, the file written atomically (a reader never
sees half a page)."""

from __future__ import annotations

import base64
import io
import math
import numbers
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "error": "#6a1b9a", "skipped": "#9e9e9e"}


def png(fig) -> str:
    """The figure as a data URI; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def num(v: Any, digits: int = 0) -> str:
    """A number with thousands separators ("" for a missing one); anything else as text."""
    if v is None:
        return ""
    if isinstance(v, numbers.Real):  # numpy scalars included
        return "" if math.isnan(v) else f"{v:,.{digits}f}"
    return str(v)


def present(v: Any) -> bool:
    """Neither None, NaN nor NaT (pandas gives NaN for a missing number and NaT for a missing time; NaN is truthy
    in a template, and NaT fails on strftime)."""
    if v is None or v is pd.NaT or (isinstance(v, np.datetime64) and np.isnat(v)):
        return False
    return not (isinstance(v, numbers.Real) and math.isnan(v))


def text(v: Any) -> str:
    """A value as text, "" for a missing one (a template printed `nan` in empty cells)."""
    return str(v) if present(v) else ""


def write_page(templates: Path, template: str, path: Path, **context: Any) -> int:
    """Render `template` from the folder `templates` into `path`; the page's size in characters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["num"] = num
    env.filters["day"] = lambda v: str(v)[:10] if present(v) else ""
    env.filters["text"] = text
    env.tests["present"] = present
    html = env.get_template(template).render(**context)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return len(html)
