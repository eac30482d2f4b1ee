"""Per-resource rules ("strategies"): what the API server does to an object before storing it.

Upstream every resource has a *strategy* (``pkg/registry/core/pod/strategy.go``...) with hooks
the generic REST store calls. Ours are plain functions over JSON dicts:

- **create** — fill ``uid``, ``creationTimestamp``, ``generation: 1``, a name from
  ``generateName`` (5 random characters, as ``kubectl create -f`` with ``generateName: web-``
  shows), drop ``status`` (pods start ``Pending``, namespaces ``Active``; a Node may bring its
  status, as the kubelet does when it registers), default then validate (422 Invalid).
- **update** — keep server-owned fields (uid, creationTimestamp, deletionTimestamp) and the old
  ``status``; bump ``generation`` when ``spec`` changed (what ``observedGeneration`` in a
  Deployment's status is compared with by ``kubectl rollout status``).
- **status update** — the reverse: only ``status`` changes (``pods/x/status`` is how the
  kubelet reports; ``deployments/x/status`` how the controller does).
- **delete** — finalizers turn a delete into setting ``deletionTimestamp``; a bound pod is
  deleted *gracefully* (its kubelet stops the containers, then deletes with grace 0).

See what the server stored with ``kubectl get pod x -o yaml`` (``uid``, ``resourceVersion``,
``generation``) or ``sqlite3 <state>/store.db "select key, mod_revision from kv"``.
"""

from __future__ import annotations

import copy
import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from minikube_py import api
from minikube_py.api.fields import FieldPath
from minikube_py.api.names import validate_object_meta
from minikube_py.api.resources import Resource, find_resource
from minikube_py.apiserver import status as st
from minikube_py.apiserver.allocators import AllocationError, RangeFull, ServiceAllocator
from minikube_py.errors import ValidationError

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's: no vowels, no look-alikes
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                 "generation", "selfLink")
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def now_rfc3339(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def generate_name(prefix: str) -> str:
    return prefix + "".join(random.choice(NAME_ALPHABET) for _ in range(5))


def meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


# -- which resource a URL names -----------------------------------------------------------
@dataclass
class Target:
    """What a URL names: a resource, maybe a namespace, maybe one object and a subresource."""

    resource: Resource
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def key(self) -> str:
        return self.resource.storage_key(self.namespace, self.name)

    @property
    def prefix(self) -> str:
        return self.resource.storage_key(self.namespace)


def parse_target(path: str) -> Target | None:
    """``/apis/apps/v1/namespaces/ns/deployments/web/scale`` -> Target(...); None if unknown."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = find_resource(group, rest[2])
        if inner is not None and inner.namespaced and inner.version == version:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    resource = find_resource(group, rest[0])
    if resource is None or resource.version != version:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return Target(resource, namespace, name, sub)


# -- decoding checks ----------------------------------------------------------------------
def check_type_meta(resource: Resource, obj: Any, namespace: str | None) -> dict[str, Any]:
    """The body must be an object of this resource's kind; fill kind/apiVersion if absent."""
    if not isinstance(obj, dict):
        raise st.bad_request(f"the body of the request is not a {resource.kind} object")
    obj.setdefault("kind", resource.kind)
    obj.setdefault("apiVersion", resource.group_version)
    if obj["kind"] != resource.kind:
        raise st.bad_request(f'the kind in the data ({obj["kind"]}) does not match the '
                             f"expected kind ({resource.kind})")
    if obj["apiVersion"] != resource.group_version:
        raise st.bad_request(f'the API version in the data ({obj["apiVersion"]}) does not '
                             f"match the expected API version ({resource.group_version})")
    meta = meta_of(obj)
    if resource.namespaced and namespace:
        given = meta.get("namespace")
        if given and given != namespace:
            raise st.bad_request("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
        meta["namespace"] = namespace
    return obj


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def strip_field(obj: Any, path: str) -> None:
    """Remove ``spec.ports[0].type`` from ``obj`` (what Warn/Ignore field validation keeps)."""
    parts = [(m.group(1), m.group(2)) for m in _PATH_PART.finditer(path)]
    node = obj
    for i, (key, index) in enumerate(parts):
        last = i == len(parts) - 1
        if key is not None:
            if not isinstance(node, dict) or key not in node:
                return
            if last:
                del node[key]
                return
            node = node[key]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return
            node = node[int(index)]


def field_validation(obj: dict[str, Any], mode: str | None) -> list[str]:
    """Apply ``?fieldValidation=`` (Strict, Warn — the default — or Ignore).

    Returns the warnings to send back; Strict raises 400 BadRequest with upstream's message.
    Unknown fields never reach the store.
    """
    mode = (mode or "Warn").capitalize()
    if mode not in ("Strict", "Warn", "Ignore"):
        raise st.bad_request(f"fieldValidation must be one of Strict, Warn, Ignore (got {mode})")
    paths = api.unknown_fields(obj)
    if not paths:
        return []
    if mode == "Strict":
        causes = [{"reason": "FieldValueInvalid", "field": p,
                   "message": api.where_field_belongs(p, str(obj.get("kind"))) or
                   api.unknown_field_message(p)} for p in paths]
        raise st.bad_request(api.strict_decoding_message(obj, paths), {"causes": causes})
    warnings = []
    for path in paths:
        strip_field(obj, path)
        warnings.append(api.unknown_field_message(path))
        hint = api.where_field_belongs(path, str(obj.get("kind")))
        if hint:
            warnings.append(f"{path}: {hint}")
    return warnings if mode == "Warn" else []


def path_segment_name(name: str) -> list[str]:
    """Upstream ``ValidatePathSegmentName``: the name of a kind with no stricter rule (Node,
    Event, ClusterRole ``system:node``...) must fit in one URL path segment."""
    if name in (".", ".."):
        return [f'may not be "{name}"']
    return [f'may not contain "{c}"' for c in "/%" if c in name]


def default_and_validate(obj: dict[str, Any]) -> dict[str, Any]:
    """``default_object`` then ``validate_object`` for kinds the api package knows; 422."""
    if obj.get("kind") not in api.VALIDATORS:  # still: a name, labels, annotations
        errors = validate_object_meta(obj.get("metadata"), FieldPath("metadata"),
                                      name_check=path_segment_name)
        if errors:
            raise st.invalid(ValidationError.for_object(obj, errors))
        return obj
    defaulted = api.default_object(obj)
    errors = api.validate_object(defaulted)
    if errors:
        raise st.invalid(ValidationError.for_object(defaulted, errors))
    return defaulted


# -- strategies ---------------------------------------------------------------------------
def initial_status(resource: Resource, obj: dict[str, Any]) -> Any:
    kind = resource.kind
    if kind == "Node":  # the kubelet registers its node with capacity and addresses
        return obj.get("status") if isinstance(obj.get("status"), dict) else {}
    if kind == "Pod":
        return {"phase": "Pending"}
    if kind == "Namespace":
        return {"phase": "Active"}
    if kind == "Service":
        return {"loadBalancer": {}}
    if kind in ("Deployment", "ReplicaSet"):
        return {}
    if kind in ("PersistentVolume", "PersistentVolumeClaim"):
        return {"phase": "Pending"}  # the PV controller makes it Available, or binds it
    return None


def prepare_create(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """Server-set metadata, initial status, defaults and validation for a new object."""
    meta = meta_of(obj)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = generate_name(str(meta["generateName"]))
    for key in SERVER_FIELDS + ("resourceVersion",):
        meta.pop(key, None)
    if not resource.namespaced:
        meta.pop("namespace", None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    if "spec" in obj or resource.kind in ("Pod", "Deployment", "ReplicaSet"):
        meta["generation"] = 1
    if resource.kind == "Namespace":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("finalizers", ["kubernetes"])
    protection = {"PersistentVolumeClaim": PVC_PROTECTION,  # no deletion while a pod uses
                  "PersistentVolume": PV_PROTECTION}.get(resource.kind)  # it, or while bound
    if protection:  # upstream's StorageObjectInUseProtection admission
        finalizers = meta.setdefault("finalizers", [])
        if isinstance(finalizers, list) and protection not in finalizers:
            finalizers.append(protection)
    first = initial_status(resource, obj)
    obj.pop("status", None)
    new = default_and_validate(obj)
    if first is not None:
        new["status"] = first
    return new


def prepare_update(resource: Resource, new: dict[str, Any], old: dict[str, Any]
                   ) -> dict[str, Any]:
    """Keep server-owned metadata and status; bump generation if the spec changed."""
    meta, old_meta = meta_of(new), meta_of(old)
    if meta.get("name") != old_meta.get("name"):
        raise st.bad_request(f'the name of the object ({meta.get("name")}) does not match the '
                             f'name on the URL ({old_meta.get("name")})')
    if resource.namespaced:
        meta["namespace"] = old_meta.get("namespace")
    for key in SERVER_FIELDS:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if "status" in old:
        new["status"] = copy.deepcopy(old["status"])
    else:
        new.pop("status", None)
    new = default_and_validate(new)
    errors = api.validate_object_update(new, old)
    if errors:
        raise st.invalid(ValidationError.for_object(new, errors))
    if "generation" in old_meta and new.get("spec") != old.get("spec"):
        meta_of(new)["generation"] = int(old_meta["generation"]) + 1
    return new


def allocate_service(allocator: ServiceAllocator, key: str, obj: dict[str, Any],
                     old: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Service's ClusterIP and NodePorts, requested (checked) or allocated (422 when a
    requested one is taken or out of range, 500 when a range is full, as upstream)."""
    if obj.get("kind") != "Service":
        return obj
    try:
        return allocator.assign(key, obj, old)
    except RangeFull as e:
        raise st.internal(str(e)) from e
    except AllocationError as e:
        causes = [e.field_error] if e.field_error is not None else []
        raise st.invalid(ValidationError.for_object(obj, causes)) from e


def kubernetes_service() -> dict[str, Any]:
    """The ``default/kubernetes`` Service every cluster has: the API server at 10.96.0.1:443.

    Upstream's apiserver also keeps its Endpoints pointing at its advertise address; ``up``
    writes them once the API server also listens on the node's bridge address
    (``minikube_py.cluster``), so pods reach it at ``https://kubernetes.default.svc``.
    """
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": 6443}]}}


def prepare_status_update(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """Only ``status`` changes through ``/status``."""
    out = copy.deepcopy(old)
    if "status" in new:
        out["status"] = new["status"]
    return out


def deleted_by_update(obj: dict[str, Any]) -> bool:
    """An object being deleted goes away when its last finalizer is removed (a namespace
    goes when the namespace controller has emptied it and deletes it again)."""
    meta = meta_of(obj)
    return (obj.get("kind") != "Namespace" and bool(meta.get("deletionTimestamp"))
            and not meta.get("finalizers") and not meta.get("deletionGracePeriodSeconds"))


def plan_delete(resource: Resource, obj: dict[str, Any], options: dict[str, Any]
                ) -> dict[str, Any] | None:
    """What a DELETE does: None = remove now; else the object to store instead (marked).

    Steps: 1. a bound pod with grace > 0 is marked for graceful deletion; 2. Foreground
    and Orphan propagation add their finalizer; 3. any finalizer keeps the object, marked
    with ``deletionTimestamp``.
    """
    obj = copy.deepcopy(obj)
    meta = meta_of(obj)
    # Step 1: graceful pod deletion.
    grace = options.get("gracePeriodSeconds")
    if resource.kind == "Pod":
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if grace is None:
            grace = meta.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds",
                                                                    30))
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            grace = 0
        grace = int(grace)
        old_grace = meta.get("deletionGracePeriodSeconds")
        if grace > 0 and (old_grace is None or grace < old_grace):
            meta["deletionTimestamp"] = now_rfc3339(grace)
            meta["deletionGracePeriodSeconds"] = grace
            return obj
        if grace > 0:
            return obj  # already terminating, no shorter grace asked
        meta.pop("deletionGracePeriodSeconds", None)
    # Step 2: propagation policy finalizers.
    policy = options.get("propagationPolicy")
    if options.get("orphanDependents") is True:
        policy = "Orphan"
    finalizers = list(meta.get("finalizers") or [])
    if policy == "Foreground" and FOREGROUND not in finalizers:
        finalizers.append(FOREGROUND)
    if finalizers:
        meta["finalizers"] = finalizers
    # Step 3: finalizers keep the object.
    if finalizers:
        meta.setdefault("deletionTimestamp", now_rfc3339())
        meta["deletionGracePeriodSeconds"] = 0
        return obj
    return None


def check_preconditions(resource: Resource, obj: dict[str, Any], options: dict[str, Any],
                        revision: int) -> None:
    pre = options.get("preconditions") or {}
    meta = meta_of(obj)
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        raise st.conflict(resource, str(meta.get("name")),
                          f'Precondition failed: UID in precondition: {pre["uid"]}, UID in '
                          f'object meta: {meta.get("uid")}')
    if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(revision):
        raise st.conflict(resource, str(meta.get("name")),
                          f'Precondition failed: ResourceVersion in precondition: '
                          f'{pre["resourceVersion"]}, ResourceVersion in object meta: {revision}')


def selector_string(selector: Any) -> str:
    """A LabelSelector as text (``app=nginx,tier in (a,b)``): Scale's ``status.selector``."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
