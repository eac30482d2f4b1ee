"""A hollow node: a Node that registers and heartbeats through the API, and runs nothing.

Like Kubemark's HollowKubelet, it "pretends to be an ordinary Kubelet, but does not start
anything ... it just lies it does": a pod bound to it is reported Running and Ready at once,
and a pod being deleted is deleted for good (``gracePeriodSeconds=0``), as a kubelet does
after stopping the containers. It needs no root and creates no kernel object.

    node = HollowNode(client, "hollow-1").start()   # Node registered, Ready, heartbeating
    node.pause()     # the node is lost: no heartbeat, its pods are left as they are
    node.resume()    # back: heartbeats again (Ready=True), reports its pods again
    node.stop()      # threads end; node.delete() removes the Node object
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from minikube_py.client import ApiError, Client, Informer
from minikube_py.controllers.base import now_iso, resource
from minikube_py.kubelet.apisource import KUBELET_VERSION, node_conditions

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NODES, PODS = resource("nodes"), resource("pods")


def hollow_node_object(name: str) -> Obj:
    resources = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "kubernetes.io/os": "linux",
                                                  "minikube-py/hollow": "true"}},
            "spec": {},
            "status": {"capacity": resources, "allocatable": dict(resources),
                       "addresses": [{"type": "Hostname", "address": name}],
                       "nodeInfo": {"kubeletVersion": f"{KUBELET_VERSION}-hollow",
                                    "operatingSystem": "linux"},
                       "conditions": node_conditions()}}


def running_status(pod: Obj) -> Obj:
    """What a kubelet reports once every container started: Running, Ready."""
    stamp = now_iso()
    return {"phase": "Running", "startTime": stamp,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": stamp}
                           for t in ("PodScheduled", "Initialized", "ContainersReady",
                                     "Ready")],
            "containerStatuses": [{"name": c["name"], "image": c.get("image", ""),
                                   "imageID": "", "containerID": f"hollow://{c['name']}",
                                   "ready": True, "started": True, "restartCount": 0,
                                   "state": {"running": {"startedAt": stamp}}}
                                  for c in pod["spec"].get("containers", [])]}


def is_reported_running(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(
        c.get("ready") for c in status.get("containerStatuses") or [])


class HollowNode:
    """One fake kubelet: a Node object, a heartbeat thread and a pod informer."""

    def __init__(self, client: Client, name: str, heartbeat_period: float = 0.5) -> None:
        self.client = client
        self.name = name
        self.heartbeat_period = heartbeat_period
        self.alive = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={name}")
        self.pods.add_handler(self._on_pod)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> HollowNode:
        """Register the Node (or refresh it), then heartbeat and serve pods in threads."""
        node = hollow_node_object(self.name)
        if self.client.find(NODES, self.name) is None:
            self.client.create(NODES, node)
        else:
            self.heartbeat()
        self.alive.set()
        self.pods.start()
        self.pods.wait_synced(30)
        self._thread = threading.Thread(target=self.run, daemon=True,
                                        name=f"hollow-{self.name}")
        self._thread.start()
        return self

    def run(self) -> None:
        """Heartbeat every period until :meth:`stop` (skipping while paused)."""
        while not self._stopping.wait(self.heartbeat_period):
            if self.alive.is_set():
                try:
                    self.heartbeat()
                except Exception as e:  # noqa: BLE001 - a heartbeat may fail; try again
                    log.warning("Hollow heartbeat failed node=%s err=%s", self.name, e)

    def pause(self) -> None:
        """The node is lost: no more heartbeats, pods are left as they are."""
        self.alive.clear()

    def resume(self) -> None:
        self.alive.set()
        self.heartbeat()
        for pod in self.pods.list():
            self._on_pod("MODIFIED", pod, None)

    def stop(self) -> None:
        self.alive.clear()
        self._stopping.set()
        self.pods.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def delete(self) -> None:
        try:
            self.client.delete(NODES, self.name)
        except ApiError as e:
            if e.code != 404:
                raise

    # -- the lies ------------------------------------------------------------------------------
    def heartbeat(self) -> None:
        self.client.patch(NODES, self.name, {"status": {"conditions": node_conditions()}},
                          subresource="status")

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        if kind == "DELETED" or not self.alive.is_set():
            return
        meta = pod["metadata"]
        try:
            if meta.get("deletionTimestamp"):
                self.client.delete(PODS, meta["name"], meta.get("namespace"),
                                   grace_period_seconds=0)
            elif not is_reported_running(pod):
                self.client.patch(PODS, meta["name"], {"status": running_status(pod)},
                                  namespace=meta.get("namespace"), subresource="status")
        except ApiError as e:
            if e.code != 404:
                log.warning("Hollow pod update failed pod=%s err=%s", meta["name"], e)
