"""A throwaway cluster for end-to-end tests: ``minikube-py up --detach`` with test names.

``TestCluster`` starts the real thing — API server, controllers, scheduler, kubelet — in a
background process, on free ports, with the test's own bridge, pod CIDR, prefix, cgroup
parent and nftables table (``conftest.TestNames``), a state directory under tmp_path, and
the session's shared image store. ``mk(...)`` runs the CLI against it; ``client`` is a REST
client with the admin's credentials from ``<state>/kubeconfig`` (the API is HTTPS, with a
CA made by ``up``); ``close()`` runs ``down --purge`` and checks that nothing is left.

Use the ``cluster`` fixture (root only) from ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import yaml

from minikube_py.client import Client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestCluster:
    __test__ = False

    def __init__(self, tmp_path: str, names: Any, image_store: str) -> None:
        self.tmp = tmp_path
        self.state = os.path.join(tmp_path, "state")
        self.names = names
        self.third = random.randint(0, 255)
        self.pod_cidr = f"10.250.{self.third}.0/24"
        self.api_port = free_port()
        self.kubelet_port = free_port()
        self.image_store = image_store
        self.node_name = f"node-{names.tag}"
        self._client: Client | None = None

    @property
    def gateway(self) -> str:
        return f"10.250.{self.third}.1"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.state, "kubeconfig")

    @property
    def client(self) -> Client:
        """The admin's client, from the kubeconfig ``up`` wrote (CA + client certificate)."""
        if self._client is None:
            from minikube_py.cli.kubeconfig import find_target, make_client

            self._client = make_client(find_target(self.state))
        return self._client

    def up(self, *extra: str) -> subprocess.CompletedProcess[str]:
        n = self.names
        return self.mk(
            "up", "--detach", "--api-port", str(self.api_port), "--kubelet-port",
            str(self.kubelet_port), "--bridge", n.bridge, "--pod-cidr", self.pod_cidr,
            "--prefix", n.prefix, "--cgroup-parent", n.cgroup_parent, "--nft-table",
            n.nft_table, "--log-dir", os.path.join(self.tmp, "logs"), "--image-store",
            self.image_store, "--node-name", self.node_name, "--pod-pids-limit", "512",
            "--no-docker-hub", *extra, timeout=180)

    def mk(self, *args: str, check: bool = True, timeout: float = 120,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``minikube-py --state-dir STATE ARGS`` (the CLI finds the server by the
        kubeconfig that ``up`` wrote)."""
        argv = [sys.executable, "-m", "minikube_py", "--state-dir", self.state, *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
        if check and proc.returncode != 0:
            raise AssertionError(f"minikube-py {' '.join(args)} failed ({proc.returncode}):"
                                 f"\n{proc.stdout}\n{proc.stderr}\n--- log tail:\n"
                                 + self.log_tail())
        return proc

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]] | str) -> str:
        if isinstance(manifest, str):
            text = manifest
        else:
            docs = manifest if isinstance(manifest, list) else [manifest]
            text = yaml.safe_dump_all(docs)
        return self.mk("apply", "-f", "-", input=text).stdout

    def get(self, *args: str) -> Any:
        return json.loads(self.mk("get", *args, "-o", "json").stdout)

    def pods(self, selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": selector} if selector else None
        return list(self.client.request("GET", "/api/v1/namespaces/default/pods",
                                        query)["items"])

    def wait(self, what: str, predicate: Any, timeout: float = 60.0, poll: float = 0.1
             ) -> Any:
        """Poll ``predicate()`` until it returns something truthy; that value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(poll)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n"
                             + self.log_tail() + self.thread_dump())

    def running_pods(self, selector: str, count: int, timeout: float = 60.0
                     ) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            pods = [p for p in self.pods(selector)
                    if not p["metadata"].get("deletionTimestamp")]
            ok = [p for p in pods if p.get("status", {}).get("phase") == "Running" and all(
                c.get("ready") for c in p["status"].get("containerStatuses", []))]
            return ok if len(ok) == count == len(pods) else None
        return list(self.wait(f"{count} running pods {selector}", ready, timeout))

    def thread_dump(self) -> str:
        """Every thread's stack in the ``up`` process (SIGUSR1, see cluster_cmds.up), read
        back from the log: where a cluster that stopped making progress is stuck."""
        log_path = os.path.join(self.state, "minikube-py.log")
        try:
            with open(os.path.join(self.state, "up.pid")) as f:
                pid = int(f.read())
            start = os.path.getsize(log_path)
            os.kill(pid, signal.SIGUSR1)
            time.sleep(1.0)
            with open(log_path) as f:
                f.seek(start)
                return "\n--- thread dump of the up process:\n" + f.read()
        except (OSError, ValueError) as e:
            return f"\n--- no thread dump: {e}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(os.path.join(self.state, "minikube-py.log")) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        self.mk("down", "--purge", check=False, timeout=180)
