"""Ages: how ``kubectl get`` writes how long ago something happened.

The ``AGE`` column (and ``RESTARTS``' "(5m ago)") is computed by the API server, from an
RFC 3339 timestamp such as ``metadata.creationTimestamp`` (``2024-05-01T10:00:00Z``), and
written the way upstream's ``duration.HumanDuration`` writes it: exact seconds under two
minutes (``45s``), minutes and seconds under ten minutes (``5m10s``), then coarser and
coarser units (``3h``, ``2d3h``, ``400d``, ``3y``). Compare with
``kubectl get pods -o custom-columns=NAME:.metadata.name,CREATED:.metadata.creationTimestamp``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["human_duration", "parse_time", "age"]


def human_duration(seconds: float) -> str:
    """Upstream ``duration.HumanDuration``: ``45s``, ``5m10s``, ``3h``, ``2d3h``, ``3y``."""
    s = int(seconds)  # truncates toward zero, like Go's int()
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def parse_time(timestamp: str | None) -> float | None:
    """RFC 3339 (``2024-05-01T10:00:00Z``, with or without fractions) -> epoch seconds."""
    if not timestamp:
        return None
    text = timestamp.replace("Z", "+00:00")
    if "." in text:  # Python 3.10 accepts only 3 or 6 fraction digits
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits):]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def age(timestamp: str | None, now: float | None = None) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when unset."""
    moment = parse_time(timestamp)
    if moment is None:
        return "<unknown>"
    return human_duration((time.time() if now is None else now) - moment)
