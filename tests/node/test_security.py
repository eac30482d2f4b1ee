"""securityContext on a real node: users, groups, capabilities, masked paths, read-only root.

Every check reads the kernel's own view from inside the container (``/proc/<pid>/status``,
``/proc/self/mountinfo``, file ownership), the way a learner would verify it.
"""

from __future__ import annotations

import os

import pytest

from runtime import capabilities, rootfs
from tests.node.nodeharness import TestNode, busybox_pod

pytestmark = pytest.mark.root

DEFAULT_MASK = capabilities.capability_mask(capabilities.DEFAULT_CAPABILITIES)


def proc_status(node: TestNode, pod: str, container: str | None = None,
                pid: str = "1") -> dict[str, str]:
    text = node.exec(pod, "cat", f"/proc/{pid}/status", container=container).stdout
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def test_run_as_user_group_and_groups_reach_the_process_its_files_and_exec(node: TestNode):
    pod = busybox_pod("users", "touch /tmp/mine && exec sleep 1000",
                      securityContext={"runAsUser": 1000, "runAsGroup": 3000,
                                       "supplementalGroups": [4000], "fsGroup": 2000})
    pod["spec"]["containers"].append({"name": "other", "image": "busybox",
                                      "command": ["sleep", "1000"],
                                      "securityContext": {"runAsUser": 1001}})
    node.run_pod(pod)
    status = proc_status(node, "users")
    assert status["Uid"].split() == ["1000"] * 4 and status["Gid"].split() == ["3000"] * 4
    assert sorted(status["Groups"].split()) == ["2000", "4000"]  # the kernel sorts them
    # not root: the kernel emptied the permitted and effective sets at setuid
    assert int(status["CapPrm"], 16) == 0 and int(status["CapEff"], 16) == 0
    assert int(status["CapBnd"], 16) == DEFAULT_MASK
    assert node.exec("users", "stat", "-c", "%u:%g", "/tmp/mine").stdout == "1000:3000\n"
    assert node.exec("users", "id", "-u").stdout == "1000\n"  # exec runs as the same user
    assert proc_status(node, "users", "other")["Uid"].split()[0] == "1001"  # container wins


def test_run_as_non_root_refuses_an_image_that_runs_as_root(node: TestNode):
    pod = busybox_pod("rootless", "exec sleep 1000", securityContext={"runAsNonRoot": True})
    node.run_pod(pod, wait=False)
    found = node.wait_for("rootless", lambda p: (p["status"].get("containerStatuses") or [{}])[0]
                          .get("state", {}).get("waiting", {}).get("reason")
                          == "CreateContainerConfigError")
    waiting = found["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["message"].startswith("container has runAsNonRoot and image will run as "
                                         'root (pod: "rootless_default(')
    assert found["status"]["containerStatuses"][0]["restartCount"] == 0  # nothing ran
    table = node.cli("node", "pods").stdout
    assert "CreateContainerConfigError" in table

    allowed = busybox_pod("nonroot", "exec sleep 1000",
                          securityContext={"runAsNonRoot": True, "runAsUser": 1000})
    node.run_pod(allowed)
    assert node.exec("nonroot", "id", "-u").stdout == "1000\n"


def test_capabilities_are_added_and_dropped_and_privileged_keeps_all(node: TestNode):
    pod = busybox_pod("caps", "exec sleep 1000", container={"securityContext": {
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}})
    pod["spec"]["containers"] += [
        {"name": "netadmin", "image": "busybox", "command": ["sleep", "1000"],
         "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},
        {"name": "plain", "image": "busybox", "command": ["sleep", "1000"]},
        {"name": "privileged", "image": "busybox", "command": ["sleep", "1000"],
         "securityContext": {"privileged": True}}]
    node.run_pod(pod)
    assert int(proc_status(node, "caps")["CapEff"], 16) == 1 << 10
    assert int(proc_status(node, "caps")["CapBnd"], 16) == 1 << 10
    # NET_ADMIN may change the pod's own network stack (its netns: the node is untouched)
    assert node.exec("caps", "ip", "link", "set", "lo", "mtu", "1400",
                     container="netadmin").returncode == 0
    denied = node.exec("caps", "ip", "link", "set", "lo", "mtu", "1300", container="plain",
                       check=False)
    assert denied.returncode != 0 and "not permitted" in denied.stderr.lower()
    with open("/proc/self/status") as f:  # everything the node itself may have
        node_bounding = next(int(line.split()[1], 16) for line in f
                             if line.startswith("CapBnd"))
    assert int(proc_status(node, "caps", "privileged")["CapEff"], 16) == node_bounding


def mountinfo(node: TestNode, pod: str, container: str | None = None) -> dict[str, str]:
    """mount point -> its per-mount options, as the container sees them."""
    text = node.exec(pod, "cat", "/proc/self/mountinfo", container=container).stdout
    return {fields[4]: fields[5] for fields in (line.split() for line in text.splitlines())}


def test_kernel_files_are_masked_or_read_only_and_the_root_can_be_read_only(node: TestNode):
    pod = busybox_pod("paths", "exec sleep 1000",
                      container={"securityContext": {"readOnlyRootFilesystem": True}})
    pod["spec"]["containers"].append({"name": "privileged", "image": "busybox",
                                      "command": ["sleep", "1000"],
                                      "securityContext": {"privileged": True}})
    node.run_pod(pod)
    mounts = mountinfo(node, "paths")
    present = [p for p in rootfs.MASKED_PATHS if os.path.exists(p)]  # kernels differ
    assert present, "this kernel has none of the masked paths"
    for path in present:
        assert path in mounts, path  # /dev/null or an empty read-only tmpfs over it
        if os.path.isfile(path):
            assert node.exec("paths", "wc", "-c", path).stdout.split()[0] == "0"
        else:
            assert node.exec("paths", "ls", "-A", path).stdout == ""
    for path in (p for p in rootfs.READONLY_PATHS if os.path.exists(p)):
        assert mounts[path].startswith("ro"), path
    assert mounts["/"].startswith("ro")  # readOnlyRootFilesystem
    denied = node.exec("paths", "touch", "/new-file", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert node.exec("paths", "touch", "/dev/shm/ok").returncode == 0  # its own mount

    unmasked = mountinfo(node, "paths", "privileged")
    assert not set(present) & set(unmasked) and "/proc/sys" not in unmasked
    assert unmasked["/"].startswith("rw")
