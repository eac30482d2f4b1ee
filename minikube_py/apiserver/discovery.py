"""Discovery: how kubectl learns which resources this server has, and what they are called.

Before anything else kubectl asks ``GET /version`` (the ``/usr/bin/kubectl`` dispatcher picks
the kubectl binary matching the server's minor version) and ``GET /api`` + ``GET /apis``.
Those two answer in one of two shapes, chosen by the ``Accept`` header:

- **aggregated** (``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``):
  every group, version and resource in one document. The ``Content-Type`` of the answer must
  name the version chosen (v2 or v2beta1), or kubectl misreads it;
- **legacy**: ``APIVersions`` / ``APIGroupList``, then one ``APIResourceList`` per group
  version (``GET /apis/apps/v1``).

Each resource carries its ``shortNames`` (``deploy``, ``po``, ``svc`` — without them
``kubectl get deploy`` fails), ``categories`` (``all``: what ``kubectl get all`` lists),
``verbs`` and subresources (``deployments/scale``). See all of it with
``kubectl api-resources`` or ``curl -s http://127.0.0.1:6443/apis/apps/v1``; kubectl caches it
under ``~/.kube/cache/discovery/``.

``/openapi/v3`` is only there to tell ``kubectl apply`` that the server validates fields
itself (the ``fieldValidation`` parameter): kubectl then sends ``?fieldValidation=Strict``.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from minikube_py.api.resources import RESOURCES, Resource
from minikube_py.apiserver import metrics

#: What discovery lists: the stored kinds plus metrics.k8s.io (served, never stored).
SERVED: tuple[Resource, ...] = RESOURCES + metrics.RESOURCES

DISCOVERY_TYPES = {
    "v2": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    "v2beta1": "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
}
SUBRESOURCES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # subresource: (group, version, kind or "" for the parent's kind, verbs)
    "status": ("", "", "", ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "binding": ("", "v1", "Binding", ("create",)),
    "log": ("", "v1", "Pod", ("get",)),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "finalize": ("", "v1", "Namespace", ("update",)),
}


def version_info(version: str) -> dict[str, str]:
    """``/version``: kubectl needs minor "32" and a semver ``gitVersion`` (``v1.32.0``)."""
    major, minor = version.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": version,
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2024-12-11T00:00:00Z",
            "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
            "compiler": "minikube-py",
            "platform": f"linux/{'amd64' if platform.machine() == 'x86_64' else 'arm64'}"}


def discovery_version(accept: str) -> str | None:
    """The aggregated discovery version the client asked for first, or None (legacy)."""
    for media in accept.split(","):
        params = {p.split("=")[0].strip(): p.partition("=")[2].strip()
                  for p in media.split(";")[1:]}
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == \
                "APIGroupDiscoveryList" and params.get("v") in DISCOVERY_TYPES:
            return params["v"]
        if media.split(";")[0].strip() in ("application/json", "*/*"):
            return None
    return None


def groups() -> dict[str, list[str]]:
    """{group: [versions]} in table order; the core group is ""."""
    out: dict[str, list[str]] = {}
    for r in SERVED:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out


def _sub_kind(resource: Resource, sub: str) -> tuple[str, str, str, tuple[str, ...]]:
    group, version, kind, verbs = SUBRESOURCES.get(sub, ("", "v1", resource.kind, ("get",)))
    if not kind:
        group, version, kind = resource.group, resource.version, resource.kind
    return group, version, kind, verbs


def aggregated_resource(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural, "singularResource": r.singular_name,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster", "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subs = []
    for sub in r.subresources:
        group, version, kind, verbs = _sub_kind(r, sub)
        subs.append({"subresource": sub, "verbs": list(verbs),
                     "responseKind": {"group": group, "version": version, "kind": kind}})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(core: bool, version: str) -> dict[str, Any]:
    """``APIGroupDiscoveryList`` for ``/api`` (core only) or ``/apis`` (all other groups)."""
    items = []
    for group, versions in groups().items():
        if (group == "") != core:
            continue
        items.append({"metadata": {"name": group}, "versions": [
            {"version": v, "freshness": "Current",
             "resources": [aggregated_resource(r) for r in SERVED
                           if r.group == group and r.version == v]} for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": groups().get("", ["v1"]),
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group_list() -> dict[str, Any]:
    out = []
    for group, versions in groups().items():
        if not group:
            continue
        listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        out.append({"name": group, "versions": listed, "preferredVersion": listed[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The legacy per-group-version list (``kubectl get --raw /apis/apps/v1``)."""
    if version not in groups().get(group, []):
        return None
    resources: list[dict[str, Any]] = []
    for r in SERVED:
        if r.group != group or r.version != version:
            continue
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular_name,
                                 "namespaced": r.namespaced, "kind": r.kind,
                                 "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for sub in r.subresources:
            sub_group, sub_version, kind, verbs = _sub_kind(r, sub)
            sub_entry = {"name": f"{r.plural}/{sub}", "singularName": "",
                         "namespaced": r.namespaced, "kind": kind, "verbs": list(verbs)}
            if sub_group != group or sub_version != version:
                sub_entry.update(group=sub_group, version=sub_version)
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root() -> dict[str, Any]:
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}"}
                      for g, versions in groups().items() for v in versions}}


def _operation(r: Resource, action: str) -> dict[str, Any]:
    return {"x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version,
                                                "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query",
                            "schema": {"type": "string"},
                            "description": "Strict, Warn (default) or Ignore: what the "
                                           "server does with unknown fields"}],
            "responses": {"200": {"description": "OK"}}}


def openapi_group_version(group: str, version: str, server_version: str
                          ) -> dict[str, Any] | None:
    """A minimal OpenAPI v3 document: the write operations with ``fieldValidation``."""
    if version not in groups().get(group, []):
        return None
    paths: dict[str, Any] = {}
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        ns = "{namespace}" if r.namespaced else None
        paths[r.path(ns)] = {"post": _operation(r, "post")}
        paths[r.path(ns, "{name}")] = {"put": _operation(r, "put"),
                                       "patch": _operation(r, "patch")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": server_version},
            "paths": paths, "components": {"schemas": {}}}
