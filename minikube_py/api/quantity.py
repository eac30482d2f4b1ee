"""Kubernetes resource quantities: ``500m`` CPU, ``128Mi`` memory, ``1e3``, ``1.5Gi``.

A *quantity* is how Kubernetes writes amounts of a resource in ``resources.requests`` and
``resources.limits``. It is a decimal number followed by an optional suffix:

- decimal SI suffixes: ``n`` (1e-9), ``u`` (1e-6), ``m`` (1e-3), none, ``k``, ``M``, ``G``,
  ``T``, ``P``, ``E`` (1e18);
- binary suffixes: ``Ki`` (2**10), ``Mi``, ``Gi``, ``Ti``, ``Pi``, ``Ei`` (2**60);
- a decimal exponent: ``e3`` or ``E3`` (so ``1E3`` is 1000, while a bare ``1E`` is one exa).

Note the traps: ``1m`` of memory is one *thousandth* of a byte, ``1M`` is 10**6 bytes and
``1Mi`` is 2**20 bytes. CPU is counted in cores, so ``250m`` is a quarter of a core.

On the node these numbers become cgroup files. The kubelet turns the CPU *request* into
``cpu.shares`` (v1) or ``cpu.weight`` (v2), the CPU *limit* into a CFS quota over a 100 ms
period, and the memory limit into ``memory.limit_in_bytes`` / ``memory.max``. Look at them
with ``cat /sys/fs/cgroup/cpu/.../cpu.cfs_quota_us`` or ``cat /sys/fs/cgroup/.../memory.max``.
Like upstream's ``MilliValue`` and ``Value``, conversions to integers round *up*.

Parsing is exact: we use :class:`decimal.Decimal`, never floats.
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, localcontext

# Upstream's own regular expression, quoted in its parse error.
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

_NUMBER = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12,
                     "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_PRECISION = Context(prec=120)


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Parse a quantity exactly: ``parse_quantity("1.5Gi") == Decimal(1610612736)``.

    Numbers (YAML ``cpu: 1``) are accepted as upstream accepts JSON numbers.
    Raises ValueError naming the bad text and the expected form.
    """
    if isinstance(value, bool):
        raise ValueError(f"quantity {value!r} must be a string or a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"quantity {value!r} must be a finite number")
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(f"quantity {value!r} must be a string or a number")
    match = _NUMBER.match(text)
    if not match or not (match.group(2) or match.group(3)):
        raise ValueError(_format_error(text))
    sign, whole, frac, suffix = match.groups()
    number = Decimal(f"{sign}{whole or '0'}.{frac or '0'}")
    with localcontext(_PRECISION):
        if suffix in _DECIMAL_SUFFIXES:
            return number.scaleb(_DECIMAL_SUFFIXES[suffix])
        if suffix in _BINARY_SUFFIXES:
            return number * (2 ** _BINARY_SUFFIXES[suffix])
        exponent = _EXPONENT.match(suffix)
        if exponent:
            return number.scaleb(int(exponent.group(1)))
    raise ValueError(_format_error(text))


def _format_error(text: str) -> str:
    return (f"quantity {text!r} is not valid: quantities must match the regular expression "
            f"'{QUANTITY_PATTERN}' (e.g. '500m', '1.5', '128Mi', '1G', '1e3')")


def is_quantity(value: object) -> bool:
    """True if ``value`` parses as a quantity."""
    try:
        parse_quantity(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _ceil(value: Decimal) -> int:
    with localcontext(_PRECISION):
        return int(value.to_integral_value(rounding="ROUND_CEILING"))


def cpu_millis(quantity: str | int | float | Decimal) -> int:
    """CPU in millicores, rounded up like upstream ``MilliValue``: ``"0.1"`` -> 100."""
    with localcontext(_PRECISION):
        return _ceil(parse_quantity(quantity) * 1000)


def memory_bytes(quantity: str | int | float | Decimal) -> int:
    """Bytes, rounded up like upstream ``Value``: ``"128Mi"`` -> 134217728."""
    return _ceil(parse_quantity(quantity))


def format_cpu(millis: int) -> str:
    """Show millicores the way kubectl does: 2000 -> ``"2"``, 250 -> ``"250m"``."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_memory(num_bytes: int) -> str:
    """Show bytes with the largest exact suffix: 134217728 -> ``"128Mi"``, 1000 -> ``"1k"``."""
    if num_bytes == 0:
        return "0"
    for suffix, shift in sorted(_BINARY_SUFFIXES.items(), key=lambda item: -item[1]):
        if num_bytes % (1 << shift) == 0:
            return f"{num_bytes >> shift}{suffix}"
    for suffix in ("E", "P", "T", "G", "M", "k"):
        unit = 10 ** _DECIMAL_SUFFIXES[suffix]
        if num_bytes % unit == 0:
            return f"{num_bytes // unit}{suffix}"
    return str(num_bytes)
