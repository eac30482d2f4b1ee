"""Secrets and variables from ConfigMaps in a whole cluster, driven by the real kubectl.

What a learner does: ``kubectl create secret generic db --from-literal=...``, ``kubectl get
secrets``; a pod mounts the Secret (a tmpfs inside the container, files with the decoded
values) and reads variables from it, from a ConfigMap (``envFrom``), from its own fields and
limits; a pod naming a Secret that is not there waits in ``CreateContainerConfigError`` until
it is created; the read-only ``viewer`` cannot read Secrets; an immutable Secret refuses edits.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.clusterharness import TestCluster
from tests.e2e.test_kubectl import Kubectl

pytestmark = [pytest.mark.root, pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl")]


@pytest.fixture
def kubectl(cluster: TestCluster, tmp_path: Path) -> Kubectl:
    return Kubectl(cluster, tmp_path / "home")


def reader_pod(name: str, secret: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name,
                                                           "labels": {"app": "reader"}},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "volumes": [{"name": "creds", "secret": {"secretName": secret,
                                                              "defaultMode": 0o400}}],
                     "containers": [{
                         "name": "main", "image": "busybox", "command": ["sleep", "3600"],
                         "resources": {"limits": {"memory": "32Mi"}},
                         "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"}],
                         "envFrom": [{"configMapRef": {"name": "settings"}}],
                         "env": [
                             {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {
                                 "name": secret, "key": "password"}}},
                             {"name": "APP", "valueFrom": {"fieldRef": {
                                 "fieldPath": "metadata.labels['app']"}}},
                             {"name": "MEMORY_MI", "valueFrom": {"resourceFieldRef": {
                                 "resource": "limits.memory", "divisor": "1Mi"}}}]}]}}


def test_a_secret_reaches_a_pod_as_files_on_tmpfs_and_as_variables(
        cluster: TestCluster, kubectl: Kubectl, tmp_path: Path) -> None:
    made = kubectl("create", "secret", "generic", "db", "--from-literal=password=s3cret",
                   "--from-literal=user=app")
    assert made.stdout.strip() == "secret/db created"
    listed = kubectl("get", "secrets").stdout.splitlines()
    assert listed[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert listed[1].split()[:3] == ["db", "Opaque", "2"]
    stored = json.loads(kubectl("get", "secret", "db", "-o", "json").stdout)
    assert stored["data"]["password"] == "czNjcmV0"  # base64, not encryption
    kubectl("create", "configmap", "settings", "--from-literal=MODE=fast")

    manifest = tmp_path / "reader.yaml"
    manifest.write_text(yaml.safe_dump(reader_pod("reader", "db")))
    kubectl("apply", "-f", str(manifest))
    cluster.running_pods("app=reader", 1)

    def inside(*argv: str) -> str:
        return kubectl("exec", "reader", "--", *argv).stdout

    assert inside("cat", "/etc/creds/password") == "s3cret"
    assert inside("stat", "-c", "%a", "/etc/creds/user") == "400\n"
    # Read-only although the mount did not ask: the kubelet owns these files.
    tamper = kubectl("exec", "reader", "--", "sh", "-c", "echo x > /etc/creds/password",
                     check=False)
    assert tamper.returncode != 0 and "Read-only file system" in tamper.stderr
    mounts = inside("cat", "/proc/self/mounts")
    assert any(line.split()[1] == "/etc/creds" and line.split()[2] == "tmpfs"
               for line in mounts.splitlines()), mounts
    env = dict(line.split("=", 1) for line in inside("env").splitlines() if "=" in line)
    assert (env["DB_PASSWORD"], env["MODE"], env["APP"], env["MEMORY_MI"]) == \
        ("s3cret", "fast", "reader", "32")

    # On the node, the values live in a tmpfs under the pod's directory, never on disk.
    [pod] = cluster.pods("app=reader")
    on_node = os.path.join(cluster.state, "pods", pod["metadata"]["uid"], "volumes",
                           "kubernetes.io~secret", "creds")
    with open("/proc/self/mounts") as f:
        assert any(line.split()[1] == on_node and line.split()[2] == "tmpfs" for line in f)

    # The viewer reads pods, not Secrets.
    viewer = tmp_path / "viewer.yaml"
    viewer.write_text(cluster.mk("kubeconfig", "--user", "viewer").stdout)
    as_viewer = Kubectl(cluster, tmp_path / "viewer-home")
    as_viewer.env["KUBECONFIG"] = str(viewer)
    assert as_viewer("get", "pods").returncode == 0
    denied = as_viewer("get", "secret", "db", check=False)
    assert denied.returncode == 1
    assert 'secrets "db" is forbidden: User "viewer" cannot get resource "secrets"' in \
        denied.stderr

    kubectl("delete", "pod", "reader", "--wait=true")

    def unmounted() -> bool:
        with open("/proc/self/mounts") as f:
            return not any(on_node in line for line in f)
    cluster.wait("the secret's tmpfs to go", unmounted)


def test_a_pod_waits_for_a_missing_secret_and_an_immutable_one_refuses_edits(
        cluster: TestCluster, kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "configmap", "settings", "--from-literal=MODE=slow")
    pod = reader_pod("early", "later")
    pod["spec"]["volumes"] = []
    pod["spec"]["containers"][0]["volumeMounts"] = []
    (tmp_path / "early.yaml").write_text(yaml.safe_dump(pod))
    kubectl("apply", "-f", str(tmp_path / "early.yaml"))

    def waiting() -> dict[str, Any] | None:
        statuses = (cluster.pods("app=reader")[0].get("status") or {}).get(
            "containerStatuses") or [{}]
        state = (statuses[0].get("state") or {}).get("waiting") or {}
        return state if state.get("reason") == "CreateContainerConfigError" else None

    state = cluster.wait("CreateContainerConfigError", waiting)
    assert state["message"] == 'secret "later" not found'

    frozen: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                              "metadata": {"name": "later"}, "immutable": True,
                              "stringData": {"password": "first"}}
    (tmp_path / "later.yaml").write_text(yaml.safe_dump(frozen))
    kubectl("apply", "-f", str(tmp_path / "later.yaml"))
    cluster.running_pods("app=reader", 1)
    assert kubectl("exec", "early", "--", "sh", "-c", "echo $DB_PASSWORD").stdout == "first\n"

    frozen["stringData"]["password"] = "second"
    (tmp_path / "later.yaml").write_text(yaml.safe_dump(frozen))
    refused = kubectl("apply", "-f", str(tmp_path / "later.yaml"), check=False)
    assert refused.returncode == 1
    assert "data: Forbidden: field is immutable when `immutable` is set" in refused.stderr
