"""The real kubectl against our API server (plain HTTP on 127.0.0.1, cold discovery cache).

``/usr/bin/kubectl`` is a dispatcher that asks ``/version`` and runs ``kubectl.1.<minor>``;
HOME is a temporary directory so that every test starts with an empty discovery cache.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py.api.resources import Resource, lookup
from minikube_py.apiserver.server import APIServer
from minikube_py.client import Client


def resource(name: str) -> Resource:
    found = lookup(name)
    assert found is not None, name
    return found

KUBECTL = shutil.which("kubectl")
SEED_MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "nginx-deployment.yml"
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


class Kubectl:
    def __init__(self, server: str, home: Path) -> None:
        home.mkdir(exist_ok=True)
        config = home / "kubeconfig"
        config.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
            f"clusters:\n- name: test\n  cluster:\n    server: {server}\n"
            "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
            "users:\n- name: test\n  user: {}\n")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                    "KUBECONFIG": str(config)}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(KUBECTL), *args], env=self.env, capture_output=True,
                              text=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): "
                                 f"{done.stderr}")
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(KUBECTL), *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


@pytest.fixture()
def manifest(tmp_path: Path) -> str:
    """The study note's manifest; its indentation is copied from the note with no-break
    spaces (U+00A0), which YAML does not accept as indentation, so they become spaces."""
    path = tmp_path / "nginx-deployment.yml"
    path.write_text(SEED_MANIFEST.read_text().replace("\u00a0", " "))
    return str(path)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[tuple[Kubectl, Client]]:
    server = APIServer(str(tmp_path / "store.db"), port=0)
    server.start()
    try:
        yield Kubectl(server.url, tmp_path / "home"), Client(server.url)
    finally:
        server.stop()


def test_kubectl_version_and_api_resources(cluster: tuple[Kubectl, Client]) -> None:
    kubectl, _ = cluster
    assert "Server Version: v1.32.0" in kubectl("version").stdout
    out = kubectl("api-resources").stdout
    # Keyed by (name, API version): "pods" is listed twice, core v1 and metrics.k8s.io.
    lines = {(line.split()[0], line.split()[-3]): line for line in out.splitlines()[1:]}
    assert "deploy" in lines[("deployments", "apps/v1")].split()
    assert "po" in lines[("pods", "v1")].split()


def test_kubectl_apply_strict_rejects_the_seed_service_but_creates_the_deployment(
        cluster: tuple[Kubectl, Client], manifest: str) -> None:
    kubectl, client = cluster
    done = kubectl("apply", "-f", manifest, check=False)
    assert done.returncode != 0
    assert "deployment.apps/nginx-deployment created" in done.stdout
    assert 'unknown field "spec.ports[0].type"' in done.stderr
    assert client.find(resource("deploy"), "nginx-deployment", "default") is not None
    assert client.find(resource("svc"), "nginx-svc", "default") is None


def test_kubectl_apply_with_validate_warn_creates_both_and_shows_the_warning(
        cluster: tuple[Kubectl, Client], manifest: str) -> None:
    kubectl, client = cluster
    done = kubectl("apply", "--validate=warn", "-f", manifest)
    assert 'Warning: unknown field "spec.ports[0].type"' in done.stderr
    assert "service/nginx-svc created" in done.stdout
    assert client.get(resource("svc"), "nginx-svc", "default")["spec"]["ports"][0]["port"] == 8080
    again = kubectl("apply", "--validate=warn", "-f", manifest)
    assert "deployment.apps/nginx-deployment unchanged" in again.stdout


def test_kubectl_get_scale_yaml_and_delete(cluster: tuple[Kubectl, Client],
                                           manifest: str) -> None:
    kubectl, client = cluster
    kubectl("apply", "--validate=false", "-f", manifest)
    wide = kubectl("get", "deploy", "-o", "wide").stdout
    assert wide.split("\n")[0].split()[:3] == ["NAME", "READY", "UP-TO-DATE"]
    assert "nginx-deployment" in wide and "app=nginx" in wide
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "nginx-1", "labels": {"app": "nginx"}},
           "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}
    client.create(resource("pods"), pod, "default")
    assert "nginx-1" in kubectl("get", "pods", "-l", "app=nginx").stdout
    assert "No resources found" in kubectl("get", "pods", "-l", "app=other").stderr
    kubectl("scale", "deploy/nginx-deployment", "--replicas=3")
    yaml_out = kubectl("get", "deploy", "nginx-deployment", "-o", "yaml").stdout
    assert "replicas: 3" in yaml_out and "generation: 2" in yaml_out
    done = kubectl("delete", "-f", manifest)
    assert 'deployment.apps "nginx-deployment" deleted' in done.stdout
    assert client.find(resource("deploy"), "nginx-deployment", "default") is None


def test_kubectl_get_pods_watch_prints_a_line_for_a_new_pod(
        cluster: tuple[Kubectl, Client]) -> None:
    kubectl, client = cluster
    proc = kubectl.popen("get", "pods", "-w")
    try:
        time.sleep(2.0)  # discovery, list, then the watch request
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "watched"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        client.create(resource("pods"), pod, "default")
        line = read_line_with(proc, "watched", 20.0)
        assert "Pending" in line
    finally:
        proc.kill()
        proc.wait()


def read_line_with(proc: subprocess.Popen[str], text: str, seconds: float) -> str:
    """Read kubectl's output until a line containing ``text`` (or fail after ``seconds``)."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no line with {text!r} in {seen!r}")
