"""Services through kube-proxy, on a whole cluster: ClusterIP load balancing, hairpin,
immediate refusal without endpoints, rules removed with the Service.

Three busybox pods serve their own hostname with ``httpd`` on 8080 (named port ``http``);
a Service ``web`` (port 80 -> targetPort ``http``) sits in front of them. Traffic is sent
only to the Service's ClusterIP, and only once kube-proxy's table holds that ClusterIP (read
from ``<state>/kube-proxy.nft``): with the table in place, nothing addressed to the service
range can leave the node.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
from collections import Counter

import pytest

from tests.e2e.clusterharness import TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]

SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"


def web(replicas: int) -> list[dict]:
    labels = {"app": "web"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 1,
                      "containers": [{"name": "httpd", "image": "busybox",
                                      "command": ["sh", "-c", SERVE],
                                      "ports": [{"name": "http", "containerPort": 8080}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": labels,
                  "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}]}},
    ]


def ruleset(cluster: TestCluster) -> str:
    try:
        with open(os.path.join(cluster.state, "kube-proxy.nft")) as f:
            return f.read()
    except OSError:
        return ""


def wait_rules(cluster: TestCluster, what: str, check) -> str:
    return str(cluster.wait(what, lambda: check(ruleset(cluster)) and ruleset(cluster),
                            timeout=30))


def get(ip: str, port: int = 80) -> str:
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        return conn.getresponse().read().decode().strip()
    finally:
        conn.close()


def _answers(ip: str) -> bool:
    try:
        return bool(get(ip, 8080))
    except OSError:
        return False


def test_cluster_ip_balances_hairpins_and_refuses_when_scaled_to_zero(cluster: TestCluster):
    cluster.apply(web(3))
    pods = cluster.running_pods("app=web", 3, timeout=90)
    names = {p["metadata"]["name"] for p in pods}
    ip = cluster.client.request("GET", "/api/v1/namespaces/default/services/web")[
        "spec"]["clusterIP"]
    text = wait_rules(cluster, "3 endpoints in kube-proxy's rules",
                      lambda t: t.count("dnat to ") >= 3 and "numgen random mod 3" in t
                      and f"{ip} . tcp . 80 : goto service-default/web/tcp/80" in t)
    for pod in pods:
        assert f"dnat to {pod['status']['podIP']}:8080" in text
        # Running is not listening yet (no readiness probe here): wait for httpd itself.
        cluster.wait("httpd in the pod", lambda pod=pod: _answers(pod["status"]["podIP"]))

    # 300 requests through the ClusterIP, each on a new connection: all 3 pods, none > half.
    seen = Counter(get(ip) for _ in range(300))
    assert set(seen) == names, seen
    assert max(seen.values()) <= 150, seen

    # Hairpin: a pod reaching the Service lands on itself about a third of the time.
    me = sorted(names)[0]
    loop = f"for i in $(seq 20); do wget -qO- http://{ip}/; done"
    answers = cluster.mk("exec", me, "--", "sh", "-c", loop).stdout.split()
    assert len(answers) == 20 and me in answers, answers

    # Scaled to 0: the ClusterIP refuses at once instead of hanging.
    cluster.mk("scale", "deployment/web", "--replicas=0")
    wait_rules(cluster, "the Service without endpoints",
               lambda t: f"{ip} . tcp . 80 : goto reject-no-endpoints" in t)
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, 80), timeout=5).close()
    assert time.monotonic() - started < 0.5

    # Deleting the Service removes its rules.
    cluster.mk("delete", "service", "web")
    wait_rules(cluster, "the Service's rules gone", lambda t: "default/web" not in t)
