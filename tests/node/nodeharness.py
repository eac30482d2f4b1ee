"""A throwaway node for tests: the real CLI, with test-only names and directories.

``TestNode.cli("node", "run", "-f", path)`` runs ``minikube-py`` as a user would, with a
state directory under pytest's tmp_path, a bridge, pod CIDR, prefix, cgroup parent and
nftables table of the test's own (see ``conftest.TestNames``), and an image store shared by
the whole test session (building busybox once is enough). ``close()`` runs ``node reset``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TestNode:
    __test__ = False

    def __init__(self, tmp_path: str, names: Any, image_store: str, pids_limit: int = 256):
        self.state = os.path.join(tmp_path, "state")
        self.logs = os.path.join(tmp_path, "logs")
        self.names = names
        self.subnet_third = random.randint(0, 255)
        self.pod_cidr = f"10.250.{self.subnet_third}.0/24"
        self.first = [
            "--bridge", names.bridge, "--pod-cidr", self.pod_cidr, "--prefix", names.prefix,
            "--cgroup-parent", names.cgroup_parent, "--log-dir", self.logs,
            "--nft-table", names.nft_table, "--image-store", image_store,
            "--pod-pids-limit", str(pids_limit), "--no-docker-hub",
        ]
        self.tmp = tmp_path

    @property
    def gateway(self) -> str:
        return f"10.250.{self.subnet_third}.1"

    def cli(self, *args: str, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "minikube_py", "--state-dir", self.state, *args]
        if "run" in args and "node" in args:
            argv += self.first
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=ROOT))
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def write(self, name: str, manifest: dict[str, Any] | str) -> str:
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(manifest if isinstance(manifest, str) else yaml.safe_dump(manifest))
        return path

    def run_pod(self, manifest: dict[str, Any], wait: bool = True) -> dict[str, Any]:
        path = self.write(f"{manifest['metadata']['name']}.yaml", manifest)
        self.cli("node", "run", "-f", path, *([] if wait else ["--no-wait"]))
        return self.pod(manifest["metadata"]["name"])

    def pods(self) -> list[dict[str, Any]]:
        return json.loads(self.cli("node", "pods", "-o", "json").stdout)["items"]

    def pod(self, name: str) -> dict[str, Any]:
        for pod in self.pods():
            if pod["metadata"]["name"] == name:
                return pod
        raise AssertionError(f"pod {name} not listed")

    def wait_for(self, name: str, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        pod = self.pod(name)
        while time.monotonic() < deadline:
            pod = self.pod(name)
            if predicate(pod):
                return pod
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting on pod {name}: {json.dumps(pod['status'])}")

    def exec(self, pod: str, *argv: str, check: bool = True, container: str | None = None
             ) -> subprocess.CompletedProcess[str]:
        extra = ["-c", container] if container else []
        return self.cli("node", "exec", pod, *extra, "--", *argv, check=check)

    def inspect(self, pod: str) -> dict[str, Any]:
        return json.loads(self.cli("node", "inspect", pod, "-o", "json").stdout)

    def close(self) -> None:
        self.cli("node", "reset", check=False, timeout=180)


def busybox_pod(name: str, command: str, **spec: Any) -> dict[str, Any]:
    container = {"name": spec.pop("container_name", "main"), "image": "busybox",
                 "command": ["sh", "-c", command]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec}}
