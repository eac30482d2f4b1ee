"""Kubernetes objects as plain JSON-shaped dicts: validation, defaults, unknown fields.

There are no classes for Pods or Services here: an object is exactly the dict you get from
``yaml.safe_load`` of a manifest or from ``json.loads`` of an API response, in the upstream
wire schema (``kubectl get pod x -o json`` shows the same shape). This package checks and
completes such dicts the way the API server does on create:

1. :func:`unknown_fields` — fields the kind does not have (``spec.ports[0].type``);
2. :func:`default_object` — fill in defaults (``restartPolicy: Always``...);
3. :func:`validate_object` — every field problem, with its path; :func:`check_object`
   raises :class:`~minikube_py.errors.ValidationError` (``Pod "x" is invalid: [...]``).

Per-kind modules: :mod:`.pod`, :mod:`.workloads` (Deployment, ReplicaSet), :mod:`.service`
(Service, Endpoints), :mod:`.configdata` (ConfigMap, Secret), :mod:`.storage` (PV, PVC,
StorageClass); shared rules in :mod:`.names`,
:mod:`.fields`, :mod:`.quantity`; files in :mod:`.manifest`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.autoscaling import default_hpa, validate_hpa
from minikube_py.api.configdata import default_secret, validate_config_map, validate_secret
from minikube_py.api.configdata import validate_update as validate_data_update
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import is_dns1123_label, namespaced_copy, validate_object_meta
from minikube_py.api.pod import check_pod, default_pod, validate_pod, validate_type_meta
from minikube_py.api.schema import (
    strict_decoding_message,
    unknown_field_message,
    unknown_fields,
    where_field_belongs,
)
from minikube_py.api.service import (
    default_endpoints,
    default_service,
    validate_endpoints,
    validate_service,
)
from minikube_py.api.storage import (
    default_persistent_volume,
    default_persistent_volume_claim,
    default_storage_class,
    validate_claim_update,
    validate_persistent_volume,
    validate_persistent_volume_claim,
    validate_storage_class,
    validate_storage_class_update,
)
from minikube_py.api.workloads import (
    default_deployment,
    default_replica_set,
    validate_deployment,
    validate_replica_set,
)
from minikube_py.errors import ValidationError

__all__ = ["FieldError", "FieldPath", "ValidationError", "check_object", "check_pod",
           "default_object", "default_pod", "strict_decoding_message", "unknown_field_message",
           "unknown_fields", "validate_object", "validate_object_update", "validate_pod",
           "where_field_belongs"]

def validate_namespace(obj: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "Namespace")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"),
                                 name_check=is_dns1123_label, namespaced=False)
    return errs


def validate_service_account(obj: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "ServiceAccount")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"))
    automount = obj.get("automountServiceAccountToken")
    if automount is not None and not isinstance(automount, bool):
        errs.append(f.invalid(FieldPath("automountServiceAccountToken"), automount,
                              "must be a boolean"))
    return errs


VALIDATORS: dict[str, Callable[[Any], list[FieldError]]] = {
    "Pod": validate_pod, "Deployment": validate_deployment, "ReplicaSet": validate_replica_set,
    "Service": validate_service, "Endpoints": validate_endpoints,
    "Namespace": validate_namespace, "ConfigMap": validate_config_map,
    "ServiceAccount": validate_service_account, "HorizontalPodAutoscaler": validate_hpa,
    "Secret": validate_secret, "PersistentVolume": validate_persistent_volume,
    "PersistentVolumeClaim": validate_persistent_volume_claim,
    "StorageClass": validate_storage_class,
}
DEFAULTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "Pod": default_pod, "Deployment": default_deployment, "ReplicaSet": default_replica_set,
    "Service": default_service, "Endpoints": default_endpoints,
    "Namespace": copy.deepcopy, "ConfigMap": namespaced_copy,
    "ServiceAccount": namespaced_copy, "HorizontalPodAutoscaler": default_hpa,
    "Secret": default_secret, "PersistentVolume": default_persistent_volume,
    "PersistentVolumeClaim": default_persistent_volume_claim,
    "StorageClass": default_storage_class,
}
#: Rules about what an update may change, by kind: (new, old) -> errors.
UPDATE_VALIDATORS: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[FieldError]]] = {
    "ConfigMap": validate_data_update, "Secret": validate_data_update,
    "PersistentVolumeClaim": validate_claim_update, "StorageClass": validate_storage_class_update,
}


def validate_object(obj: Any) -> list[FieldError]:
    """Validate any supported kind; an unsupported kind is itself an error."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in VALIDATORS:
        return [f.not_supported(FieldPath("kind"), kind, sorted(VALIDATORS))]
    return VALIDATORS[kind](obj)


def default_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A new dict with the kind's defaults (a copy, unchanged, for other kinds)."""
    return DEFAULTERS.get(str(obj.get("kind")), copy.deepcopy)(obj)


def validate_object_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """What an update may not change, for kinds with such rules (ConfigMap, Secret)."""
    check = UPDATE_VALIDATORS.get(str(new.get("kind")))
    return check(new, old) if check else []


def check_object(obj: Any) -> None:
    errs = validate_object(obj)
    if errs:
        raise ValidationError.for_object(obj, errs)
