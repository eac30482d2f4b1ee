"""The study note's own manifest, end to end: ``apply -f examples/nginx-deployment.yml``.

What a learner does after ``up``: apply the note's Deployment + Service, wait for the
rollout, find the pod's IP and fetch nginx's welcome page from the host. Along the way the
CLI must say two things about the file: its lines are indented with non-breaking spaces (read
as spaces), and the Service's ``type: NodePort`` sits under ``ports[0]``, where Kubernetes has
no such field (the API server's warning names ``spec.ports[0].type``).

The pod must be a real one: its own network namespace (``ip netns list``), its host-side veth
plugged into the test's bridge (``bridge link``), an address from the test's pod CIDR.

The nginx image is built once with mmdebstrap (about 20-30 s) into the session's shared e2e
image store; this is the only test module that uses nginx.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request

import pytest

from tests.e2e.clusterharness import ROOT, TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]

MANIFEST = os.path.join(ROOT, "examples", "nginx-deployment.yml")


def netns_of_pod_ip(ip: str) -> str | None:
    """The ``ip netns`` name whose eth0 holds ``ip``, or None."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=True).stdout.split()
    for name in names:
        if name.startswith("("):
            continue
        addrs = subprocess.run(["ip", "-n", name, "-o", "-4", "addr", "show", "dev", "eth0"],
                               capture_output=True, text=True).stdout
        if f" {ip}/" in addrs:
            return name
    return None


def test_the_notes_nginx_manifest_serves_the_welcome_page_from_a_pod(cluster: TestCluster):
    applied = cluster.mk("apply", "-f", MANIFEST)
    said = applied.stdout + applied.stderr
    assert "deployment.apps/nginx-deployment created" in said
    assert "service/nginx-svc created" in said
    assert "spec.ports[0].type" in said  # the misplaced field, named by the API server
    assert "spec.type" in said           # ... and where it belongs
    assert "non-breaking space" in said.lower()

    cluster.mk("rollout", "status", "deployment/nginx-deployment", "--timeout", "3m",
               timeout=240)
    [pod] = cluster.running_pods("app=nginx", 1, timeout=30)
    ip = pod["status"]["podIP"]
    assert ip.startswith(cluster.pod_cidr.rsplit(".", 1)[0] + ".")
    assert pod["spec"]["containers"][0]["image"] == "nginx:latest"

    # Its own network namespace, with the pod IP on eth0 ...
    netns = netns_of_pod_ip(ip)
    assert netns is not None and netns.startswith(cluster.names.prefix), netns
    # ... joined by a veth whose host end is a port of the test bridge.
    ports = subprocess.run(["bridge", "link"], capture_output=True, text=True,
                           check=True).stdout
    on_bridge = [line for line in ports.splitlines()
                 if f"master {cluster.names.bridge} " in line]
    assert on_bridge and all(cluster.names.prefix in line for line in on_bridge), ports

    # The host reaches the pod IP through the bridge: nginx's welcome page.
    with urllib.request.urlopen(f"http://{ip}/", timeout=10) as resp:
        assert resp.status == 200
        page = resp.read().decode()
    assert "<title>Welcome to nginx!</title>" in page

    # The Service was stored, without the unknown field (it was only warned about).
    svc = cluster.get("service", "nginx-svc")
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert "type" not in svc["spec"]["ports"][0]

    # Issue "Services": with the note's file the Service is a ClusterIP Service, and
    # nginx answers through it from the host ...
    assert svc["spec"]["type"] == "ClusterIP"
    cluster_ip = svc["spec"]["clusterIP"]
    with urllib.request.urlopen(f"http://{cluster_ip}:8080/", timeout=10) as resp:
        assert "<title>Welcome to nginx!</title>" in resp.read().decode()
    # ... and from a pod, by ClusterIP, by its full DNS name and by its short name; the pod
    # also got the Service's environment variables.
    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
                   "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                       "name": "c", "image": "busybox", "command": ["sleep", "1000"]}]}})
    cluster.wait("client running", lambda: any(
        p["metadata"]["name"] == "client" and p.get("status", {}).get("phase") == "Running"
        for p in cluster.pods()))
    for url in (f"http://{cluster_ip}:8080/",
                "http://nginx-svc.default.svc.cluster.local:8080/",
                "http://nginx-svc:8080/"):
        got = cluster.mk("exec", "client", "--", "timeout", "10", "wget", "-qO-", url)
        assert "<title>Welcome to nginx!</title>" in got.stdout, url
    env = cluster.mk("exec", "client", "--", "env").stdout
    assert f"NGINX_SVC_SERVICE_HOST={cluster_ip}" in env
    assert "NGINX_SVC_SERVICE_PORT=8080" in env
    assert f"NGINX_SVC_PORT=tcp://{cluster_ip}:8080" in env

    # The corrected copy moves `type: NodePort` to spec.type: then nginx answers on the
    # node's address (the bridge's own address here) at the allocated nodePort.
    cluster.mk("apply", "-f", os.path.join(ROOT, "examples", "nginx-deployment-nodeport.yml"))
    svc = cluster.get("service", "nginx-svc")
    assert svc["spec"]["type"] == "NodePort"
    node_port = svc["spec"]["ports"][0]["nodePort"]
    with urllib.request.urlopen(f"http://{cluster.gateway}:{node_port}/", timeout=10) as resp:
        assert "<title>Welcome to nginx!</title>" in resp.read().decode()
