"""Port-forward: what the tunnel costs, against the pod reached directly by its IP.

One busybox pod serves a small page and a 16 MiB file with ``httpd`` on port 8080. Fetched
three ways from this machine:

1. directly, ``http://<pod IP>:8080`` over the bridge (the baseline);
2. through ``kubectl port-forward`` (SPDY/3.1 streams in a WebSocket, relayed by the API
   server to the kubelet, which connects inside the pod's netns), if kubectl is installed;
3. through ``minikube-py port-forward`` (one channel WebSocket per connection).

Reported: the time to fetch the small page on a new connection (median, p95 of 40), and the
download rate of the 16 MiB file (median of 5). No target: the tunnel is a debugging tool;
the numbers show where the time goes (a new connection = a new SPDY stream pair, or a new
WebSocket, two hops each way).

Run as root:  .venv/bin/python bench/portforward.py
Everything uses bench names (see bench/self_healing.py's BenchCluster) and is removed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, summary  # noqa: E402
from bench.self_healing import BenchCluster  # noqa: E402

SIZE = 16 * 1024 * 1024
SCRIPT = (f"mkdir -p /www && echo hello > /www/index.html && head -c {SIZE} /dev/zero > "
          "/www/big && exec httpd -f -p 8080 -h /www")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        data: bytes = response.read()
        return data


def measure(name: str, base: str) -> None:
    fetch(base + "/")  # warm up
    latencies = []
    for _ in range(40):
        started = time.monotonic()
        assert fetch(base + "/") == b"hello\n"
        latencies.append(time.monotonic() - started)
    rates = []
    for _ in range(5):
        started = time.monotonic()
        assert len(fetch(base + "/big")) == SIZE
        rates.append(SIZE / (time.monotonic() - started) / 1e6)
    print(f"{name:<28} small page: {summary(latencies)}")
    print(f"{'':<28} 16 MiB file: median {statistics.median(rates):7.1f} MB/s "
          f"(min {min(rates):.1f}, max {max(rates):.1f})")


def forwarder(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """Start a port-forward client; (the process, the local port it listens on)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"port-forward did not start: {line!r}")
    return proc, int(match.group(1))


def with_forwarder(argv: list[str], env: dict[str, str], run: Callable[[int], None]) -> None:
    proc, port = forwarder(argv, env)
    try:
        run(port)
    finally:
        proc.kill()  # a process this benchmark started, by its PID
        proc.wait(10)


def main() -> None:
    cluster = BenchCluster()
    cluster.up()
    home = tempfile.mkdtemp(prefix="minikube-py-bench-home-")
    try:
        cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pf"},
                       "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                           {"name": "httpd", "image": "busybox",
                            "command": ["sh", "-c", SCRIPT]}]}})
        pod = None
        for _ in range(600):
            pod = cluster.client.request("GET", "/api/v1/namespaces/default/pods/pf")
            if (pod.get("status") or {}).get("phase") == "Running":
                break
            time.sleep(0.1)
        assert pod is not None
        ip = pod["status"]["podIP"]
        for _ in range(100):  # httpd is up once the file is written
            try:
                fetch(f"http://{ip}:8080/")
                break
            except OSError:
                time.sleep(0.1)
        print(f"port-forward: small page and a {SIZE >> 20} MiB file from one busybox httpd pod")
        measure("direct (pod IP)", f"http://{ip}:8080")
        env = dict(os.environ, PYTHONPATH=ROOT, HOME=home,
                   KUBECONFIG=os.path.join(cluster.state, "kubeconfig"))
        kubectl = shutil.which("kubectl")
        if kubectl:
            with_forwarder([kubectl, "port-forward", "pod/pf", ":8080"], env,
                           lambda port: measure("kubectl port-forward", f"http://127.0.0.1:{port}"))
        with_forwarder([sys.executable, "-m", "minikube_py", "--state-dir", cluster.state,
                        "port-forward", "pod/pf", ":8080"], env,
                       lambda port: measure("minikube-py port-forward",
                                            f"http://127.0.0.1:{port}"))
    finally:
        shutil.rmtree(home, ignore_errors=True)
        cluster.close()


if __name__ == "__main__":
    main()
