"""Kubernetes quantities: exact parsing, rounding up, and clear errors for bad text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from minikube_py.api.quantity import (
    cpu_millis,
    format_cpu,
    format_memory,
    is_quantity,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize("text, expected", [
    ("1", Decimal(1)),
    ("500m", Decimal("0.5")),
    ("0.1", Decimal("0.1")),
    ("1.5", Decimal("1.5")),
    (".5", Decimal("0.5")),
    ("5.", Decimal(5)),
    ("100n", Decimal("1E-7")),
    ("250u", Decimal("0.00025")),
    ("2k", Decimal(2000)),
    ("1M", Decimal(10**6)),
    ("1G", Decimal(10**9)),
    ("1T", Decimal(10**12)),
    ("1P", Decimal(10**15)),
    ("1E", Decimal(10**18)),
    ("1Ki", Decimal(1024)),
    ("128Mi", Decimal(128 * 2**20)),
    ("1.5Gi", Decimal(1610612736)),
    ("1Ti", Decimal(2**40)),
    ("1Pi", Decimal(2**50)),
    ("1Ei", Decimal(2**60)),
    ("1e3", Decimal(1000)),
    ("1E3", Decimal(1000)),
    ("1e-3", Decimal("0.001")),
    ("+1e+2", Decimal(100)),
    ("-1", Decimal(-1)),
    ("+2k", Decimal(2000)),
    (2, Decimal(2)),
    (0.5, Decimal("0.5")),
])
def test_valid_quantities_parse_exactly(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["", ".", "1K", "1..2", "1.5.5", "1e", "Mi", "1 Mi", " 1",
                                  "abc", "1Gib", "1mi", "--1", "1e3.5", "0x10"])
def test_invalid_quantities_raise_value_error_naming_the_text(text):
    with pytest.raises(ValueError) as err:
        parse_quantity(text)
    assert repr(text) in str(err.value)
    assert "regular expression" in str(err.value)
    assert not is_quantity(text)


def test_booleans_and_other_types_are_not_quantities():
    for value in (True, None, [1], {"a": 1}, float("inf")):
        with pytest.raises(ValueError):
            parse_quantity(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text, millis", [
    ("1", 1000), ("250m", 250), ("0.1", 100), ("1.5", 1500), ("1n", 1), ("1u", 1),
    ("1001u", 2), ("2", 2000), (1, 1000), ("0", 0),
])
def test_cpu_millis_rounds_up_like_milli_value(text, millis):
    assert cpu_millis(text) == millis


@pytest.mark.parametrize("text, num_bytes", [
    ("128Mi", 134217728), ("1Gi", 2**30), ("1G", 10**9), ("1m", 1), ("1500m", 2),
    ("64M", 64_000_000), ("1e3", 1000), (512, 512),
])
def test_memory_bytes_rounds_up_like_value(text, num_bytes):
    assert memory_bytes(text) == num_bytes


def test_format_cpu_prints_cores_or_millicores():
    assert format_cpu(2000) == "2"
    assert format_cpu(250) == "250m"
    assert format_cpu(1500) == "1500m"
    assert format_cpu(0) == "0"


def test_format_memory_uses_the_largest_exact_suffix():
    assert format_memory(134217728) == "128Mi"
    assert format_memory(2**30) == "1Gi"
    assert format_memory(1_000_000) == "1M"
    assert format_memory(1500) == "1500"
    assert format_memory(0) == "0"


def test_formatting_round_trips_through_parsing():
    for millis in (1, 250, 1000, 3500):
        assert cpu_millis(format_cpu(millis)) == millis
    for num_bytes in (1, 1024, 134217728, 10**9, 123456789):
        assert memory_bytes(format_memory(num_bytes)) == num_bytes
