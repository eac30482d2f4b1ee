"""Host-local IPAM: one file per IP, round-robin, exhaustion, restarts. Files only: no root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge import IPAMExhausted, NetworkConfig, allocate, allocations, release, veth_name
from bridge.config import BridgeError


@pytest.fixture
def cfg(tmp_path: Path) -> NetworkConfig:
    return NetworkConfig(subnet="10.250.3.0/24", state_dir=str(tmp_path), name="testnet")


def test_the_first_pod_gets_the_second_address_because_the_first_is_the_gateway(cfg):
    assert cfg.gateway == "10.250.3.1"
    assert cfg.gateway_cidr == "10.250.3.1/24"
    assert allocate(cfg, "c1", "eth0") == "10.250.3.2"
    assert allocate(cfg, "c2", "eth0") == "10.250.3.3"


def test_each_ip_is_a_file_holding_the_container_id_and_interface_like_host_local(cfg):
    ip = allocate(cfg, "abc123", "eth0")
    directory = Path(cfg.state_dir) / "testnet"
    assert (directory / ip).read_bytes() == b"abc123\r\neth0"
    assert (directory / "last_reserved_ip.0").read_text() == ip
    assert (directory / "lock").exists()


def test_asking_twice_for_the_same_container_returns_the_same_ip(cfg):
    assert allocate(cfg, "c1", "eth0") == allocate(cfg, "c1", "eth0")
    assert allocate(cfg, "c1", "net1") != allocate(cfg, "c1", "eth0")
    assert len(allocations(cfg)) == 2


def test_a_released_ip_is_not_handed_out_again_at_once(cfg):
    first = allocate(cfg, "c1", "eth0")
    release(cfg, "c1", "eth0")
    assert first not in allocations(cfg)
    assert allocate(cfg, "c2", "eth0") == "10.250.3.3"


def test_allocation_wraps_around_to_free_addresses_and_never_gives_the_gateway(tmp_path):
    small = NetworkConfig(subnet="10.250.4.0/29", state_dir=str(tmp_path), name="small")
    ips = [allocate(small, f"c{i}", "eth0") for i in range(5)]
    assert ips == [f"10.250.4.{n}" for n in range(2, 7)]
    release(small, "c1", "eth0")
    assert allocate(small, "c9", "eth0") == "10.250.4.3"


def test_a_full_subnet_raises_an_error_naming_the_subnet(tmp_path):
    small = NetworkConfig(subnet="10.250.5.0/29", state_dir=str(tmp_path), name="small")
    for i in range(5):  # .2 .. .6: .0 is the network, .1 the gateway, .7 broadcast
        allocate(small, f"c{i}", "eth0")
    with pytest.raises(IPAMExhausted, match=r"failed to allocate IP in 10\.250\.5\.0/29"):
        allocate(small, "one-too-many", "eth0")
    assert len(allocations(small)) == 5


def test_allocations_survive_a_restart_because_they_are_only_files(cfg):
    allocate(cfg, "c1", "eth0")
    allocate(cfg, "c2", "eth0")
    again = NetworkConfig(subnet=cfg.subnet, state_dir=cfg.state_dir, name=cfg.name)
    assert allocations(again) == {"10.250.3.2": ("c1", "eth0"), "10.250.3.3": ("c2", "eth0")}
    assert allocate(again, "c3", "eth0") == "10.250.3.4"
    assert allocate(again, "c1", "eth0") == "10.250.3.2"


def test_releasing_what_was_never_allocated_is_fine(cfg):
    release(cfg, "nobody", "eth0")
    allocate(cfg, "c1", "eth0")
    release(cfg, "nobody", "eth0")
    release(cfg, "c1", "eth0")
    release(cfg, "c1", "eth0")
    assert allocations(cfg) == {}
    assert sorted(os.listdir(cfg.ipam_dir)) == ["last_reserved_ip.0", "lock"]


def test_a_subnet_with_host_bits_set_is_refused(tmp_path):
    bad = NetworkConfig(subnet="10.250.6.7/24", state_dir=str(tmp_path))
    with pytest.raises(BridgeError, match="invalid subnet"):
        allocate(bad, "c1", "eth0")


def test_veth_names_fit_the_kernel_limit_and_are_stable():
    name = veth_name("mkv", "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d")
    assert name == "mkv1a2b3c4d5e6f"
    assert len(name) == 15
    assert veth_name("mkv", "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d") == name
    assert veth_name("mt1234", "c1") == "mt1234c1"
    with pytest.raises(BridgeError):
        veth_name("averyveryverylong", "c1")


def test_threads_allocating_at_once_never_share_an_ip(cfg):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        ips = list(pool.map(lambda i: allocate(cfg, f"c{i}", "eth0"), range(40)))
    assert len(set(ips)) == 40
    assert len(allocations(cfg)) == 40
