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
import json
import os
import socket
import subprocess
import sys
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


IN_POD = """
import json, ssl, sys, urllib.error, urllib.request
ca, cert, key = sys.argv[1:4]
anonymous = ssl.create_default_context(cafile=ca)  # verifies the name: 10.96.0.1 is in it
print(json.loads(urllib.request.urlopen("https://10.96.0.1/version", context=anonymous,
                                        timeout=10).read())["gitVersion"])
try:
    urllib.request.urlopen("https://10.96.0.1/api/v1/namespaces/default/pods",
                           context=anonymous, timeout=10)
except urllib.error.HTTPError as e:
    print(e.code)
admin = ssl.create_default_context(cafile=ca)
admin.load_cert_chain(cert, key)
pods = json.loads(urllib.request.urlopen("https://10.96.0.1/api/v1/namespaces/default/pods",
                                         context=admin, timeout=10).read())
print(" ".join(p["metadata"]["name"] for p in pods["items"]))
"""


def test_pods_reach_the_api_server_through_the_kubernetes_service(cluster: TestCluster):
    """``default/kubernetes`` (10.96.0.1:443) has Endpoints on the node's bridge address,
    where the API server also listens; from a pod's network namespace the ClusterIP leads to
    it, and its certificate is valid for that address."""
    endpoints = cluster.get("endpoints", "kubernetes")
    assert endpoints["subsets"] == [{"addresses": [{"ip": cluster.gateway}], "ports": [
        {"name": "https", "port": cluster.api_port, "protocol": "TCP"}]}]
    wait_rules(cluster, "rules for 10.96.0.1", lambda r: "10.96.0.1 . tcp . 443" in r
               and f"dnat to {cluster.gateway}:{cluster.api_port}" in r)
    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
                   "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                       {"name": "c", "image": "busybox", "command": ["sleep", "1000"]}]}})
    pod = cluster.wait("the client pod", lambda: (
        p := cluster.get("pod", "client"))["status"].get("phase") == "Running" and p)
    with open(os.path.join(cluster.state, "pods", pod["metadata"]["uid"], "sandbox",
                           "sandbox.json")) as f:
        netns = json.load(f)["netns_path"]
    pki = os.path.join(cluster.state, "pki")
    done = subprocess.run(
        ["nsenter", f"--net={netns}", sys.executable, "-c", IN_POD, os.path.join(pki, "ca.crt"),
         os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["v1.32.0", "401", "client"]
