"""HorizontalPodAutoscaler (``autoscaling/v2``): validation and defaults.

An HPA names a workload that has a ``scale`` subresource (a Deployment or a ReplicaSet), a
replica range, and what to watch::

    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 1
      maxReplicas: 5
      metrics:
      - type: Resource
        resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}

Without ``metrics`` the default is CPU at 80 % of the pods' requests, as upstream. Only
``Resource`` metrics (``cpu``, ``memory``) are served here: they come from the resource
metrics API that ``kubectl top`` reads; ``Pods``/``Object``/``External`` metrics need a
custom metrics adapter and are refused by name.
"""

from __future__ import annotations

import copy
from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import namespaced_copy, validate_object_meta
from minikube_py.api.pod import validate_type_meta
from minikube_py.api.quantity import parse_quantity

SCALABLE = {("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet")}
TARGET_TYPES = ("Utilization", "AverageValue")
DEFAULT_METRIC = {"type": "Resource", "resource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}


def _validate_metric(metric: Any, p: FieldPath, errs: list[FieldError]) -> None:
    metric = f.expect_dict(metric, p, errs)
    kind = metric.get("type")
    if kind != "Resource":
        errs.append(f.not_supported(p.child("type"), kind, ["Resource"]))
        return
    resource = f.expect_dict(metric.get("resource"), p.child("resource"), errs)
    q = p.child("resource")
    if resource.get("name") not in ("cpu", "memory"):
        errs.append(f.not_supported(q.child("name"), resource.get("name"), ["cpu", "memory"]))
    target = f.expect_dict(resource.get("target"), q.child("target"), errs)
    t = q.child("target")
    if target.get("type") not in TARGET_TYPES:
        errs.append(f.not_supported(t.child("type"), target.get("type"), TARGET_TYPES))
    elif target["type"] == "Utilization":
        value = target.get("averageUtilization")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            errs.append(f.invalid(t.child("averageUtilization"), value,
                                  "must be greater than 0"))
    else:
        try:
            if parse_quantity(str(target.get("averageValue"))) <= 0:
                raise ValueError("must be positive")
        except ValueError:
            errs.append(f.invalid(t.child("averageValue"), target.get("averageValue"),
                                  "must be a positive quantity"))


def validate_hpa(obj: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "autoscaling/v2", "HorizontalPodAutoscaler")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"))
    path = FieldPath("spec")
    spec = f.expect_dict(obj.get("spec"), path, errs)
    ref = f.expect_dict(spec.get("scaleTargetRef"), path.child("scaleTargetRef"), errs)
    r = path.child("scaleTargetRef")
    if not ref.get("name"):
        errs.append(f.required(r.child("name")))
    if (ref.get("apiVersion"), ref.get("kind")) not in SCALABLE:
        errs.append(f.not_supported(r.child("kind"), ref.get("kind"),
                                    sorted(k for _, k in SCALABLE)))
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(low, int) or isinstance(low, bool) or low < 1:
        errs.append(f.invalid(path.child("minReplicas"), low, "must be greater than or equal "
                              "to 1"))
    if not f.is_int(high):
        errs.append(f.required(path.child("maxReplicas")))
    elif f.is_int(low) and high < low:
        errs.append(f.invalid(path.child("maxReplicas"), high, "must be greater than or equal "
                              "to `minReplicas`"))
    for i, metric in enumerate(f.expect_list(spec.get("metrics"), path.child("metrics"),
                                             errs)):
        _validate_metric(metric, path.child("metrics").index(i), errs)
    for direction in ("scaleUp", "scaleDown"):
        rules = ((spec.get("behavior") or {}).get(direction) or {})
        seconds = rules.get("stabilizationWindowSeconds")
        if seconds is not None and (not f.is_int(seconds) or not 0 <= seconds <= 3600):
            errs.append(f.invalid(path.child("behavior", direction,
                                             "stabilizationWindowSeconds"), seconds,
                                  "must be between 0 and 3600"))
    return errs


def default_hpa(obj: dict[str, Any]) -> dict[str, Any]:
    out = namespaced_copy(obj)
    spec = out.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("minReplicas", 1)
        if not spec.get("metrics"):
            spec["metrics"] = [copy.deepcopy(DEFAULT_METRIC)]
    return out
