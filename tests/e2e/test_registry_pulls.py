"""Images from a registry in a whole cluster: push with the CLI, a Deployment pulls it.

The learner's path: ``minikube-py image push busybox 127.0.0.1:PORT/lab/tick:1``, then a
Deployment naming that image; the kubelet pulls it (events ``Pulling``, ``Pulled``), the pod
runs, and its status's ``imageID`` is the registry's repo digest, as upstream shows it. A
tag the registry does not have ends in ``ErrImagePull`` / ``ImagePullBackOff`` with the
registry's own answer in the message. A registry behind a password answers 401 until the
pod, or its ServiceAccount, names an image pull secret (``kubectl create secret
docker-registry``).
"""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.clusterharness import TestCluster
from tests.e2e.test_cluster_deployments import deployment
from tests.e2e.test_kubectl import Kubectl
from tests.registry import htpasswd_auth, run_registry

pytestmark = [pytest.mark.root, pytest.mark.e2e]


def test_a_deployment_runs_an_image_pushed_to_a_local_registry(cluster: TestCluster,
                                                               tmp_path):
    with run_registry(str(tmp_path / "registry")) as registry:
        ref = f"{registry.host}/lab/tick:1"
        pushed = cluster.mk("image", "push", "busybox", ref)
        name, digest = pushed.stdout.split()
        assert name == ref and digest.startswith("sha256:")

        cluster.apply(deployment("tick", ref, 1, ["sh", "-c", "echo from-registry; "
                                                  "exec sleep 100000"]))
        [pod] = cluster.running_pods("app=tick", 1)
        status = pod["status"]["containerStatuses"][0]
        assert status["image"] == ref
        assert status["imageID"] == f"{registry.host}/lab/tick@{digest}"
        pod_name = pod["metadata"]["name"]
        events = cluster.client.request("GET", "/api/v1/namespaces/default/events")["items"]
        reasons = [e["reason"] for e in events if e["involvedObject"]["name"] == pod_name]
        assert "Pulling" in reasons and "Pulled" in reasons
        assert cluster.wait("the log", lambda: cluster.mk(
            "logs", pod_name).stdout == "from-registry\n")

        cluster.apply(deployment("missing", f"{registry.host}/lab/tick:nope", 1))

        def waiting() -> dict | None:
            pods = cluster.pods("app=missing")
            statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
            state = statuses[0]["state"].get("waiting") if statuses else None
            return state if state and state.get("reason") in (
                "ErrImagePull", "ImagePullBackOff") and state.get("message") else None

        state = cluster.wait("a pull error", waiting)
        assert "404 Not Found" in state["message"] and "MANIFEST_UNKNOWN" in state["message"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl")
def test_a_private_registry_needs_the_pods_or_its_service_accounts_pull_secret(
        cluster: TestCluster, tmp_path):
    kubectl = Kubectl(cluster, tmp_path / "home")
    auth = htpasswd_auth(str(tmp_path / "auth"), "lab", "s3cret")
    with run_registry(str(tmp_path / "registry"), auth=auth) as registry:
        ref = f"{registry.host}/lab/private:1"
        cluster.mk("image", "push", "busybox", ref, "--creds", "lab:s3cret")
        made = kubectl("create", "secret", "docker-registry", "regcred",
                       f"--docker-server={registry.host}", "--docker-username=lab",
                       "--docker-password=s3cret")
        assert made.stdout.strip() == "secret/regcred created"

        # Without the secret: the registry's 401, then back-off.
        cluster.apply(deployment("anonymous", ref, 1))

        def refused() -> dict | None:
            pods = cluster.pods("app=anonymous")
            statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
            state = statuses[0]["state"].get("waiting") if statuses else None
            return state if state and "401 Unauthorized" in (state.get("message") or "") \
                else None
        cluster.wait("a 401 from the registry", refused)

        # With it, named by the pod; then by the pod's ServiceAccount.
        named = deployment("named", ref, 1)
        named["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": "regcred"}]
        cluster.apply(named)
        cluster.running_pods("app=named", 1)
        cluster.mk("image", "rm", ref)  # pull again, this time through the account
        kubectl("create", "serviceaccount", "builder")
        kubectl("patch", "serviceaccount", "builder", "-p",
                '{"imagePullSecrets": [{"name": "regcred"}]}')
        by_account = deployment("by-account", ref, 1)
        by_account["spec"]["template"]["spec"]["serviceAccountName"] = "builder"
        cluster.apply(by_account)
        [pod] = cluster.running_pods("app=by-account", 1)
        assert pod["status"]["containerStatuses"][0]["imageID"].startswith(
            f"{registry.host}/lab/private@sha256:")
