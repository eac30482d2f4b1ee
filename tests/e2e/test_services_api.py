"""Services, API side, in a whole cluster: addresses, Endpoints, and what containers see.

- the study note's Service (as written: ``type: NodePort`` misplaced under a port, so it is a
  ClusterIP Service) gets an address from 10.96.0.0/12; the corrected copy in ``examples/``
  gets a node port from 30000-32767; ``get svc`` shows both like kubectl;
- ``expose deployment/...`` puts 3 busybox replicas behind a Service; the endpoints
  controller lists the 3 ready pods; a deleted pod leaves the Endpoints *before* its
  replacement joins; scaled to 0 there are no addresses left;
- a pod started after the Service finds it in its environment (``exec -- env``).

No traffic is sent to the Services here (that is kube-proxy's test): only API objects.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from typing import Any

import pytest

from minikube_py.api.resources import must
from tests.e2e.clusterharness import ROOT, TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]

EXAMPLES = os.path.join(ROOT, "examples")
ENDPOINTS = must("endpoints")


def service_document(path: str) -> str:
    """Only the Service of a Deployment + Service manifest (no nginx image needed)."""
    with open(path, encoding="utf-8") as f:
        docs = f.read().split("\n---\n")
    return next(d for d in docs if "kind: Service" in d)


def busybox_deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 2,
                         "containers": [{"name": "c", "image": "busybox",
                                         "command": ["sleep", "1000"],
                                         "ports": [{"name": "http",
                                                    "containerPort": 80}]}]}}}}


def ready_ips(endpoints: dict[str, Any] | None) -> set[str]:
    return {a["ip"] for s in (endpoints or {}).get("subsets") or []
            for a in s.get("addresses") or []}


def test_the_notes_service_gets_a_cluster_ip_and_the_corrected_copy_a_node_port(
        cluster: TestCluster):
    applied = cluster.mk("apply", "-f", "-", input=service_document(
        os.path.join(EXAMPLES, "nginx-deployment.yml")))
    assert "service/nginx-svc created" in applied.stdout
    svc = cluster.get("service", "nginx-svc")
    assert svc["spec"]["type"] == "ClusterIP"
    ip = svc["spec"]["clusterIP"]
    assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("10.96.0.0/12")
    assert ip not in ("10.96.0.1", "10.96.0.10")

    cluster.mk("delete", "service", "nginx-svc")
    fixed = cluster.mk("apply", "-f", "-", input=service_document(
        os.path.join(EXAMPLES, "nginx-deployment-nodeport.yml")))
    assert "Warning" not in fixed.stderr  # nothing misplaced any more
    svc = cluster.get("service", "nginx-svc")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert svc["spec"]["type"] == "NodePort" and 30000 <= node_port <= 32767

    table = cluster.mk("get", "svc").stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["kubernetes"][1:5] == ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    assert rows["nginx-svc"][1:5] == ["NodePort", svc["spec"]["clusterIP"], "<none>",
                                      f"8080:{node_port}/TCP"]


class EndpointsRecorder:
    """Every version of one Endpoints object, from a watch, in order."""

    def __init__(self, cluster: TestCluster, name: str) -> None:
        self.versions: list[set[str]] = []
        self._watch = cluster.client.watch(ENDPOINTS, "default",
                                           field_selector=f"metadata.name={name}")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for kind, obj in self._watch:
                if kind in ("ADDED", "MODIFIED"):
                    self.versions.append(ready_ips(obj))
        except Exception:  # noqa: BLE001 - the watch is closed at the end
            pass

    def close(self) -> None:
        self._watch.close()
        self._thread.join(5)


def test_endpoints_follow_the_ready_pods_of_an_exposed_deployment(cluster: TestCluster):
    cluster.apply(busybox_deployment("web", 3))
    pods = cluster.running_pods("app=web", 3)
    out = cluster.mk("expose", "deployment/web", "--port", "8080", "--target-port", "http",
                     "--type", "NodePort").stdout
    assert out == "service/web exposed\n"
    svc = cluster.get("service", "web")
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767

    ips = {p["status"]["podIP"] for p in pods}
    ep = cluster.wait("3 ready endpoints", lambda: (
        e := cluster.client.find(ENDPOINTS, "web", "default")) and ready_ips(e) == ips and e)
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]  # "http" resolved
    assert {a["targetRef"]["name"] for a in ep["subsets"][0]["addresses"]} == \
        {p["metadata"]["name"] for p in pods}
    slices = cluster.get("endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    assert len(slices) == 1 and slices[0]["addressType"] == "IPv4"
    assert {e["addresses"][0] for e in slices[0]["endpoints"]} == ips
    assert "10.250." in cluster.mk("get", "endpoints", "web").stdout

    # A deleted pod leaves before its replacement joins.
    recorder = EndpointsRecorder(cluster, "web")
    victim = pods[0]
    cluster.mk("delete", "pod", victim["metadata"]["name"], "--wait=false")
    # Wait on the watch itself: a GET can see the replacement before the watch delivers it.
    new = cluster.wait("a replacement in the watched Endpoints", lambda: next(
        (v - ips for v in list(recorder.versions) if v - ips), None))
    recorder.close()
    gone = next(i for i, v in enumerate(recorder.versions) if victim["status"]["podIP"] not in v)
    joined = next(i for i, v in enumerate(recorder.versions) if v & new)
    assert gone < joined, recorder.versions

    cluster.mk("scale", "deployment/web", "--replicas", "0")
    cluster.wait("no addresses", lambda: (
        e := cluster.client.find(ENDPOINTS, "web", "default")) is not None and not
        e.get("subsets"))


def test_a_pod_started_after_the_service_has_its_variables(cluster: TestCluster):
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "redis-master"},
                   "spec": {"selector": {"app": "redis"},
                            "ports": [{"name": "redis", "port": 6379}]}})
    svc = cluster.get("service", "redis-master")
    cluster.apply(busybox_deployment("client", 1))
    [pod] = cluster.running_pods("app=client", 1)
    env = dict(line.split("=", 1) for line in cluster.mk(
        "exec", pod["metadata"]["name"], "--", "env").stdout.splitlines() if "=" in line)
    ip = svc["spec"]["clusterIP"]
    assert env["REDIS_MASTER_SERVICE_HOST"] == ip
    assert env["REDIS_MASTER_SERVICE_PORT"] == "6379"
    assert env["REDIS_MASTER_SERVICE_PORT_REDIS"] == "6379"
    assert env["REDIS_MASTER_PORT"] == f"tcp://{ip}:6379"
    assert env["REDIS_MASTER_PORT_6379_TCP_ADDR"] == ip
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
