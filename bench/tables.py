"""The one markdown-table printer of the benchmarks: rows of dicts, a column per key in first-seen order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _default(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_table(rows: list[dict[str, Any]], fmt: Callable[[Any], str] = _default) -> None:
    """Print ``rows`` as a markdown table; a key missing from a row is an empty cell."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(fmt(r[k]) if k in r else "" for k in keys) + " |")
