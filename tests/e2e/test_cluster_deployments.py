"""Deployments on a real one-node cluster, driven through the CLI as a learner would.

The issue's "Done when" list, checked end to end: 3 replicas become 3 Running pods; a changed
image rolls out without ever dropping below ``replicas - maxUnavailable`` ready pods;
``rollout undo`` brings the previous template back (the old ReplicaSet is reused with the next
revision); ``scale`` up and down; a deleted pod is replaced; deleting the Deployment removes
its ReplicaSets and pods and every kernel object the node made for them. Then the streaming
verbs: ``get pods -w``, ``describe pod`` (events), ``logs -f`` and ``exec`` (exit code).

The image tags ``busybox:1.36`` and ``busybox:latest`` are the same built-in busybox image,
but different strings in the pod template, so changing one for the other is a new revision.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests import leaks
from tests.e2e.clusterharness import ROOT, TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]

REVISION = "deployment.kubernetes.io/revision"


def deployment(name: str, image: str, replicas: int, command: list[str] | None = None
               ) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": image,
                                     "command": command or ["sleep", "100000"]}]}}},
    }


def ready_pods(cluster: TestCluster, selector: str) -> list[dict[str, Any]]:
    """Pods that are Running, Ready and not being deleted (what "available" counts)."""
    out = []
    for pod in cluster.pods(selector):
        status = pod.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if (not pod["metadata"].get("deletionTimestamp") and status.get("phase") == "Running"
                and conditions.get("Ready") == "True"):
            out.append(pod)
    return out


def replicasets(cluster: TestCluster, selector: str) -> list[dict[str, Any]]:
    return list(cluster.client.request("GET", "/apis/apps/v1/namespaces/default/replicasets",
                                       {"labelSelector": selector})["items"])


def rs_by_image(cluster: TestCluster, selector: str) -> dict[str, dict[str, Any]]:
    return {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
            for rs in replicasets(cluster, selector)}


class ReadySampler:
    """Counts the ready pods of a selector every few tens of milliseconds, in a thread."""

    def __init__(self, cluster: TestCluster, selector: str) -> None:
        self.cluster, self.selector = cluster, selector
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(len(ready_pods(self.cluster, self.selector)))
            time.sleep(0.03)

    def __enter__(self) -> ReadySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_deployment_rolls_out_rolls_back_scales_heals_and_cleans_up(cluster: TestCluster):
    baseline = leaks.snapshot()

    # 3 replicas -> 3 Running pods.
    cluster.apply(deployment("web", "busybox:1.36", 3))
    first = cluster.running_pods("app=web", 3)
    assert all(p["spec"]["containers"][0]["image"] == "busybox:1.36" for p in first)

    # A changed image, re-applied: a rolling update that never dips below 3 - 0 ready pods
    # (defaults for 3 replicas: maxSurge 25% -> 1, maxUnavailable 25% -> 0).
    with ReadySampler(cluster, "app=web") as sampler:
        cluster.apply(deployment("web", "busybox:latest", 3))
        cluster.mk("rollout", "status", "deployment/web", "--timeout", "60s")
    assert len(sampler.samples) > 10
    assert min(sampler.samples) >= 3, sampler.samples
    second = cluster.running_pods("app=web", 3)
    assert all(p["spec"]["containers"][0]["image"] == "busybox:latest" for p in second)
    deploy = cluster.get("deployment", "web")
    assert deploy["metadata"]["annotations"][REVISION] == "2"
    by_image = rs_by_image(cluster, "app=web")
    old_rs = by_image["busybox:1.36"]
    assert old_rs["spec"]["replicas"] == 0
    assert old_rs["metadata"]["annotations"][REVISION] == "1"

    # rollout undo: the previous template comes back, through the same ReplicaSet.
    out = cluster.mk("rollout", "undo", "deployment/web").stdout
    assert "rolled back" in out
    cluster.mk("rollout", "status", "deployment/web", "--timeout", "60s")
    third = cluster.running_pods("app=web", 3)
    assert all(p["spec"]["containers"][0]["image"] == "busybox:1.36" for p in third)
    deploy = cluster.get("deployment", "web")
    assert deploy["metadata"]["annotations"][REVISION] == "3"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    reused = rs_by_image(cluster, "app=web")["busybox:1.36"]
    assert reused["metadata"]["uid"] == old_rs["metadata"]["uid"]
    assert reused["metadata"]["annotations"][REVISION] == "3"
    assert len(replicasets(cluster, "app=web")) == 2
    history = cluster.mk("rollout", "history", "deployment/web").stdout
    assert "2" in history and "3" in history

    # scale to 5 and back to 1.
    cluster.mk("scale", "deployment/web", "--replicas=5")
    cluster.running_pods("app=web", 5)
    cluster.mk("scale", "deployment/web", "--replicas=1")
    [only] = cluster.running_pods("app=web", 1)

    # A deleted pod is replaced by a new one.
    cluster.mk("delete", "pod", only["metadata"]["name"])
    [replacement] = cluster.running_pods("app=web", 1)
    assert replacement["metadata"]["uid"] != only["metadata"]["uid"]

    # Deleting the Deployment removes its ReplicaSets, its pods and their kernel objects.
    cluster.mk("delete", "deployment", "web")
    cluster.wait("ReplicaSets and pods gone", lambda: not replicasets(cluster, "app=web")
                 and not cluster.pods("app=web"), timeout=30)
    cluster.wait("the node back to its baseline", lambda: leaks.snapshot() == baseline,
                 timeout=20)


def popen_cli(cluster: TestCluster, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "minikube_py", "--state-dir", cluster.state, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=ROOT, env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin",
                                           "PYTHONUNBUFFERED": "1"})


def read_until(proc: subprocess.Popen[str], wanted: Any, timeout: float = 20.0) -> list[str]:
    """Lines from ``proc`` until ``wanted(line)`` is true (reads in a thread: no hang)."""
    lines: list[str] = []
    found = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if wanted(line):
                found.set()
                return
    threading.Thread(target=reader, daemon=True).start()
    if not found.wait(timeout):
        proc.kill()
        raise AssertionError(f"never saw the wanted line; got: {''.join(lines)!r}")
    return lines


def test_watch_describe_logs_and_exec_work_on_a_running_pod(cluster: TestCluster):
    ticker = ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
    cluster.apply(deployment("tick", "busybox", 1, ticker))
    [pod] = cluster.running_pods("app=tick", 1)
    name = pod["metadata"]["name"]

    # get pods -w: the current table, then a line for a change (a label added).
    watch = popen_cli(cluster, "get", "pods", "-w", "--show-labels")
    try:
        first = read_until(watch, lambda line: name in line)
        assert "seen=yes" not in "".join(first)
        cluster.client.request("PATCH", f"/api/v1/namespaces/default/pods/{name}", None,
                               body={"metadata": {"labels": {"seen": "yes"}}},
                               content_type="application/merge-patch+json")
        read_until(watch, lambda line: name in line and "seen=yes" in line)
    finally:
        watch.kill()
        watch.wait()

    # describe pod: the pod's events, from scheduling to the container start.
    described = cluster.mk("describe", "pod", name).stdout
    assert "Events:" in described
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in described, described

    # logs -f: lines written after the command started still arrive.
    follow = popen_cli(cluster, "logs", "-f", name)
    try:
        first = read_until(follow, lambda line: line.startswith("tick"))
        first_n = int(first[-1].split()[1])
        later = read_until(follow, lambda line: line.startswith("tick")
                           and int(line.split()[1]) >= first_n + 5)
        assert later
    finally:
        follow.kill()
        follow.wait()

    # exec: the command runs inside the container, and its exit code comes back.
    out = cluster.mk("exec", name, "--", "hostname").stdout
    assert out.strip() == name
    failed = cluster.mk("exec", name, "--", "sh", "-c", "exit 7", check=False)
    assert failed.returncode == 7
