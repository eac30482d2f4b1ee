"""configMap volumes in a whole cluster: keys as files, a missing ConfigMap, an edit arriving.

A pod that mounts a ConfigMap which does not exist yet waits in ContainerCreating with a
FailedMount event (as upstream); once the ConfigMap is created the pod starts and sees each
key as a file (``items`` picks keys and renames them); an edit to the ConfigMap reaches the
running pod's files at the kubelet's next sync.
"""

from __future__ import annotations

import pytest

from tests.e2e.clusterharness import TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]


def reader_pod() -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader"},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "volumes": [{"name": "all", "configMap": {"name": "settings"}},
                                 {"name": "some", "configMap": {
                                     "name": "settings",
                                     "items": [{"key": "mode", "path": "sub/mode.txt"}]}}],
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": ["sleep", "1000"],
                                     "volumeMounts": [
                                         {"name": "all", "mountPath": "/etc/config",
                                          "readOnly": True},
                                         {"name": "some", "mountPath": "/etc/some"}]}]}}


def settings(mode: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"mode": mode, "greeting": "hello"}}


def test_a_config_map_volume_waits_for_its_map_then_follows_its_edits(cluster: TestCluster):
    cluster.apply(reader_pod())
    event = cluster.wait("a FailedMount event", lambda: next(
        (e for e in cluster.get("events")["items"] if e["reason"] == "FailedMount"), None))
    assert event["message"] == ('MountVolume.SetUp failed for volume "all" : configmap '
                                '"settings" not found')
    assert cluster.get("pod", "reader")["status"]["phase"] == "Pending"

    cluster.apply(settings("learn"))
    cluster.wait("the pod running", lambda: cluster.get("pod", "reader")["status"].get(
        "phase") == "Running")
    listing = cluster.mk("exec", "reader", "--", "ls", "/etc/config").stdout.split()
    assert listing == ["greeting", "mode"]
    assert cluster.mk("exec", "reader", "--", "cat", "/etc/config/mode").stdout == "learn"
    assert cluster.mk("exec", "reader", "--", "cat", "/etc/some/sub/mode.txt").stdout == \
        "learn"
    assert cluster.mk("exec", "reader", "--", "ls", "/etc/some").stdout.split() == ["sub"]

    cluster.apply(settings("teach"))
    cluster.wait("the edit in the pod", lambda: cluster.mk(
        "exec", "reader", "--", "cat", "/etc/config/mode").stdout == "teach", timeout=40,
        poll=0.5)
