"""Shared helpers for the benchmarks: medians and percentiles, a throwaway node config, an
API server in its own process, and a small sampling profiler.

Benchmarks print a report; they never assert on time (targets are compared in the report
and in bench/README.md). They create objects only with the ``mkb`` prefix, under
``/tmp/minikube-py-bench-*``, on the pod CIDR 10.251.0.0/24, and remove them at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from minikube_py.client import Client
from minikube_py.config import NodeConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: An API server alone in a child process (own SQLite store): prints "ready", serves until
#: its stdin closes. Keeps the benchmark's client and the server off the same GIL.
SERVER = """
import sys, threading
from minikube_py.apiserver.server import APIServer
api = APIServer(sys.argv[1], port=int(sys.argv[2]))
api.start()
print("ready", flush=True)
sys.stdin.read()
api.stop()
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    if not values:
        return "no samples"
    return (f"median {statistics.median(values) * scale:7.1f} {unit}   "
            f"p95 {percentile(values, 95) * scale:7.1f} {unit}   "
            f"min {min(values) * scale:7.1f} {unit}   n={len(values)}")


def bench_config() -> NodeConfig:
    state = tempfile.mkdtemp(prefix="minikube-py-bench-")
    return NodeConfig(state_dir=state, log_dir=f"{state}/logs", prefix="mkb",
                      bridge="mkbbr0", pod_cidr="10.251.0.0/24",
                      cgroup_parent="minikube-py-bench", nft_table="minikube_py_bench",
                      image_store="/var/lib/minikube-py/images")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def apiserver_process(prefix: str) -> Iterator[Client]:
    """A fresh API server (:data:`SERVER`) on a free port with its store in
    ``/tmp/<prefix>*``; yields a client, then stops the server and removes the store."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, f"{tmp}/store.db", str(port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield Client(f"http://127.0.0.1:{port}")
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def create_all(client: Client, resource: Any, objects: list[dict[str, Any]]) -> float:
    """Create ``objects`` with 8 threads; the seconds it took."""
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda o: client.create(resource, o, "default"
                                              if resource.namespaced else None), objects))
    return time.monotonic() - start


class StackSampler(threading.Thread):
    """A small wall-clock sampling profiler (what py-spy does, in-process): every ~1 ms,
    while ``active``, count each function on the stacks of the kubelet's busy threads."""

    IDLE = ("threading.py", "selectors.py", "queue.py", "thread.py")

    def __init__(self, prefixes: tuple[str, ...] = ("podworker", "kubelet")) -> None:
        super().__init__(daemon=True)
        self.prefixes = prefixes
        self.active = threading.Event()
        self.done = threading.Event()
        self.samples = 0
        self.cumulative: dict[str, int] = {}

    def run(self) -> None:
        while not self.done.is_set():
            if self.active.wait(0.05):
                self._sample()
                time.sleep(0.001)

    def _sample(self) -> None:
        names = {t.ident: t.name for t in threading.enumerate()}
        self.samples += 1
        for ident, frame in sys._current_frames().items():
            if not names.get(ident, "").startswith(self.prefixes):
                continue
            if os.path.basename(frame.f_code.co_filename) in self.IDLE:
                continue
            seen: set[str] = set()
            f: Any = frame
            while f is not None:
                code = f.f_code
                where = os.path.relpath(code.co_filename, ROOT)
                key = f"{where}:{code.co_name}"
                if key not in seen and not where.startswith(".."):
                    seen.add(key)
                    self.cumulative[key] = self.cumulative.get(key, 0) + 1
                f = f.f_back

    def report(self, wall: float, top: int = 25) -> None:
        per_sample = wall / max(1, self.samples)
        print(f"  kubelet threads, sampled every ~1 ms between kill and restart "
              f"({self.samples} samples over {wall * 1000:.0f} ms); cumulative ms per kill:")
        for key, count in sorted(self.cumulative.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {count * per_sample * 1000 / self.kills:7.1f} ms  {key}")

    kills = 1
