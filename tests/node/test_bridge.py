"""The pod network on real kernel objects: a test bridge, two pod netns, pings between them."""

from __future__ import annotations

import os
import random
import subprocess

import pytest

import bridge
import explain
import netns
from bridge import veth as veth_module

pytestmark = pytest.mark.root


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10)


def ping(ns: str, ip: str) -> subprocess.CompletedProcess[str]:
    # iputils' ping is not installed on our machines; busybox-static's is.
    return sh("ip", "netns", "exec", ns, "busybox", "ping", "-c1", "-W1", ip)


def link_exists(name: str) -> bool:
    return sh("ip", "link", "show", "dev", name).returncode == 0


@pytest.fixture
def cfg(test_names, tmp_path):
    cfg = bridge.NetworkConfig(
        bridge=test_names.bridge,
        subnet=f"10.250.{random.randint(1, 254)}.0/24",
        state_dir=str(tmp_path / "networks"),
        nft_table=test_names.nft_table,
        name="testnet",
    )
    yield cfg
    bridge.delete_bridge(cfg)


@pytest.fixture
def pods(test_names, cfg):
    """Two pod netns and their host veth names: [(netns name, path, veth, container id)]."""
    made = []
    for n in (1, 2):
        name = f"{test_names.prefix}p{n}"
        made.append((name, netns.ensure_netns(name), f"{test_names.prefix}v{n}", f"c{n}"))
    yield made
    for name, _path, veth, container_id in made:
        bridge.detach(cfg, container_id, veth)
        netns.delete_netns(name)


def test_ensure_bridge_sets_up_the_gateway_forwarding_and_masquerade(cfg):
    bridge.ensure_bridge(cfg)
    bridge.ensure_bridge(cfg)  # a second time changes nothing
    addrs = sh("ip", "-o", "-4", "addr", "show", "dev", cfg.bridge).stdout
    assert addrs.count("inet ") == 1 and cfg.gateway_cidr in addrs
    assert "bridge" in sh("ip", "-d", "link", "show", cfg.bridge).stdout
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"
    table = sh("nft", "list", "table", "ip", cfg.nft_table).stdout
    assert "type nat hook postrouting" in table
    assert f"ip saddr {cfg.subnet} ip daddr != {cfg.subnet} masquerade" in table
    assert table.count("masquerade") == 1


def test_delete_bridge_removes_bridge_and_table_and_may_run_twice(cfg):
    bridge.ensure_bridge(cfg)
    bridge.delete_bridge(cfg)
    bridge.delete_bridge(cfg)
    assert not link_exists(cfg.bridge)
    assert sh("nft", "list", "table", "ip", cfg.nft_table).returncode != 0
    assert bridge.find_bridge(cfg) is None


def test_ensure_bridge_refuses_a_link_of_another_kind(cfg, test_names):
    # (this kernel has no dummy module: a veth pair is the other kind of link)
    peer = f"{test_names.prefix}x"
    assert sh("ip", "link", "add", cfg.bridge, "type", "veth", "peer", "name", peer).returncode == 0
    try:
        with pytest.raises(bridge.BridgeError, match="link is a veth"):
            bridge.ensure_bridge(cfg)
        bridge.delete_bridge(cfg)  # not a bridge: left alone
        assert link_exists(cfg.bridge)
    finally:
        sh("ip", "link", "delete", cfg.bridge)


def test_two_pods_on_the_bridge_ping_each_other_and_the_gateway(cfg, pods):
    bridge.ensure_bridge(cfg)
    (ns1, path1, veth1, c1), (ns2, path2, veth2, c2) = pods
    a1 = bridge.attach(cfg, path1, c1, veth1)
    a2 = bridge.attach(cfg, path2, c2, veth2)
    assert a1.ip == cfg.gateway.rsplit(".", 1)[0] + ".2"
    assert a1.address == f"{a1.ip}/24" and a1.gateway == cfg.gateway
    assert a2.ip != a1.ip
    for ns, other in ((ns1, a2.ip), (ns2, a1.ip)):
        for target in (other, cfg.gateway):
            result = ping(ns, target)
            assert result.returncode == 0, result.stdout + result.stderr
    assert {ns1, ns2} <= set(sh("ip", "netns", "list").stdout.split())


def test_the_pod_side_has_lo_eth0_its_address_and_a_default_route(cfg, pods):
    bridge.ensure_bridge(cfg)
    ns, path, veth, cid = pods[0]
    att = bridge.attach(cfg, path, cid, veth)
    route = sh("ip", "-n", ns, "route", "show", "default").stdout
    assert f"default via {cfg.gateway} dev eth0" in route
    links = sh("ip", "-n", ns, "-br", "link").stdout
    assert "lo " in links and "eth0@" in links and "UNKNOWN" in links.split("\n")[0]
    assert att.mac in links
    assert att.ip in sh("ip", "-n", ns, "-br", "addr", "show", "eth0").stdout
    assert f"@if{att.host_ifindex}" in links
    assert bridge.find_attachment(cfg, path, cid, veth) == att


def test_bridge_link_shows_both_veths_on_the_bridge_with_hairpin_on(cfg, pods):
    bridge.ensure_bridge(cfg)
    for _ns, path, veth, cid in pods:
        bridge.attach(cfg, path, cid, veth)
    ports = sh("bridge", "-d", "link", "show", "master", cfg.bridge).stdout
    for _ns, _path, veth, _cid in pods:
        block = ports.split(f"{veth}@")[1].split("\n")[:2]
        assert f"master {cfg.bridge}" in block[0]
        assert "hairpin on" in block[1]


def test_attach_twice_returns_the_same_attachment(cfg, pods):
    bridge.ensure_bridge(cfg)
    _ns, path, veth, cid = pods[0]
    assert bridge.attach(cfg, path, cid, veth) == bridge.attach(cfg, path, cid, veth)
    assert len(bridge.allocations(cfg)) == 1


def test_detach_twice_is_fine_and_releases_the_ip(cfg, pods):
    bridge.ensure_bridge(cfg)
    _ns, path, veth, cid = pods[0]
    bridge.attach(cfg, path, cid, veth)
    bridge.detach(cfg, cid, veth)
    bridge.detach(cfg, cid, veth)
    assert not link_exists(veth)
    assert bridge.allocations(cfg) == {}
    assert bridge.find_attachment(cfg, path, cid, veth) is None


def test_a_failure_during_attach_leaves_no_veth_and_no_ip_file(cfg, pods, monkeypatch):
    bridge.ensure_bridge(cfg)
    ns, path, veth, cid = pods[0]

    def broken(*args, **kwargs):
        raise OSError(5, "injected failure")

    monkeypatch.setattr(veth_module, "bridge_link_set_hairpin", broken)
    with pytest.raises(bridge.BridgeError, match=f"failed to attach veth {veth}: .*injected"):
        bridge.attach(cfg, path, cid, veth)
    assert not link_exists(veth)
    assert "eth0" not in sh("ip", "-n", ns, "-br", "link").stdout
    assert [f for f in os.listdir(cfg.ipam_dir) if f[0].isdigit()] == []


def test_attach_without_a_bridge_is_a_clear_error_and_allocates_nothing(cfg, pods):
    _ns, path, veth, cid = pods[0]
    with pytest.raises(bridge.BridgeError, match=f"no bridge {cfg.bridge}"):
        bridge.attach(cfg, path, cid, veth)
    assert bridge.allocations(cfg) == {}


def test_a_full_subnet_fails_attach_with_the_subnet_in_the_message(cfg, pods, tmp_path):
    small = bridge.NetworkConfig(bridge=cfg.bridge, subnet=cfg.subnet.replace("/24", "/30"),
                                 state_dir=cfg.state_dir, nft_table=cfg.nft_table, name="small")
    bridge.ensure_bridge(small)  # a /30 has one pod address: .2 (.1 is the gateway)
    (_n1, path1, veth1, c1), (_n2, path2, veth2, c2) = pods
    bridge.attach(small, path1, c1, veth1)
    with pytest.raises(bridge.IPAMExhausted, match=small.subnet.replace(".", r"\.")):
        bridge.attach(small, path2, c2, veth2)
    assert not link_exists(veth2)
    bridge.detach(small, c1, veth1)


def test_attach_records_the_shell_commands_a_learner_can_replay(cfg, pods):
    bridge.ensure_bridge(cfg)
    ns, path, veth, cid = pods[0]
    with explain.capture() as lines:
        att = bridge.attach(cfg, path, cid, veth)
    assert lines == [
        f"ip link add {veth} type veth peer name eth0 netns {ns}",
        f"ip -n {ns} addr add {att.address} dev eth0",
        f"ip -n {ns} link set eth0 up",
        f"ip -n {ns} link set lo up",
        f"ip -n {ns} route add default via {cfg.gateway} dev eth0",
        f"ip link set {veth} master {cfg.bridge}",
        f"bridge link set dev {veth} hairpin on",
        f"ip link set {veth} up",
    ]
