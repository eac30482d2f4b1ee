"""Service accounts, end to end: a pod talks to the API server as itself.

Every namespace gets a ServiceAccount ``default``; a pod runs as one (``serviceAccountName``
is filled in), and the kubelet puts a token bound to the pod, the CA and the namespace under
``/var/run/secrets/kubernetes.io/serviceaccount/``. From the pod's network namespace the
token reaches the API server through the ``kubernetes`` Service: RBAC first says 403, a
RoleBinding to ``view`` makes it 200, and deleting the pod makes the token worthless (401).
The requests are made by Python in the pod's network namespace (busybox's wget cannot speak
the server's TLS), with the files read from the container itself.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.clusterharness import TestCluster
from tests.e2e.test_kubectl import KUBECTL, Kubectl

pytestmark = [pytest.mark.root, pytest.mark.e2e]
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"

LIST_PODS = """
import json, ssl, sys, urllib.error, urllib.request
ca, token = sys.argv[1], sys.argv[2]
request = urllib.request.Request("https://10.96.0.1/api/v1/namespaces/default/pods",
                                 headers={"Authorization": "Bearer " + token})
try:
    answer = urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca),
                                    timeout=10)
    print(200, " ".join(p["metadata"]["name"] for p in json.loads(answer.read())["items"]))
except urllib.error.HTTPError as e:
    print(e.code, json.loads(e.read()).get("message", ""))
"""


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "c", "image": "busybox", "command": ["sleep", "1000"]}], **spec}}


def running(cluster: TestCluster, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.wait(f"pod {name} running", lambda: (
        p := cluster.get("pod", name))["status"].get("phase") == "Running" and p)
    return found


def list_pods_as(cluster: TestCluster, netns_of: dict[str, Any], token: str) -> str:
    """``GET pods`` with ``token`` from the pod's network namespace: "<code> <text>"."""
    with open(os.path.join(cluster.state, "pods", netns_of["metadata"]["uid"], "sandbox",
                           "sandbox.json")) as f:
        netns = json.load(f)["netns_path"]
    ca = os.path.join(cluster.state, "pki", "ca.crt")
    done = subprocess.run(["nsenter", f"--net={netns}", sys.executable, "-c", LIST_PODS, ca,
                           token], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_pod_uses_its_service_account_token_and_rbac_decides(cluster: TestCluster):
    accounts = cluster.wait("default service accounts", lambda: {
        (a["metadata"]["namespace"], a["metadata"]["name"])
        for a in cluster.get("serviceaccounts", "-A")["items"]} >= {
        ("default", "default"), ("kube-system", "default")})
    assert accounts
    cluster.apply(pod("app"))
    cluster.apply(pod("quiet", automountServiceAccountToken=False))
    app = running(cluster, "app")
    assert app["spec"]["serviceAccountName"] == "default"
    files = cluster.mk("exec", "app", "--", "ls", MOUNT).stdout.split()
    assert sorted(files) == ["ca.crt", "namespace", "token"]
    assert cluster.mk("exec", "app", "--", "cat", f"{MOUNT}/namespace").stdout == "default"
    token = cluster.mk("exec", "app", "--", "cat", f"{MOUNT}/token").stdout
    with open(os.path.join(cluster.state, "pki", "ca.crt")) as f:
        assert cluster.mk("exec", "app", "--", "cat", f"{MOUNT}/ca.crt").stdout == f.read()
    running(cluster, "quiet")
    assert cluster.mk("exec", "quiet", "--", "ls", MOUNT, check=False).returncode != 0

    denied = list_pods_as(cluster, app, token)
    assert denied.startswith('403 pods is forbidden: User "system:serviceaccount:default:'
                             'default" cannot list resource "pods"'), denied
    cluster.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "default-view"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "view"},
                   "subjects": [{"kind": "ServiceAccount", "name": "default",
                                 "namespace": "default"}]})
    allowed = list_pods_as(cluster, app, token)
    assert allowed.split()[0] == "200" and {"app", "quiet"} <= set(allowed.split()[1:])

    # The token is bound to the pod: once the pod is gone, so is the token's identity.
    cluster.mk("delete", "pod", "app")
    assert list_pods_as(cluster, running(cluster, "quiet"), token).startswith("401")


def list_pods_from_host(cluster: TestCluster, token: str) -> int:
    request = urllib.request.Request(f"{cluster.url}/api/v1/namespaces/default/pods",
                                     headers={"Authorization": f"Bearer {token}"})
    context = ssl.create_default_context(cafile=os.path.join(cluster.state, "pki", "ca.crt"))
    try:
        return int(urllib.request.urlopen(request, context=context, timeout=10).status)
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_creates_an_account_and_a_token_that_rbac_then_lets_in(
        cluster: TestCluster, tmp_path: Path):
    kubectl = Kubectl(cluster, tmp_path / "home")
    assert kubectl("create", "serviceaccount", "robot").stdout == \
        "serviceaccount/robot created\n"
    token = kubectl("create", "token", "robot", "--duration=20m").stdout.strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == "system:serviceaccount:default:robot"
    assert claims["exp"] - claims["iat"] == 1200
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "robot"
    assert list_pods_from_host(cluster, token) == 403
    kubectl("create", "rolebinding", "robot-view", "--clusterrole=view",
            "--serviceaccount=default:robot")
    assert list_pods_from_host(cluster, token) == 200
    kubectl("delete", "serviceaccount", "robot")
    assert list_pods_from_host(cluster, token) == 401  # the account is gone
    assert list_pods_from_host(cluster, token[:-2] + "AA") == 401  # a forged signature
