"""The garbage collector: dependents follow their owners (cascading deletion).

``kubectl delete deployment web`` deletes one object. Its ReplicaSets and their pods go
because each of them names its owner in ``metadata.ownerReferences`` (by ``uid``), and this
controller deletes objects whose owners are gone::

    kubectl get rs web-7d4b9c -o jsonpath='{.metadata.ownerReferences}'
    kubectl delete deploy web --cascade=foreground   # owner waits for its dependents
    kubectl delete deploy web --cascade=orphan       # dependents stay, without owner

- **Background** (the default): the owner goes at once; then every dependent whose owners
  are *all* gone is deleted (dangling references to a gone owner are removed when some owner
  remains). Before deleting, the owner's absence is confirmed with a live GET: an informer
  may simply not have seen a brand-new owner yet.
- **Foreground**: the owner stays, with ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer, until its dependents are gone; then the collector removes the finalizer.
- **Orphan**: the owner carries the ``orphan`` finalizer; the collector removes the owner's
  reference from every dependent, then the finalizer.

Watched here: pods, replicasets and deployments (owners: replicasets and deployments).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.resources import resource_for
from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
WATCHED = ("pods", "replicasets", "deployments")


@dataclass(frozen=True)
class Ref:
    """One object: ``apiVersion``, ``kind``, namespace and name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Obj) -> Ref:
        meta = obj["metadata"]
        return cls(obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace", ""),
                   meta["name"])

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass
class GCPlan:
    delete: list[tuple[Ref, list[Obj]]] = field(default_factory=list)  # + the gone owners
    strip: list[tuple[Ref, list[Obj]]] = field(default_factory=list)  # refs to keep
    finalize: list[tuple[Ref, list[str]]] = field(default_factory=list)  # finalizers to keep

    def __bool__(self) -> bool:
        return bool(self.delete or self.strip or self.finalize)

    def __str__(self) -> str:
        return (f"delete={[str(r) for r, _ in self.delete]} "
                f"strip={[str(r) for r, _ in self.strip]} "
                f"finalize={[str(r) for r, _ in self.finalize]}")


def plan_garbage_collection(objects: list[Obj]) -> GCPlan:
    """Decide what to delete, un-own and finalize, from every watched object."""
    by_uid = {o["metadata"].get("uid"): o for o in objects}
    owner_kinds = {o.get("kind") for o in objects} | {"ReplicaSet", "Deployment"}
    dependents: dict[str, list[Obj]] = {}
    plan = GCPlan()
    for obj in objects:
        refs = obj["metadata"].get("ownerReferences") or []
        for ref in refs:
            dependents.setdefault(ref.get("uid"), []).append(obj)
        known = [r for r in refs if r.get("kind") in owner_kinds]
        if not known or obj["metadata"].get("deletionTimestamp"):
            continue
        gone = [r for r in known if r.get("uid") not in by_uid]
        orphaning = [r for r in known if r.get("uid") in by_uid and
                     ORPHAN in (by_uid[r["uid"]]["metadata"].get("finalizers") or [])]
        if gone and len(gone) == len(refs):
            plan.delete.append((Ref.of(obj), gone))
        elif gone or orphaning:
            drop = {r.get("uid") for r in gone + orphaning}
            plan.strip.append((Ref.of(obj), [r for r in refs if r.get("uid") not in drop]))
    for owner in objects:
        meta = owner["metadata"]
        finalizers = meta.get("finalizers") or []
        if not meta.get("deletionTimestamp"):
            continue
        mine = dependents.get(meta.get("uid"), [])
        if FOREGROUND in finalizers:
            waiting = False
            for dep in mine:
                waiting = True
                if not dep["metadata"].get("deletionTimestamp"):
                    plan.delete.append((Ref.of(dep), []))
            if not waiting:
                plan.finalize.append((Ref.of(owner), [f for f in finalizers if f != FOREGROUND]))
        if ORPHAN in finalizers and not any(
                r.get("uid") == meta.get("uid")
                for dep in mine for r in dep["metadata"].get("ownerReferences") or []):
            plan.finalize.append((Ref.of(owner), [f for f in finalizers if f != ORPHAN]))
    return plan


class GarbageCollector(Controller):
    """One key ("all"): each reconcile looks at every watched object."""

    name = "garbage-collector"

    def __init__(self, client: Client, workers: int = 1) -> None:
        super().__init__(client, workers)
        self._lock = threading.Lock()
        for plural in WATCHED:
            self.informer(plural, self._on_change)

    def _on_change(self, kind: str, obj: Obj, old: Obj | None) -> None:
        self.queue.add("all")

    def reconcile(self, key: str) -> None:
        objects = [{**o, "kind": o.get("kind") or inf.resource.kind,
                    "apiVersion": o.get("apiVersion") or inf.resource.group_version}
                   for inf in self.informers for o in inf.list()]
        plan = plan_garbage_collection(objects)
        if not plan:
            return
        log.info("Planned garbage collection %s", plan)
        for ref, gone in plan.delete:
            if all(self._really_gone(ref.namespace, owner) for owner in gone):
                self._delete(ref)
        for ref, keep in plan.strip:
            self._patch(ref, {"metadata": {"ownerReferences": keep}})
        for ref, finalizers in plan.finalize:
            self._patch(ref, {"metadata": {"finalizers": finalizers}})

    def _really_gone(self, namespace: str, owner: Obj) -> bool:
        res = resource_for(owner.get("apiVersion", ""), owner.get("kind", ""))
        if res is None:
            return False
        found = self.client.find(res, owner.get("name", ""), namespace or None)
        return found is None or found["metadata"].get("uid") != owner.get("uid")

    def _delete(self, ref: Ref) -> None:
        res = resource_for(ref.api_version, ref.kind)
        if res is None:
            return
        try:
            self.client.delete(res, ref.name, ref.namespace or None,
                               propagation_policy="Background")
            log.info("Deleted dependent object=%s", ref)
        except ApiError as e:
            if e.code != 404:
                raise

    def _patch(self, ref: Ref, patch: Obj) -> None:
        res = resource_for(ref.api_version, ref.kind)
        if res is None:
            return
        try:
            self.client.patch(res, ref.name, patch, namespace=ref.namespace or None)
        except ApiError as e:
            if e.code != 404:
                raise

