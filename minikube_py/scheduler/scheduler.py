"""kube-scheduler, small: watch pods without a node, pick one, POST a Binding.

The scheduler never starts anything. It only writes ``spec.nodeName`` of a pod, through the
``pods/{name}/binding`` subresource; the kubelet of that node watches
``fieldSelector=spec.nodeName=<node>`` and does the rest. Watch it happen::

    kubectl get pods -o wide -w              # NODE goes from <none> to node-1
    kubectl get events --field-selector reason=FailedScheduling

Three informers keep the scheduler's picture of the cluster: pods with ``spec.nodeName=``
(the queue), all pods (what each node already runs), and nodes. After a Binding, the pod is
**assumed** on its node until the all-pods informer sees it there, so that the next pod,
scheduled a millisecond later, already counts its requests (upstream's scheduler cache).

As upstream, only the scheduling cycle (filter, score, assume) is one pod at a time; the
**binding cycle** (the ``pods/binding`` POST and the ``Scheduled`` Event) runs on a small
thread pool, so the next pod is being placed while the API server stores the last binding.
The ``Scheduled`` Events are written by one recorder thread from a bounded queue (upstream's
event broadcaster: events are best effort, and dropped when the queue is full), so that
event writes never hold up bindings.

A pod that fits nowhere gets an Event ``FailedScheduling`` and the condition
``PodScheduled=False`` (reason ``Unschedulable``), and waits in the *unschedulable* set; it
is tried again when a node changes, a pod goes away, or every few seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from minikube_py.client import ApiError, Client, Informer
from minikube_py.controllers.base import (
    WorkQueue,
    key_of,
    now_iso,
    process_until_shut_down,
    record_event,
    resource,
)
from minikube_py.scheduler.algorithm import (
    Requests,
    claim_problem,
    feasible_nodes_to_find,
    filter_nodes,
    is_node_ready,
    pod_requests,
    prefilter_message,
    score_nodes,
    unschedulable_message,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ASSUME_TTL = 30.0
BINDERS = 8  # concurrent binding cycles
MAX_QUEUED_EVENTS = 1000  # upstream's maxQueuedEvents


class Scheduler:
    """Binds unscheduled pods whose ``schedulerName`` is ``name`` to nodes."""

    def __init__(self, client: Client, name: str = "default-scheduler",
                 retry_interval: float = 5.0) -> None:
        self.client = client
        self.name = name
        self.retry_interval = retry_interval
        self.queue = WorkQueue()
        self.pending = Informer(client, resource("pods"), field_selector="spec.nodeName=")
        self.pods = Informer(client, resource("pods"))
        self.nodes = Informer(client, resource("nodes"))
        #: for the volume check: a pod waits until its PersistentVolumeClaims are bound
        self.claims = Informer(client, resource("persistentvolumeclaims"))
        self.claims.add_handler(lambda kind, claim, old: self.retry_unschedulable())
        self.pending.add_handler(self._on_pending)
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)
        self._lock = threading.Lock()
        self._assumed: dict[str, tuple[str, Obj, float]] = {}  # key -> node, pod, deadline
        self._unschedulable: dict[str, str] = {}  # key -> last message
        self._requests: dict[str, Requests] = {}  # uid -> the pod's requests (immutable)
        self._binder: ThreadPoolExecutor | None = None
        self._next_start = 0  # where the next search through the nodes begins
        self._events: queue.Queue[tuple[Obj, str] | None] = queue.Queue(MAX_QUEUED_EVENTS)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.scheduled = 0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        for inf in (self.nodes, self.claims, self.pods, self.pending):
            inf.start()
        for inf in (self.nodes, self.claims, self.pods, self.pending):
            inf.wait_synced(30)
        self._binder = ThreadPoolExecutor(BINDERS, thread_name_prefix="scheduler-bind")
        for target, label in ((self._work, "worker"), (self._retry_loop, "retry"),
                              (self._record_events, "events")):
            thread = threading.Thread(target=target, daemon=True, name=f"scheduler-{label}")
            thread.start()
            self._threads.append(thread)
        log.info("Scheduler started name=%s", self.name)

    def stop(self) -> None:
        self._stop.set()
        self.queue.shut_down()
        if self._binder is not None:
            self._binder.shutdown(wait=True, cancel_futures=True)
        self._drop_queued_events()
        self._events.put(None)  # ends the recorder thread
        for inf in (self.pending, self.pods, self.claims, self.nodes):
            inf.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- event handlers -----------------------------------------------------------------
    def _on_pending(self, kind: str, pod: Obj, old: Obj | None) -> None:
        key = key_of(pod)
        if kind == "DELETED":
            with self._lock:
                self._unschedulable.pop(key, None)
            return
        with self._lock:
            waiting = key in self._unschedulable
        if waiting and old is not None and old.get("spec") == pod.get("spec"):
            return  # only our own status update: wait for a cluster change
        self.queue.add(key)

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        key = key_of(pod)
        if pod.get("spec", {}).get("nodeName") or kind == "DELETED":
            with self._lock:
                self._assumed.pop(key, None)
                if kind == "DELETED":
                    self._requests.pop(pod.get("metadata", {}).get("uid"), None)
        if kind == "DELETED" and pod.get("spec", {}).get("nodeName"):
            self.retry_unschedulable()

    def _on_node(self, kind: str, node: Obj, old: Obj | None) -> None:
        if old is None or kind == "DELETED" or old.get("spec") != node.get("spec") or \
                old.get("metadata", {}).get("labels") != node.get("metadata", {}).get(
                    "labels") or is_node_ready(old) != is_node_ready(node) or \
                old.get("status", {}).get("allocatable") != node.get("status", {}).get(
                    "allocatable"):
            self.retry_unschedulable()

    def retry_unschedulable(self) -> None:
        with self._lock:
            keys = list(self._unschedulable)
        for key in keys:
            self.queue.add(key)

    def _retry_loop(self) -> None:
        while not self._stop.wait(self.retry_interval):
            self.retry_unschedulable()

    # -- the scheduling cycle -----------------------------------------------------------
    def snapshot(self) -> tuple[list[Obj], dict[str, list[Obj]]]:
        """Nodes, and pods per node including the assumed ones."""
        by_node: dict[str, list[Obj]] = {}
        seen: set[str] = set()
        for pod in self.pods.list():
            node = pod.get("spec", {}).get("nodeName")
            if node:
                by_node.setdefault(node, []).append(pod)
                seen.add(key_of(pod))
        now = time.monotonic()
        with self._lock:
            for key, (node, pod, deadline) in list(self._assumed.items()):
                if deadline < now:
                    del self._assumed[key]
                elif key not in seen:
                    by_node.setdefault(node, []).append(pod)
        return self.nodes.list(), by_node

    def usage(self, by_node: dict[str, list[Obj]]) -> dict[str, Requests]:
        """Each node's summed requests, once per cycle; each pod's own sum is kept by uid
        (a pod's requests do not change), so a cycle costs a dict lookup per pod."""
        out: dict[str, Requests] = {}
        cache = self._requests
        for node, pods in by_node.items():
            cpu = memory = count = 0
            for pod in pods:
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                uid = pod.get("metadata", {}).get("uid")
                found = cache.get(uid) if uid else None
                if found is None:
                    found = pod_requests(pod)
                    if uid:
                        cache[uid] = found
                cpu, memory, count = cpu + found.cpu, memory + found.memory, count + found.pods
            out[node] = Requests(cpu, memory, count)
        return out

    def _work(self) -> None:
        process_until_shut_down(self.queue, lambda key: self.schedule(key), self._failed)

    def _failed(self, key: str, delay: float, e: Exception) -> None:
        log.warning("Scheduling failed pod=%s retry_in=%.2fs err=%s", key, delay, e)

    def schedule(self, key: str) -> str | None:
        """One scheduling cycle for one pod: filter, score, assume; then the binding cycle
        (bind, event) goes to the binder threads. Returns the node chosen, or None."""
        namespace, _, name = key.rpartition("/")
        pod = self.pending.get(name, namespace)
        if pod is None or not self._wants(pod, key):
            return None
        pod = {**pod, "kind": "Pod", "apiVersion": "v1"}
        nodes, by_node = self.snapshot()
        problem = claim_problem(pod, self.claims.get)
        if problem is not None:
            self._unschedulable_pod(key, pod, prefilter_message(len(nodes), problem))
            return None
        usage = self.usage(by_node)
        start = self._next_start % len(nodes) if nodes else 0
        fits, reasons = filter_nodes(pod, nodes[start:] + nodes[:start], by_node, usage,
                                     feasible_nodes_to_find(len(nodes)))
        self._next_start = start + len(fits) + len(reasons)
        if not fits:
            self._unschedulable_pod(key, pod, unschedulable_message(len(nodes), reasons))
            return None
        node = score_nodes(pod, fits, by_node, usage)[0][0]
        with self._lock:
            self._assumed[key] = (node, pod, time.monotonic() + ASSUME_TTL)
            self._unschedulable.pop(key, None)
        detail = (len(nodes), len(fits))
        if self._binder is None:  # not started: bind in this thread
            self._binding_cycle(key, pod, node, detail)
        else:
            self._binder.submit(self._binding_cycle, key, pod, node, detail)
        return node

    def _binding_cycle(self, key: str, pod: Obj, node: str, detail: tuple[int, int]) -> None:
        """Bind, count, record the event; on failure forget the assumption and retry."""
        try:
            self.bind(pod, node)
        except Exception as e:  # noqa: BLE001 - a binder thread must not die
            with self._lock:
                self._assumed.pop(key, None)
            if isinstance(e, ApiError) and e.code in (404, 409):  # gone, or bound already
                log.info("Binding skipped pod=%s node=%s reason=%s", key, node, e.reason)
                return
            delay = self.queue.add_rate_limited(key)
            log.warning("Binding failed pod=%s node=%s retry_in=%.2fs err=%s", key, node,
                        delay, e)
            return
        with self._lock:
            self.scheduled += 1
        log.info("Successfully bound pod to node pod=%s node=%s evaluatedNodes=%d "
                 "feasibleNodes=%d", key, node, *detail)
        message = f"Successfully assigned {key} to {node}"
        if self._binder is None:
            record_event(self.client, pod, "Normal", "Scheduled", message, self.name)
            return
        try:
            self._events.put_nowait((pod, message))
        except queue.Full:
            log.info("Dropped event pod=%s reason=Scheduled queued=%d", key, MAX_QUEUED_EVENTS)

    def _record_events(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            record_event(self.client, item[0], "Normal", "Scheduled", item[1], self.name)

    def _drop_queued_events(self) -> None:
        """On stop: forget the events not written yet (no binder adds any more)."""
        try:
            while True:
                self._events.get_nowait()
        except queue.Empty:
            return

    def _wants(self, pod: Obj, key: str) -> bool:
        spec, meta = pod.get("spec", {}), pod.get("metadata", {})
        if spec.get("nodeName") or meta.get("deletionTimestamp"):
            return False
        if (spec.get("schedulerName") or "default-scheduler") != self.name:
            return False
        with self._lock:
            return key not in self._assumed

    def bind(self, pod: Obj, node: str) -> None:
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        self.client.create_subresource(resource("pods"), meta["name"], "binding", binding,
                                       namespace=meta.get("namespace"))

    def _unschedulable_pod(self, key: str, pod: Obj, message: str) -> None:
        with self._lock:
            previous = self._unschedulable.get(key)
            self._unschedulable[key] = message
        log.info("Unable to schedule pod pod=%s err=%r", key, message)
        record_event(self.client, pod, "Warning", "FailedScheduling", message, self.name)
        if previous == message:
            return
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": message, "lastProbeTime": None,
                     "lastTransitionTime": now_iso()}
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("type") != "PodScheduled"] + [condition]
        meta = pod["metadata"]
        try:
            self.client.patch(resource("pods"), meta["name"],
                              {"status": {"phase": "Pending", "conditions": conditions}},
                              namespace=meta.get("namespace"), subresource="status")
        except ApiError as e:
            if e.code != 404:
                raise

