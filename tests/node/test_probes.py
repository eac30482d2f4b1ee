"""Probes on a real node: a failing liveness probe restarts the container (with the reason
in the pod's events), a readiness probe over HTTP flips the pod's Ready condition, and a
startup probe holds readiness back until it succeeds."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.node.nodeharness import TestNode, busybox_pod

pytestmark = pytest.mark.root


def events(node: TestNode, pod: dict[str, Any]) -> list[dict[str, Any]]:
    path = os.path.join(node.state, "pods", pod["metadata"]["uid"], "events.jsonl")
    with open(path) as f:
        return [json.loads(line) for line in f]


def wait_for(node: TestNode, pod: dict[str, Any], predicate: Callable[[dict[str, Any]], bool],
             timeout: float = 15.0) -> dict[str, Any]:
    """Poll the pod's status file (faster than the CLI); the pod with that status."""
    path = os.path.join(node.state, "pods", pod["metadata"]["uid"], "status.json")
    deadline = time.monotonic() + timeout
    current = dict(pod)
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                current = dict(pod, status=json.load(f))
        except (OSError, ValueError):
            pass
        if current.get("status") and predicate(current):
            return current
        time.sleep(0.05)
    raise AssertionError(f"timed out: {json.dumps(current.get('status'))}")


def ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return conditions.get("Ready") == "True"


def restarts(pod: dict[str, Any]) -> int:
    return sum(c["restartCount"] for c in pod["status"].get("containerStatuses", []))


def test_a_failing_liveness_probe_restarts_the_container_with_the_reason(node: TestNode):
    probe = {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1,
             "failureThreshold": 2}
    pod = node.run_pod(busybox_pod("live", "touch /tmp/healthy; exec sleep 1000",
                                   container={"livenessProbe": probe}))
    assert restarts(pod) == 0
    node.exec("live", "rm", "/tmp/healthy")
    pod = wait_for(node, pod, lambda p: restarts(p) == 1 and "running" in p["status"][
        "containerStatuses"][0]["state"], timeout=15)
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"
    found = {(e["reason"], e["message"]) for e in events(node, pod)}
    assert ("Killing", "Container main failed liveness probe, will be restarted") in found
    assert any(reason == "Unhealthy" and message.startswith("Liveness probe failed: cat: ")
               for reason, message in found)
    # the new instance has a fresh root with /tmp/healthy again: it stays up
    assert node.exec("live", "cat", "/tmp/healthy").returncode == 0


def test_a_readiness_probe_over_http_flips_the_ready_condition(node: TestNode):
    probe = {"httpGet": {"port": "web", "path": "/index.html"}, "periodSeconds": 1,
             "failureThreshold": 1}
    command = ("mkdir -p /www && echo ok > /www/index.html && "
               "exec httpd -f -p 8080 -h /www")
    pod = node.run_pod(busybox_pod("ready", command, container={
        "readinessProbe": probe, "ports": [{"name": "web", "containerPort": 8080}]}))
    wait_for(node, pod, ready)
    node.exec("ready", "rm", "/www/index.html")
    pod = wait_for(node, pod, lambda p: not ready(p))
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    assert "running" in pod["status"]["containerStatuses"][0]["state"]
    assert ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404") in {
        (e["reason"], e["message"]) for e in events(node, pod)}
    node.exec("ready", "sh", "-c", "echo ok > /www/index.html")
    pod = wait_for(node, pod, ready)
    assert restarts(pod) == 0  # a failing readiness probe never kills


def test_a_startup_probe_holds_readiness_back_until_it_succeeds(node: TestNode):
    startup = {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1,
               "failureThreshold": 30}
    readiness = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    pod = node.run_pod(busybox_pod(
        "slow", "httpd -p 8080 -h /; sleep 1000",
        container={"startupProbe": startup, "readinessProbe": readiness}), wait=False)
    pod = wait_for(node, pod, lambda p: "running" in p["status"].get(
        "containerStatuses", [{"state": {}}])[0]["state"])
    time.sleep(1.5)  # the probes have had time to run (and fail) at least once
    pod = wait_for(node, pod, lambda p: any(e["reason"] == "Unhealthy"
                                            for e in events(node, p)))
    status = pod["status"]["containerStatuses"][0]
    assert status["started"] is False and status["ready"] is False
    node.exec("slow", "touch", "/tmp/started")
    pod = wait_for(node, pod, ready)
    assert pod["status"]["containerStatuses"][0]["started"] is True
