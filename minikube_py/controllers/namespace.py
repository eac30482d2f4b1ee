"""The namespace controller: empty a namespace that is being deleted, then let it go.

``kubectl delete namespace team-a`` does not remove it at once: the API server marks it
``Terminating`` (``status.phase``, plus ``deletionTimestamp``), and the namespace stays while
its ``spec.finalizers`` still lists ``kubernetes``. This controller deletes every namespaced
object in it (every namespaced kind of the resource table), waits until they are really gone
(pods may take their grace period), then removes the ``kubernetes`` finalizer through the
``namespaces/{name}/finalize`` subresource, and the namespace disappears::

    kubectl delete ns team-a ; kubectl get ns team-a -w     # Terminating, then NotFound
    kubectl get ns team-a -o jsonpath='{.spec.finalizers}'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.resources import RESOURCES
from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import Controller, resource

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FINALIZER = "kubernetes"
RETRY = 1.0


def is_terminating(namespace: Obj) -> bool:
    return bool(namespace["metadata"].get("deletionTimestamp")) or \
        (namespace.get("status") or {}).get("phase") == "Terminating"


@dataclass
class NamespacePlan:
    namespace: str
    delete: list[tuple[str, str]] = field(default_factory=list)  # (plural, name)
    waiting: int = 0  # objects already being deleted
    finalize: bool = False

    def __str__(self) -> str:
        return (f"namespace={self.namespace} delete={len(self.delete)} waiting={self.waiting} "
                f"finalize={self.finalize}")


def plan_namespace(namespace: Obj, contents: dict[str, list[Obj]]) -> NamespacePlan:
    """``contents``: plural -> the objects of that kind still in the namespace."""
    plan = NamespacePlan(namespace["metadata"]["name"])
    if not is_terminating(namespace):
        return plan
    for plural, objects in sorted(contents.items()):
        for obj in objects:
            if obj["metadata"].get("deletionTimestamp"):
                plan.waiting += 1
            else:
                plan.delete.append((plural, obj["metadata"]["name"]))
    plan.finalize = not plan.delete and not plan.waiting
    return plan


class NamespaceController(Controller):
    name = "namespace-controller"

    def __init__(self, client: Client, workers: int = 1) -> None:
        super().__init__(client, workers)
        self.namespaces = self.informer("namespaces", self._on_namespace)

    def _on_namespace(self, kind: str, namespace: Obj, old: Obj | None) -> None:
        if kind != "DELETED" and is_terminating(namespace):
            self.queue.add(namespace["metadata"]["name"])

    def contents(self, name: str) -> dict[str, list[Obj]]:
        found: dict[str, list[Obj]] = {}
        for res in RESOURCES:
            if res.namespaced:
                items = self.client.list(res, name).get("items") or []
                if items:
                    found[res.plural] = items
        return found

    def reconcile(self, key: str) -> None:
        namespace = self.namespaces.get(key)
        if namespace is None or not is_terminating(namespace):
            return
        plan = plan_namespace(namespace, self.contents(key))
        log.info("Planned namespace cleanup %s", plan)
        for plural, obj_name in plan.delete:
            try:
                self.client.delete(resource(plural), obj_name, key,
                                   propagation_policy="Background")
            except ApiError as e:
                if e.code != 404:
                    raise
        if not plan.finalize:
            self.queue.add_after(key, RETRY)
            return
        self.finalize(namespace)

    def finalize(self, namespace: Obj) -> None:
        """Drop the ``kubernetes`` finalizer; the API server then removes the namespace."""
        name = namespace["metadata"]["name"]
        namespaces = resource("namespaces")
        spec = dict(namespace.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        body = {**namespace, "spec": spec}
        try:
            self.client.update(namespaces, body, subresource="finalize")
        except ApiError as e:
            if e.code not in (404, 405):
                raise
        meta_finalizers = namespace["metadata"].get("finalizers") or []
        if FINALIZER in meta_finalizers:
            self.client.patch(namespaces, name, {"metadata": {"finalizers": [
                f for f in meta_finalizers if f != FINALIZER]}})
        try:
            self.client.delete(namespaces, name)
        except ApiError as e:
            if e.code != 404:
                raise
        log.info("Finalized namespace namespace=%s", name)
