"""The control plane end to end: API server + controller manager + scheduler, no kubelet.

A "hollow node" thread plays the kubelets: it marks bound pods Running and Ready (after a
short delay, so that rollouts can be watched step by step) and finishes graceful deletions.
Three fake Node objects give the scheduler somewhere to put pods. No root is needed.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.client import ApiError, Client, Informer
from minikube_py.controllers import ControllerManager
from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.base import now_iso, resource
from minikube_py.scheduler import Scheduler
from tests.e2e.controlplane import api_server, live_pods, started, wait_for

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
PODS, NODES, RSS = resource("pods"), resource("nodes"), resource("replicasets")
DEPLOYMENTS, EVENTS, NAMESPACES = (resource("deployments"), resource("events"),
                                   resource("namespaces"))
READY_DELAY = 0.3


class HollowNodes:
    """Marks bound pods Running+Ready and removes pods being deleted (the kubelet's part)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.pods = Informer(client, PODS)
        self.pods.add_handler(self._on_pod)
        self._timers: list[threading.Timer] = []

    def start(self) -> None:
        self.pods.start()
        self.pods.wait_synced()

    def stop(self) -> None:
        self.pods.stop()
        for timer in self._timers:
            timer.cancel()

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        meta = pod["metadata"]
        if kind == "DELETED":
            return
        if meta.get("deletionTimestamp"):
            self._later(0.1, self._finish, pod)
        elif pod["spec"].get("nodeName") and (pod.get("status") or {}).get("phase") != "Running":
            self._later(READY_DELAY, self._run, pod)

    def _later(self, delay: float, fn: Callable[[Obj], None], pod: Obj) -> None:
        timer = threading.Timer(delay, fn, (pod,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _run(self, pod: Obj) -> None:
        stamp = now_iso()
        status = {"phase": "Running", "podIP": "10.244.0.10", "startTime": stamp,
                  "conditions": [{"type": t, "status": "True", "lastTransitionTime": stamp}
                                 for t in ("PodScheduled", "Initialized", "ContainersReady",
                                           "Ready")],
                  "containerStatuses": [{"name": c["name"], "ready": True, "restartCount": 0,
                                         "image": c.get("image"), "started": True,
                                         "state": {"running": {"startedAt": stamp}}}
                                        for c in pod["spec"]["containers"]]}
        try:
            self.client.patch(PODS, pod["metadata"]["name"], {"status": status},
                              namespace=pod["metadata"]["namespace"], subresource="status")
        except ApiError:
            pass

    def _finish(self, pod: Obj) -> None:
        try:
            self.client.delete(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"],
                               grace_period_seconds=0)
        except ApiError:
            pass


def fake_node(client: Client, name: str) -> None:
    client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                          "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
    status = {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
              "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
              "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                              "lastHeartbeatTime": now_iso(),
                              "lastTransitionTime": now_iso()}],
              "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}
    client.patch(NODES, name, {"status": status}, subresource="status")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    state: Path = tmp_path_factory.mktemp("controlplane")
    with api_server(state / "store.db") as client:
        for i in range(3):
            fake_node(client, f"hollow-{i}")
        with started(HollowNodes(client), ControllerManager(client), Scheduler(client)):
            yield client


def web_deployment(name: str, replicas: int, image: str = "nginx:1.24") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "annotations": {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                                           "resources": {"requests": {
                                                               "cpu": "100m"}}}]}}}}


def ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def rollout_done(client: Client, name: str) -> bool:
    """kubectl rollout status's test (kubectl-api.md)."""
    d = client.get(DEPLOYMENTS, name, "default")
    status = d.get("status") or {}
    want = d["spec"]["replicas"]
    return (d["metadata"]["generation"] <= status.get("observedGeneration", 0) and
            status.get("updatedReplicas", 0) >= want and
            status.get("replicas", 0) <= status.get("updatedReplicas", 0) and
            status.get("availableReplicas", 0) >= status.get("updatedReplicas", 0))


def replica_sets(client: Client, app: str) -> list[Obj]:
    return client.list(RSS, "default", label_selector=f"app={app}")["items"]


def test_a_deployment_gets_pods_bound_to_nodes_then_rolls_out_and_back(cluster: Client) -> None:
    client = cluster
    client.create(DEPLOYMENTS, web_deployment("web", 3), "default")
    pods = wait_for("3 ready pods", lambda: (lambda ps: ps if len(ps) == 3 and all(
        ready(p) for p in ps) else None)(live_pods(client, "web")))
    assert all(p["spec"].get("nodeName", "").startswith("hollow-") for p in pods)
    assert len({p["spec"]["nodeName"] for p in pods}) == 3  # spread over the nodes
    wait_for("rollout complete", lambda: rollout_done(client, "web"))
    first = replica_sets(client, "web")
    assert len(first) == 1 and du.revision(first[0]) == 1
    assert first[0]["metadata"]["name"].startswith("web-")
    assert client.get(DEPLOYMENTS, "web", "default")["metadata"]["annotations"][
        du.REVISION] == "1"

    # Change the image: a second ReplicaSet, never more than 1 pod unavailable of 3.
    lowest = [3]
    stop = threading.Event()

    def observe() -> None:
        while not stop.is_set():
            lowest[0] = min(lowest[0], sum(1 for p in live_pods(client, "web") if ready(p)))
            time.sleep(0.02)

    watcher = threading.Thread(target=observe, daemon=True)
    watcher.start()
    client.patch(DEPLOYMENTS, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.25"}]}}}}, "strategic", "default")
    time.sleep(0.3)
    wait_for("second rollout", lambda: rollout_done(client, "web") and all(
        p["spec"]["containers"][0]["image"] == "nginx:1.25" for p in live_pods(client, "web")))
    stop.set()
    watcher.join()
    assert lowest[0] >= 2
    rss = {du.revision(rs): rs for rs in replica_sets(client, "web")}
    assert sorted(rss) == [1, 2]
    assert rss[1]["spec"]["replicas"] == 0 and rss[2]["spec"]["replicas"] == 3
    deploy = client.get(DEPLOYMENTS, "web", "default")
    assert deploy["metadata"]["annotations"][du.REVISION] == "2"
    reasons = {c["type"]: c["reason"] for c in deploy["status"]["conditions"]}
    assert reasons == {"Available": "MinimumReplicasAvailable",
                       "Progressing": "NewReplicaSetAvailable"}

    # kubectl rollout undo: a JSON patch with the old template minus pod-template-hash.
    template = copy.deepcopy(rss[1]["spec"]["template"])
    del template["metadata"]["labels"][du.HASH_LABEL]
    template["metadata"]["creationTimestamp"] = None
    annotations = dict(deploy["metadata"]["annotations"])
    client.patch(DEPLOYMENTS, "web", [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations}],
        "json", "default")
    time.sleep(0.3)
    wait_for("rollback", lambda: rollout_done(client, "web") and all(
        p["spec"]["containers"][0]["image"] == "nginx:1.24" for p in live_pods(client, "web")))
    after = replica_sets(client, "web")
    assert len(after) == 2  # the old ReplicaSet was reused
    reused = next(rs for rs in after if rs["metadata"]["name"] == rss[1]["metadata"]["name"])
    assert du.revision(reused) == 3 and reused["spec"]["replicas"] == 3
    assert reused["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    assert client.get(DEPLOYMENTS, "web", "default")["metadata"]["annotations"][
        du.REVISION] == "3"
    events = client.list(EVENTS, "default")["items"]
    assert any(e["reason"] == "ScalingReplicaSet" and e["involvedObject"]["name"] == "web"
               for e in events)


def test_scaling_self_healing_and_cascading_delete(cluster: Client) -> None:
    client = cluster
    client.create(DEPLOYMENTS, web_deployment("api", 2), "default")
    wait_for("2 pods", lambda: len(live_pods(client, "api")) == 2)
    for replicas in (5, 1):
        client.patch(DEPLOYMENTS, "api", {"spec": {"replicas": replicas}}, "merge", "default")

        def scaled(n: int = replicas) -> bool:
            return len(live_pods(client, "api")) == n and rollout_done(client, "api")

        wait_for(f"{replicas} pods", scaled)
    victim = live_pods(client, "api")[0]["metadata"]["name"]
    client.delete(PODS, victim, "default")
    wait_for("a replacement", lambda: [p for p in live_pods(client, "api")
                                       if p["metadata"]["name"] != victim])
    client.delete(DEPLOYMENTS, "api", "default")
    wait_for("ReplicaSets and pods gone", lambda: not replica_sets(client, "api") and
             not client.list(PODS, "default", label_selector="app=api")["items"])


def test_deleting_a_namespace_empties_it_first(cluster: Client) -> None:
    client = cluster
    client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "team-a"}})
    deployment = web_deployment("shop", 2)
    client.create(DEPLOYMENTS, deployment, "team-a")
    wait_for("pods in team-a", lambda: len(live_pods(client, "shop", "team-a")) == 2)
    client.delete(NAMESPACES, "team-a")
    wait_for("namespace gone", lambda: client.find(NAMESPACES, "team-a") is None, 30)


def test_a_pod_that_fits_nowhere_gets_failed_scheduling(cluster: Client) -> None:
    client = cluster
    client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": "picky"},
                         "spec": {"nodeSelector": {"disk": "ssd"},
                                  "containers": [{"name": "c", "image": "busybox"}]}},
                  "default")

    def failed() -> Obj | None:
        for event in client.list(EVENTS, "default")["items"]:
            if event["reason"] == "FailedScheduling" and \
                    event["involvedObject"]["name"] == "picky":
                return dict(event)
        return None

    event = wait_for("FailedScheduling", failed)
    assert event["type"] == "Warning"
    assert event["message"].startswith(
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
    pod = wait_for("PodScheduled=False", lambda: (lambda p: p if any(
        c["type"] == "PodScheduled" and c["status"] == "False" and
        c.get("reason") == "Unschedulable"
        for c in (p.get("status") or {}).get("conditions") or []) else None)(
        client.get(PODS, "picky", "default")))
    assert not pod["spec"].get("nodeName")
    # A node with the label appears: the waiting pod is scheduled there.
    client.patch(NODES, "hollow-1", {"metadata": {"labels": {"disk": "ssd"}}})
    wait_for("picky bound", lambda: client.get(PODS, "picky", "default")["spec"].get(
        "nodeName") == "hollow-1")
