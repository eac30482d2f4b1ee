"""Network namespaces made by ``netns`` behave like ``ip netns add`` ones, and vice versa."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

import netns

pytestmark = pytest.mark.root


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10)


@pytest.fixture
def name(test_names):
    name = f"{test_names.prefix}ns"
    yield name
    sh("ip", "netns", "delete", name)


def own_netns() -> str:
    return os.readlink(f"/proc/self/task/{threading.get_native_id()}/ns/net")


def test_a_new_netns_is_listed_by_ip_netns_and_usable_with_ip_netns_exec(name):
    path = netns.ensure_netns(name)
    assert path == f"/run/netns/{name}"
    assert name in sh("ip", "netns", "list").stdout.split()
    inside = sh("ip", "netns", "exec", name, "ip", "-o", "link", "show")
    assert inside.returncode == 0, inside.stderr
    assert [line.split(":")[1].strip() for line in inside.stdout.splitlines()] == ["lo"]
    assert name in netns.list_netns()
    assert netns.find_netns(name) == path


def test_ensuring_twice_keeps_the_same_namespace(name):
    first = os.stat(netns.ensure_netns(name)).st_ino
    assert os.stat(netns.ensure_netns(name)).st_ino == first


def test_deleting_twice_is_fine_and_nothing_stays_mounted(name):
    netns.ensure_netns(name)
    netns.delete_netns(name)
    netns.delete_netns(name)
    assert netns.find_netns(name) is None
    assert name not in sh("ip", "netns", "list").stdout.split()
    with open("/proc/self/mounts") as f:
        assert f"/run/netns/{name} " not in f.read()


def test_a_netns_made_by_ip_netns_add_is_found_and_deleted_by_us(name):
    assert sh("ip", "netns", "add", name).returncode == 0
    assert netns.find_netns(name) == f"/run/netns/{name}"
    netns.delete_netns(name)
    assert name not in sh("ip", "netns", "list").stdout.split()


def test_the_netns_dir_is_a_shared_mount_like_iproute2_makes_it(name):
    netns.ensure_netns(name)
    out = sh("findmnt", "-n", "-o", "PROPAGATION", netns.NETNS_DIR).stdout.split()
    assert out and out[0] == "shared"


def test_enter_netns_switches_this_thread_and_always_switches_back(name):
    path = netns.ensure_netns(name)
    before = own_netns()
    with netns.enter_netns(name):
        assert own_netns() == f"net:[{os.stat(path).st_ino}]"
        assert os.listdir("/proc/thread-self/net/dev_snmp6") == ["lo"]
    assert own_netns() == before
    with pytest.raises(RuntimeError, match="boom"), netns.enter_netns(path):
        raise RuntimeError("boom")
    assert own_netns() == before


def test_entering_a_missing_netns_is_a_clear_error(name):
    with pytest.raises(netns.NetnsError, match=f"failed to enter netns {name}"):
        with netns.enter_netns(name):
            pass


def test_run_in_netns_runs_a_command_inside_by_name_or_by_path(name):
    path = netns.ensure_netns(name)
    sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    for target in (name, path):
        out = netns.run_in_netns(target, ["ip", "-o", "addr", "show", "lo"],
                                 capture_output=True, text=True, check=True).stdout
        assert "127.0.0.1/8" in out


def test_run_in_netns_refuses_a_netns_that_does_not_exist(name):
    with pytest.raises(netns.NetnsError, match="no such network namespace"):
        netns.run_in_netns(name, ["true"])
