"""kube-proxy's table on the real kernel: two netns "pods" running busybox httpd on a test
bridge, a fake Service in front of them, and traffic from the host and from a pod.

Every object is named from ``test_names``: the bridge, the netns ``mt<tag>p1/p2``, the
veths, the bridge's masquerade table and the proxy's table ``minikube_py_test_<tag>-proxy``.
Traffic goes only to the test's ClusterIP (inside a random /24 of the service range that the
test's table owns, rejecting anything it does not DNAT), the pods and the bridge's address.
"""

from __future__ import annotations

import http.client
import random
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import bridge
import netns
from minikube_py.proxy import ProxyConfig, RuleSyncer, find_proxy_table, proxy_table, render
from minikube_py.proxy.proxier import sysctl_bridge_nf_call_iptables
from minikube_py.proxy.rules import build_ruleset

pytestmark = pytest.mark.root


@dataclass
class Net:
    cfg: bridge.NetworkConfig
    pods: dict[str, tuple[str, str]]     # pod name -> (netns name, IP)
    syncer: RuleSyncer
    cluster_ip: str
    node_port: int

    def service(self, name: str = "web", port: int = 80, ip: str | None = None,
                **spec: Any) -> dict[str, Any]:
        ports = [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP",
                  **({"nodePort": self.node_port} if spec.get("type") == "NodePort" else {})}]
        return {"metadata": {"name": name, "namespace": "default"},
                "spec": {"clusterIP": ip or self.cluster_ip, "ports": ports, **spec}}

    def endpoints(self, *pods: str, name: str = "web") -> dict[str, Any]:
        subsets = [{"addresses": [{"ip": self.pods[p][1]} for p in pods],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
        return {"metadata": {"name": name, "namespace": "default"},
                "subsets": subsets if pods else []}


def get(ip: str, port: int = 80, timeout: float = 3.0) -> str:
    """One HTTP GET on a fresh connection (a new conntrack entry: a new random pick)."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        return conn.getresponse().read().decode().strip()
    finally:
        conn.close()


def get_from_pod(ns: str, ip: str, port: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, "timeout", "5", "busybox", "wget",
                           "-qO-", f"http://{ip}:{port}/"], capture_output=True, text=True,
                          timeout=10)


@pytest.fixture
def net(test_names, tmp_path) -> Iterator[Net]:
    third = random.randint(1, 254)
    cfg = bridge.NetworkConfig(bridge=test_names.bridge, subnet=f"10.250.{third}.0/24",
                               state_dir=str(tmp_path / "networks"),
                               nft_table=test_names.nft_table, name="proxytest")
    service_cidr = f"10.{random.randint(97, 110)}.{random.randint(0, 255)}.0/24"
    config = ProxyConfig(table=proxy_table(test_names.nft_table), cluster_cidr=cfg.subnet,
                         state_dir=str(tmp_path / "state"), service_cidr=service_cidr)
    syncer = RuleSyncer(config)
    servers: list[subprocess.Popen[bytes]] = []
    pods: dict[str, tuple[str, str]] = {}
    try:
        bridge.ensure_bridge(cfg)
        sysctl_bridge_nf_call_iptables()
        for n in (1, 2):
            name = f"{test_names.prefix}p{n}"
            att = bridge.attach(cfg, netns.ensure_netns(name), f"c{n}",
                                f"{test_names.prefix}v{n}")
            pods[f"pod{n}"] = (name, att.ip)
            root = tmp_path / f"www{n}"
            root.mkdir()
            (root / "index.html").write_text(f"pod{n}\n")
            servers.append(subprocess.Popen(
                ["ip", "netns", "exec", name, "busybox", "httpd", "-f", "-p", "8080",
                 "-h", str(root)]))
        for _ns, ip in pods.values():
            _wait_listening(ip, 8080)
        yield Net(cfg, pods, syncer, service_cidr.replace(".0/24", ".10"),
                  random.randint(30000, 32767))
    finally:
        syncer.delete()
        for proc in servers:
            proc.kill()
            proc.wait()
        for n, (name, _ip) in enumerate(pods.values(), start=1):
            bridge.detach(cfg, f"c{n}", f"{test_names.prefix}v{n}")
            netns.delete_netns(name)
        bridge.delete_bridge(cfg)
    assert find_proxy_table(config.table) is None


def _wait_listening(ip: str, port: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection((ip, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_generated_ruleset_passes_nft_check_mode(net: Net, tmp_path):
    affinity = net.service("sticky", ip=net.cluster_ip.replace(".10", ".11"),
                           sessionAffinity="ClientIP")
    services = [net.service(type="NodePort"), affinity, net.service("empty", port=81)]
    endpoints = [net.endpoints("pod1", "pod2"), net.endpoints("pod1", name="sticky")]
    path = tmp_path / "check.nft"
    path.write_text(render(build_ruleset(services, endpoints, net.syncer.config.rules)))
    result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert find_proxy_table(net.syncer.config.table) is None  # check mode changed nothing


def test_cluster_ip_reaches_both_pods_from_the_host_and_from_a_pod(net: Net):
    assert net.syncer.sync([net.service()], [net.endpoints("pod1", "pod2")]) == "full"
    seen = Counter(get(net.cluster_ip) for _ in range(40))
    assert set(seen) == {"pod1", "pod2"}, seen
    pod1_ns = net.pods["pod1"][0]
    answers = {get_from_pod(pod1_ns, net.cluster_ip).stdout.strip() for _ in range(12)}
    assert answers == {"pod1", "pod2"}  # pod2 across the bridge, pod1 by hairpin


def test_hairpin_a_pod_reaches_itself_through_its_service(net: Net):
    net.syncer.sync([net.service()], [net.endpoints("pod1")])
    ns, _ip = net.pods["pod1"]
    result = get_from_pod(ns, net.cluster_ip)
    assert result.stdout.strip() == "pod1", result.stderr


def test_node_port_answers_on_the_bridge_address(net: Net):
    net.syncer.sync([net.service(type="NodePort")], [net.endpoints("pod2")])
    assert get(net.cfg.gateway, net.node_port) == "pod2"
    assert get_from_pod(net.pods["pod1"][0], net.cfg.gateway, net.node_port
                        ).stdout.strip() == "pod2"


def test_service_without_endpoints_refuses_at_once(net: Net):
    net.syncer.sync([net.service(type="NodePort")], [net.endpoints()])
    for ip, port in ((net.cluster_ip, 80), (net.cfg.gateway, net.node_port),
                     (net.cluster_ip, 9999)):  # the last: a port no Service has
        started = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((ip, port), timeout=3).close()
        assert time.monotonic() - started < 0.5
    result = get_from_pod(net.pods["pod1"][0], net.cluster_ip)
    assert result.returncode != 0 and "refused" in result.stderr.lower()


def test_client_ip_affinity_sends_one_client_to_one_pod(net: Net):
    net.syncer.sync([net.service(sessionAffinity="ClientIP")], [net.endpoints("pod1", "pod2")])
    assert len({get(net.cluster_ip) for _ in range(20)}) == 1


def test_endpoint_changes_are_applied_incrementally_and_deletion_removes_rules(net: Net):
    config = net.syncer.config
    net.syncer.sync([net.service()], [net.endpoints("pod1")])
    assert {get(net.cluster_ip) for _ in range(5)} == {"pod1"}
    assert net.syncer.sync([net.service()], [net.endpoints("pod2")]) == "partial"
    assert {get(net.cluster_ip) for _ in range(5)} == {"pod2"}
    assert net.syncer.sync([net.service()], [net.endpoints("pod2")]) == "unchanged"
    table = find_proxy_table(config.table) or ""
    assert "service-default/web/tcp/http" in table and net.pods["pod1"][1] not in table
    with open(config.ruleset_path) as f:
        assert f.read() == render(net.syncer.applied)  # type: ignore[arg-type]
    assert net.syncer.sync([], []) == "partial"
    table = find_proxy_table(config.table) or ""
    assert "default/web" not in table and "chain services" in table
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((net.cluster_ip, 80), timeout=3).close()


def test_a_restarted_proxy_replaces_stale_rules_and_an_external_delete_is_repaired(net: Net):
    net.syncer.sync([net.service("old")], [net.endpoints("pod1", name="old")])
    fresh = RuleSyncer(net.syncer.config)  # a new process knows nothing of the old table
    assert fresh.sync([net.service()], [net.endpoints("pod2")]) == "full"
    assert "default/old" not in (find_proxy_table(fresh.config.table) or "")
    subprocess.run(["nft", "delete", "table", "ip", fresh.config.table], check=True)
    assert fresh.sync([net.service()], [net.endpoints("pod1")]) == "full"  # partial failed
    assert get(net.cluster_ip) == "pod1"
    net.syncer = fresh
