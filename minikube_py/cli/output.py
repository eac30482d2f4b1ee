"""Table and age formatting the way kubectl prints them."""

from __future__ import annotations

import calendar
import time
from collections.abc import Sequence

import click


def age(timestamp: str | None, now: float | None = None) -> str:
    """kubectl's AGE: ``45s``, ``5m``, ``3h``, ``2d`` (from an RFC 3339 UTC timestamp)."""
    if not timestamp:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<unknown>"
    seconds = int((now if now is not None else time.time()) - then)
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to the widest cell plus three spaces, like kubectl."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=True)]
        click.echo("   ".join(cells).rstrip())


def warn(message: str) -> None:
    """A warning on stderr, as kubectl prints them: ``Warning: ...``."""
    click.echo(f"Warning: {message}", err=True)
