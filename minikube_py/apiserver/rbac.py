"""RBAC: may this user do this verb on this resource? Answered from objects in the API.

Authorization in Kubernetes looks only at *attributes* of a request — who (user, groups),
what (verb: get, list, watch, create, update, patch, delete...), on what (API group,
resource, subresource, namespace, name) or, for paths that are not resources, the path —
and at four kinds of objects in ``rbac.authorization.k8s.io/v1``:

- a **Role** (in a namespace) or **ClusterRole** (cluster-wide) lists *rules*:
  ``{apiGroups: [""], resources: ["pods", "pods/log"], verbs: ["get", "list"]}``, or
  ``{nonResourceURLs: ["/healthz"], verbs: ["get"]}``; ``*`` matches anything;
- a **RoleBinding** grants a role's rules to *subjects* (User, Group, ServiceAccount) inside
  its namespace; a **ClusterRoleBinding** grants a ClusterRole everywhere.

Nothing is ever denied explicitly: a request is allowed when some binding of the user (or one
of the user's groups) points at a rule that matches, and refused (403 Forbidden) otherwise.
The group ``system:masters`` is allowed everything without looking (as upstream).

The defaults made at start mirror upstream's bootstrap policy (labelled
``kubernetes.io/bootstrapping=rbac-defaults`` and re-made at each start when their
``rbac.authorization.kubernetes.io/autoupdate`` annotation is "true")::

    kubectl get clusterroles,clusterrolebindings
    kubectl describe clusterrole view        # get/list/watch on every resource we serve
    kubectl auth can-i create pods --as viewer     # (needs impersonation: not served here)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.resources import RESOURCES, Resource, find_resource
from minikube_py.apiserver import registry
from minikube_py.apiserver import status as st
from minikube_py.store.backend import Backend, Conflict, KeyExists

log = logging.getLogger(__name__)

GROUP = "rbac.authorization.k8s.io"
STORE_PREFIX = f"/registry/{GROUP}/"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
VIEWER = "viewer"
READ_VERBS = ["get", "list", "watch"]
#: Subresources a read-only user may read (never exec, attach, port-forward: they write).
READABLE_SUBRESOURCES = ("status", "log", "scale")
#: Served by the metrics API (``kubectl top``); upstream's aggregated-metrics-reader.
METRICS_RESOURCES = ("pods", "nodes")
DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                  "/openapi/*", "/readyz", "/version", "/version/"]
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


@dataclass(frozen=True)
class UserInfo:
    """Who sent a request, as an authenticator found out."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attributes:
    """What a request asks for (upstream ``authorizer.Attributes``)."""

    user: UserInfo
    verb: str
    path: str = ""
    resource_request: bool = False
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


# -- matching ------------------------------------------------------------------------------
def rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    """Does one PolicyRule cover the request? (``*`` matches anything; ``*/scale`` any
    resource's scale subresource; a ``/path/*`` non-resource URL a prefix.)"""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        return any(url == "*" or url == attrs.path or
                   (url.endswith("*") and attrs.path.startswith(url[:-1]))
                   for url in rule.get("nonResourceURLs") or [])
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.api_group not in groups:
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not any(r in ("*", combined) or (attrs.subresource and r == f"*/{attrs.subresource}")
               for r in rule.get("resources") or []):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def subject_matches(subject: dict[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


@dataclass
class Policy:
    """A snapshot of every Role, ClusterRole and binding."""

    roles: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    cluster_roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    role_bindings: list[dict[str, Any]] = field(default_factory=list)
    cluster_role_bindings: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_objects(cls, objects: Iterable[dict[str, Any]]) -> Policy:
        policy = cls()
        for obj in objects:
            meta = obj.get("metadata") or {}
            kind, name = obj.get("kind"), str(meta.get("name", ""))
            if kind == "Role":
                policy.roles[(str(meta.get("namespace", "")), name)] = obj
            elif kind == "ClusterRole":
                policy.cluster_roles[name] = obj
            elif kind == "RoleBinding":
                policy.role_bindings.append(obj)
            elif kind == "ClusterRoleBinding":
                policy.cluster_role_bindings.append(obj)
        return policy

    def rules_of(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]] | str:
        """The rules a roleRef points at, or upstream's error text when it is missing."""
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        role = self.roles.get((namespace, name)) if kind == "Role" and namespace else \
            self.cluster_roles.get(name) if kind == "ClusterRole" else None
        if role is None:
            return f'{str(kind).lower()}.{GROUP} "{name}" not found'
        return list(role.get("rules") or [])


def evaluate(policy: Policy, attrs: Attributes) -> tuple[bool, str]:
    """(allowed, reason): cluster-wide bindings first, then the request namespace's."""
    errors: list[str] = []
    bindings = [(b, "") for b in policy.cluster_role_bindings]
    if attrs.namespace:
        bindings += [(b, attrs.namespace) for b in policy.role_bindings
                     if (b.get("metadata") or {}).get("namespace") == attrs.namespace]
    for binding, namespace in bindings:
        if not any(subject_matches(s, attrs.user, namespace)
                   for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        if not namespace and ref.get("kind") != "ClusterRole":
            continue
        rules = policy.rules_of(ref, namespace)
        if isinstance(rules, str):
            errors.append(rules)
            continue
        if any(rule_allows(rule, attrs) for rule in rules):
            return True, (f'RBAC: allowed by {binding.get("kind")} '
                          f'"{binding["metadata"]["name"]}" of {ref.get("kind")} '
                          f'"{ref.get("name")}"')
    return False, ("RBAC: " + ", ".join(errors)) if errors else ""


class RBACAuthorizer:
    """Authorizes from the RBAC objects in the store (read at each decision: always fresh)."""

    def authorize(self, store: Backend, attrs: Attributes) -> tuple[bool, str]:
        if MASTERS in attrs.user.groups:
            return True, "system:masters"
        items, _ = store.list(STORE_PREFIX)
        return evaluate(Policy.from_objects(kv.value for kv in items), attrs)


def forbidden_message(attrs: Attributes) -> str:
    """Upstream's wording (``responsewriters.forbiddenMessage``)."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else \
        "at the cluster scope"
    return (f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.api_group}" {scope}')


def forbidden(attrs: Attributes, reason: str = "") -> st.StatusError:
    """403 with a Status like upstream's: ``pods is forbidden: User "viewer" cannot ...``."""
    cause = forbidden_message(attrs) + (f": {reason}" if reason else "")
    if not attrs.resource_request:
        return st.StatusError(403, "Forbidden", f"forbidden: {cause}", {})
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    details: dict[str, Any] = {"kind": attrs.resource}
    if attrs.api_group:
        details["group"] = attrs.api_group
    if attrs.name:
        details["name"] = attrs.name
        return st.StatusError(403, "Forbidden",
                              f'{qualified} "{attrs.name}" is forbidden: {cause}', details)
    return st.StatusError(403, "Forbidden", f"{qualified} is forbidden: {cause}", details)


# -- the bootstrap policy ------------------------------------------------------------------
def view_rules(resources: Iterable[Resource] = RESOURCES) -> list[dict[str, Any]]:
    """get/list/watch on every served resource and its readable subresources, per group
    (not secrets, not the RBAC objects themselves, not the cluster's volumes and storage
    classes: upstream's ``view`` leaves them out)."""
    by_group: dict[str, list[str]] = {}
    for r in resources:
        if r.plural in ("secrets", "persistentvolumes", "storageclasses") or r.group == GROUP:
            continue
        names = by_group.setdefault(r.group, [])
        names.append(r.plural)
        names += [f"{r.plural}/{sub}" for sub in r.subresources
                  if sub in READABLE_SUBRESOURCES]
    rules = [{"apiGroups": [group], "resources": names, "verbs": list(READ_VERBS)}
             for group, names in by_group.items()]
    rules.append({"apiGroups": ["metrics.k8s.io"], "resources": list(METRICS_RESOURCES),
                  "verbs": list(READ_VERBS)})
    return rules


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {AUTOUPDATE: "true"}}


def cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole", "metadata": _meta(name),
            "rules": rules}


def cluster_role_binding(name: str, role: str, subjects: list[tuple[str, str]]
                         ) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": _meta(name),
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": GROUP, "kind": kind, "name": subject}
                         for kind, subject in subjects]}


def default_policy() -> list[dict[str, Any]]:
    """cluster-admin (everything), view (read-only), discovery and public-info paths, and
    their bindings: system:masters -> cluster-admin, the user ``viewer`` -> view."""
    return [
        cluster_role("cluster-admin", [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        cluster_role("view", view_rules()),
        cluster_role("system:discovery", [{"nonResourceURLs": list(DISCOVERY_URLS),
                                           "verbs": ["get"]}]),
        cluster_role("system:public-info-viewer", [{"nonResourceURLs": list(PUBLIC_URLS),
                                                    "verbs": ["get"]}]),
        cluster_role_binding("cluster-admin", "cluster-admin", [("Group", MASTERS)]),
        cluster_role_binding("system:discovery", "system:discovery",
                             [("Group", AUTHENTICATED)]),
        cluster_role_binding("system:public-info-viewer", "system:public-info-viewer",
                             [("Group", AUTHENTICATED), ("Group", UNAUTHENTICATED)]),
        cluster_role_binding("minikube-py:viewer", "view", [("User", VIEWER)]),
    ]


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: obj.get(k) for k in ("rules", "roleRef", "subjects")}


def ensure_default_policy(store: Backend) -> None:
    """Create the bootstrap roles and bindings; bring back ones whose ``autoupdate``
    annotation is "true" to their default content (upstream reconciles them at start)."""
    for obj in default_policy():
        resource = find_resource(GROUP, obj["kind"].lower() + "s")
        assert resource is not None, obj["kind"]
        key = resource.storage_key(None, obj["metadata"]["name"])
        kv = store.get(key)
        try:
            if kv is None:
                store.create(key, registry.prepare_create(resource, copy.deepcopy(obj)))
                log.info("Created default RBAC object kind=%s name=%s", obj["kind"],
                         obj["metadata"]["name"])
            elif ((kv.value.get("metadata") or {}).get("annotations") or {}).get(
                    AUTOUPDATE) == "true" and _content(kv.value) != _content(obj):
                updated = {**kv.value, **_content(obj)}
                store.update(key, updated, expected_revision=kv.mod_revision)
                log.info("Reconciled default RBAC object kind=%s name=%s", obj["kind"],
                         obj["metadata"]["name"])
        except (KeyExists, Conflict):
            pass  # another start made or changed it just now: theirs stands
