"""The kubectl-style commands against a real API server (started in this process).

Every test runs ``python -m minikube_py <verb> ...`` as a learner would, with
``MINIKUBE_PY_SERVER`` pointing at the server; no kubelet or controllers are needed: pods are
created directly (unscheduled, so deleting them is immediate), and what a controller would
write (ReplicaSets, status) is written by the test through the client.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py.api.resources import lookup
from minikube_py.client import Client

pytestmark = pytest.mark.e2e
PODS, DEPLOY, RS, EVENTS = (lookup(n) for n in ("pods", "deployments", "replicasets",
                                                   "events"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    from minikube_py.apiserver.server import APIServer

    api = APIServer(str(tmp_path / "store.db"), port=free_port())
    api.start()
    try:
        yield api.url
    finally:
        api.stop()


@pytest.fixture
def client(server: str) -> Client:
    return Client(server)


@pytest.fixture
def kubectl(server: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MINIKUBE_PY_SERVER": server}
        return subprocess.run([sys.executable, "-m", "minikube_py", "--state-dir",
                               str(tmp_path), *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=60)
    return run


def manifest(tmp_path: Path, text: str, name: str = "m.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: nginx
            image: IMAGE
            ports: [{containerPort: 80}]
    """


def pod(name: str, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "demo"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_apply_creates_then_is_unchanged_then_configures_an_edit(kubectl, client, tmp_path):
    path = manifest(tmp_path, DEPLOYMENT.replace("IMAGE", "nginx:1.25"))
    assert kubectl("apply", "-f", path).stdout == "deployment.apps/web created\n"
    assert kubectl("apply", "-f", path).stdout == "deployment.apps/web unchanged\n"
    manifest(tmp_path, DEPLOYMENT.replace("IMAGE", "nginx:1.26"))
    result = kubectl("apply", "-f", path)
    assert result.stdout == "deployment.apps/web configured\n", result.stderr
    live = client.get(DEPLOY, "web", "default")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_apply_warns_about_a_misplaced_field_and_says_where_it_belongs(kubectl, tmp_path):
    path = manifest(tmp_path, """\
        apiVersion: v1
        kind: Service
        metadata: {name: nginx-svc}
        spec:
          selector: {app: nginx}
          ports:
          - {protocol: TCP, port: 8080, targetPort: 80, type: NodePort}
        """)
    result = kubectl("apply", "-f", path)
    assert result.returncode == 0
    assert result.stdout == "service/nginx-svc created\n"
    assert 'Warning: unknown field "spec.ports[0].type"' in result.stderr
    assert "did you mean spec.type?" in result.stderr


def test_one_bad_object_does_not_stop_the_others_but_fails_the_command(kubectl, tmp_path):
    path = manifest(tmp_path, """\
        apiVersion: v1
        kind: Pod
        metadata: {name: broken}
        spec: {containers: [{name: c}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: fine}
        spec: {containers: [{name: c, image: busybox}]}
        """)
    result = kubectl("apply", "-f", path)
    assert result.returncode == 1
    assert result.stdout == "pod/fine created\n"
    assert "Error from server (Invalid)" in result.stderr
    assert "image" in result.stderr


def test_get_prints_kubectls_table_and_other_formats(kubectl, client):
    client.create(PODS, pod("alpha", {"app": "a"}), "default")
    client.create(PODS, pod("beta", {"app": "b"}), "default")
    table = kubectl("get", "pods").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line.split()[0] for line in table[1:]] == ["alpha", "beta"]
    assert "IP" in kubectl("get", "pods", "-o", "wide").stdout.splitlines()[0]
    assert kubectl("get", "pods", "-l", "app=b", "-o", "name").stdout == "pod/beta\n"
    assert kubectl("get", "pods", "-A").stdout.splitlines()[1].startswith("default ")
    listed = kubectl("get", "pods", "-o", "yaml").stdout
    assert "kind: List" in listed and "name: alpha" in listed
    assert '"name": "beta"' in kubectl("get", "pod", "beta", "-o", "json").stdout


def test_getting_a_missing_pod_is_kubectls_not_found_error(kubectl):
    result = kubectl("get", "pod", "nosuch")
    assert result.returncode == 1
    assert result.stderr.strip() == 'Error from server (NotFound): pods "nosuch" not found'
    assert "No resources found in default namespace." in kubectl("get", "pods").stderr


def test_describe_shows_the_pod_and_its_events(kubectl, client):
    created = client.create(PODS, pod("alpha"), "default")
    client.create(EVENTS, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "alpha.1"},
        "involvedObject": {"kind": "Pod", "name": "alpha", "namespace": "default",
                           "uid": created["metadata"]["uid"]},
        "reason": "Scheduled", "message": "Successfully assigned default/alpha to n1",
        "type": "Normal", "source": {"component": "default-scheduler"}, "count": 1,
        "firstTimestamp": created["metadata"]["creationTimestamp"],
        "lastTimestamp": created["metadata"]["creationTimestamp"]}, "default")
    text = kubectl("describe", "pod", "alpha").stdout
    assert text.startswith("Name:             alpha\nNamespace:        default\n")
    assert "Labels:           app=demo" in text
    assert "    Image:" in text
    assert "  Type    Reason     Age" in text
    assert "default-scheduler  Successfully assigned default/alpha to n1" in text


def test_delete_by_name_by_label_and_by_file(kubectl, client, tmp_path):
    for name in ("a1", "a2", "b1"):
        client.create(PODS, pod(name, {"app": name[0]}), "default")
    assert kubectl("delete", "pod", "b1").stdout == 'pod "b1" deleted\n'
    assert kubectl("delete", "pods", "-l", "app=a").stdout == \
        'pod "a1" deleted\npod "a2" deleted\n'
    assert client.list(PODS, "default")["items"] == []
    path = manifest(tmp_path, DEPLOYMENT.replace("IMAGE", "nginx"))
    kubectl("apply", "-f", path)
    assert kubectl("delete", "-f", path).stdout == 'deployment.apps "web" deleted\n'
    result = kubectl("delete", "deploy", "web")
    assert result.returncode == 1
    assert "(NotFound)" in result.stderr


def test_scale_and_expose_a_deployment(kubectl, client, tmp_path):
    kubectl("apply", "-f", manifest(tmp_path, DEPLOYMENT.replace("IMAGE", "nginx")))
    assert kubectl("scale", "deploy/web", "--replicas=5").stdout == \
        "deployment.apps/web scaled\n"
    assert client.get(DEPLOY, "web", "default")["spec"]["replicas"] == 5
    result = kubectl("expose", "deployment/web", "--port", "8080", "--target-port", "80",
                     "--type", "NodePort")
    assert result.stdout == "service/web exposed\n", result.stderr
    svc = client.get(lookup("services"), "web", "default")
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["targetPort"] == 80


def owned_rs(deploy: dict, revision: int, image: str) -> dict:
    template = {"metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-h{revision}",
                         "labels": {"app": "web", "pod-template-hash": f"h{revision}"},
                         "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "web", "uid": deploy["metadata"]["uid"],
                                              "controller": True}]},
            "spec": {"replicas": 0, "selector": {"matchLabels": {
                "app": "web", "pod-template-hash": f"h{revision}"}}, "template": template}}


def test_rollout_history_and_undo_use_the_owned_replicasets(kubectl, client, tmp_path):
    kubectl("apply", "-f", manifest(tmp_path, DEPLOYMENT.replace("IMAGE", "v2")))
    deploy = client.get(DEPLOY, "web", "default")
    client.create(RS, owned_rs(deploy, 1, "v1"), "default")
    client.create(RS, owned_rs(deploy, 2, "v2"), "default")
    history = kubectl("rollout", "history", "deploy/web").stdout
    assert history == ("deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n"
                       "2         <none>\n\n")
    result = kubectl("rollout", "undo", "deploy/web")
    assert result.stdout == "deployment.apps/web rolled back\n", result.stderr
    template = client.get(DEPLOY, "web", "default")["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "v1"
    assert "pod-template-hash" not in template["metadata"]["labels"]
    result = kubectl("rollout", "undo", "deploy/web", "--to-revision", "9")
    assert result.returncode == 1
    assert "unable to find specified revision 9" in result.stderr


def test_rollout_status_reports_a_finished_rollout(kubectl, client, tmp_path):
    kubectl("apply", "-f", manifest(tmp_path, DEPLOYMENT.replace("IMAGE", "v1")))
    deploy = client.get(DEPLOY, "web", "default")
    deploy["status"] = {"observedGeneration": deploy["metadata"]["generation"],
                        "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}
    deploy = client.update(DEPLOY, deploy, "default", subresource="status")
    once = kubectl("rollout", "status", "deploy/web", "--watch=false")
    assert once.stdout == ('Waiting for deployment "web" rollout to finish: 1 of 2 updated '
                           "replicas are available...\n")
    proc = subprocess.Popen([sys.executable, "-m", "minikube_py", "rollout", "status",
                             "deploy/web", "--timeout", "30"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "MINIKUBE_PY_SERVER": client.server})
    try:
        assert proc.stdout is not None
        assert "1 of 2 updated" in proc.stdout.readline()
        deploy["status"]["availableReplicas"] = 2
        client.update(DEPLOY, deploy, "default", subresource="status")
        assert proc.stdout.readline() == 'deployment "web" successfully rolled out\n'
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_get_watch_prints_a_row_for_each_change(client):
    proc = subprocess.Popen([sys.executable, "-m", "minikube_py", "get", "pods", "-w"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MINIKUBE_PY_SERVER": client.server})
    try:
        client.create(PODS, pod("first"), "default")
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        assert any(line.startswith("first ") for line in lines), lines
    finally:
        proc.kill()
        proc.wait()
