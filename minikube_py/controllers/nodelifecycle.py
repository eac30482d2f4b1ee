"""The node lifecycle controller: notice a node that went silent, taint it, move its pods.

Every kubelet **heartbeats**: it refreshes its Node's ``Ready`` condition
(``lastHeartbeatTime``) every few seconds. This controller (upstream:
``pkg/controller/nodelifecycle`` in kube-controller-manager) remembers, on its own clock,
when it last saw each node's heartbeat change. A node silent for longer than the **grace
period** (``--node-monitor-grace-period``) is presumed lost:

1. its conditions become ``Unknown``, reason ``NodeStatusUnknown``, message "Kubelet
   stopped posting node status." (``kubectl get nodes`` shows ``NotReady``);
2. it gets the taints ``node.kubernetes.io/unreachable:NoSchedule`` (the scheduler sends no
   new pods there) and ``node.kubernetes.io/unreachable:NoExecute`` (pods must leave);
   a node whose kubelet reports ``Ready=False`` gets ``node.kubernetes.io/not-ready``;
3. its pods that do not tolerate a ``NoExecute`` taint are **evicted** (deleted), at once, or
   ``tolerationSeconds`` after the taint appeared (``timeAdded``) when a toleration says so;
   their ReplicaSets create replacements, which the scheduler puts on a Ready node.

When the heartbeats come back, the kubelet itself writes ``Ready=True`` and this controller
removes the taints. Watch it::

    kubectl get nodes -w
    kubectl get node NODE -o jsonpath='{.spec.taints}'
    kubectl get events --field-selector reason=TaintManagerEviction

Where we differ from upstream, on purpose:

- **Grace period** 20 s by default (``minikube-py up --node-monitor-grace-period``); upstream
  40 s (50 s since v1.32). A learner who stops a node sees the result within half a minute.
  ``up`` makes the kubelet heartbeat every grace/4 (at most 10 s), as upstream wants the
  grace to be several heartbeat periods.
- **No default tolerations**: upstream's ``DefaultTolerationSeconds`` admission gives every
  pod a 300 s toleration for ``unreachable`` and ``not-ready``, so its pods wait five minutes.
  Ours have none unless the manifest says so, so pods move as soon as the node is tainted.
- **Force deletion**: on an unreachable node nobody can stop the pod gracefully, so the
  eviction deletes it with ``gracePeriodSeconds=0``; upstream deletes gracefully and the pod
  stays ``Terminating`` until the kubelet returns (or someone force-deletes it). On a node
  whose kubelet still answers (``not-ready``) the deletion is graceful, as upstream's.
- **Full disruption**: when *no* node is Ready (a one-node cluster whose kubelet is down),
  nothing is evicted and no ``NoExecute`` taint is added: the fault is more likely the
  control plane's than every node's (upstream's "master disruption mode", per zone there).
- Pods on a lost node are not marked ``Ready=False`` (upstream's ``MarkPodsNotReady``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import Controller, now_iso, parse_time, record_event, resource
from minikube_py.scheduler.algorithm import tolerates

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NODES, PODS = resource("nodes"), resource("pods")
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
SYSTEM_TAINTS = (UNREACHABLE, NOT_READY)
DEFAULT_GRACE_PERIOD = 20.0
UPSTREAM_GRACE_PERIOD = 40.0
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
COMPONENT = "node-controller"


@dataclass(frozen=True)
class Probe:
    """The last heartbeat seen from a node, and when (this controller's clock)."""

    heartbeat: str | None
    seen_at: float


@dataclass(frozen=True)
class Eviction:
    namespace: str
    name: str
    reason: str
    force: bool  # gracePeriodSeconds=0: nobody on the node can stop the pod

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}{' (force)' if self.force else ''}"


@dataclass
class NodePlan:
    """What to do about one node; empty (falsy) when nothing needs doing."""

    node: str
    mark_unknown: bool = False
    taints: list[Obj] | None = None  # the node's new spec.taints; None: unchanged
    evict: list[Eviction] = field(default_factory=list)
    next_eviction_in: float | None = None  # seconds until a tolerated pod must go

    def __bool__(self) -> bool:
        return self.mark_unknown or self.taints is not None or bool(self.evict)

    def __str__(self) -> str:
        taints = ("unchanged" if self.taints is None else
                  [f"{t['key']}:{t['effect']}" for t in self.taints])
        return (f"node={self.node} mark_unknown={self.mark_unknown} taints={taints} "
                f"evict={[str(e) for e in self.evict]}")


def ready_condition(node: Obj) -> Obj | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def observe(probe: Probe | None, node: Obj, now: float) -> Probe:
    """Remember a heartbeat when it changes; a node seen for the first time (also after a
    controller restart) gets a full grace period from ``now``, as upstream's probe time."""
    heartbeat = (ready_condition(node) or {}).get("lastHeartbeatTime")
    if probe is None or probe.heartbeat != heartbeat:
        return Probe(heartbeat, now)
    return probe


def effective_ready(node: Obj, probe: Probe | None, now: float, grace: float) -> str:
    """``True`` / ``False`` / ``Unknown``: the Ready status, or Unknown once silent too long.
    A node that has not reported yet is ``""`` (not Ready, not tainted) until the grace ends.
    """
    cond = ready_condition(node)
    seen_at = probe.seen_at if probe is not None else now
    if now - seen_at > grace:
        return "Unknown"
    return str((cond or {}).get("status") or "")


def unknown_conditions(conditions: list[Obj], now: float) -> list[Obj]:
    """Every condition set to Unknown (heartbeat kept: it says when the node last spoke)."""
    out = []
    for cond in conditions:
        cond = dict(cond)
        if cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE,
                        lastTransitionTime=now_iso(now))
        out.append(cond)
    return out


def wanted_taints(node: Obj, ready: str, evictions_paused: bool, now: float) -> list[Obj]:
    """The node's taints with the system ones (unreachable / not-ready) made to match
    ``ready``; taints already there keep their ``timeAdded``."""
    current = (node.get("spec") or {}).get("taints") or []
    key = {"Unknown": UNREACHABLE, "False": NOT_READY}.get(ready)
    effects = ["NoSchedule"] if evictions_paused else ["NoSchedule", "NoExecute"]
    out = [dict(t) for t in current if t.get("key") not in SYSTEM_TAINTS]
    for effect in effects if key else []:
        found = next((t for t in current if t.get("key") == key and t.get("effect") == effect),
                     None)
        taint = dict(found) if found else {"key": key, "effect": effect}
        if effect == "NoExecute" and not taint.get("timeAdded"):
            taint["timeAdded"] = now_iso(now)
        out.append(taint)
    return out


def eviction_time(pod: Obj, taints: list[Obj], now: float) -> float | None:
    """When the pod must leave a node with these taints: ``now`` if some ``NoExecute`` taint
    is not tolerated, the earliest ``timeAdded + tolerationSeconds`` otherwise, None if the
    tolerations have no time limit (or there is no NoExecute taint)."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    earliest: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return now
        limits = [t["tolerationSeconds"] for t in matching
                  if t.get("tolerationSeconds") is not None]
        if len(limits) < len(matching):
            continue  # one toleration without a limit: the pod may stay for good
        added = parse_time(taint.get("timeAdded")) or now
        deadline = added + max(0, min(limits))
        earliest = deadline if earliest is None else min(earliest, deadline)
    return earliest


def plan_node_lifecycle(nodes: list[Obj], pods: list[Obj], probes: dict[str, Probe],
                        now: float, grace: float) -> list[NodePlan]:
    """The plan for every node (pure: the caller passes the time and its heartbeat record).

    Steps: 1. each node's effective readiness; 2. full disruption (no node Ready) pauses
    evictions; 3. per node: conditions to Unknown, system taints, pods to evict.
    """
    # Step 1: effective readiness.
    ready = {n["metadata"]["name"]: effective_ready(n, probes.get(n["metadata"]["name"]),
                                                    now, grace) for n in nodes}
    # Step 2: full disruption.
    paused = bool(nodes) and all(r != "True" for r in ready.values())
    by_node: dict[str, list[Obj]] = {}
    for pod in pods:
        by_node.setdefault((pod.get("spec") or {}).get("nodeName") or "", []).append(pod)
    plans = []
    # Step 3: per node.
    for node in nodes:
        name = node["metadata"]["name"]
        cond = ready_condition(node)
        plan = NodePlan(name, mark_unknown=ready[name] == "Unknown" and cond is not None and
                        cond.get("status") != "Unknown")
        taints = wanted_taints(node, ready[name], paused, now)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            plan.taints = taints
        for pod in sorted(by_node.get(name, []), key=lambda p: p["metadata"]["name"]):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                if ready[name] == "Unknown" and not paused:
                    plan.evict.append(Eviction(meta.get("namespace", "default"), meta["name"],
                                               "terminating on an unreachable node", True))
                continue
            when = eviction_time(pod, taints, now)
            if when is None:
                continue
            if when <= now:
                plan.evict.append(Eviction(meta.get("namespace", "default"), meta["name"],
                                           "NoExecute taint not tolerated",
                                           ready[name] == "Unknown"))
            elif plan.next_eviction_in is None or when - now < plan.next_eviction_in:
                plan.next_eviction_in = when - now
        plans.append(plan)
    return plans


class NodeLifecycleController(Controller):
    """One key ("all"); reconciled on node and pod changes and every monitor period."""

    name = "nodelifecycle"

    def __init__(self, client: Client, grace_period: float = DEFAULT_GRACE_PERIOD,
                 monitor_period: float | None = None) -> None:
        super().__init__(client, workers=1)
        self.grace_period = grace_period
        # upstream --node-monitor-period is 5 s; a short grace needs a shorter period.
        self.monitor_period = monitor_period or min(5.0, max(0.2, grace_period / 6))
        self._lock = threading.Lock()
        self._probes: dict[str, Probe] = {}
        self._stopping = threading.Event()
        self.nodes = self.informer("nodes", self._on_node)
        self.pods = self.informer("pods", lambda kind, obj, old: self.queue.add("all"))

    def _on_node(self, kind: str, node: Obj, old: Obj | None) -> None:
        name = node["metadata"]["name"]
        with self._lock:
            if kind == "DELETED":
                self._probes.pop(name, None)
            else:
                self._probes[name] = observe(self._probes.get(name), node, time.time())
        self.queue.add("all")

    def start(self) -> None:
        super().start()
        thread = threading.Thread(target=self._monitor, daemon=True, name="node-monitor")
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def _monitor(self) -> None:
        while not self._stopping.wait(self.monitor_period):
            self.queue.add("all")

    def reconcile(self, key: str) -> None:
        now = time.time()
        nodes = self.nodes.list()
        with self._lock:
            for node in nodes:  # a node not yet seen by the handler
                name = node["metadata"]["name"]
                self._probes[name] = observe(self._probes.get(name), node, now)
            probes = dict(self._probes)
        for plan in plan_node_lifecycle(nodes, self.pods.list(), probes, now,
                                        self.grace_period):
            if plan:
                log.info("Planned node lifecycle actions %s", plan)
                self.apply(plan, now)

    def apply(self, plan: NodePlan, now: float) -> None:
        """Steps: 1. conditions to Unknown (optimistic: a fresh heartbeat wins);
        2. taints; 3. evictions."""
        node = self.nodes.get(plan.node)
        if node is None:
            return
        # Step 1: conditions.
        if plan.mark_unknown:
            status = dict(node.get("status") or {})
            status["conditions"] = unknown_conditions(status.get("conditions") or [], now)
            node = self.client.update(NODES, {**node, "status": status}, subresource="status")
            log.info("Marked node not ready node=%s reason=%s grace=%.1fs", plan.node,
                     UNKNOWN_REASON, self.grace_period)
            record_event(self.client, {**node, "kind": "Node", "apiVersion": "v1"}, "Normal",
                         "NodeNotReady", f"Node {plan.node} status is now: NodeNotReady",
                         COMPONENT)
        # Step 2: taints.
        if plan.taints is not None:
            self.client.patch(NODES, plan.node, {
                "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                "spec": {"taints": plan.taints or None}})
            log.info("Updated node taints node=%s taints=%s", plan.node,
                     [f"{t['key']}:{t['effect']}" for t in plan.taints])
        # Step 3: evictions.
        for eviction in plan.evict:
            self._evict(eviction)

    def _evict(self, eviction: Eviction) -> None:
        pod = self.pods.get(eviction.name, eviction.namespace)
        try:
            self.client.delete(PODS, eviction.name, eviction.namespace,
                               grace_period_seconds=0 if eviction.force else None)
        except ApiError as e:
            if e.code != 404:
                raise
            return
        log.info("Evicted pod pod=%s reason=%r", eviction, eviction.reason)
        if pod is not None:
            record_event(self.client, {**pod, "kind": "Pod", "apiVersion": "v1"}, "Normal",
                         "TaintManagerEviction",
                         f"Marking for deletion Pod {eviction.namespace}/{eviction.name}",
                         COMPONENT)
