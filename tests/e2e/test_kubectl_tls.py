"""The real kubectl against ``minikube-py up``'s HTTPS API: it verifies the server's
certificate with the kubeconfig's CA, logs in with the admin's client certificate or the
viewer's token, and shows upstream's 401 and 403 messages."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml

from minikube_py import pki
from tests.e2e.clusterharness import TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl")]


def kubectl(cluster: TestCluster, kubeconfig: str, *args: str
            ) -> subprocess.CompletedProcess[str]:
    """kubectl with its own HOME: a cold discovery cache, nothing from the machine's
    ``~/.kube``."""
    home = os.path.join(cluster.tmp, "home")
    os.makedirs(home, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
           "KUBECONFIG": kubeconfig}
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=60)


def write(cluster: TestCluster, name: str, config: dict[str, Any]) -> str:
    path = os.path.join(cluster.tmp, name)
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def configmap(cluster: TestCluster, name: str) -> str:
    return write(cluster, f"{name}.yaml", {"apiVersion": "v1", "kind": "ConfigMap",
                                           "metadata": {"name": name},
                                           "data": {"color": "blue"}})


def test_kubectl_logs_in_with_certificates_or_tokens_and_is_told_401_or_403(
        cluster: TestCluster) -> None:
    with open(cluster.kubeconfig) as f:
        admin_config = yaml.safe_load(f)
    server = admin_config["clusters"][0]["cluster"]
    assert server["server"] == cluster.url
    assert "insecure-skip-tls-verify" not in server
    assert set(admin_config["users"][0]["user"]) == {"client-certificate-data",
                                                      "client-key-data"}

    # The admin (CN=kubernetes-admin, O=system:masters) may do anything.
    got = kubectl(cluster, cluster.kubeconfig, "get", "pods")
    assert got.returncode == 0, got.stderr
    assert "No resources found in default namespace." in got.stderr
    made = kubectl(cluster, cluster.kubeconfig, "create", "-f", configmap(cluster, "settings"))
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "configmap/settings created"

    # The viewer (a bearer token) may read, not write.
    viewer = write(cluster, "viewer.yaml",
                   yaml.safe_load(cluster.mk("kubeconfig", "--user", "viewer").stdout))
    listed = kubectl(cluster, viewer, "get", "configmaps")
    assert listed.returncode == 0, listed.stderr
    assert "settings" in listed.stdout
    denied = kubectl(cluster, viewer, "create", "-f", configmap(cluster, "mine"))
    assert denied.returncode == 1
    assert ('Error from server (Forbidden): error when creating "' in denied.stderr)
    assert ('configmaps is forbidden: User "viewer" cannot create resource "configmaps" in '
            'API group "" in the namespace "default"' in denied.stderr)
    deleted = kubectl(cluster, viewer, "delete", "configmap", "settings")
    assert deleted.returncode == 1
    assert ('configmaps "settings" is forbidden: User "viewer" cannot delete resource '
            '"configmaps"' in deleted.stderr)
    assert kubectl(cluster, cluster.kubeconfig, "get", "configmap", "settings").returncode == 0

    # No credentials: kubectl would ask for a user name and password on a terminal; with
    # them in the kubeconfig it sends basic auth, which Kubernetes no longer accepts
    # (1.19+). Then a token the server does not know. Then plain HTTPS with the CA only.
    basic = dict(admin_config, users=[{"name": "minikube-py",
                                       "user": {"username": "nobody", "password": "x"}}])
    nobody = kubectl(cluster, write(cluster, "nobody.yaml", basic), "get", "pods")
    assert nobody.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in nobody.stderr
    stranger = dict(admin_config, users=[{"name": "minikube-py", "user": {"token": "nope"}}])
    denied = kubectl(cluster, write(cluster, "stranger.yaml", stranger), "get", "pods")
    assert denied.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in denied.stderr
    context = ssl.create_default_context(cafile=pki.ca_paths(pki.pki_dir(cluster.state)).cert)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{cluster.url}/api/v1/namespaces/default/pods",
                               context=context, timeout=10)
    assert e.value.code == 401
    assert json.load(e.value)["reason"] == "Unauthorized"
    with urllib.request.urlopen(f"{cluster.url}/healthz", context=context, timeout=10) as r:
        assert r.read() == b"ok"  # health is public, as upstream


def test_kubectl_checks_the_servers_certificate_names_and_issuer(cluster: TestCluster,
                                                                  tmp_path: Any) -> None:
    with open(cluster.kubeconfig) as f:
        config = yaml.safe_load(f)
    # "localhost" is one of the serving certificate's names: verified, accepted.
    by_name = dict(config, clusters=[{"name": "minikube-py", "cluster": dict(
        config["clusters"][0]["cluster"], server=f"https://localhost:{cluster.api_port}")}])
    ok = kubectl(cluster, write(cluster, "localhost.yaml", by_name), "get", "nodes", "-o",
                 "name")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"node/{cluster.node_name}"
    # Another CA: kubectl refuses the server.
    other = pki.ensure_ca(str(tmp_path / "other-ca"))
    with open(other.cert, "rb") as f:
        foreign = base64.b64encode(f.read()).decode()
    untrusted = dict(config, clusters=[{"name": "minikube-py", "cluster": {
        "server": cluster.url, "certificate-authority-data": foreign}}])
    refused = kubectl(cluster, write(cluster, "untrusted.yaml", untrusted), "get", "pods")
    assert refused.returncode == 1
    assert "certificate signed by unknown authority" in refused.stderr
