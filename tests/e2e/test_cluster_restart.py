"""kill -9 of the whole control plane, then ``up`` again: nothing acknowledged is lost.

``up`` runs the API server, controllers, scheduler and kubelet in one process; the pods'
containers are not its children but run under their own shims (as containers run under
containerd-shim, not under the kubelet). So a crash of ``up`` must leave:

* every write the API server acknowledged in the store (SQLite, ``synchronous=FULL``);
* every container still running — same process, same pod IP, ``restartCount`` 0 — because
  the restarted kubelet finds them (``<state>/pods/<uid>/containers/<name>/<n>/state.json``)
  and adopts them instead of starting them again;
* a cluster that still converges: a scale after the restart is carried out.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import time
from typing import Any

import pytest

from minikube_py.api.resources import must
from tests.e2e.clusterharness import TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]

CONFIGMAPS = must("configmaps")


def container_processes(cluster: TestCluster, pod: dict[str, Any]) -> dict[str, tuple]:
    """``{state.json path: (init pid, shim pid)}`` for each container attempt of a pod."""
    pattern = os.path.join(cluster.state, "pods", pod["metadata"]["uid"], "containers",
                           "*", "*", "state.json")
    found = {}
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            state = json.load(f)
        found[path] = (state["pid"], state["shim_pid"])
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def snapshot_pods(cluster: TestCluster, selector: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: {
        "uid": p["metadata"]["uid"], "ip": p["status"]["podIP"],
        "restarts": [c["restartCount"] for c in p["status"]["containerStatuses"]],
        "processes": container_processes(cluster, p),
    } for p in cluster.pods(selector)}


def ready_heartbeat(cluster: TestCluster) -> str:
    node = cluster.client.request("GET", f"/api/v1/nodes/{cluster.node_name}")
    [ready] = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "True"
    return str(ready["lastHeartbeatTime"])


def kill_up(cluster: TestCluster) -> int:
    with open(os.path.join(cluster.state, "up.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    return pid


def test_kill_9_of_up_loses_no_write_and_restarts_no_container(cluster: TestCluster):
    cluster.apply({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "keep"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "keep"}},
                 "template": {"metadata": {"labels": {"app": "keep"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": ["sleep", "100000"]}]}}},
    })
    cluster.running_pods("app=keep", 2)
    before = snapshot_pods(cluster, "app=keep")
    assert all(v["processes"] for v in before.values())

    # Acknowledged writes right up to the crash: each create returned 201 before the kill.
    written = []
    for i in range(30):
        obj = cluster.client.create(CONFIGMAPS, {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"ack-{i}"},
            "data": {"i": str(i)}}, namespace="default")
        written.append((obj["metadata"]["name"], obj["metadata"]["uid"]))
    heartbeat_before = ready_heartbeat(cluster)
    kill_up(cluster)

    # The containers did not die with the control plane.
    for pod in before.values():
        for init_pid, shim_pid in pod["processes"].values():
            assert alive(init_pid) and alive(shim_pid)

    time.sleep(1.1)  # heartbeat times have one-second resolution
    cluster.up()

    stored = {cm["metadata"]["name"]: cm for cm in cluster.client.list(
        CONFIGMAPS, namespace="default")["items"]}
    for name, uid in written:
        assert stored[name]["metadata"]["uid"] == uid
        assert stored[name]["data"]["i"] == name.split("-")[1]

    # Give the restarted kubelet time to sync every pod, then compare: same pods, same IPs,
    # same container processes, no restart.
    cluster.wait("the restarted kubelet's first heartbeat",
                 lambda: ready_heartbeat(cluster) != heartbeat_before, timeout=30)
    time.sleep(2)
    cluster.running_pods("app=keep", 2)
    after = snapshot_pods(cluster, "app=keep")
    assert after == before

    # And the cluster converges: a scale after the restart is carried out.
    cluster.mk("scale", "deployment/keep", "--replicas=3")
    pods = cluster.running_pods("app=keep", 3)
    kept = {p["metadata"]["name"] for p in pods} & set(before)
    assert kept == set(before)
    assert snapshot_pods(cluster, "app=keep").items() >= before.items()
