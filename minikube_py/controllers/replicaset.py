"""The ReplicaSet controller: keep ``spec.replicas`` pods matching the selector alive.

This is the self-healing the study note describes: delete a pod of a Deployment and a new
one appears, because the ReplicaSet counts its pods and creates the missing one::

    kubectl delete pod web-7d4b9c-x2x9q ; kubectl get pods -w

Which pods are "its" pods? Those whose ``ownerReferences`` name the ReplicaSet's uid with
``controller: true``. A pod that matches the selector but has no controller is **adopted**
(the ReplicaSet adds itself as owner); an owned pod whose labels stop matching is
**released**. New pods come from ``spec.template`` with ``generateName: <rs-name>-`` (the
API server adds 5 random characters).

**Expectations**: after asking for 3 pods, the controller does not count again until its
informer has *seen* those 3 creations (or 5 minutes pass); otherwise a reconcile running
before the watch delivers them would create 3 more.

When there are too many pods, the least useful go first: unscheduled, then pending, then not
ready, then ready; among equals the one restarted most, then the newest. Pods already being
deleted (``deletionTimestamp``) do not count.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.names import selector_matches
from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import (
    Controller,
    controller_ref,
    key_of,
    owner_reference,
    parse_time,
    resource,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
BURST = 500
EXPECTATIONS_TTL = 300.0
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def is_active(pod: Obj) -> bool:
    """Counts towards replicas: not being deleted, not finished."""
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def _ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def pod_ready(pod: Obj) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    cond = _ready_condition(pod)
    return parse_time(cond.get("lastTransitionTime")) if cond else None


def pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``minReadySeconds`` (upstream ``IsPodAvailable``)."""
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds <= now


@dataclass
class ReplicaSetPlan:
    """What one reconcile of a ReplicaSet will do."""

    key: str
    create: int = 0
    delete: list[str] = field(default_factory=list)
    adopt: list[str] = field(default_factory=list)
    release: list[str] = field(default_factory=list)
    status: Obj = field(default_factory=dict)
    requeue_after: float | None = None

    def __str__(self) -> str:
        return (f"replicaset={self.key} create={self.create} delete={self.delete} "
                f"adopt={self.adopt} release={self.release} "
                f"replicas={self.status.get('replicas')} "
                f"ready={self.status.get('readyReplicas')} "
                f"available={self.status.get('availableReplicas')}")


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Sort key: the pod to delete first sorts first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
    return (bool(spec.get("nodeName")), _PHASE_RANK.get(status.get("phase", "Pending"), 0),
            pod_ready(pod), -restarts, -created, pod["metadata"]["name"])


def plan_replica_set(rs: Obj, pods: list[Obj], now: float | None = None,
                     expectations_met: bool = True) -> ReplicaSetPlan:
    """Compare the ReplicaSet with the pods of its namespace; say what to change."""
    now = time.time() if now is None else now
    meta, spec = rs["metadata"], rs.get("spec") or {}
    uid, selector = meta.get("uid"), spec.get("selector") or {}
    plan = ReplicaSetPlan(key_of(rs))
    mine: list[Obj] = []
    for pod in pods:
        if pod["metadata"].get("namespace") != meta.get("namespace"):
            continue
        labels = pod["metadata"].get("labels") or {}
        ref = controller_ref(pod)
        matches = bool(selector) and selector_matches(selector, labels)
        if ref is not None and ref.get("uid") == uid:
            if matches:
                mine.append(pod)
            else:
                plan.release.append(pod["metadata"]["name"])
        elif ref is None and matches and is_active(pod) and not meta.get("deletionTimestamp"):
            plan.adopt.append(pod["metadata"]["name"])
            mine.append(pod)
    active = [p for p in mine if is_active(p)]
    want = int(spec.get("replicas", 1))
    if expectations_met and not meta.get("deletionTimestamp"):
        if len(active) < want:
            plan.create = min(want - len(active), BURST)
        elif len(active) > want:
            doomed = sorted(active, key=deletion_rank)[:len(active) - want]
            plan.delete = [p["metadata"]["name"] for p in doomed]
    min_ready = int(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    ready = [p for p in active if pod_ready(p)]
    available = [p for p in ready if pod_available(p, min_ready, now)]
    plan.status = {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(
            1 for p in active
            if all((p["metadata"].get("labels") or {}).get(k) == v
                   for k, v in template_labels.items())),
        "readyReplicas": len(ready),
        "availableReplicas": len(available),
        "observedGeneration": meta.get("generation", 1),
    }
    waiting = [(ready_since(p) or now) + min_ready - now for p in ready if p not in available]
    if waiting:
        plan.requeue_after = max(0.1, min(waiting))
    return plan


def new_pod(rs: Obj) -> Obj:
    """A pod made from the ReplicaSet's template, owned by the ReplicaSet."""
    meta = rs["metadata"]
    template = rs["spec"].get("template") or {}
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {"generateName": f"{meta['name']}-", "namespace": meta.get("namespace"),
                     "labels": dict(tmeta.get("labels") or {}),
                     "ownerReferences": [owner_reference(rs, "ReplicaSet", "apps/v1")]}
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": dict(template.get("spec") or {})}


class Expectations:
    """Creations and deletions asked for but not yet seen, per ReplicaSet key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, list[float]] = {}  # key -> [adds, deletes, since]

    def expect(self, key: str, adds: int, deletes: int) -> None:
        with self._lock:
            self._items[key] = [adds, deletes, time.monotonic()]

    def observe(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item[0] -= adds
                item[1] -= deletes

    def satisfied(self, key: str) -> bool:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return True
            if (item[0] <= 0 and item[1] <= 0) or time.monotonic() - item[2] > EXPECTATIONS_TTL:
                del self._items[key]
                return True
            return False

    def forget(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class ReplicaSetController(Controller):
    name = "replicaset-controller"

    def __init__(self, client: Client, workers: int = 2) -> None:
        super().__init__(client, workers)
        self.expectations = Expectations()
        self.replicasets = self.informer("replicasets", self._on_rs)
        self.pods = self.informer("pods", self._on_pod)

    def _on_rs(self, kind: str, rs: Obj, old: Obj | None) -> None:
        if kind == "DELETED":
            self.expectations.forget(key_of(rs))
        self.queue.add(key_of(rs))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        return f"{pod['metadata'].get('namespace', '')}/{ref['name']}"

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        key = self._owner_key(pod)
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        was_deleting = old is not None and bool(old["metadata"].get("deletionTimestamp"))
        if key is not None:
            if kind == "ADDED" and old is None:
                self.expectations.observe(key, adds=1)
            if (kind == "DELETED" and not was_deleting) or (deleting and not was_deleting):
                self.expectations.observe(key, deletes=1)
            self.queue.add(key)
        elif kind != "DELETED":  # an orphan: any ReplicaSet that selects it may adopt it
            labels = pod["metadata"].get("labels") or {}
            for rs in self.replicasets.list():
                selector = rs["spec"].get("selector") or {}
                if rs["metadata"].get("namespace") == pod["metadata"].get("namespace") and \
                        selector and selector_matches(selector, labels):
                    self.queue.add(key_of(rs))
        old_key = self._owner_key(old) if old is not None else None
        if old_key is not None and old_key != key:
            self.queue.add(old_key)

    def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        rs = self.replicasets.get(name, namespace)
        if rs is None:
            self.expectations.forget(key)
            return
        pods = [p for p in self.pods.list() if p["metadata"].get("namespace") == namespace]
        plan = plan_replica_set(rs, pods, expectations_met=self.expectations.satisfied(key))
        if plan.create or plan.delete or plan.adopt or plan.release:
            log.info("Planned ReplicaSet sync %s", plan)
        self.apply(rs, plan)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    def apply(self, rs: Obj, plan: ReplicaSetPlan) -> None:
        namespace = rs["metadata"].get("namespace")
        pods = resource("pods")
        ref = owner_reference(rs, "ReplicaSet", "apps/v1")
        for name in plan.adopt:
            pod = self.pods.get(name, namespace) or {"metadata": {}}
            refs = list(pod["metadata"].get("ownerReferences") or []) + [ref]
            self.client.patch(pods, name, {"metadata": {"ownerReferences": refs}},
                              namespace=namespace)
        for name in plan.release:
            pod = self.pods.get(name, namespace) or {"metadata": {}}
            refs = [r for r in pod["metadata"].get("ownerReferences") or []
                    if r.get("uid") != rs["metadata"].get("uid")]
            self.client.patch(pods, name, {"metadata": {"ownerReferences": refs}},
                              namespace=namespace)
        if plan.create or plan.delete:
            self.expectations.expect(plan.key, plan.create, len(plan.delete))
        for i in range(plan.create):
            try:
                created = self.client.create(pods, new_pod(rs), namespace=namespace)
            except Exception:
                self.expectations.observe(plan.key, adds=plan.create - i)
                raise
            log.info("Created pod pod=%s/%s replicaset=%s", namespace,
                     created["metadata"]["name"], plan.key)
        for name in plan.delete:
            try:
                self.client.delete(pods, name, namespace=namespace)
                log.info("Deleted pod pod=%s/%s replicaset=%s", namespace, name, plan.key)
            except ApiError as e:
                self.expectations.observe(plan.key, deletes=1)
                if e.code != 404:
                    raise
        current = rs.get("status") or {}
        if any(current.get(k, 0) != v for k, v in plan.status.items()):
            try:
                self.client.patch(resource("replicasets"), rs["metadata"]["name"],
                                  {"status": plan.status}, namespace=namespace,
                                  subresource="status")
            except ApiError as e:
                if e.code != 404:
                    raise
