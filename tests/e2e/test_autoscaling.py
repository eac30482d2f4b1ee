"""Horizontal pod autoscaling in a whole cluster: CPU load scales a Deployment out and back in.

``examples/cpu-autoscaling.yml``: each pod of ``burn`` spins a busy loop (held to 200m by
its CPU limit, against a 100m request: about 200 % utilization) until the file
``/tmp/stop`` appears in it. An HPA with a 50 % target and ``maxReplicas: 3`` must take the
Deployment from 1 to 3 replicas; once every pod is told to stop, usage falls to nothing and
the HPA (scale-down stabilization cut to 0 here) brings it back to 1. Usage comes from the
metrics API, i.e. the pods' cgroup CPU counters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.clusterharness import ROOT, TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]

EXAMPLE = os.path.join(ROOT, "examples", "cpu-autoscaling.yml")


def manifests() -> list[dict]:
    """The example, with the scale-down window cut from 60 s to 0 to keep the test short."""
    with open(EXAMPLE) as f:
        docs = list(yaml.safe_load_all(f))
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = 0
    return docs


def replicas(cluster: TestCluster) -> int:
    return int(cluster.get("deployment", "burn")["spec"]["replicas"])


def test_cpu_load_scales_a_deployment_out_and_back_in(cluster: TestCluster, tmp_path: Path):
    cluster.apply(manifests())
    cluster.wait("scaled out to 3", lambda: replicas(cluster) == 3, timeout=90, poll=0.5)
    hpa = cluster.get("hpa", "burn")
    assert hpa["status"]["currentMetrics"][0]["resource"]["current"][
        "averageUtilization"] > 50
    conditions = {c["type"]: c for c in hpa["status"]["conditions"]}
    assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
    events = [e["message"] for e in cluster.get("events")["items"]
              if e["reason"] == "SuccessfulRescale"]
    assert any(m.startswith("New size: 3; reason: cpu resource utilization") for m in events)
    table = cluster.mk("get", "hpa").stdout.splitlines()
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                "REPLICAS", "AGE"]
    assert table[1].split()[:2] == ["burn", "Deployment/burn"]
    if shutil.which("kubectl"):  # the real kubectl reads the same table
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
               "KUBECONFIG": cluster.kubeconfig}
        got = subprocess.run(["kubectl", "get", "hpa", "burn"], env=env, capture_output=True,
                             text=True, timeout=60).stdout
        assert "Deployment/burn" in got and "cpu: " in got and "/50%" in got

    pods = cluster.running_pods("app=burn", 3)
    for pod in pods:  # the load stops everywhere
        cluster.mk("exec", pod["metadata"]["name"], "--", "touch", "/tmp/stop")
    cluster.wait("scaled back in to 1", lambda: replicas(cluster) == 1, timeout=90, poll=0.5)
    events = [e["message"] for e in cluster.get("events")["items"]
              if e["reason"] == "SuccessfulRescale"]
    assert any(m == "New size: 1; reason: All metrics below target" for m in events)
