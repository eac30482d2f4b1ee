"""Node failure end to end: a node stops heartbeating; its pods come back elsewhere.

The whole-cluster test runs the real node (``up``, with a 3 s grace period) next to a
hollow node (``tests/e2e/hollow.py``) that registers and heartbeats through the API; the
Deployment's pods are first put on the hollow node (the real node cordoned), then the hollow
node goes silent. The control-plane test does the same with two hollow nodes and no root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.client import Client
from minikube_py.controllers import ControllerManager
from minikube_py.controllers.base import resource
from minikube_py.controllers.nodelifecycle import UNKNOWN_REASON, UNREACHABLE, ready_condition
from minikube_py.scheduler import Scheduler
from tests.e2e import controlplane
from tests.e2e.clusterharness import TestCluster
from tests.e2e.controlplane import api_server, live_pods, started
from tests.e2e.hollow import HollowNode, is_reported_running

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]
NODES, PODS, DEPLOYMENTS = resource("nodes"), resource("pods"), resource("deployments")
GRACE = 3.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    return controlplane.wait_for(what, check, timeout)


def deployment(name: str, replicas: int, tolerations: list[Obj] | None = None) -> Obj:
    spec: Obj = {"terminationGracePeriodSeconds": 1, "tolerations": tolerations or [],
                 "containers": [{"name": "c", "image": "busybox",
                                 "command": ["sleep", "1000"]}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def running_on(client: Client, app: str, node: str, count: int) -> list[Obj] | None:
    pods = live_pods(client, app)
    ok = [p for p in pods if p["spec"].get("nodeName") == node and is_reported_running(p)]
    return ok if len(ok) == count == len(pods) else None


def node_is(client: Client, name: str, status: str) -> Obj | None:
    node = client.get(NODES, name)
    return node if (ready_condition(node) or {}).get("status") == status else None


def taint_keys(node: Obj) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


# -- the real node next to a hollow one ------------------------------------------------------
@pytest.fixture
def short_grace_cluster(tmp_path, test_names, e2e_image_store) -> Iterator[TestCluster]:
    c = TestCluster(str(tmp_path), test_names, e2e_image_store)
    c.up("--node-monitor-grace-period", f"{GRACE}s")
    try:
        yield c
    finally:
        c.close()


@pytest.mark.root
def test_pods_of_a_silent_node_are_recreated_on_the_real_node(short_grace_cluster):
    cluster = short_grace_cluster
    client = cluster.client
    hollow = HollowNode(client, f"hollow-{cluster.names.tag}").start()
    try:
        wait_for("the hollow node Ready", lambda: node_is(client, hollow.name, "True"))
        # Put both pods on the hollow node: cordon the real node while they are scheduled.
        client.patch(NODES, cluster.node_name, {"spec": {"unschedulable": True}})
        cluster.apply(deployment("moved", 2))
        wait_for("2 pods on the hollow node",
                 lambda: running_on(client, "moved", hollow.name, 2))
        client.patch(NODES, cluster.node_name, {"spec": {"unschedulable": None}})

        hollow.pause()
        lost = wait_for("the hollow node Unknown",
                        lambda: node_is(client, hollow.name, "Unknown"), GRACE + 10)
        assert (ready_condition(lost) or {}).get("reason") == UNKNOWN_REASON
        wait_for("the unreachable taints", lambda: {
            (UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")} <= taint_keys(
                client.get(NODES, hollow.name)))
        # Wait for the replacements themselves: right after the taint, the evicted pods may
        # still be listed Running on the hollow node for a moment.
        pods = wait_for("2 pods recreated on the real node",
                        lambda: running_on(client, "moved", cluster.node_name, 2), 60)
        assert {p["spec"]["nodeName"] for p in pods} == {cluster.node_name}
        real = node_is(client, cluster.node_name, "True")  # its kubelet heartbeats faster
        assert real and not taint_keys(real)
        events = client.list(resource("events"), "default",
                             field_selector="reason=TaintManagerEviction")["items"]
        assert len(events) >= 2

        # Heartbeats resume: Ready again (the node writes it), the taints go.
        hollow.resume()
        wait_for("the hollow node Ready again", lambda: (lambda n: n and not taint_keys(n))(
            node_is(client, hollow.name, "True")), GRACE + 10)
    finally:
        hollow.stop()
        hollow.delete()


# -- the control plane alone, two hollow nodes (no root) ------------------------------------
@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[Client]:
    with api_server(tmp_path / "store.db") as client:
        with started(ControllerManager(client, node_monitor_grace_period=GRACE / 2),
                     Scheduler(client)):
            yield client


def test_a_lost_hollow_node_hands_its_pods_to_the_other_but_tolerating_pods_wait(
        control_plane: Client) -> None:
    client = control_plane
    staying = HollowNode(client, "staying").start()
    leaving = HollowNode(client, "leaving").start()
    try:
        for name in ("staying", "leaving"):
            wait_for(f"{name} Ready", lambda: node_is(client, name, "True"))  # noqa: B023
        client.patch(NODES, "staying", {"spec": {"unschedulable": True}})
        patient = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": 4}]
        client.create(DEPLOYMENTS, deployment("web", 2), "default")
        client.create(DEPLOYMENTS, deployment("patient", 1, patient), "default")
        wait_for("web on leaving", lambda: running_on(client, "web", "leaving", 2))
        wait_for("patient on leaving", lambda: running_on(client, "patient", "leaving", 1))
        client.patch(NODES, "staying", {"spec": {"unschedulable": None}})

        leaving.pause()
        wait_for("web moved", lambda: running_on(client, "web", "staying", 2), GRACE + 10)
        # The tolerating pod is still there: its 4 s count from the taint's timeAdded.
        assert running_on(client, "patient", "leaving", 1)
        wait_for("patient moved", lambda: running_on(client, "patient", "staying", 1), 10)
    finally:
        for node in (staying, leaving):
            node.stop()
