"""Self-healing on a whole cluster: probes as ``describe`` shows them, a failing readiness
probe taking a pod out of Ready (and out of its Service's endpoints), a deleted pod shown
Terminating for its grace period, and kill -9 of the whole ``up`` process with pods
running."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

import pytest

from minikube_py.client import ApiError
from tests.e2e.clusterharness import TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]


def pod(name: str, command: str, labels: dict[str, str] | None = None, grace: int = 1,
        **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": [
                {"name": "main", "image": "busybox", "command": ["sh", "-c", command],
                 **container}]}}


def get_pod(cluster: TestCluster, name: str) -> dict[str, Any] | None:
    try:
        return cluster.client.request("GET", f"/api/v1/namespaces/default/pods/{name}")
    except ApiError as e:
        if e.code == 404:
            return None
        raise


def container_status(cluster: TestCluster, name: str) -> dict[str, Any]:
    found = get_pod(cluster, name) or {}
    statuses = (found.get("status") or {}).get("containerStatuses") or [{}]
    return statuses[0]


def condition(p: dict[str, Any] | None, kind: str) -> str | None:
    for c in ((p or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return str(c["status"])
    return None


def test_probes_show_in_describe_and_readiness_drives_ready_and_endpoints(
        cluster: TestCluster):
    liveness = {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1,
                "failureThreshold": 1}
    readiness = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1,
                 "failureThreshold": 1}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    cluster.apply([
        pod("live", "exec sleep 1000", livenessProbe=liveness),
        pod("web-ready", "touch /tmp/ready; exec sleep 1000", {"app": "web"},
            readinessProbe=readiness),
        pod("web-unready", "exec sleep 1000", {"app": "web"}, readinessProbe=readiness),
        service,
    ])
    cluster.wait("a liveness restart",
                 lambda: container_status(cluster, "live").get("restartCount", 0) >= 1)
    described = cluster.mk("describe", "pod", "live").stdout
    assert "Liveness probe failed: cat: can't open '/tmp/healthy'" in described
    assert "Container main failed liveness probe, will be restarted" in described
    last_state = described.split("Last State:")[1]
    assert last_state.split()[0] == "Terminated", described
    assert re.search(r"Exit Code:\s+137", last_state), described

    ready = cluster.wait("web-ready Ready", lambda: condition(
        get_pod(cluster, "web-ready"), "Ready") == "True" and get_pod(cluster, "web-ready"))
    cluster.wait("web-unready Running", lambda: (get_pod(cluster, "web-unready") or {}).get(
        "status", {}).get("phase") == "Running")
    time.sleep(1.5)  # its readiness probe has run and failed
    unready = get_pod(cluster, "web-unready") or {}
    assert condition(unready, "Ready") == "False"
    assert condition(unready, "ContainersReady") == "False"
    assert unready["status"]["containerStatuses"][0]["restartCount"] == 0
    table = cluster.mk("get", "pod", "web-unready").stdout
    assert "0/1" in table and "Running" in table
    assert "Readiness probe failed" in cluster.mk("describe", "pod", "web-unready").stdout

    def endpoint_ips() -> list[str] | None:
        try:
            ep = cluster.client.request("GET", "/api/v1/namespaces/default/endpoints/web")
        except ApiError:
            return None
        return [a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []]

    deadline = time.monotonic() + 10
    while endpoint_ips() != [ready["status"]["podIP"]] and time.monotonic() < deadline:
        time.sleep(0.1)
    if endpoint_ips() is None:
        pytest.skip("no endpoints controller in this cluster yet")
    assert endpoint_ips() == [ready["status"]["podIP"]]
    # The unready pod becomes ready: it joins the endpoints.
    cluster.mk("exec", "web-unready", "--", "touch", "/tmp/ready")
    cluster.wait("both endpoints", lambda: sorted(endpoint_ips() or []) == sorted(
        [ready["status"]["podIP"], unready["status"]["podIP"]]), timeout=10)


def test_crash_loop_back_off_and_a_deleted_pod_terminating_for_its_grace_period(
        cluster: TestCluster):
    cluster.apply([pod("stubborn", "exec sleep 1000", grace=3), pod("crash", "exit 3")])
    cluster.running_pods("app=stubborn", 1)

    # A crash loop: restarted at once, then with a growing delay, shown as CrashLoopBackOff.
    cluster.wait("CrashLoopBackOff", lambda: (container_status(cluster, "crash").get(
        "state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff")
    described = cluster.mk("describe", "pod", "crash").stdout
    last_state = described.split("Last State:")[1]
    assert last_state.split()[0] == "Terminated", described
    assert re.search(r"Exit Code:\s+3\b", last_state), described
    assert "Back-off restarting failed container main" in described, described
    assert "CrashLoopBackOff" in cluster.mk("get", "pod", "crash").stdout

    # Deleting: Terminating while the container sits out its grace period, then gone.
    started = time.monotonic()
    cluster.mk("delete", "pod", "stubborn", "--wait=false")
    listed = cluster.mk("get", "pod", "stubborn").stdout
    assert "Terminating" in listed.splitlines()[1]
    assert (get_pod(cluster, "stubborn") or {})["metadata"].get("deletionTimestamp")
    cluster.wait("the pod to disappear", lambda: get_pod(cluster, "stubborn") is None,
                 timeout=15, poll=0.05)
    took = time.monotonic() - started
    assert 3 <= took < 6, f"gone after {took:.1f}s with a 3 s grace period"


def test_kill_9_of_the_whole_cluster_process_keeps_the_pods_running(cluster: TestCluster):
    cluster.apply([pod(f"keep{i}", "exec sleep 1000", {"app": "keep"}) for i in range(5)])
    before = {p["metadata"]["name"]: p for p in cluster.running_pods("app=keep", 5)}
    with open(os.path.join(cluster.state, "up.pid")) as f:
        up = int(f.read())
    os.kill(up, signal.SIGKILL)
    while os.path.exists(f"/proc/{up}"):
        time.sleep(0.02)
    # While everything is down, one container dies.
    victim = before["keep3"]["metadata"]["uid"]
    state_file = os.path.join(cluster.state, "pods", victim, "containers", "main", "0",
                              "state.json")
    with open(state_file) as f:
        os.kill(json.load(f)["pid"], signal.SIGKILL)
    cluster.up()
    cluster.wait("the dead container restarted", lambda: container_status(
        cluster, "keep3").get("restartCount") == 1 and "running" in container_status(
        cluster, "keep3").get("state", {}))
    assert container_status(cluster, "keep3")["lastState"]["terminated"]["exitCode"] == 137
    for name, old in before.items():
        if name == "keep3":
            continue
        now = container_status(cluster, name)
        assert now["restartCount"] == 0 and "running" in now["state"], name
        assert now["state"]["running"]["startedAt"] == old["status"]["containerStatuses"][
            0]["state"]["running"]["startedAt"], name
