"""Numbers into text: ratios with their spread, sizes, the final table, JSON diffs."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


def ratio(values: Sequence[float]) -> str:
    """Median and spread (min–max over rounds) of ratios, e.g. `0.62x (0.58–0.66, 5 rounds)`."""
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return "n/a"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.2f}x (1 round)"
    return f"{median:.2f}x ({min(values):.2f}–{max(values):.2f}, {len(values)} rounds)"


def median(values: Sequence[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def mib(size: float) -> str:
    return f"{size / MIB:.0f} MiB"


def ms(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "n/a"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass
class Row:
    figure: str
    measured: str
    goal: str
    met: bool | None

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: "?"}[self.met]


def table(rows: list[Row]) -> str:
    """A Markdown table: figure | measured | goal | met."""
    header = ("figure", "measured", "goal", "met")
    cells = [header, *((r.figure, r.measured, r.goal, r.verdict) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return "\n".join(
        [line(header), "| " + " | ".join("-" * w for w in widths) + " |"]
        + [line(row) for row in cells[1:]]
    )


def _json_paths(a: Any, b: Any, path: str = "$") -> Iterator[str]:
    if type(a) is not type(b):
        yield f"{path}: {json.dumps(a)[:60]} != {json.dumps(b)[:60]}"
    elif isinstance(a, dict):
        if list(a) != list(b):
            yield f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            if key in b:
                yield from _json_paths(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items != {len(b)}"
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from _json_paths(x, y, f"{path}[{index}]")
    elif a != b:
        yield f"{path}: {json.dumps(a)[:60]} != {json.dumps(b)[:60]}"


def diff_summary(expected: bytes, actual: bytes, limit: int = 5) -> str:
    """Where two bodies differ: the first JSON paths that differ, or the first differing
    bytes when they are not JSON. Empty when they are equal."""
    if expected == actual:
        return ""
    lines = [f"{len(expected)} bytes expected, {len(actual)} got"]
    try:
        paths = list(_json_paths(json.loads(expected), json.loads(actual)))
    except ValueError:
        paths = []
    if paths:
        lines += paths[:limit] + (
            [f"... and {len(paths) - limit} more"] if len(paths) > limit else []
        )
    else:
        at = next(
            (i for i, (x, y) in enumerate(zip(expected, actual, strict=False)) if x != y),
            min(len(expected), len(actual)),
        )
        lines.append(f"first difference at byte {at}:")
        lines.append(f"  expected ...{expected[max(0, at - 40) : at + 40]!r}")
        lines.append(f"  got      ...{actual[max(0, at - 40) : at + 40]!r}")
    return "\n".join(lines)
