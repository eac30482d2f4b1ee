"""Port-forward, end to end: the real kubectl, ``minikube-py port-forward`` and the Python client.

The pod runs busybox ``httpd`` listening on **127.0.0.1:8080 inside the pod** — unreachable
from the node or any other pod, reachable only from the pod's own network namespace. Each
client listens on a local port (127.0.0.1 on this machine) and the test fetches pages through
it: a small page, a 2 MiB file (compared by SHA-256 with ``sha256sum`` run in the pod: many
SPDY frames and more than one flow-control window), several connections at once, and a port
nothing listens on (the kubelet's error comes back to the client).

kubectl speaks SPDY/3.1 tunneled in a WebSocket; ``minikube-py port-forward`` and the Python
client speak the channel protocol (``v4.channel.k8s.io``). Every client process is started
here and stopped by its PID.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.e2e.clusterharness import ROOT, TestCluster
from tests.e2e.test_kubectl import KUBECTL, Kubectl, LineReader

pytestmark = [pytest.mark.root, pytest.mark.e2e]

SCRIPT = ("mkdir -p /www && echo 'hello from the pod' > /www/index.html && "
          "head -c 2097152 /dev/urandom > /www/big && "
          "exec httpd -f -p 127.0.0.1:8080 -h /www")


def web_manifest() -> str:
    labels = {"app": "web"}
    return yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 1,
                      "containers": [{"name": "httpd", "image": "busybox",
                                      "command": ["sh", "-c", SCRIPT],
                                      "ports": [{"name": "http", "containerPort": 8080}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]}}])


@pytest.fixture
def web(cluster: TestCluster) -> tuple[str, str]:
    """(pod name, SHA-256 of its /www/big), once httpd answers inside the pod."""
    cluster.apply(web_manifest())
    (pod,) = cluster.running_pods("app=web", 1)
    name = pod["metadata"]["name"]
    cluster.wait("httpd inside the pod", lambda: cluster.mk(
        "exec", name, "--", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/", check=False
    ).stdout == "hello from the pod\n")
    digest = cluster.mk("exec", name, "--", "sha256sum", "/www/big").stdout.split()[0]
    return name, digest


def fetch(port: int, path: str = "/") -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        data: bytes = response.read()
        return data


def check_forwarding(port: int, digest: str) -> None:
    assert fetch(port) == b"hello from the pod\n"
    assert hashlib.sha256(fetch(port, "/big")).hexdigest() == digest
    with ThreadPoolExecutor(4) as pool:  # four connections at once
        pages = list(pool.map(lambda _: fetch(port), range(4)))
    assert pages == [b"hello from the pod\n"] * 4


@contextmanager
def forwarding(reader: LineReader) -> Iterator[dict[int, int]]:
    """{remote port: local port} from the client's ``Forwarding from 127.0.0.1:L -> R``."""
    try:
        ports: dict[int, int] = {}
        match = reader.line_matching(r"^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", 30)
        ports[int(match.group(2))] = int(match.group(1))
        yield ports
    finally:
        reader.stop()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_port_forward_reaches_a_server_only_the_pod_can_see(
        cluster: TestCluster, web: tuple[str, str], tmp_path: Path) -> None:
    pod, digest = web
    kubectl = Kubectl(cluster, tmp_path / "home")
    # Not from the node, even by the pod's IP: httpd listens on the pod's own loopback only.
    pod_ip = cluster.get("pod", pod)["status"]["podIP"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((pod_ip, 8080), timeout=5).close()
    with forwarding(kubectl.popen("port-forward", f"pod/{pod}", ":8080")) as ports:
        check_forwarding(ports[8080], digest)

    # A port nothing listens on: the connection fails and kubectl prints the kubelet's error.
    closed = kubectl.popen("port-forward", f"pod/{pod}", ":9")
    with forwarding(closed) as ports:
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            fetch(ports[9])
        message = closed.stderr_matching(r"error forwarding port 9 to pod .*", 30).group(0)
        assert f"to pod {pod}, uid " in message and "Connection refused" in message

    # deploy/NAME picks its pod; svc/NAME also maps the Service port 80 to targetPort "http".
    with forwarding(kubectl.popen("port-forward", "deploy/web", ":8080")) as ports:
        assert fetch(ports[8080]) == b"hello from the pod\n"
    with forwarding(kubectl.popen("port-forward", "svc/web", ":80")) as ports:
        assert fetch(ports[8080]) == b"hello from the pod\n"


def test_minikube_py_port_forward_and_the_python_client(
        cluster: TestCluster, web: tuple[str, str]) -> None:
    pod, digest = web
    argv = [sys.executable, "-m", "minikube_py", "--state-dir", cluster.state,
            "port-forward", f"pod/{pod}", ":8080"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    with forwarding(LineReader(proc)) as ports:
        check_forwarding(ports[8080], digest)
    service = subprocess.Popen(argv[:-2] + ["svc/web", ":80"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env=dict(os.environ, PYTHONPATH=ROOT))
    with forwarding(LineReader(service)) as ports:
        assert fetch(ports[8080]) == b"hello from the pod\n"

    bad = cluster.mk("port-forward", f"pod/{pod}", "8080:70000", check=False)
    assert bad.returncode != 0 and 'invalid port "8080:70000"' in bad.stderr

    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes.stream import portforward

    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=cluster.kubeconfig,
                                       client_configuration=configuration)
    with kubernetes.client.ApiClient(configuration) as api:
        core = kubernetes.client.CoreV1Api(api)
        forward = portforward(core.connect_get_namespaced_pod_portforward, pod, "default",
                              ports="8080")
        sock = forward.socket(8080)
        sock.setblocking(True)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        sock.close()
        assert response.startswith(b"HTTP/1.") and re.search(rb"\r\n\r\nhello from the pod\n$",
                                                            response)
        assert forward.error(8080) is None
        forward.close()
