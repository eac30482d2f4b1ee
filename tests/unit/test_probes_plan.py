"""Probes in the kubelet's decisions (liveness kills, readiness in the status, startup
gating), the probe checks and timers against a local server, and the recovery plan."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from typing import Any

import pytest

from minikube_py.kubelet.plan import (
    ObservedContainer,
    ObservedPod,
    ProbeResults,
    compute_pod_actions,
)
from minikube_py.kubelet.probes import ProbeManager, Worker, http_check, tcp_check
from minikube_py.kubelet.recovery import NodeObjects, plan_orphans
from minikube_py.kubelet.status import pod_status

NOW = 1000.0
LIVENESS = {"exec": {"command": ["true"]}, "failureThreshold": 3, "periodSeconds": 10}


def pod_with(policy: str = "Always", **probes: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": policy,
                     "containers": [{"name": "app", "image": "busybox", **probes}]}}


def running(attempt: int = 0, step: int = 0, started: float = NOW - 5) -> ObservedPod:
    pod = ObservedPod(sandbox_ready=True, ip="10.250.0.2")
    pod.containers["app"] = [ObservedContainer(
        name="app", attempt=attempt, bundle_dir=f"/b/app/{attempt}", status="running",
        started_at=started, backoff_step=step)]
    return pod


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


# -- liveness and startup: the plan ---------------------------------------------------------
def test_a_failed_liveness_probe_kills_and_restarts_the_container_at_once():
    actions = compute_pod_actions(pod_with(livenessProbe=LIVENESS), running(), NOW,
                                  {"app": ProbeResults(liveness="failure")})
    assert actions.containers_to_kill == {
        "app": "Container app failed liveness probe, will be restarted"}
    assert actions.containers_to_start == ["app"] and not actions.kill_pod


def test_a_second_liveness_kill_in_a_row_waits_for_the_back_off_but_keeps_the_sandbox():
    actions = compute_pod_actions(pod_with(livenessProbe=LIVENESS), running(1, step=1), NOW,
                                  {"app": ProbeResults(liveness="failure")})
    assert "app" in actions.containers_to_kill
    assert actions.containers_to_start == [] and not actions.kill_pod


def test_a_never_pod_is_not_restarted_after_a_liveness_failure():
    actions = compute_pod_actions(pod_with("Never", livenessProbe=LIVENESS), running(), NOW,
                                  {"app": ProbeResults(liveness="failure")})
    assert actions.containers_to_kill == {"app": "Container app failed liveness probe"}
    assert actions.containers_to_start == []


def test_a_healthy_or_unprobed_container_is_left_alone():
    pod = pod_with(livenessProbe=LIVENESS)
    assert compute_pod_actions(pod, running(), NOW,
                               {"app": ProbeResults(liveness="success")}).is_empty()
    assert compute_pod_actions(pod, running(), NOW).is_empty()
    # a verdict about a probe the spec does not have is ignored
    assert compute_pod_actions(pod_with(), running(), NOW,
                               {"app": ProbeResults(liveness="failure")}).is_empty()


def test_a_startup_probe_that_gives_up_kills_the_container():
    actions = compute_pod_actions(pod_with(startupProbe=LIVENESS), running(), NOW,
                                  {"app": ProbeResults(startup="failure")})
    assert actions.containers_to_kill == {
        "app": "Container app failed startup probe, will be restarted"}


# -- readiness and startup: the status ------------------------------------------------------
def test_a_container_with_a_readiness_probe_is_ready_only_after_it_succeeds():
    pod = pod_with(readinessProbe=LIVENESS)
    before = pod_status(pod, running(), {}, None, "10.0.0.1", NOW)
    assert before["containerStatuses"][0]["ready"] is False
    assert conditions(before)["Ready"] == "False"
    assert conditions(before)["ContainersReady"] == "False"
    after = pod_status(pod, running(), {}, None, "10.0.0.1", NOW,
                       {"app": ProbeResults(readiness="success")})
    assert after["containerStatuses"][0]["ready"] is True
    assert conditions(after)["Ready"] == "True"
    failed = pod_status(pod, running(), {}, None, "10.0.0.1", NOW,
                        {"app": ProbeResults(readiness="failure")})
    assert conditions(failed)["Ready"] == "False"
    assert "running" in failed["containerStatuses"][0]["state"]


def test_a_container_without_probes_is_ready_when_it_runs():
    status = pod_status(pod_with(), running(), {}, None, "10.0.0.1", NOW)
    assert status["containerStatuses"][0]["ready"] is True
    assert status["containerStatuses"][0]["started"] is True


def test_the_startup_probe_gates_started_and_ready():
    pod = pod_with(startupProbe=LIVENESS, readinessProbe=LIVENESS)
    waiting = pod_status(pod, running(), {}, None, "10.0.0.1", NOW,
                         {"app": ProbeResults(readiness="success")})
    assert waiting["containerStatuses"][0]["started"] is False
    assert waiting["containerStatuses"][0]["ready"] is False
    started = pod_status(pod, running(), {}, None, "10.0.0.1", NOW,
                         {"app": ProbeResults(startup="success", readiness="success")})
    assert started["containerStatuses"][0]["started"] is True
    assert started["containerStatuses"][0]["ready"] is True


# -- thresholds ------------------------------------------------------------------------------
def worker(kind: str, **probe: Any) -> Worker:
    return Worker(kind, probe, ("u1", "app", 0), pod_with(), {"name": "app"}, "/b", "", NOW)


def test_a_verdict_changes_only_after_the_threshold_in_a_row():
    w = worker("liveness", failureThreshold=3)
    assert [w.record(False), w.record(False), w.record(True), w.record(False)] == [
        None, None, "success", None]
    assert [w.record(False), w.record(False)] == [None, "failure"]
    assert w.on_hold  # a failed liveness probe stops probing this instance


def test_readiness_needs_success_threshold_successes_and_keeps_probing_after_failure():
    w = worker("readiness", successThreshold=2, failureThreshold=1)
    assert [w.record(True), w.record(True), w.record(False)] == [None, "success", "failure"]
    assert not w.on_hold


# -- checks and timers, against a server on 127.0.0.1 ----------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    code = 200

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(type(self).code)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        _Handler.code = 200
        httpd.shutdown()
        httpd.server_close()


def test_http_and_tcp_checks_report_upstream_messages(server):
    port = server.server_address[1]
    assert http_check("127.0.0.1", port, "/healthz", {}, 1.0) == (True, "")
    _Handler.code = 500
    assert http_check("127.0.0.1", port, "/", {}, 1.0) == (
        False, "HTTP probe failed with statuscode: 500")
    assert tcp_check("127.0.0.1", port, 1.0) == (True, "")
    with socket.socket() as closed:  # bound, never listening: the port refuses connections
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        ok, message = tcp_check("127.0.0.1", port, 1.0)
    assert not ok and message == f"dial tcp 127.0.0.1:{port}: connect: connection refused"


def test_the_prober_flips_readiness_and_asks_for_a_sync(server):
    port = server.server_address[1]
    syncs: list[str] = []
    events: list[tuple[str, str]] = []
    manager = ProbeManager(syncs.append, lambda pod, kind, reason, msg: events.append(
        (reason, msg)))
    probe = {"httpGet": {"port": port, "path": "/"}, "periodSeconds": 1,
             "failureThreshold": 1, "successThreshold": 1}
    pod = pod_with(readinessProbe=probe)
    manager.start()
    try:
        manager.update_pod(pod, [("app", 0, "/nonexistent", time.time())], "127.0.0.1")
        deadline = time.monotonic() + 3
        while manager.results("u1", "app", 0).readiness != "success":
            assert time.monotonic() < deadline, "readiness never succeeded"
            time.sleep(0.02)
        assert syncs == ["u1"]
        _Handler.code = 500
        while manager.results("u1", "app", 0).readiness != "failure":
            assert time.monotonic() < deadline + 2, "readiness never failed"
            time.sleep(0.02)
        assert ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500"
                ) in events
        manager.update_pod(pod, [], "127.0.0.1")  # the container stopped: forgotten
        assert manager.results("u1", "app", 0) == ProbeResults()
    finally:
        manager.stop()


# -- recovery ----------------------------------------------------------------------------------
def test_recovery_keeps_what_a_pod_dir_explains_and_removes_the_rest():
    uid = "0123abcd-0000-4000-8000-000000000001"
    gone = "feedbeef-0000-4000-8000-000000000002"
    objects = NodeObjects(
        pod_dirs={uid: {"mt01-web-0123abcd"}},
        netns=["mt01-web-0123abcd", "mt01-old-feedbeef", "other-ns"],
        veths=["mt010123abcd000", "mt01feedbeef000"],
        ips={"10.250.0.2": (uid, "eth0"), "10.250.0.3": (gone, "eth0")},
        pod_cgroups=[f"pod{uid}", f"pod{gone}"],
        container_cgroups={f"pod{uid}/app-0": True, f"pod{uid}/app-1": False},
        shims={100: True, 101: False},
    )
    orphans = plan_orphans(objects, "mt01")
    assert orphans.netns == ["mt01-old-feedbeef"]  # never another prefix's
    assert orphans.veths == ["mt01feedbeef000"]
    assert orphans.ips == [("10.250.0.3", gone, "eth0")]
    assert sorted(orphans.cgroups) == sorted([f"pod{gone}", f"pod{uid}/app-1"])
    assert orphans.shims == [101]
    assert len(orphans.describe()) == 6


def test_a_seeded_verdict_stands_until_the_probes_say_otherwise():
    manager = ProbeManager(lambda uid: None, lambda *a: None)
    manager.seed(("u1", "app", 2), ProbeResults(readiness="success"))
    pod = pod_with(readinessProbe={"exec": {"command": ["true"]}, "periodSeconds": 10})
    manager.update_pod(pod, [("app", 2, "/nonexistent", time.time())], "127.0.0.1")
    assert manager.results("u1", "app", 2).readiness == "success"
    manager.update_pod(pod, [], "127.0.0.1")
    assert manager.results("u1", "app", 2) == ProbeResults()
