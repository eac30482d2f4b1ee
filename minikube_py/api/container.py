"""Validating one container of a pod spec: image, ports, env, resources, probes, hooks.

A container in a manifest is a recipe the kubelet turns into kernel objects: ``command`` and
``args`` become the process's argv, ``env`` its environment (``cat /proc/<pid>/environ``),
``resources`` the cgroup limits (``cat /sys/fs/cgroup/.../memory.max``), probes and hooks the
kubelet's own checks (``exec`` runs inside the container's namespaces, like ``nsenter``;
``httpGet`` and ``tcpSocket`` connect to the pod IP). Catching a bad recipe here, with the
exact field path, is kinder than a cryptic failure on the node.

Rules and wording follow upstream's ``ValidatePodSpec`` helpers. Fields that get defaults
(``protocol``, ``imagePullPolicy``...) are only checked when present, so a manifest can be
checked before or after :func:`minikube_py.api.pod.default_pod`.
"""

from __future__ import annotations

import re
from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import (
    PORT_RANGE_MESSAGE,
    is_dns1123_label,
    is_env_var_name,
    is_iana_svc_name,
    is_port_number,
)
from minikube_py.api.quantity import parse_quantity

PROTOCOLS = ["SCTP", "TCP", "UDP"]
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_FIELD_REFS = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
               "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP",
               "status.hostIPs", "status.podIP", "status.podIPs"]
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['[^']+'\]$")
#: What ``resourceFieldRef.divisor`` may be (upstream's validateContainerResourceDivisor).
_CPU_DIVISORS = ["1m", "1"]
_BYTE_DIVISORS = ["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi",
                  "1Ei"]
_RESOURCE_REFS = ["limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                  "requests.ephemeral-storage", "requests.memory"]


def validate_port_num_or_name(port: Any, path: FieldPath) -> list[FieldError]:
    """An IntOrString port: a number 1-65535 or an IANA service name (``http``)."""
    if isinstance(port, str):
        return [f.invalid(path, port, m) for m in is_iana_svc_name(port)]
    if not is_port_number(port):
        return [f.invalid(path, port, PORT_RANGE_MESSAGE)]
    return []


def validate_ports(ports: Any, path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(f.expect_list(ports, path, errs)):
        p = path.index(i)
        port = f.expect_dict(port, p, errs)
        name = port.get("name")
        if name and f.expect_str(name, p.child("name"), errs) is not None:
            errs += [f.invalid(p.child("name"), name, m) for m in is_iana_svc_name(name)]
            if name in names:
                errs.append(f.duplicate(p.child("name"), name))
            names.add(name)
        number = port.get("containerPort")
        if not number:
            errs.append(f.required(p.child("containerPort")))
        elif not is_port_number(number):
            errs.append(f.invalid(p.child("containerPort"), number, PORT_RANGE_MESSAGE))
        host_port = port.get("hostPort")
        if host_port and not is_port_number(host_port):
            errs.append(f.invalid(p.child("hostPort"), host_port, PORT_RANGE_MESSAGE))
        if "protocol" in port and port["protocol"] not in PROTOCOLS:
            errs.append(f.not_supported(p.child("protocol"), port["protocol"], PROTOCOLS))
    return errs


def _count_set(obj: dict[str, Any], keys: list[str]) -> list[str]:
    return [k for k in keys if obj.get(k) is not None]


def _validate_key_selector(sel: Any, path: FieldPath, errs: list[FieldError]) -> None:
    sel = f.expect_dict(sel, path, errs)
    for key in ("name", "key"):
        if not sel.get(key):
            errs.append(f.required(path.child(key)))


def validate_env_from(env_from: Any, path: FieldPath) -> list[FieldError]:
    """Each ``envFrom`` entry names one ConfigMap or one Secret; a ``prefix`` must keep the
    variables' names valid."""
    errs: list[FieldError] = []
    for i, source in enumerate(f.expect_list(env_from, path, errs)):
        p = path.index(i)
        source = f.expect_dict(source, p, errs)
        kinds = _count_set(source, ["configMapRef", "secretRef"])
        if not kinds:
            errs.append(f.required(p, "must specify one of: `configMapRef` or `secretRef`"))
        elif len(kinds) > 1:
            errs.append(f.invalid(p, "", "may not have more than one field specified at a "
                                  "time"))
        for kind in kinds:
            ref = f.expect_dict(source[kind], p.child(kind), errs)
            if not ref.get("name"):
                errs.append(f.required(p.child(kind).child("name")))
        prefix = source.get("prefix")
        if prefix:
            errs += [f.invalid(p.child("prefix"), prefix, m)
                     for m in is_env_var_name(str(prefix))]
    return errs


def validate_env(env: Any, path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(f.expect_list(env, path, errs)):
        p = path.index(i)
        var = f.expect_dict(var, p, errs)
        name = var.get("name")
        if not name:
            errs.append(f.required(p.child("name")))
        elif f.expect_str(name, p.child("name"), errs) is not None:
            errs += [f.invalid(p.child("name"), name, m) for m in is_env_var_name(name)]
        if "value" in var and var["value"] is not None:
            f.expect_str(var["value"], p.child("value"), errs)
        if var.get("valueFrom") is not None:
            errs += _validate_env_source(var, p.child("valueFrom"))
    return errs


def _validate_env_source(var: dict[str, Any], path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    source = f.expect_dict(var["valueFrom"], path, errs)
    kinds = _count_set(source, ["fieldRef", "resourceFieldRef", "configMapKeyRef",
                                "secretKeyRef", "fileKeyRef"])
    if not kinds:
        errs.append(f.required(path, "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                     "`configMapKeyRef` or `secretKeyRef`"))
    elif len(kinds) > 1:
        errs.append(f.invalid(path, "", "may not have more than one field specified at a time"))
    if var.get("value"):
        errs.append(f.invalid(path, "", "may not be specified when `value` is not empty"))
    if "fieldRef" in kinds:
        ref = f.expect_dict(source["fieldRef"], path.child("fieldRef"), errs)
        field_path = ref.get("fieldPath")
        if not field_path:
            errs.append(f.required(path.child("fieldRef", "fieldPath")))
        elif field_path not in _FIELD_REFS[2:] and not _SUBSCRIPT.match(str(field_path)):
            errs.append(f.not_supported(path.child("fieldRef", "fieldPath"), field_path,
                                        _FIELD_REFS))
    if "resourceFieldRef" in kinds:
        ref = f.expect_dict(source["resourceFieldRef"], path.child("resourceFieldRef"), errs)
        if not ref.get("resource"):
            errs.append(f.required(path.child("resourceFieldRef", "resource")))
        elif ref["resource"] not in _RESOURCE_REFS:
            errs.append(f.not_supported(path.child("resourceFieldRef", "resource"),
                                        ref["resource"], _RESOURCE_REFS))
        else:
            allowed = _CPU_DIVISORS if ref["resource"].endswith(".cpu") else _BYTE_DIVISORS
            divisor = ref.get("divisor")
            if divisor is not None and str(divisor) not in allowed:
                errs.append(f.not_supported(path.child("resourceFieldRef", "divisor"),
                                            divisor, allowed))
    if "fileKeyRef" in kinds:
        errs.append(f.forbidden(path.child("fileKeyRef"), "not supported by minikube-py "
                                "(upstream's EnvFiles feature gate)"))
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if kind in kinds:
            _validate_key_selector(source[kind], path.child(kind), errs)
    return errs


def _is_standard(name: str) -> bool:
    name = name.removeprefix("kubernetes.io/")
    return name in STANDARD_RESOURCES or name.startswith("hugepages-")


def _quantities(values: Any, path: FieldPath, errs: list[FieldError]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for name, value in f.expect_dict(values, path, errs).items():
        p = path.key(str(name))
        extended = "/" in name and not name.startswith("kubernetes.io/")
        if not extended and not _is_standard(name):
            errs.append(f.invalid(p, name, "must be a standard resource for containers"))
            continue
        try:
            quantity = parse_quantity(value)
        except ValueError as e:
            errs.append(f.invalid(p, value, str(e).split(": ", 1)[-1]))
            continue
        if quantity < 0:
            errs.append(f.invalid(p, str(value), "must be greater than or equal to 0"))
        elif extended and quantity != quantity.to_integral_value():
            errs.append(f.invalid(p, str(value), "must be an integer"))
        else:
            parsed[name] = quantity
    return parsed


def validate_resources(resources: Any, path: FieldPath) -> list[FieldError]:
    """Known resource names, valid non-negative quantities, and request <= limit."""
    errs: list[FieldError] = []
    resources = f.expect_dict(resources, path, errs)
    limits = _quantities(resources.get("limits"), path.child("limits"), errs)
    requests = _quantities(resources.get("requests"), path.child("requests"), errs)
    for name, request in requests.items():
        if name not in limits:
            continue
        raw_request = str(resources["requests"][name])
        raw_limit = str(resources["limits"][name])
        p = path.child("requests").key(name)
        if name.startswith("hugepages-") or ("/" in name and "kubernetes.io/" not in name):
            if request != limits[name]:
                errs.append(f.invalid(p, raw_request, f"must be equal to {name} limit of "
                                                      f"{raw_limit}"))
        elif request > limits[name]:
            errs.append(f.invalid(p, raw_request, f"must be less than or equal to {name} limit "
                                                  f"of {raw_limit}"))
    return errs


def validate_container_name(container: dict[str, Any], path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    name = container.get("name")
    if not name:
        errs.append(f.required(path.child("name")))
    elif f.expect_str(name, path.child("name"), errs) is not None:
        errs += [f.invalid(path.child("name"), name, m) for m in is_dns1123_label(name)]
    return errs


def validate_image(container: dict[str, Any], path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    image = container.get("image")
    if not image:
        errs.append(f.required(path.child("image")))
    elif f.expect_str(image, path.child("image"), errs) is not None:
        if image != image.strip():
            errs.append(f.invalid(path.child("image"), image,
                                  "must not have leading or trailing whitespace"))
        elif any(ch.isspace() for ch in image):
            errs.append(f.invalid(path.child("image"), image, "must not contain whitespace"))
    return errs


def _validate_handler(handler: Any, path: FieldPath, kinds: list[str], grace: int | None
                      ) -> list[FieldError]:
    """Exactly one action (``exec``, ``httpGet``, ``tcpSocket``, ``sleep`` or ``grpc``)."""
    errs: list[FieldError] = []
    handler = f.expect_dict(handler, path, errs)
    present = _count_set(handler, kinds)
    if not present:
        errs.append(f.required(path, "must specify a handler type"))
    for extra in present[1:]:
        errs.append(f.forbidden(path.child(extra), "may not specify more than 1 handler type"))
    if "exec" in present:
        action = f.expect_dict(handler["exec"], path.child("exec"), errs)
        if not action.get("command"):
            errs.append(f.required(path.child("exec", "command")))
        f.expect_str_list(action.get("command"), path.child("exec", "command"), errs)
    for kind in ("httpGet", "tcpSocket"):
        if kind in present:
            action = f.expect_dict(handler[kind], path.child(kind), errs)
            if action.get("port") in (None, "", 0):
                errs.append(f.required(path.child(kind, "port")))
            else:
                errs += validate_port_num_or_name(action["port"], path.child(kind, "port"))
            scheme = action.get("scheme")
            if kind == "httpGet" and scheme is not None and scheme not in ("HTTP", "HTTPS"):
                errs.append(f.not_supported(path.child(kind, "scheme"), scheme,
                                            ["HTTP", "HTTPS"]))
    if "grpc" in present:
        action = f.expect_dict(handler["grpc"], path.child("grpc"), errs)
        if not is_port_number(action.get("port")):
            errs.append(f.invalid(path.child("grpc", "port"), action.get("port"),
                                  PORT_RANGE_MESSAGE))
    if "sleep" in present:
        action = f.expect_dict(handler["sleep"], path.child("sleep"), errs)
        seconds = f.expect_int(action.get("seconds"), path.child("sleep", "seconds"), errs)
        limit = 30 if grace is None else grace
        if seconds is not None and not 0 <= seconds <= limit:
            errs.append(f.invalid(path.child("sleep"), seconds, "must be non-negative"
                                  f" and less than terminationGracePeriodSeconds ({limit})"))
    return errs


def validate_lifecycle(lifecycle: Any, path: FieldPath, grace: int | None) -> list[FieldError]:
    errs: list[FieldError] = []
    lifecycle = f.expect_dict(lifecycle, path, errs)
    for hook in ("postStart", "preStop"):
        if lifecycle.get(hook) is not None:
            errs += _validate_handler(lifecycle[hook], path.child(hook),
                                      ["exec", "httpGet", "tcpSocket", "sleep"], grace)
    return errs


def validate_probe(probe: Any, path: FieldPath, must_succeed_once: bool) -> list[FieldError]:
    """Probe numbers are >= 0 (0 means "use the default"); liveness and startup probes need
    ``successThreshold`` 1."""
    errs = _validate_handler(probe, path, ["exec", "httpGet", "tcpSocket", "grpc"], None)
    probe = probe if isinstance(probe, dict) else {}
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        f.nonnegative(probe.get(key), path.child(key), errs)
    threshold = probe.get("successThreshold")
    if must_succeed_once and f.is_int(threshold) and threshold > 1:
        errs.append(f.invalid(path.child("successThreshold"), threshold, "must be 1"))
    grace = probe.get("terminationGracePeriodSeconds")
    if grace is not None and f.expect_int(grace, path.child("terminationGracePeriodSeconds"),
                                          errs) is not None and grace <= 0:
        errs.append(f.invalid(path.child("terminationGracePeriodSeconds"), grace,
                              "must be greater than 0"))
    return errs
