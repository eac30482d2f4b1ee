"""Cluster DNS end to end: a busybox pod finds a Service by name.

``up`` starts the DNS server on the test bridge's own address (the node's gateway) and
creates the Service ``kube-system/kube-dns`` (10.96.0.10, no selector) with a hand-written
Endpoints object pointing at that address; kube-proxy DNATs 10.96.0.10:53 to it. Every pod's
``/etc/resolv.conf`` names 10.96.0.10 with the Kubernetes search path and ``ndots:5``.

The first test asks the server at the bridge address directly (it needs no kube-proxy); the
second goes through 10.96.0.10 and the search path, as an application in a pod does. Queries
go only to the test bridge's address or the Service address, whose packets the test cluster's
own nftables table handles; names outside ``cluster.local`` get NXDOMAIN, never forwarded.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from dnslib import RCODE, DNSRecord

from tests.e2e.clusterharness import TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]

PAGE = "hello-from-web"
WEB = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                 "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "httpd", "image": "busybox", "command": [
                     "sh", "-c", f"mkdir -p /www && echo {PAGE} > /www/index.html && "
                     "exec httpd -f -p 8080 -h /www"]}]}}},
}
WEB_SVC = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc"},
    "spec": {"selector": {"app": "web"},
             "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]},
}
CLIENT = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "client", "labels": {"role": "client"}},
    "spec": {"terminationGracePeriodSeconds": 1,
             "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "100000"]}]},
}


def start_web_and_client(cluster: TestCluster) -> str:
    """The web Deployment, its Service and a client pod; the Service's ClusterIP."""
    cluster.apply([WEB, WEB_SVC, CLIENT])
    cluster.running_pods("app=web", 1)
    cluster.running_pods("role=client", 1)
    return str(cluster.get("service", "web-svc")["spec"]["clusterIP"])


def in_client(cluster: TestCluster, *argv: str) -> subprocess.CompletedProcess[str]:
    return cluster.mk("exec", "client", "--", *argv, check=False, timeout=30)


def ask(server: str, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    return DNSRecord.parse(query.send(server, 53, tcp=tcp, timeout=3))


def proxy_is_running(cluster: TestCluster) -> bool:
    """kube-proxy's table exists for this cluster (it DNATs 10.96.0.10 to the server)."""
    table = f"{cluster.names.nft_table}-proxy"
    return subprocess.run(["nft", "list", "table", "ip", table], capture_output=True
                          ).returncode == 0


def other_clusters_claiming_the_dns_ip(cluster: TestCluster) -> list[str]:
    """Other running test clusters whose kube-proxy also DNATs 10.96.0.10 (their pods' and
    ours' packets pass every table's prerouting hook, so the first DNAT wins)."""
    own = f"{cluster.names.nft_table}-proxy"
    tables = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True
                            ).stdout.split()
    others = [t for t in tables if t.endswith("-proxy") and t != own]
    return [t for t in others if "10.96.0.10 . udp . 53" in subprocess.run(
        ["nft", "list", "table", "ip", t], capture_output=True, text=True).stdout]


def test_the_dns_server_answers_on_the_bridge_address(cluster: TestCluster) -> None:
    cluster_ip = start_web_and_client(cluster)
    gateway = cluster.gateway

    # From the host, over UDP and TCP (the bridge address is the test's own).
    for tcp in (False, True):
        reply = ask(gateway, "web-svc.default.svc.cluster.local", tcp=tcp)
        assert [str(rr.rdata) for rr in reply.rr] == [cluster_ip]
    assert [str(rr.rdata) for rr in ask(gateway, "kube-dns.kube-system.svc.cluster.local").rr
            ] == ["10.96.0.10"]
    srv = ask(gateway, "_http._tcp.web-svc.default.svc.cluster.local", "SRV")
    assert [rr.rdata.port for rr in srv.rr] == [8080]
    assert ask(gateway, "nope.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN
    assert ask(gateway, "example.com").header.rcode == RCODE.NXDOMAIN

    # The Service that leads to it: no selector, its Endpoints written by `up`.
    svc: dict[str, Any] = cluster.get("service", "kube-dns", "-n", "kube-system")
    assert svc["spec"]["clusterIP"] == "10.96.0.10" and not svc["spec"].get("selector")
    ep = cluster.get("endpoints", "kube-dns", "-n", "kube-system")
    assert ep["subsets"][0]["addresses"][0]["ip"] == gateway

    # From the pod, naming the server: busybox nslookup.
    found = in_client(cluster, "nslookup", "web-svc.default.svc.cluster.local", gateway)
    assert found.returncode == 0 and cluster_ip in found.stdout, found.stdout + found.stderr
    missing = in_client(cluster, "nslookup", "no-such-name.example", gateway)
    assert missing.returncode != 0 and "NXDOMAIN" in missing.stdout + missing.stderr

    # The pod's resolver is pointed at the cluster DNS, with the Kubernetes search path.
    resolv = in_client(cluster, "cat", "/etc/resolv.conf").stdout.split("\n")
    assert "nameserver 10.96.0.10" in resolv
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "options ndots:5" in resolv


def test_pods_resolve_services_through_the_dns_service_ip(cluster: TestCluster) -> None:
    cluster_ip = start_web_and_client(cluster)  # meanwhile kube-proxy writes its table
    if not proxy_is_running(cluster):
        pytest.skip("kube-proxy is not running in this cluster (no nftables table "
                    f"{cluster.names.nft_table}-proxy): 10.96.0.10 is not DNATed to the "
                    "DNS server, and a query for it must not leave through the default route")
    others = other_clusters_claiming_the_dns_ip(cluster)
    if others:
        pytest.skip(f"other test clusters' kube-proxy tables {others} also DNAT 10.96.0.10 on "
                    "this machine, so the answer may come from their DNS server")

    found = in_client(cluster, "nslookup", "web-svc.default.svc.cluster.local")
    assert found.returncode == 0 and cluster_ip in found.stdout, found.stdout + found.stderr
    assert "10.96.0.10" in found.stdout  # the server that answered

    # An application's view: the short name through the search path (ndots:5).
    for url in ("http://web-svc:8080/", "http://web-svc.default.svc.cluster.local:8080/"):
        page = in_client(cluster, "timeout", "10", "wget", "-qO-", url)
        assert page.returncode == 0 and page.stdout.strip() == PAGE, (url, page.stderr)

    # Outside the cluster domain: NXDOMAIN (no upstream is configured).
    missing = in_client(cluster, "nslookup", "no-such-name.example")
    assert missing.returncode != 0 and "NXDOMAIN" in missing.stdout + missing.stderr
