"""Names, labels and selectors: the syntax rules every Kubernetes object obeys.

Object names end up in many places outside the API: a pod name becomes the container's
hostname (``cat /etc/hostname`` inside it), its namespace and name name the log directory
``/var/log/pods/<ns>_<pod>_<uid>/``, a Service name becomes a DNS name
``<svc>.<ns>.svc.cluster.local``. That is why names follow DNS rules:

- **RFC 1123 label** (namespaces, container names, port names of Services): ``[a-z0-9-]``,
  at most 63 characters, alphanumeric at both ends;
- **RFC 1123 subdomain** (pods, deployments, most objects): labels joined by dots, ≤ 253;
- **RFC 1035 label** (Services): like a 1123 label but must start with a letter.

Labels are ``key: value`` pairs used by selectors (a Deployment finds its pods by them).
Keys are *qualified names*, optionally prefixed (``app.kubernetes.io/name``); values are
≤ 63 characters. Each ``is_*`` function returns the list of problems (empty when valid), in
the upstream wording, so that ``kubectl`` users recognise the messages.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

from minikube_py.api.fields import (
    FieldError,
    FieldPath,
    expect_dict,
    expect_list,
    expect_str,
    forbidden,
    invalid,
    required,
    too_long,
)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + r"(\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_ENV_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
              "end with an alphanumeric character")


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile(f"^{fmt}$")


def is_dns1123_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_LABEL_FMT).match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character", _LABEL_FMT,
            "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _full(_SUBDOMAIN_FMT).match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
            " '-' or '.', and must start and end with an alphanumeric character",
            _SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_DNS1035_FMT).match(value):
        errs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start"
            " with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """Label and annotation keys: ``name`` or ``prefix/name`` (prefix a DNS subdomain)."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += [f"prefix part {m}" for m in is_dns1123_subdomain(prefix)]
    elif len(parts) == 1:
        name = parts[0]
    else:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                   "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        return errs + ["name part must be non-empty"]
    if len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _full(_QNAME_FMT).match(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                "123-abc"))
    return errs


def is_label_value(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_LABEL_VALUE_FMT).match(value):
        errs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-',"
            " '_' or '.', and must start and end with an alphanumeric character",
            _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_iana_svc_name(value: str) -> list[str]:
    """Named ports (``http``, ``metrics``): IANA service names, at most 15 characters."""
    errs = [_max_len(15)] if len(value) > 15 else []
    if not re.match(r"^[-a-z0-9]+$", value):
        errs.append("must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens (-)")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen (-)")
    return errs


def is_env_var_name(value: str) -> list[str]:
    errs = []
    if not _full(_ENV_FMT).match(value):
        errs.append(_regex_error(
            "a valid environment variable name must consist of alphabetic characters, digits, "
            "'_', '-', or '.', and must not start with a digit", _ENV_FMT, "my.env-name",
            "MY_ENV.NAME", "MyEnvName1"))
    if value in (".", ".."):
        errs.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_port_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


PORT_RANGE_MESSAGE = "must be between 1 and 65535, inclusive"


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_labels(labels: object, path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, value in expect_dict(labels, path, errs).items():
        errs += [invalid(path, key, m) for m in is_qualified_name(str(key))]
        if expect_str(value, path.key(str(key)), errs) is not None:
            errs += [invalid(path, value, m) for m in is_label_value(value)]
    return errs


def validate_annotations(annotations: object, path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for key, value in expect_dict(annotations, path, errs).items():
        errs += [invalid(path, key, m) for m in is_qualified_name(str(key).lower())]
        if expect_str(value, path.key(str(key)), errs) is not None:
            total += len(str(key)) + len(value.encode())
    if total > 256 * 1024:
        errs.append(too_long(path, "", 256 * 1024))
    return errs


def validate_object_meta(meta: object, path: FieldPath, *, name_check: Any = is_dns1123_subdomain,
                         namespaced: bool = True) -> list[FieldError]:
    """Upstream ``ValidateObjectMeta`` for a new object (namespace may be left to defaults)."""
    errs: list[FieldError] = []
    meta = expect_dict(meta, path, errs)
    name, generate = meta.get("name"), meta.get("generateName")
    if not name and not generate:
        errs.append(required(path.child("name"), "name or generateName is required"))
    if name and expect_str(name, path.child("name"), errs) is not None:
        errs += [invalid(path.child("name"), name, m) for m in name_check(name)]
    if generate and expect_str(generate, path.child("generateName"), errs) is not None:
        prefix = generate[:-1] if generate.endswith("-") else generate
        errs += [invalid(path.child("generateName"), generate, m) for m in name_check(prefix)]
    namespace = meta.get("namespace")
    if namespace and not namespaced:
        errs.append(forbidden(path.child("namespace"), "not allowed on this type"))
    elif namespace and expect_str(namespace, path.child("namespace"), errs) is not None:
        errs += [invalid(path.child("namespace"), namespace, m)
                 for m in is_dns1123_label(namespace)]
    errs += validate_labels(meta.get("labels"), path.child("labels"))
    errs += validate_annotations(meta.get("annotations"), path.child("annotations"))
    return errs


def validate_label_selector(selector: object, path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    selector = expect_dict(selector, path, errs)
    errs += validate_labels(selector.get("matchLabels"), path.child("matchLabels"))
    exprs_path = path.child("matchExpressions")
    for i, expr in enumerate(expect_list(selector.get("matchExpressions"), exprs_path, errs)):
        p = exprs_path.index(i)
        expr = expect_dict(expr, p, errs)
        op, values = expr.get("operator"), expr.get("values")
        if op in ("In", "NotIn") and not values:
            errs.append(required(p.child("values"),
                                 "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            errs.append(forbidden(p.child("values"), "may not be specified when `operator` is "
                                  "'Exists' or 'DoesNotExist'"))
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.append(invalid(p.child("operator"), op, "not a valid selector operator"))
        key = expect_str(expr.get("key"), p.child("key"), errs)
        if key is not None:
            errs += [invalid(p.child("key"), key, m) for m in is_qualified_name(key)]
    return errs


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Does a LabelSelector (``matchLabels`` + ``matchExpressions``) select these labels?"""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def namespaced_copy(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a namespaced object, in ``default`` if it names no namespace (what
    every namespaced kind's defaulting starts with)."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    if isinstance(meta, dict) and not meta.get("namespace"):
        meta["namespace"] = "default"
    return out
