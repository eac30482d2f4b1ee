"""Pod sandbox namespaces: a netns in /run/netns, ipc and uts pinned by bind mounts."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

import netns
from runtime.sandbox import (
    SandboxError,
    create_sandbox_namespaces,
    delete_sandbox_namespaces,
    find_sandbox_namespaces,
)

pytestmark = pytest.mark.root


def mounted_under(directory: str) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(directory)]


@pytest.fixture
def sandbox(test_names, tmp_path):
    sandbox_dir, name = str(tmp_path / "sandbox"), f"{test_names.prefix}sb"
    yield sandbox_dir, name
    delete_sandbox_namespaces(sandbox_dir, name)


def test_the_uts_namespace_carries_the_pod_hostname(sandbox):
    sandbox_dir, name = sandbox
    ns = create_sandbox_namespaces(sandbox_dir, name, "nginx-7d4b9")
    out = subprocess.run(["nsenter", f"--uts={ns.uts}", "hostname"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "nginx-7d4b9"
    assert os.uname().nodename != "nginx-7d4b9"


def test_ipc_and_uts_are_new_namespaces_pinned_on_files_in_the_sandbox_dir(sandbox):
    sandbox_dir, name = sandbox
    mine = {kind: os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/{kind}").st_ino
            for kind in ("ipc", "uts")}
    ns = create_sandbox_namespaces(sandbox_dir, name, "pod")
    # The caller's own thread stays where it was: the unshare happened in another thread.
    assert mine == {kind: os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/{kind}")
                    .st_ino for kind in ("ipc", "uts")}
    assert ns.ipc == f"{sandbox_dir}/ns/ipc" and ns.uts == f"{sandbox_dir}/ns/uts"
    assert os.stat(ns.ipc).st_ino != os.stat("/proc/self/ns/ipc").st_ino
    assert os.stat(ns.uts).st_ino != os.stat("/proc/self/ns/uts").st_ino
    assert sorted(mounted_under(sandbox_dir)) == [ns.ipc, ns.uts]


def test_the_network_namespace_is_listed_by_ip_netns(sandbox):
    sandbox_dir, name = sandbox
    ns = create_sandbox_namespaces(sandbox_dir, name, "pod")
    assert ns.net == f"/run/netns/{name}"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert name in listed.split()


def test_creating_twice_returns_the_same_namespaces(sandbox):
    sandbox_dir, name = sandbox
    first = create_sandbox_namespaces(sandbox_dir, name, "pod")
    inode = os.stat(first.ipc).st_ino
    assert create_sandbox_namespaces(sandbox_dir, name, "pod") == first
    assert os.stat(first.ipc).st_ino == inode
    assert find_sandbox_namespaces(sandbox_dir, name) == first


def test_delete_twice_is_fine_and_leaves_nothing_mounted(sandbox):
    sandbox_dir, name = sandbox
    create_sandbox_namespaces(sandbox_dir, name, "pod")
    delete_sandbox_namespaces(sandbox_dir, name)
    delete_sandbox_namespaces(sandbox_dir, name)
    assert mounted_under(sandbox_dir) == []
    assert netns.find_netns(name) is None
    assert not os.path.exists(f"{sandbox_dir}/ns")
    assert find_sandbox_namespaces(sandbox_dir, name) is None


def test_a_bad_hostname_fails_cleanly_without_leftovers(sandbox):
    sandbox_dir, name = sandbox
    with pytest.raises(SandboxError, match="failed to create sandbox namespaces"):
        create_sandbox_namespaces(sandbox_dir, name, "x" * 100)  # > 64: sethostname refuses
    assert mounted_under(sandbox_dir) == []
    assert netns.find_netns(name) is None
    assert not os.path.exists(f"{sandbox_dir}/ns/ipc")
