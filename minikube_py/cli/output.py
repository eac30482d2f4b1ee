"""Table and age formatting the way kubectl prints them."""

from __future__ import annotations

from collections.abc import Sequence

import click

from minikube_py.apiserver import tables
from minikube_py.cli.printers import format_columns


def age(timestamp: str | None, now: float | None = None) -> str:
    """kubectl's AGE column (upstream's HumanDuration): ``45s``, ``5m10s``, ``2d3h``."""
    return tables.age(timestamp, now) if timestamp else "<unknown>"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to the widest cell plus three spaces, like kubectl."""
    for line in format_columns([list(headers), *[[str(c) for c in r] for r in rows]]):
        click.echo(line.rstrip())


def warn(message: str) -> None:
    """A warning on stderr, as kubectl prints them: ``Warning: ...``."""
    click.echo(f"Warning: {message}", err=True)


class Duration(click.ParamType):
    """kubectl-style durations: ``30s``, ``5m``, ``1h30m``, ``250ms`` or plain seconds."""

    name = "duration"
    _units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        import re

        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration (examples: 30s, 5m, 1h30m)", param, ctx)
        return sum(float(n) * self._units[u] for n, u in parts)


DURATION = Duration()
