"""The labs in docs/labs/ run as written: every ``$`` command, in one shell per lab.

Each lab gets a state directory whose ``node.json`` holds the test's names (bridge, prefix,
pod CIDR 10.250.N.0/24, cgroup parent, nftables table, log dir, the session's image store),
so ``minikube-py node run`` and ``minikube-py up`` create test objects only; the default names
the text uses (``br0``, ``10.244.0.x``, ``mk-...``, ``minikube-py-proxy``) are rewritten to
them before a command runs (``labrunner.Renames``). Teardown runs ``node reset`` and ``down
--purge`` whatever happened.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.clusterharness import ROOT, free_port
from tests.e2e.labrunner import LabSession, Renames, check_safe, parse_lab

LABS = os.path.join(ROOT, "docs", "labs")
LAB_FILES = ["01-a-pod-by-hand.md", "02-a-service-in-nftables.md",
             "03-a-pod-talks-to-the-api-server.md", "04-an-image-through-a-registry.md",
             "05-storage-that-outlives-pods.md"]


def read_lab(name: str) -> str:
    with open(os.path.join(LABS, name)) as f:
        return f.read()


@dataclass
class LabEnv:
    session: LabSession
    renames: Renames
    env: dict[str, str]

    def run_lab(self, name: str) -> None:
        for step in parse_lab(read_lab(name)):
            self.session.run_step(step, self.renames)

    def mk(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["minikube-py", *args], capture_output=True, text=True,
                              env=self.env, cwd=ROOT, timeout=180)


@pytest.fixture
def lab(tmp_path: Any, test_names: Any, e2e_image_store: str) -> Iterator[LabEnv]:
    state = os.path.join(str(tmp_path), "state")
    logs = os.path.join(str(tmp_path), "logs")
    third = random.randint(0, 255)
    os.makedirs(state)
    with open(os.path.join(state, "node.json"), "w") as f:
        json.dump({"bridge": test_names.bridge, "prefix": test_names.prefix,
                   "pod_cidr": f"10.250.{third}.0/24",
                   "cgroup_parent": test_names.cgroup_parent,
                   "nft_table": test_names.nft_table, "log_dir": logs,
                   "image_store": e2e_image_store, "node_name": f"node-{test_names.tag}",
                   "pod_pids_limit": 256, "docker_hub": False}, f)
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "MINIKUBE_PY_SERVER")}
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    env["MINIKUBE_PY_STATE"] = state
    renames = Renames(bridge=test_names.bridge, prefix=test_names.prefix,
                      subnet_prefix=f"10.250.{third}.", nft_table=test_names.nft_table,
                      state_dir=state, log_dir=logs,
                      up_args=f"--api-port {free_port()} --kubelet-port {free_port()} "
                              "--no-docker-hub", registry_port=free_port())
    session = LabSession(env, ROOT)
    lab_env = LabEnv(session, renames, env)
    try:
        yield lab_env
    finally:
        session.close()
        lab_env.mk("down", "--purge")        # stops `up` if a lab left it running
        reset = lab_env.mk("node", "reset")  # stops the node agent, removes what is left
        assert reset.returncode == 0, reset.stdout + reset.stderr


@pytest.mark.parametrize("name", LAB_FILES)
def test_every_lab_has_commands_with_expectations(name: str) -> None:
    steps = parse_lab(read_lab(name))
    assert len(steps) >= 10
    assert sum(len(s.expects) for s in steps) >= 10
    renames = Renames("mt0000br", "mt0000", "10.250.0.", "minikube_py_test_0000",
                      "/tmp/s", "/tmp/l", "--api-port 1")
    for step in steps:
        check_safe(renames.apply(step.command))


def test_the_labs_index_links_every_lab() -> None:
    text = read_lab("README.md")
    for name in LAB_FILES:
        assert f"({name})" in text


def test_parse_lab_reads_commands_continuations_and_expectations() -> None:
    text = ("intro\n```sh\n$ not a lab command\n```\n```console\n$ echo one\n"
            "# expect: one\nsample output\n$ cat <<'EOF'\n> two\n> EOF\n# expect: two\n```\n")
    steps = parse_lab(text)
    assert [(s.command, s.expects, s.line) for s in steps] == [
        ("echo one", ["one"], 6), ("cat <<'EOF'\ntwo\nEOF", ["two"], 9)]


def test_renames_turn_every_default_name_into_the_tests() -> None:
    r = Renames("mt1234br", "mt1234", "10.250.9.", "minikube_py_test_1234", "/tmp/s",
                "/tmp/l", "--api-port 7")
    command = ("ip link show master br0; grep -o 'mk-web-x'; ping 10.244.0.1; "
               "nft list table ip minikube-py-proxy; cat /var/lib/minikube-py/x; "
               "minikube-py up --detach")
    assert r.apply(command) == (
        "ip link show master mt1234br; grep -o 'mt1234-web-x'; ping 10.250.9.1; "
        "nft list table ip minikube_py_test_1234-proxy; cat /tmp/s/x; "
        "minikube-py up --api-port 7 --detach")
    with pytest.raises(AssertionError):
        check_safe("ping 10.244.1.1")


@pytest.mark.root
@pytest.mark.e2e
def test_lab_01_a_pod_by_hand_runs_as_written(lab: LabEnv) -> None:
    lab.run_lab("01-a-pod-by-hand.md")


@pytest.mark.root
@pytest.mark.e2e
def test_lab_02_a_service_in_nftables_runs_as_written(lab: LabEnv) -> None:
    lab.run_lab("02-a-service-in-nftables.md")


@pytest.mark.root
@pytest.mark.e2e
def test_lab_03_a_pod_talks_to_the_api_server_runs_as_written(lab: LabEnv) -> None:
    lab.run_lab("03-a-pod-talks-to-the-api-server.md")


@pytest.mark.root
@pytest.mark.e2e
def test_lab_04_an_image_through_a_registry_runs_as_written(lab: LabEnv) -> None:
    lab.run_lab("04-an-image-through-a-registry.md")


@pytest.mark.root
@pytest.mark.e2e
def test_lab_05_storage_that_outlives_pods_runs_as_written(lab: LabEnv) -> None:
    lab.run_lab("05-storage-that-outlives-pods.md")
