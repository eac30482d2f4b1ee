"""The resource table: which kinds the API serves, under which paths, with which names.

Every Kubernetes object lives at a REST path built from its group, version, resource (the
lower-case plural) and, if it is namespaced, its namespace::

    /api/v1/namespaces/default/pods/nginx          core group ("" -> /api/v1)
    /apis/apps/v1/namespaces/default/deployments/web
    /api/v1/nodes/node-1                           cluster-scoped: no namespace

The API server, the client, the CLI and discovery (``kubectl api-resources``) all read this
one table, so a kind is added in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch",
                              "update", "watch")
    singular: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def group_version(self) -> str:
        """``v1`` or ``apps/v1``: the ``apiVersion`` of the kind's objects."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The REST path of the collection, or of one object (and its subresource)."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def storage_key(self, namespace: str | None, name: str | None = None) -> str:
        """Where the store keeps it, etcd style: ``/registry/pods/default/nginx``."""
        key = f"/registry/{self.group + '/' if self.group else ''}{self.plural}/"
        if self.namespaced and namespace:
            key += f"{namespace}/"
        return key + (name or "")


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Pod", "pods", short_names=("po",), categories=("all",),
             subresources=("status", "binding", "log", "exec", "portforward",
                           "eviction")),
    Resource("", "v1", "Service", "services", short_names=("svc",), categories=("all",),
             subresources=("status",)),
    Resource("", "v1", "Endpoints", "endpoints", short_names=("ep",), singular="endpoints"),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    Resource("", "v1", "Node", "nodes", namespaced=False, short_names=("no",),
             subresources=("status",)),
    Resource("", "v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",),
             subresources=("status", "finalize")),
    Resource("", "v1", "Event", "events", short_names=("ev",)),
    Resource("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    Resource("", "v1", "Secret", "secrets"),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False,
             short_names=("pv",), subresources=("status",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims",
             short_names=("pvc",), subresources=("status",)),
    Resource("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False,
             short_names=("sc",)),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",),
             subresources=("token",)),
    Resource("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
             short_names=("hpa",), categories=("all",), subresources=("status",)),
    Resource("apps", "v1", "Deployment", "deployments", short_names=("deploy",),
             categories=("all",), subresources=("status", "scale")),
    Resource("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",),
             categories=("all",), subresources=("status", "scale")),
    # RBAC: who may do what (read by minikube_py/apiserver/auth.py on every request).
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles",
             namespaced=False),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
             namespaced=False),
)

_BY_PLURAL = {(r.group, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group_version, r.kind): r for r in RESOURCES}


def find_resource(group: str, plural: str) -> Resource | None:
    return _BY_PLURAL.get((group, plural))


def resource_for(api_version: str, kind: str) -> Resource | None:
    """The resource of an object's ``apiVersion`` + ``kind`` (``v1``/``Pod`` -> pods)."""
    return _BY_KIND.get((api_version, kind))


def lookup(name: str) -> Resource | None:
    """What a user types: ``pods``, ``pod``, ``po``, ``deploy``, ``deployments.apps``."""
    name = name.lower()
    base, _, group = name.partition(".")
    for r in RESOURCES:
        if group and r.group != group:
            continue
        if base in (r.plural, r.singular_name, r.kind.lower(), *r.short_names):
            return r
    return None


def must(name: str) -> Resource:
    """:func:`lookup` for names the code itself uses: a typo is a programming error."""
    found = lookup(name)
    if found is None:
        raise KeyError(f"unknown resource {name!r}")
    return found
