"""Pod volumes on a real node: shared emptyDirs, tmpfs, read-only mounts, subPath, hostPath.

What a learner checks by hand: a file written by one container is read by the other, it
survives a container restart, the volume's directory is on the node where the README says,
and nothing of it (files or mounts) is left when the pod goes.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from runtime import mounts
from tests.node.nodeharness import TestNode, busybox_pod

pytestmark = pytest.mark.root


def test_containers_of_a_pod_share_an_empty_dir_that_outlives_their_restarts(node: TestNode):
    pod = busybox_pod("share", "echo from-writer > /shared/note; exec sleep 1000",
                      volumes=[{"name": "shared", "emptyDir": {}},
                               {"name": "ram", "emptyDir": {"medium": "Memory",
                                                            "sizeLimit": "8Mi"}}],
                      container={"volumeMounts": [{"name": "shared", "mountPath": "/shared"},
                                                  {"name": "ram", "mountPath": "/ram"}]})
    pod["spec"]["containers"].append({
        "name": "reader", "image": "busybox", "command": ["sleep", "1000"],
        "volumeMounts": [{"name": "shared", "mountPath": "/in", "readOnly": True},
                         {"name": "shared", "mountPath": "/sub", "subPath": "deeper/dir"}]})
    running = node.run_pod(pod)
    uid = running["metadata"]["uid"]
    assert node.exec("share", "cat", "/in/note", container="reader").stdout == "from-writer\n"
    denied = node.exec("share", "touch", "/in/x", container="reader", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    node.exec("share", "sh", "-c", "echo deep > /sub/file", container="reader")
    assert node.exec("share", "cat", "/shared/deeper/dir/file").stdout == "deep\n"

    on_node = os.path.join(node.state, "pods", uid, "volumes", "kubernetes.io~empty-dir")
    with open(os.path.join(on_node, "shared", "note")) as f:
        assert f.read() == "from-writer\n"
    ram = os.path.join(on_node, "ram")
    assert mounts.mounts_under(ram) == [ram]  # a tmpfs on the node, shared by the pod
    df = node.exec("share", "df", "-k", "/ram").stdout.splitlines()[1].split()
    assert df[0] == "tmpfs" and int(df[1]) == 8 * 1024

    # The main process is killed (from the node: a pid namespace's init ignores signals from
    # inside) and restarted: the volume's content is still there.
    main = next(c for c in node.inspect("share")["containers"] if c["name"] == "main")
    os.kill(main["pid"], signal.SIGKILL)
    node.wait_for("share", lambda p: p["status"]["containerStatuses"][0]["restartCount"] >= 1
                  and p["status"]["containerStatuses"][0].get("ready"))
    assert node.exec("share", "cat", "/in/note", container="reader").stdout == "from-writer\n"

    node.cli("node", "delete", "share")
    assert not os.path.exists(os.path.join(node.state, "pods", uid))
    assert mounts.mounts_under(node.state) == []


def test_a_host_path_directory_is_the_nodes_own(node: TestNode, tmp_path):
    shared = tmp_path / "from-the-node"
    pod = busybox_pod("host", "echo written-in-pod > /host/out; exec sleep 1000",
                      volumes=[{"name": "h", "hostPath": {"path": str(shared),
                                                          "type": "DirectoryOrCreate"}}],
                      container={"volumeMounts": [{"name": "h", "mountPath": "/host"}]})
    node.run_pod(pod)
    assert shared.is_dir()
    (shared / "in").write_text("written-on-node\n")
    assert node.exec("host", "cat", "/host/in").stdout == "written-on-node\n"
    assert (shared / "out").read_text() == "written-in-pod\n"
    node.cli("node", "delete", "host")
    assert (shared / "out").exists()  # the node's files stay: they were never the pod's


def test_a_missing_host_path_of_type_directory_keeps_the_pod_from_starting(
        node: TestNode, tmp_path):
    pod = busybox_pod("nodir", "exec sleep 1000",
                      volumes=[{"name": "h", "hostPath": {"path": str(tmp_path / "absent"),
                                                          "type": "Directory"}}],
                      container={"volumeMounts": [{"name": "h", "mountPath": "/h"}]})
    node.run_pod(pod, wait=False)
    found = node.wait_for("nodir", lambda p: any(
        e.get("reason") == "FailedMount" for e in node_events(node, p)))
    assert found["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == \
        "ContainerCreating"
    message = next(e["message"] for e in node_events(node, found)
                   if e["reason"] == "FailedMount")
    assert "hostPath type check failed" in message and "is not a Directory" in message
    assert not (tmp_path / "absent").exists()


def node_events(node: TestNode, pod: dict) -> list[dict]:
    path = os.path.join(node.state, "pods", pod["metadata"]["uid"], "events.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
