"""Deployments and ReplicaSets: validation and defaults.

A **ReplicaSet** keeps ``replicas`` copies of a pod template running: it counts the pods its
``selector`` matches and creates or deletes pods to reach the number. A **Deployment** owns
ReplicaSets, one per version of the template (named ``<deployment>-<pod-template-hash>``),
and moves pods from the old one to the new one step by step (``RollingUpdate``, bounded by
``maxSurge`` and ``maxUnavailable``), which is also what makes rollback possible.

So the selector *must* match the template's labels: otherwise the ReplicaSet would create pods
it cannot see and create more forever. Upstream rejects that with
``spec.template.metadata.labels: Invalid value: ...: `selector` does not match template
`labels```, and so do we. Controllers restart pods themselves, so templates must use
``restartPolicy: Always``.

Watch the result on the node: every pod of the Deployment gets its own network namespace
(``ip netns list``) and cgroup; ``kubectl get rs`` shows the ReplicaSets with their hashes.
"""

from __future__ import annotations

import re
from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import (
    namespaced_copy,
    selector_matches,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
)
from minikube_py.api.pod import default_pod_spec, validate_pod_spec, validate_type_meta
from minikube_py.errors import ValidationError

_PERCENT = re.compile(r"^[0-9]+%$")


def validate_pod_template(template: Any, path: FieldPath, selector: Any) -> list[FieldError]:
    """A ReplicaSet's template: labels matched by the selector, a valid spec, Always."""
    errs: list[FieldError] = []
    template = f.expect_dict(template, path, errs)
    meta = f.expect_dict(template.get("metadata"), path.child("metadata"), errs)
    labels = meta.get("labels")
    errs += validate_labels(labels, path.child("metadata", "labels"))
    if isinstance(selector, dict) and (selector.get("matchLabels") or
                                       selector.get("matchExpressions")):
        if not selector_matches(selector, labels if isinstance(labels, dict) else {}):
            errs.append(f.invalid(path.child("metadata", "labels"), labels,
                                  "`selector` does not match template `labels`"))
    spec_path = path.child("spec")
    errs += validate_pod_spec(template.get("spec"), spec_path)
    spec = template.get("spec") if isinstance(template.get("spec"), dict) else {}
    policy = spec.get("restartPolicy")
    if policy is not None and policy != "Always":
        errs.append(f.not_supported(spec_path.child("restartPolicy"), policy, ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        errs.append(f.forbidden(spec_path.child("activeDeadlineSeconds"),
                                "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return errs


def _validate_selector(spec: dict[str, Any], path: FieldPath) -> list[FieldError]:
    selector = spec.get("selector")
    if selector is None:
        return [f.required(path.child("selector"))]
    errs = validate_label_selector(selector, path.child("selector"))
    if isinstance(selector, dict) and not (selector.get("matchLabels") or
                                           selector.get("matchExpressions")):
        errs.append(f.invalid(path.child("selector"), selector,
                              "empty selector is invalid for deployment"))
    return errs


def _validate_replica_fields(spec: dict[str, Any], path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit",
                "progressDeadlineSeconds"):
        f.nonnegative(spec.get(key), path.child(key), errs)
    return errs


def int_or_percent(value: Any, path: FieldPath, max_percent: bool = False) -> list[FieldError]:
    """``maxSurge``/``maxUnavailable``: a non-negative integer or ``"25%"``."""
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [f.invalid(path, value, "must be an integer or percentage (e.g '5%')")]
        if max_percent and int(value[:-1]) > 100:
            return [f.invalid(path, value, "must not be greater than 100%")]
        return []
    if not f.is_int(value):
        return [f.invalid(path, value, "must be an integer or percentage (e.g '5%')")]
    if value < 0:
        return [f.invalid(path, value, "must be greater than or equal to 0")]
    return []


def _is_zero(value: Any) -> bool:
    return value in (0, "0%")


def _validate_strategy(strategy: Any, path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    strategy = f.expect_dict(strategy, path, errs)
    kind = strategy.get("type", "RollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if kind not in ("Recreate", "RollingUpdate"):
        errs.append(f.not_supported(path.child("type"), kind, ["Recreate", "RollingUpdate"]))
    elif kind == "Recreate" and rolling is not None:
        errs.append(f.forbidden(path.child("rollingUpdate"),
                                "may not be specified when strategy `type` is 'Recreate'"))
    elif rolling is not None:
        p = path.child("rollingUpdate")
        rolling = f.expect_dict(rolling, p, errs)
        surge = rolling.get("maxSurge", "25%")
        unavailable = rolling.get("maxUnavailable", "25%")
        errs += int_or_percent(surge, p.child("maxSurge"))
        errs += int_or_percent(unavailable, p.child("maxUnavailable"), max_percent=True)
        if _is_zero(surge) and _is_zero(unavailable):
            errs.append(f.invalid(p.child("maxUnavailable"), unavailable,
                                  "may not be 0 when `maxSurge` is 0"))
    return errs


def _validate_replicated(obj: Any, kind: str
                         ) -> tuple[list[FieldError], dict[str, Any], FieldPath]:
    """What a ReplicaSet and a Deployment share: type, metadata, replicas, selector and a
    pod template the selector matches. Returns the errors, the spec and its path."""
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "apps/v1", kind)
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"))
    path = FieldPath("spec")
    spec = f.expect_dict(obj.get("spec"), path, errs)
    errs += _validate_replica_fields(spec, path)
    errs += _validate_selector(spec, path)
    errs += validate_pod_template(spec.get("template"), path.child("template"),
                                  spec.get("selector"))
    return errs, spec, path


def validate_replica_set(obj: Any) -> list[FieldError]:
    return _validate_replicated(obj, "ReplicaSet")[0]


def validate_deployment(obj: Any) -> list[FieldError]:
    errs, spec, path = _validate_replicated(obj, "Deployment")
    errs += _validate_strategy(spec.get("strategy"), path.child("strategy"))
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
    if f.is_int(deadline) and f.is_int(min_ready) and deadline <= min_ready:
        errs.append(f.invalid(path.child("progressDeadlineSeconds"), deadline,
                              "must be greater than minReadySeconds"))
    return errs


def check_deployment(obj: Any) -> None:
    errs = validate_deployment(obj)
    if errs:
        raise ValidationError.for_object(obj, errs)


def check_replica_set(obj: Any) -> None:
    errs = validate_replica_set(obj)
    if errs:
        raise ValidationError.for_object(obj, errs)


def _default_common(obj: dict[str, Any]) -> dict[str, Any]:
    out = namespaced_copy(obj)
    spec = out.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        template = spec.setdefault("template", {})
        if isinstance(template, dict):
            template.setdefault("metadata", {})
            if isinstance(template.setdefault("spec", {}), dict):
                default_pod_spec(template["spec"])
    return out


def default_replica_set(obj: dict[str, Any]) -> dict[str, Any]:
    """A new dict with apps/v1 ReplicaSet defaults: replicas 1, template pod defaults."""
    return _default_common(obj)


def default_deployment(obj: dict[str, Any]) -> dict[str, Any]:
    """A new dict with apps/v1 Deployment defaults: replicas 1, RollingUpdate 25%/25%,
    revisionHistoryLimit 10, progressDeadlineSeconds 600, and the template pod defaults.
    (``minReadySeconds`` stays absent, as upstream omits a zero.)"""
    out = _default_common(obj)
    spec = out["spec"]
    if not isinstance(spec, dict):
        return out
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    return out
