"""A corpus of malformed requests: each gets the right ``Status`` and changes nothing.

A Kubernetes API server answers every bad request with a ``Status`` object whose ``code`` is
the HTTP status and whose ``reason`` a client can act on: 400 BadRequest (a body that cannot
be decoded, a kind or namespace that does not match the URL, a bad selector), 404 NotFound,
405 MethodNotAllowed, 409 AlreadyExists / Conflict (a stale ``resourceVersion``), 413 (a body
too large), 415 UnsupportedMediaType, 422 Invalid with one ``details.causes[]`` entry per bad
field. Try one by hand::

    curl -s -XPOST -H 'Content-Type: application/json' -d '{"metadata":{}}' \\
        http://127.0.0.1:6443/api/v1/namespaces/default/pods

The corpus runs against an API server started in this process (no root: no kubelet), and
after every request the full listing of every resource must be what it was before: a
rejected request stores nothing. A subset then runs against a real cluster (root) to show
that the kubelet, scheduler and controllers create no kernel object for them either.
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from minikube_py.api.resources import RESOURCES
from minikube_py.client import Client
from minikube_py.errors import MinikubeError

pytestmark = pytest.mark.e2e

NS = "/api/v1/namespaces/default"
PODS, CMS, SVCS, EVENTS = f"{NS}/pods", f"{NS}/configmaps", f"{NS}/services", f"{NS}/events"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
RSS = "/apis/apps/v1/namespaces/default/replicasets"
NODES, NAMESPACES = "/api/v1/nodes", "/api/v1/namespaces"
JSON, MERGE, JSONPATCH = ("application/json", "application/merge-patch+json",
                          "application/json-patch+json")
SMP, APPLY = "application/strategic-merge-patch+json", "application/apply-patch+yaml"


# -- valid objects, to break one field at a time -------------------------------------------
def pod(name: str | None = "mal-pod", **spec: Any) -> dict[str, Any]:
    meta = {"name": name} if name is not None else {}
    base: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox",
                                            "command": ["sleep", "1000"]}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": base}


def pod_with(path: str, value: Any, name: str = "mal-pod") -> dict[str, Any]:
    """A valid pod with one field (``spec.containers.0.image``) set to ``value``."""
    obj = pod(name)
    set_path(obj, path, value)
    return obj


def set_path(obj: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    node = obj
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def deploy(name: str = "mal-deploy", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 1, "selector": {"matchLabels": {"app": "mal"}},
        "template": {"metadata": {"labels": {"app": "mal"}}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}]}}}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": base}


def deploy_with(path: str, value: Any) -> dict[str, Any]:
    obj = deploy()
    set_path(obj, path, value)
    return obj


def service(name: str = "mal-svc", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"app": "mal"}, "ports": [{"port": 80}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": base}


def configmap(name: Any = "mal-cm", data: Any = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": data if data is not None else {"k": "v"}}


# -- the corpus ----------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    method: str
    path: str
    body: Any = None                 # dict/list -> JSON; bytes as is; None -> no body
    ctype: str | None = JSON
    code: int = 400
    reason: str = "BadRequest"
    fields: list[str] = field(default_factory=list)  # 422: fields named by causes


def c(id: str, method: str, path: str, body: Any = None, code: int = 400,
      reason: str | None = None, ctype: str | None = JSON, fields: list[str] | None = None
      ) -> Case:
    default_reason = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                      409: "Conflict", 413: "RequestEntityTooLarge",
                      415: "UnsupportedMediaType", 422: "Invalid"}[code]
    return Case(id, method, path, body, ctype, code, reason or default_reason, fields or [])


STALE = {"resourceVersion": "1"}  # the seed objects were all written later than revision 1

UNPARSABLE = [
    c("truncated json", "POST", PODS, b'{"apiVersion": "v1", "kind": "Pod"'),
    c("not json at all", "POST", PODS, b"hello"),
    c("empty body", "POST", PODS, b""),
    c("json array instead of object", "POST", PODS, b"[1, 2]"),
    c("json null", "POST", PODS, b"null"),
    c("json string", "POST", PODS, b'"a pod"'),
    c("json number", "POST", CMS, b"42"),
    c("trailing garbage", "POST", CMS, b'{"kind": "ConfigMap"} trailing'),
    c("invalid utf-8", "POST", CMS, b'{"kind": "\xff\xfe"}'),
    c("deeply nested arrays", "POST", CMS, b"[" * 100000 + b"]" * 100000),
    c("bad yaml", "POST", CMS, b"kind: [ConfigMap\nmetadata: {", ctype="application/yaml"),
    c("yaml list instead of object", "POST", CMS, b"- a\n- b\n", ctype="application/yaml"),
    c("put truncated json", "PUT", f"{CMS}/seed-cm", b'{"metadata": '),
    c("merge patch not json", "PATCH", f"{CMS}/seed-cm", b"{oops}", ctype=MERGE),
    c("merge patch a list", "PATCH", f"{CMS}/seed-cm", [1, 2], ctype=MERGE),
    c("strategic patch a string", "PATCH", f"{CMS}/seed-cm", "x", ctype=SMP),
    c("json patch an object", "PATCH", f"{CMS}/seed-cm", {"op": "add"}, ctype=JSONPATCH),
    c("json patch not json", "PATCH", f"{CMS}/seed-cm", b"[{", ctype=JSONPATCH),
    c("apply patch bad yaml", "PATCH", f"{CMS}/seed-cm", b"data: [", ctype=APPLY),
    c("scale body not json", "PUT", f"{DEPLOYS}/seed-deploy/scale", b"{{"),
    c("binding body not json", "POST", f"{PODS}/seed-pod/binding", b"nope"),
    c("binding without target", "POST", f"{PODS}/seed-pod/binding",
      {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "seed-pod"}}),
]

MISMATCHED = [
    c("kind of another resource", "POST", PODS, {**configmap(), "kind": "ConfigMap"}),
    c("kind unknown", "POST", PODS, {**pod(), "kind": "Podd"}),
    c("apiVersion of another group", "POST", PODS, {**pod(), "apiVersion": "apps/v1"}),
    c("apiVersion unknown", "POST", DEPLOYS, {**deploy(), "apiVersion": "apps/v9"}),
    c("deployment sent to replicasets", "POST", RSS, deploy()),
    c("namespace in body differs from url", "POST", PODS,
      {**pod(), "metadata": {"name": "mal-pod", "namespace": "kube-system"}}),
    c("put namespace differs from url", "PUT", f"{CMS}/seed-cm",
      {**configmap("seed-cm"), "metadata": {"name": "seed-cm", "namespace": "other"}}),
    c("put name differs from url", "PUT", f"{CMS}/seed-cm", configmap("another-cm")),
    c("merge patch renames the object", "PATCH", f"{CMS}/seed-cm",
      {"metadata": {"name": "renamed"}}, ctype=MERGE),
    c("field validation strict with unknown field", "POST", f"{SVCS}?fieldValidation=Strict",
      service(ports=[{"port": 80, "type": "NodePort"}])),
    c("field validation mode unknown", "POST", f"{CMS}?fieldValidation=Loose", configmap()),
]

SELECTORS = [
    c("label selector unclosed set", "GET", f"{PODS}?labelSelector=app+in+(a"),
    c("label selector no key", "GET", f"{PODS}?labelSelector==x"),
    c("label selector double operator", "GET", f"{PODS}?labelSelector=a%3D%3D%3Db"),
    c("label selector space in key", "GET", f"{PODS}?labelSelector=a+b%3Dc"),
    c("label selector bare bang", "GET", f"{PODS}?labelSelector=!"),
    c("label selector in without parens", "GET", f"{PODS}?labelSelector=a+in+b"),
    c("label selector invalid key chars", "GET", f"{PODS}?labelSelector=bad%24key%3Dx"),
    c("label selector value too long", "GET", f"{PODS}?labelSelector=a%3D" + "x" * 64),
    c("label selector on watch", "GET", f"{PODS}?watch=true&labelSelector=a+in+(b"),
    c("label selector on delete collection list", "GET", f"{DEPLOYS}?labelSelector=,,"),
    c("field selector unknown pod field", "GET", f"{PODS}?fieldSelector=spec.foo%3Dbar"),
    c("field selector without operator", "GET", f"{PODS}?fieldSelector=metadata.name"),
    c("field selector unsupported operator", "GET",
      f"{PODS}?fieldSelector=status.phase~Running"),
    c("field selector pod field on configmaps", "GET",
      f"{CMS}?fieldSelector=spec.nodeName%3Dn1"),
    c("field selector on nodes unknown", "GET", f"{NODES}?fieldSelector=status.capacity%3D1"),
    c("field selector on watch", "GET", f"{PODS}?watch=1&fieldSelector=spec.nope%3D1"),
    c("field selector on events unknown", "GET", f"{EVENTS}?fieldSelector=message%3Dx"),
]

NOT_FOUND = [
    c("unknown resource", "GET", f"{NS}/widgets", code=404),
    c("unknown group", "GET", "/apis/example.com/v1/namespaces/default/bars", code=404),
    c("unknown version of a group", "GET", "/apis/apps/v2/namespaces/default/deployments",
      code=404),
    c("core resource under a group", "GET", "/apis/apps/v1/namespaces/default/pods",
      code=404),
    c("unknown core version", "GET", "/api/v2/namespaces/default/pods", code=404),
    c("path too deep", "GET", f"{PODS}/seed-pod/status/extra", code=404),
    c("get missing pod", "GET", f"{PODS}/nope", code=404),
    c("put missing configmap", "PUT", f"{CMS}/nope", configmap("nope"), code=404),
    c("merge patch missing deployment", "PATCH", f"{DEPLOYS}/nope", {"spec": {}}, code=404,
      ctype=MERGE),
    c("json patch missing pod", "PATCH", f"{PODS}/nope",
      [{"op": "add", "path": "/metadata/labels", "value": {}}], code=404, ctype=JSONPATCH),
    c("delete missing service", "DELETE", f"{SVCS}/nope", code=404),
    c("create in missing namespace", "POST", "/api/v1/namespaces/nope/configmaps",
      configmap(), code=404),
    c("create pod in missing namespace", "POST", "/api/v1/namespaces/nope/pods",
      {**pod(), "metadata": {"name": "mal-pod"}}, code=404),
    c("unknown subresource", "GET", f"{PODS}/seed-pod/frobnicate", code=404),
    c("scale of a pod", "GET", f"{PODS}/seed-pod/scale", code=404),
    c("scale of missing deployment", "PUT", f"{DEPLOYS}/nope/scale",
      {"spec": {"replicas": 2}}, code=404),
    c("binding of missing pod", "POST", f"{PODS}/nope/binding",
      {"target": {"name": "seed-node"}}, code=404),
    c("status of missing pod", "PATCH", f"{PODS}/nope/status", {"status": {}}, code=404,
      ctype=MERGE),
    c("namespaced item without namespace", "GET", "/api/v1/pods/seed-pod", code=404),
    c("get missing node", "GET", f"{NODES}/nope", code=404),
]

METHODS = [
    c("put on a collection", "PUT", PODS, pod(), code=405),
    c("patch on a collection", "PATCH", CMS, {"data": {}}, code=405, ctype=MERGE),
    c("post on an item", "POST", f"{CMS}/seed-cm", configmap("seed-cm"), code=405),
    c("get a binding", "GET", f"{PODS}/seed-pod/binding", code=405),
    c("delete a scale", "DELETE", f"{DEPLOYS}/seed-deploy/scale", code=405),
]

CONFLICTS = [
    c("duplicate configmap", "POST", CMS, configmap("seed-cm"), code=409,
      reason="AlreadyExists"),
    c("duplicate pod", "POST", PODS, pod("seed-pod"), code=409, reason="AlreadyExists"),
    c("duplicate deployment", "POST", DEPLOYS, deploy("seed-deploy"), code=409,
      reason="AlreadyExists"),
    c("duplicate service", "POST", SVCS, service("seed-svc"), code=409,
      reason="AlreadyExists"),
    c("duplicate namespace", "POST", NAMESPACES,
      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}, code=409,
      reason="AlreadyExists"),
    c("duplicate node", "POST", NODES,
      {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "seed-node"}}, code=409,
      reason="AlreadyExists"),
    c("stale resourceVersion on put", "PUT", f"{CMS}/seed-cm",
      {**configmap("seed-cm", {"k": "new"}), "metadata": {"name": "seed-cm", **STALE}},
      code=409),
    c("stale resourceVersion on merge patch", "PATCH", f"{CMS}/seed-cm",
      {"metadata": STALE, "data": {"k": "new"}}, code=409, ctype=MERGE),
    c("stale resourceVersion on status put", "PUT", f"{PODS}/seed-pod/status",
      {**pod("seed-pod"), "metadata": {"name": "seed-pod", **STALE},
       "status": {"phase": "Running"}}, code=409),
    c("stale resourceVersion on scale put", "PUT", f"{DEPLOYS}/seed-deploy/scale",
      {"metadata": {"name": "seed-deploy", **STALE}, "spec": {"replicas": 3}}, code=409),
    c("stale precondition on delete", "DELETE", f"{CMS}/seed-cm",
      {"preconditions": STALE}, code=409),
    c("wrong uid precondition on delete", "DELETE", f"{SVCS}/seed-svc",
      {"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}}, code=409),
    c("binding an already bound pod", "POST", f"{PODS}/seed-bound/binding",
      {"target": {"name": "another-node"}}, code=409),
]

MEDIA_TYPES = [
    c("create as text/plain", "POST", CMS, b"{}", code=415, ctype="text/plain"),
    c("create as xml", "POST", CMS, b"<cm/>", code=415, ctype="application/xml"),
    c("create as protobuf", "POST", PODS, b"k8s\x00", code=415,
      ctype="application/vnd.kubernetes.protobuf"),
    c("put as csv", "PUT", f"{CMS}/seed-cm", b"a,b", code=415, ctype="text/csv"),
    c("patch as plain json", "PATCH", f"{CMS}/seed-cm", {"data": {}}, code=415),
    c("patch as yaml", "PATCH", f"{CMS}/seed-cm", b"data: {}", code=415,
      ctype="application/yaml"),
    c("patch as text", "PATCH", f"{DEPLOYS}/seed-deploy", b"x", code=415,
      ctype="text/plain"),
    c("patch without content type", "PATCH", f"{DEPLOYS}/seed-deploy", {"spec": {}},
      code=415, ctype=None),
    c("scale patch as plain json", "PATCH", f"{DEPLOYS}/seed-deploy/scale",
      {"spec": {"replicas": 2}}, code=415),
    c("status patch as form", "PATCH", f"{PODS}/seed-pod/status", b"a=b", code=415,
      ctype="application/x-www-form-urlencoded"),
]

INVALID_NAMES = [
    c(f"invalid {what} name {name[:16]!r} ({len(name)} chars)", "POST", path, make(name),
      code=422,
      fields=["metadata.name"])
    for what, path, make in (("pod", PODS, pod), ("configmap", CMS, configmap),
                             ("deployment", DEPLOYS, deploy), ("service", SVCS, service))
    for name in ("Bad_Name", "-leading-dash", "x" * 254, "has space")
] + [
    c("missing pod name", "POST", PODS, pod(None), code=422, fields=["metadata.name"]),
    c("missing configmap name", "POST", CMS, {**configmap(), "metadata": {}}, code=422,
      fields=["metadata.name"]),
    c("missing node name", "POST", NODES, {"apiVersion": "v1", "kind": "Node",
                                           "metadata": {}}, code=422,
      fields=["metadata.name"]),
    c("missing event name", "POST", EVENTS, {"apiVersion": "v1", "kind": "Event",
                                             "metadata": {}, "reason": "X"}, code=422,
      fields=["metadata.name"]),
    c("service name starting with a digit", "POST", SVCS, service("1svc"), code=422,
      fields=["metadata.name"]),
    c("namespace name with capitals", "POST", NAMESPACES,
      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Bad"}}, code=422,
      fields=["metadata.name"]),
    c("name of wrong type", "POST", CMS, configmap(5), code=422, fields=["metadata.name"]),
    c("invalid generateName", "POST", CMS,
      {**configmap(), "metadata": {"generateName": "Bad_"}}, code=422,
      fields=["metadata.generateName"]),
    c("label key invalid", "POST", CMS,
      {**configmap(), "metadata": {"name": "mal-cm", "labels": {"bad key": "v"}}}, code=422,
      fields=["metadata.labels"]),
    c("label value too long", "POST", CMS,
      {**configmap(), "metadata": {"name": "mal-cm", "labels": {"k": "v" * 64}}}, code=422,
      fields=["metadata.labels"]),
    c("annotation value not a string", "POST", CMS,
      {**configmap(), "metadata": {"name": "mal-cm", "annotations": {"k": 1}}}, code=422,
      fields=["metadata.annotations"]),
]

INVALID_FIELDS = [
    c("containers a string", "POST", PODS, pod_with("spec.containers", "busybox"), code=422,
      fields=["spec.containers"]),
    c("no containers", "POST", PODS, pod_with("spec.containers", []), code=422,
      fields=["spec.containers"]),
    c("image a number", "POST", PODS, pod_with("spec.containers.0.image", 5), code=422,
      fields=["spec.containers[0].image"]),
    c("image empty", "POST", PODS, pod_with("spec.containers.0.image", ""), code=422,
      fields=["spec.containers[0].image"]),
    c("container name missing", "POST", PODS, pod_with("spec.containers.0.name", None),
      code=422, fields=["spec.containers[0].name"]),
    c("container name invalid", "POST", PODS, pod_with("spec.containers.0.name", "Bad_C"),
      code=422, fields=["spec.containers[0].name"]),
    c("duplicate container names", "POST", PODS, pod(containers=[
        {"name": "c", "image": "busybox"}, {"name": "c", "image": "busybox"}]), code=422,
      fields=["spec.containers[1].name"]),
    c("restart policy unknown", "POST", PODS, pod_with("spec.restartPolicy", "Sometimes"),
      code=422, fields=["spec.restartPolicy"]),
    c("command a string", "POST", PODS, pod_with("spec.containers.0.command", "sleep 1"),
      code=422, fields=["spec.containers[0].command"]),
    c("env name invalid", "POST", PODS, pod_with("spec.containers.0.env",
                                                 [{"name": "1=x", "value": "v"}]),
      code=422, fields=["spec.containers[0].env[0].name"]),
    c("volume mount of unknown volume", "POST", PODS, pod_with(
        "spec.containers.0.volumeMounts", [{"name": "nope", "mountPath": "/x"}]), code=422,
      fields=["spec.containers[0].volumeMounts[0].name"]),
    c("spec a list", "POST", PODS, {**pod(), "spec": []}, code=422, fields=["spec"]),
    c("grace period negative", "POST", PODS,
      pod_with("spec.terminationGracePeriodSeconds", -5), code=422,
      fields=["spec.terminationGracePeriodSeconds"]),
    c("cpu limit not a quantity", "POST", PODS, pod_with(
        "spec.containers.0.resources", {"limits": {"cpu": "lots"}}), code=422,
      fields=["spec.containers[0].resources.limits[cpu]"]),
    c("memory request malformed", "POST", PODS, pod_with(
        "spec.containers.0.resources", {"requests": {"memory": "1.5.5Gi"}}), code=422,
      fields=["spec.containers[0].resources.requests[memory]"]),
    c("negative cpu request", "POST", PODS, pod_with(
        "spec.containers.0.resources", {"requests": {"cpu": "-1"}}), code=422,
      fields=["spec.containers[0].resources.requests[cpu]"]),
    c("request above limit", "POST", PODS, pod_with(
        "spec.containers.0.resources", {"requests": {"memory": "2Gi"},
                                        "limits": {"memory": "1Gi"}}), code=422,
      fields=["spec.containers[0].resources.requests"]),
    c("container port zero", "POST", PODS, pod_with(
        "spec.containers.0.ports", [{"containerPort": 0}]), code=422,
      fields=["spec.containers[0].ports[0].containerPort"]),
    c("container port too big", "POST", PODS, pod_with(
        "spec.containers.0.ports", [{"containerPort": 70000}]), code=422,
      fields=["spec.containers[0].ports[0].containerPort"]),
    c("container port a word", "POST", PODS, pod_with(
        "spec.containers.0.ports", [{"containerPort": "eighty"}]), code=422,
      fields=["spec.containers[0].ports[0].containerPort"]),
    c("container port protocol unknown", "POST", PODS, pod_with(
        "spec.containers.0.ports", [{"containerPort": 80, "protocol": "ICMP"}]), code=422,
      fields=["spec.containers[0].ports[0].protocol"]),
    c("service port zero", "POST", SVCS, service(ports=[{"port": 0}]), code=422,
      fields=["spec.ports[0].port"]),
    c("service port too big", "POST", SVCS, service(ports=[{"port": 65536}]), code=422,
      fields=["spec.ports[0].port"]),
    c("service node port out of range", "POST", SVCS, service(
        type="NodePort", ports=[{"port": 80, "nodePort": 1234}]), code=422,
      fields=["spec.ports[0].nodePort"]),
    c("service target port bad name", "POST", SVCS, service(
        ports=[{"port": 80, "targetPort": "bad name!"}]), code=422,
      fields=["spec.ports[0].targetPort"]),
    c("service type unknown", "POST", SVCS, service(type="Bogus"), code=422,
      fields=["spec.type"]),
    c("service duplicate ports", "POST", SVCS, service(
        ports=[{"port": 80, "name": "a"}, {"port": 80, "name": "a"}]), code=422,
      fields=["spec.ports[1]"]),
    c("service cluster IP outside the range", "POST", SVCS, service(clusterIP="1.2.3.4"),
      code=422, fields=["spec.clusterIP"]),
    c("replicas a word", "POST", DEPLOYS, deploy(replicas="three"), code=422,
      fields=["spec.replicas"]),
    c("replicas negative", "POST", DEPLOYS, deploy(replicas=-1), code=422,
      fields=["spec.replicas"]),
    c("selector does not match template", "POST", DEPLOYS,
      deploy(selector={"matchLabels": {"app": "other"}}), code=422,
      fields=["spec.template.metadata.labels"]),
    c("selector missing", "POST", DEPLOYS, deploy(selector=None), code=422,
      fields=["spec.selector"]),
    c("selector expression operator unknown", "POST", DEPLOYS, deploy(selector={
        "matchLabels": {"app": "mal"},
        "matchExpressions": [{"key": "app", "operator": "Near", "values": ["x"]}]}),
      code=422, fields=["spec.selector.matchExpressions[0].operator"]),
    c("strategy type unknown", "POST", DEPLOYS, deploy(strategy={"type": "Fast"}), code=422,
      fields=["spec.strategy.type"]),
    c("max surge and unavailable both zero", "POST", DEPLOYS, deploy(strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
      code=422, fields=["spec.strategy.rollingUpdate.maxUnavailable"]),
    c("max unavailable over 100 percent", "POST", DEPLOYS, deploy(strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "200%"}}), code=422,
      fields=["spec.strategy.rollingUpdate.maxUnavailable"]),
    c("revision history limit negative", "POST", DEPLOYS, deploy(revisionHistoryLimit=-1),
      code=422, fields=["spec.revisionHistoryLimit"]),
    c("template container image missing", "POST", DEPLOYS,
      deploy_with("spec.template.spec.containers", [{"name": "c"}]), code=422,
      fields=["spec.template.spec.containers[0].image"]),
    c("configmap key invalid", "POST", CMS, configmap(data={"bad key!": "v"}), code=422,
      fields=["data"]),
    c("configmap value not a string", "POST", CMS, configmap(data={"k": 1}), code=422,
      fields=["data[k]"]),
    c("configmap data a list", "POST", CMS, configmap(data=["a"]), code=422,
      fields=["data"]),
]

BAD_PATCHES = [
    c("merge patch breaks the image", "PATCH", f"{DEPLOYS}/seed-deploy",
      {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": ""}]}}}},
      code=422, ctype=MERGE, fields=["spec.template.spec.containers[0].image"]),
    c("merge patch replicas a word", "PATCH", f"{DEPLOYS}/seed-deploy",
      {"spec": {"replicas": "many"}}, code=422, ctype=MERGE, fields=["spec.replicas"]),
    c("merge patch invalid label", "PATCH", f"{CMS}/seed-cm",
      {"metadata": {"labels": {"bad key": "v"}}}, code=422, ctype=MERGE,
      fields=["metadata.labels"]),
    c("json patch unknown op", "PATCH", f"{CMS}/seed-cm",
      [{"op": "frobnicate", "path": "/data/k"}], code=422, ctype=JSONPATCH),
    c("json patch op missing", "PATCH", f"{CMS}/seed-cm", [{"path": "/data/k"}], code=422,
      ctype=JSONPATCH),
    c("json patch remove missing path", "PATCH", f"{CMS}/seed-cm",
      [{"op": "remove", "path": "/data/nope"}], code=422, ctype=JSONPATCH),
    c("json patch failing test", "PATCH", f"{CMS}/seed-cm",
      [{"op": "test", "path": "/data/k", "value": "other"},
       {"op": "replace", "path": "/data/k", "value": "x"}], code=422, ctype=JSONPATCH),
    c("json patch path without slash", "PATCH", f"{CMS}/seed-cm",
      [{"op": "replace", "path": "data/k", "value": "x"}], code=422, ctype=JSONPATCH),
    c("json patch index out of range", "PATCH", f"{DEPLOYS}/seed-deploy",
      [{"op": "replace", "path": "/spec/template/spec/containers/5/image", "value": "x"}],
      code=422, ctype=JSONPATCH),
    c("json patch move from missing", "PATCH", f"{CMS}/seed-cm",
      [{"op": "move", "from": "/data/nope", "path": "/data/k2"}], code=422,
      ctype=JSONPATCH),
    c("json patch makes it invalid", "PATCH", f"{DEPLOYS}/seed-deploy",
      [{"op": "replace", "path": "/spec/replicas", "value": -3}], code=422,
      ctype=JSONPATCH, fields=["spec.replicas"]),
    c("json patch changes the kind", "PATCH", f"{CMS}/seed-cm",
      [{"op": "replace", "path": "/kind", "value": "Secret"}], code=400, ctype=JSONPATCH),
    c("strategic patch unknown directive", "PATCH", f"{DEPLOYS}/seed-deploy",
      {"spec": {"template": {"spec": {"containers": [{"name": "c", "$patch": "explode"}]}}}},
      code=422, ctype=SMP),
    c("strategic patch container without merge key", "PATCH", f"{DEPLOYS}/seed-deploy",
      {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, code=422,
      ctype=SMP),
    c("strategic patch invalid port", "PATCH", f"{DEPLOYS}/seed-deploy",
      {"spec": {"template": {"spec": {"containers": [
          {"name": "c", "ports": [{"containerPort": -1}]}]}}}}, code=422, ctype=SMP,
      fields=["spec.template.spec.containers[0].ports[0].containerPort"]),
    c("strategic patch a list", "PATCH", f"{DEPLOYS}/seed-deploy", [1], code=400, ctype=SMP),
    c("apply patch of another kind", "PATCH", f"{CMS}/seed-cm",
      b"apiVersion: v1\nkind: Secret\nmetadata: {name: seed-cm}\n", code=400, ctype=APPLY),
    c("apply patch creating an invalid object", "PATCH", f"{CMS}/new-cm",
      b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new-cm}\ndata: {'bad key!': v}\n",
      code=422, ctype=APPLY, fields=["data"]),
    c("apply patch a yaml list", "PATCH", f"{CMS}/seed-cm", b"- a\n", code=400, ctype=APPLY),
    c("status patch not json", "PATCH", f"{PODS}/seed-pod/status", b"{", code=400,
      ctype=MERGE),
    c("scale to a negative count", "PUT", f"{DEPLOYS}/seed-deploy/scale",
      {"spec": {"replicas": -2}}, code=422),
    c("scale to a word", "PATCH", f"{DEPLOYS}/seed-deploy/scale",
      {"spec": {"replicas": "two"}}, code=422, ctype=MERGE),
]

DELETES = [
    c("delete with grace period a word", "DELETE", f"{PODS}/seed-pod?gracePeriodSeconds=soon"),
    c("delete with propagation policy unknown", "DELETE",
      f"{DEPLOYS}/seed-deploy?propagationPolicy=Sideways", code=422,
      fields=["propagationPolicy"]),
    c("delete default namespace", "DELETE", f"{NAMESPACES}/default", code=403,
      reason="Forbidden"),
    c("delete with unparsable options", "DELETE", f"{CMS}/seed-cm", b"{propagation"),
    c("delete with options in yaml garbage", "DELETE", f"{CMS}/seed-cm", b"a: [",
      ctype="application/yaml"),
    c("delete with options as xml", "DELETE", f"{CMS}/seed-cm", b"<x/>", code=415,
      ctype="application/xml"),
    c("delete with policy unknown in the body", "DELETE", f"{SVCS}/seed-svc",
      {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Later"}, code=422,
      fields=["propagationPolicy"]),
]

HUGE = [
    c("body over the size limit", "POST", CMS,
      b'{"kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"' + b"x" * (17 << 20)
      + b'"}}', code=413),
    c("configmap data over one megabyte", "POST", CMS, configmap("big-cm", {
        "k": "x" * (1 << 20) + "x"}), code=422, fields=[""]),
    c("name of ten thousand characters", "POST", CMS, configmap("a" * 10000), code=422,
      fields=["metadata.name"]),
    c("ten thousand labels with one bad", "POST", CMS, {
        **configmap(), "metadata": {"name": "mal-cm", "labels": {
            **{f"k{i}": "v" for i in range(10000)}, "bad key": "v"}}}, code=422,
      fields=["metadata.labels"]),
]

CORPUS: list[Case] = (UNPARSABLE + MISMATCHED + SELECTORS + NOT_FOUND + METHODS + CONFLICTS
                      + MEDIA_TYPES + INVALID_NAMES + INVALID_FIELDS + BAD_PATCHES + DELETES
                      + HUGE)


def test_the_corpus_has_at_least_100_distinct_requests():
    assert len(CORPUS) >= 100
    assert len({case.id for case in CORPUS}) == len(CORPUS)


# -- sending one request and checking the answer -------------------------------------------
def send(client: Client, case: Case) -> tuple[int, Any]:
    """One raw request (bytes as given; the client adds TLS and credentials, if any)."""
    body = case.body
    data = None if body is None else body if isinstance(body, bytes) else \
        json.dumps(body).encode()
    try:
        conn, resp = client.open(case.method, case.path, body=data, content_type=case.ctype)
    except MinikubeError:
        return 0, None  # the server hung up before reading all of a huge body
    try:
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw.decode(errors="replace")


def check_status(case: Case, code: int, status: Any) -> None:
    assert code == case.code, f"{case.id}: HTTP {code}, wanted {case.code}: {status}"
    assert isinstance(status, dict) and status.get("kind") == "Status", status
    assert status["apiVersion"] == "v1" and status["status"] == "Failure", status
    assert status["code"] == case.code and status["reason"] == case.reason, status
    assert status.get("message"), status
    if case.code == 422:
        causes = status.get("details", {}).get("causes") or []
        fields = [cause.get("field", "") for cause in causes]
        for wanted in case.fields:
            assert any(f == wanted or f.startswith(wanted) for f in fields), \
                f"{case.id}: no cause for {wanted}: {status}"


def everything(client: Client) -> dict[str, list[tuple[str, str]]]:
    """Every stored object of every resource: (key, resourceVersion) pairs."""
    out = {}
    for resource in RESOURCES:
        items = client.request("GET", resource.path())["items"]
        out[resource.plural] = sorted(
            (f'{o["metadata"].get("namespace", "")}/{o["metadata"]["name"]}',
             o["metadata"]["resourceVersion"]) for o in items)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(client: Client) -> None:
    """The objects the corpus tries to break: one of each, plus a pod bound to a node."""
    client.request("POST", CMS, body=configmap("seed-cm"))
    client.request("POST", PODS, body=pod("seed-pod"))
    client.request("POST", PODS, body={**pod("seed-bound"),
                                       "spec": {**pod()["spec"], "nodeName": "seed-node"}})
    client.request("POST", DEPLOYS, body=deploy("seed-deploy"))
    client.request("POST", SVCS, body=service("seed-svc"))
    client.request("POST", NODES, body={"apiVersion": "v1", "kind": "Node",
                                        "metadata": {"name": "seed-node"}})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from minikube_py.apiserver.server import APIServer

    tmp: Path = tmp_path_factory.mktemp("malformed")
    api = APIServer(str(tmp / "store.db"), port=free_port())
    api.start()
    try:
        seed(Client(api.url))
        yield api.url
    finally:
        api.stop()


#: Known gaps, each a real bug: the test fails (strict xfail) once it is fixed.
KNOWN_GAPS: dict[str, str] = {}


def corpus_params() -> list[Any]:
    return [pytest.param(case, id=case.id, marks=[pytest.mark.xfail(
        reason=KNOWN_GAPS[case.id], strict=True)] if case.id in KNOWN_GAPS else [])
        for case in CORPUS]


@pytest.mark.parametrize("case", corpus_params())
def test_a_malformed_request_gets_a_status_and_stores_nothing(server: str, case: Case):
    client = Client(server)
    before = everything(client)
    code, status = send(client, copy.deepcopy(case))
    if case.code == 413 and code == 0:
        pytest.skip("the server closed the connection before answering")  # pragma: no cover
    check_status(case, code, status)
    assert everything(client) == before, f"{case.id} changed the store"


# -- the same requests against a real cluster: no object, no kernel object -----------------
def sent_to_a_fresh_cluster(case: Case) -> bool:
    """Creates that do not need the seed objects (the cluster has none of them)."""
    text = case.path + (repr(case.body) if not isinstance(case.body, bytes) else "")
    return case.method == "POST" and "seed-" not in text and case.code != 413


@pytest.mark.root
def test_malformed_creates_make_nothing_on_a_real_node(cluster):  # type: ignore[no-untyped-def]
    from tests import leaks

    cases = [case for case in CORPUS if sent_to_a_fresh_cluster(case)
             and case.id not in KNOWN_GAPS]
    assert len(cases) >= 50
    kinds = [r for r in RESOURCES if r.plural not in ("nodes", "events")]  # heartbeats

    def stored() -> dict[str, list[tuple[str, str]]]:
        full = everything(cluster.client)
        return {r.plural: full[r.plural] for r in kinds}

    objects, kernel = stored(), leaks.snapshot()
    for case in cases:
        code, status = send(cluster.client, copy.deepcopy(case))
        check_status(case, code, status)
    import time
    time.sleep(2)  # what a kubelet would do with a stored pod, it does within this time
    assert stored() == objects
    assert leaks.snapshot() == kernel
