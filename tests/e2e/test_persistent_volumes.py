"""PersistentVolumes and claims in a whole cluster: storage that outlives its pods.

The learner's path: a claim that names no class gets the default class ``standard``, and a
volume is provisioned for it (a directory under the state directory) and bound; a pod writes
a file there, the pod goes, a new pod reads the file. A claim in use is not deleted until its
pod is (``Terminating``); then its volume and directory go (reclaim policy ``Delete``). A
volume made by hand with ``Retain`` is bound to the smallest fitting claim and ``Released``
when the claim goes, its data kept. A claim nothing can serve waits, and so does its pod
(in the scheduler: ``pod has unbound immediate PersistentVolumeClaims``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from minikube_py.client import ApiError
from tests.e2e.clusterharness import TestCluster
from tests.e2e.test_kubectl import Kubectl

pytestmark = [pytest.mark.root, pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl")]

CLAIMS = "/api/v1/namespaces/default/persistentvolumeclaims"


def claim(name: str, size: str = "1Gi", storage_class: str | None = None,
          modes: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": modes or ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec}


def pod_with(name: str, claim_name: str, script: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"use": name}},
            "spec": {"terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
                     "volumes": [{"name": "data",
                                  "persistentVolumeClaim": {"claimName": claim_name}}],
                     "containers": [{"name": "main", "image": "busybox",
                                     "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}}


def hand_made(name: str, size: str, directory: Path, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "", "hostPath": {"path": str(directory)}, **spec}}

def get(cluster: TestCluster, path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = cluster.client.request("GET", path)
        return found
    except ApiError as e:
        if e.code == 404:
            return None
        raise


def phase(cluster: TestCluster, path: str) -> str | None:
    found = get(cluster, path)
    return ((found or {}).get("status") or {}).get("phase")


def test_a_claim_gets_a_provisioned_volume_whose_data_outlives_pods(
        cluster: TestCluster, tmp_path: Path) -> None:
    kubectl = Kubectl(cluster, tmp_path / "home")
    classes = kubectl("get", "storageclass").stdout.splitlines()
    assert classes[1].split()[:6] == ["standard", "(default)", "minikube-py.io/hostpath",
                                      "Delete", "Immediate", "false"]
    cluster.apply(claim("data"))
    cluster.wait("the claim bound", lambda: phase(cluster, f"{CLAIMS}/data") == "Bound")
    bound = get(cluster, f"{CLAIMS}/data")
    assert bound is not None
    assert bound["spec"]["storageClassName"] == "standard"  # the default, filled in
    volume_name = bound["spec"]["volumeName"]
    assert volume_name == f"pvc-{bound['metadata']['uid']}"
    assert bound["status"]["capacity"] == {"storage": "1Gi"}
    volume = get(cluster, f"/api/v1/persistentvolumes/{volume_name}")
    assert volume is not None and volume["status"]["phase"] == "Bound"
    path = volume["spec"]["hostPath"]["path"]
    assert path == os.path.join(cluster.state, "persistent-volumes", volume_name)
    assert os.path.isdir(path)
    pvc_row = kubectl("get", "pvc", "data").stdout.splitlines()[1].split()
    assert pvc_row[:6] == ["data", "Bound", volume_name, "1Gi", "RWO", "standard"]
    pv_row = kubectl("get", "pv", volume_name).stdout.splitlines()[1].split()
    assert pv_row[1:7] == ["1Gi", "RWO", "Delete", "Bound", "default/data", "standard"]

    cluster.apply(pod_with("writer", "data", "echo kept > /data/note"))
    cluster.wait("the writer done", lambda: phase(
        cluster, "/api/v1/namespaces/default/pods/writer") == "Succeeded")
    with open(os.path.join(path, "note")) as f:
        assert f.read() == "kept\n"
    cluster.mk("delete", "pod", "writer")
    cluster.apply(pod_with("reader", "data", "cat /data/note; sleep 3600"))
    cluster.running_pods("use=reader", 1)
    assert cluster.wait("the note", lambda: cluster.mk("logs", "reader").stdout == "kept\n")

    # In use: the claim waits for its pod (pvc-protection), then the volume goes too.
    kubectl("delete", "pvc", "data", "--wait=false")
    cluster.wait("Terminating", lambda: "Terminating" in kubectl("get", "pvc", "data").stdout)
    assert os.path.isdir(path)
    cluster.mk("delete", "pod", "reader")
    cluster.wait("the claim gone", lambda: get(cluster, f"{CLAIMS}/data") is None)
    cluster.wait("the volume gone", lambda: get(
        cluster, f"/api/v1/persistentvolumes/{volume_name}") is None)
    assert not os.path.exists(path)


def test_a_volume_made_by_hand_is_bound_to_a_fitting_claim_and_retained(
        cluster: TestCluster, tmp_path: Path) -> None:
    directory = tmp_path / "manual"
    directory.mkdir()
    (directory / "old").write_text("from before\n")
    for name, size in (("big", "5Gi"), ("small", "2Gi")):
        made = hand_made(f"{cluster.names.tag}-{name}", size, directory)
        made["spec"]["accessModes"] = ["ReadWriteOnce", "ReadOnlyMany"]
        cluster.apply(made)
    small = f"/api/v1/persistentvolumes/{cluster.names.tag}-small"
    cluster.wait("Available", lambda: phase(cluster, small) == "Available")
    cluster.apply(claim("mine", "1Gi", storage_class=""))
    cluster.wait("bound", lambda: phase(cluster, f"{CLAIMS}/mine") == "Bound")
    bound = get(cluster, f"{CLAIMS}/mine")
    assert bound is not None and bound["spec"]["volumeName"] == f"{cluster.names.tag}-small"
    assert bound["status"]["capacity"] == {"storage": "2Gi"}  # what the volume has
    cluster.wait("big still Available", lambda: phase(
        cluster, f"/api/v1/persistentvolumes/{cluster.names.tag}-big") == "Available")

    cluster.apply(pod_with("user", "mine", "cat /data/old; sleep 3600"))
    cluster.running_pods("use=user", 1)
    assert cluster.wait("the old file", lambda: cluster.mk("logs", "user").stdout
                        == "from before\n")
    cluster.mk("delete", "pod", "user")
    cluster.mk("delete", "pvc", "mine")
    cluster.wait("Released", lambda: phase(cluster, small) == "Released")
    assert (directory / "old").read_text() == "from before\n"  # Retain keeps the data
    for name in ("big", "small"):
        cluster.client.request("DELETE", f"/api/v1/persistentvolumes/{cluster.names.tag}-{name}")


def test_a_claim_nothing_serves_waits_and_so_does_its_pod(cluster: TestCluster) -> None:
    cluster.apply(claim("orphan", storage_class="nope"))
    cluster.apply(pod_with("waiter", "orphan", "sleep 3600"))

    def reasons() -> set[str]:
        events = cluster.client.request("GET", "/api/v1/namespaces/default/events")["items"]
        return {f"{e['reason']}: {e['message']}" for e in events}

    cluster.wait("both events", lambda: {
        'ProvisioningFailed: storageclass.storage.k8s.io "nope" not found',
        "FailedScheduling: 0/1 nodes are available: pod has unbound immediate "
        "PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not "
        "helpful for scheduling."} <= reasons())
    assert phase(cluster, f"{CLAIMS}/orphan") == "Pending"
    assert phase(cluster, "/api/v1/namespaces/default/pods/waiter") == "Pending"

    bad = claim("bad")
    bad["spec"]["accessModes"] = []
    with pytest.raises(ApiError) as refused:
        cluster.client.request("POST", CLAIMS, body=bad)
    assert refused.value.code == 422
    assert "spec.accessModes: Required value: at least 1 access mode is required" in \
        str(refused.value)


def test_the_example_counts_its_starts_across_pods(cluster: TestCluster) -> None:
    """``examples/persistent-storage.yml`` does what its comments say."""
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "examples", "persistent-storage.yml")
    cluster.mk("apply", "-f", example)
    [first] = cluster.running_pods("app=counter", 1)
    assert cluster.wait("start 1", lambda: cluster.mk("logs", "deploy/counter").stdout
                        == "start number 1\n")
    cluster.mk("delete", "pod", first["metadata"]["name"])
    cluster.wait("a new pod", lambda: [p for p in cluster.running_pods("app=counter", 1)
                                       if p["metadata"]["uid"] != first["metadata"]["uid"]])
    assert cluster.wait("start 2", lambda: cluster.mk("logs", "deploy/counter").stdout
                        == "start number 2\n")
    bound = get(cluster, f"{CLAIMS}/counter-data")
    assert bound is not None
    path = os.path.join(cluster.state, "persistent-volumes", bound["spec"]["volumeName"])
    with open(os.path.join(path, "starts")) as f:
        assert f.read() == "2\n"
    cluster.mk("delete", "-f", example)
    cluster.wait("the directory gone", lambda: not os.path.exists(path), timeout=60)



def test_a_volume_made_after_its_claim_a_pre_bound_volume_and_a_protected_one(
        cluster: TestCluster, tmp_path: Path) -> None:
    tag = cluster.names.tag
    cluster.apply(claim("early", "1Gi", storage_class=""))
    cluster.wait("FailedBinding", lambda: any(
        e["reason"] == "FailedBinding" for e in cluster.client.request(
            "GET", "/api/v1/namespaces/default/events")["items"]))
    cluster.apply(hand_made(f"{tag}-late", "1Gi", tmp_path))
    cluster.wait("the early claim bound", lambda: phase(cluster, f"{CLAIMS}/early") == "Bound")

    # A volume pre-bound by hand to a claim wins over a free one that also fits.
    cluster.apply(hand_made(f"{tag}-free", "1Gi", tmp_path))
    cluster.apply(hand_made(f"{tag}-reserved", "3Gi", tmp_path,
                            claimRef={"namespace": "default", "name": "chosen"}))
    reserved = f"/api/v1/persistentvolumes/{tag}-reserved"
    cluster.wait("reserved waits Available", lambda: phase(cluster, reserved) == "Available")
    cluster.apply(claim("chosen", "1Gi", storage_class=""))
    cluster.wait("chosen bound", lambda: phase(cluster, f"{CLAIMS}/chosen") == "Bound")
    chosen = get(cluster, f"{CLAIMS}/chosen")
    assert chosen is not None and chosen["spec"]["volumeName"] == f"{tag}-reserved"

    # A bound volume is protected: deleting it waits until its claim is gone.
    cluster.client.request("DELETE", reserved)
    kubectl = Kubectl(cluster, tmp_path / "home")
    cluster.wait("Terminating", lambda: "Terminating" in kubectl(
        "get", "pv", f"{tag}-reserved").stdout)
    assert phase(cluster, f"{CLAIMS}/chosen") == "Bound"
    cluster.client.request("DELETE", f"{CLAIMS}/chosen")
    cluster.wait("the volume gone", lambda: get(cluster, reserved) is None)
    for name in ("late", "free"):
        cluster.client.request("DELETE", f"/api/v1/persistentvolumes/{tag}-{name}")
