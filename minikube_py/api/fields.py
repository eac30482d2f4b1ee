"""Field paths and field errors: how the API server says *which* part of a manifest is wrong.

Kubernetes validation never says just "invalid pod". Every problem is a *field error* that
names the path into the object, the kind of problem and the offending value::

    spec.containers[0].image: Required value
    metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of ...
    spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", ...

The API server returns them as the ``causes`` of a ``Status`` with reason ``Invalid`` (HTTP
422), each cause being ``{"reason": "FieldValueRequired", "message": ..., "field": ...}``.
See one for yourself with ``kubectl apply -f bad.yaml -v=8`` and read the response body.

:class:`FieldPath` builds paths (``spec.containers[0].image``, ``metadata.labels[app]``);
:class:`FieldError` is one problem; the small constructors below mirror the upstream ones.
The ``expect_*`` helpers check JSON types so validators never crash on odd input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
DUPLICATE = "FieldValueDuplicate"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
NOT_FOUND = "FieldValueNotFound"

# Reason -> the words the API server prints before the value.
_TITLES = {REQUIRED: "Required value", INVALID: "Invalid value", DUPLICATE: "Duplicate value",
           NOT_SUPPORTED: "Unsupported value", FORBIDDEN: "Forbidden", TOO_LONG: "Too long",
           NOT_FOUND: "Not found"}
_WITHOUT_VALUE = {REQUIRED, FORBIDDEN, TOO_LONG}


@dataclass(frozen=True)
class FieldPath:
    """An immutable path into an object: ``FieldPath("spec").child("containers").index(0)``."""

    path: str = ""

    def child(self, *names: str) -> FieldPath:
        path = self.path
        for name in names:
            path = f"{path}.{name}" if path else name
        return FieldPath(path)

    def index(self, i: int) -> FieldPath:
        return FieldPath(f"{self.path}[{i}]")

    def key(self, key: str) -> FieldPath:
        """A map entry, written the upstream way: ``metadata.labels[app]``."""
        return FieldPath(f"{self.path}[{key}]")

    def __str__(self) -> str:
        return self.path


def format_value(value: Any) -> str:
    """Print a bad value like the API server: strings quoted, numbers and booleans bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class FieldError:
    """One validation problem: ``field`` (a path), ``type`` (an upstream reason), ``value``
    (the offending value, if any) and ``message`` (the explanation, may be empty)."""

    type: str
    field: str
    value: Any = None
    message: str = ""

    def body(self) -> str:
        """The text after the path: ``Invalid value: "x": must be ...``."""
        text = _TITLES.get(self.type, self.type)
        if self.type not in _WITHOUT_VALUE:
            text += f": {format_value(self.value)}"
        if self.message:
            text += f": {self.message}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def to_cause(self) -> dict[str, str]:
        """The ``Status.details.causes`` entry the API server returns for this error."""
        return {"reason": self.type, "message": self.body(), "field": self.field}

    # The constructors below are also reachable as ``FieldError.invalid(path, value, msg)``.
    @staticmethod
    def required(path: FieldPath | str, message: str = "") -> FieldError:
        return required(path, message)

    @staticmethod
    def invalid(path: FieldPath | str, value: Any, message: str) -> FieldError:
        return invalid(path, value, message)

    @staticmethod
    def duplicate(path: FieldPath | str, value: Any) -> FieldError:
        return duplicate(path, value)

    @staticmethod
    def not_supported(path: FieldPath | str, value: Any, supported: Iterable[str]) -> FieldError:
        return not_supported(path, value, supported)

    @staticmethod
    def forbidden(path: FieldPath | str, message: str) -> FieldError:
        return forbidden(path, message)


def required(path: FieldPath | str, message: str = "") -> FieldError:
    return FieldError(REQUIRED, str(path), None, message)


def invalid(path: FieldPath | str, value: Any, message: str) -> FieldError:
    return FieldError(INVALID, str(path), value, message)


def duplicate(path: FieldPath | str, value: Any) -> FieldError:
    return FieldError(DUPLICATE, str(path), value)


def not_supported(path: FieldPath | str, value: Any, supported: Iterable[str]) -> FieldError:
    quoted = ", ".join(json.dumps(v) for v in supported)
    return FieldError(NOT_SUPPORTED, str(path), value, f"supported values: {quoted}")


def forbidden(path: FieldPath | str, message: str) -> FieldError:
    return FieldError(FORBIDDEN, str(path), None, message)


def too_long(path: FieldPath | str, value: Any, max_length: int) -> FieldError:
    return FieldError(TOO_LONG, str(path), value, f"may not be more than {max_length} bytes")


def not_found(path: FieldPath | str, value: Any) -> FieldError:
    return FieldError(NOT_FOUND, str(path), value)


# --- JSON type checks -------------------------------------------------------------------

def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expect_int(value: object, path: FieldPath, errs: list[FieldError]) -> int | None:
    """The integer, or None after recording "must be an integer"."""
    if is_int(value):
        return value  # type: ignore[return-value]
    errs.append(invalid(path, value, "must be an integer"))
    return None


def expect_str(value: object, path: FieldPath, errs: list[FieldError]) -> str | None:
    if isinstance(value, str):
        return value
    errs.append(invalid(path, value, "must be a string"))
    return None


def expect_bool(value: object, path: FieldPath, errs: list[FieldError]) -> bool | None:
    if isinstance(value, bool):
        return value
    errs.append(invalid(path, value, "must be a boolean"))
    return None


def expect_dict(value: object, path: FieldPath, errs: list[FieldError]) -> dict[str, Any]:
    """The mapping; ``{}`` for a missing (None) value; ``{}`` plus an error for anything else."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    errs.append(invalid(path, value, "must be an object"))
    return {}


def expect_list(value: object, path: FieldPath, errs: list[FieldError]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    errs.append(invalid(path, value, "must be a list"))
    return []


def expect_str_list(value: object, path: FieldPath, errs: list[FieldError]) -> list[str]:
    items = expect_list(value, path, errs)
    for i, item in enumerate(items):
        expect_str(item, path.index(i), errs)
    return [item for item in items if isinstance(item, str)]


def nonnegative(value: object, path: FieldPath, errs: list[FieldError]) -> None:
    """Upstream ``ValidateNonnegativeField``: a missing value is fine."""
    if value is None:
        return
    number = expect_int(value, path, errs)
    if number is not None and number < 0:
        errs.append(invalid(path, number, "must be greater than or equal to 0"))
