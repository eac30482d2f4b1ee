"""kill -9 of the node agent while 20 pods run, then a restart: the running containers are
adopted as they are (zero restarts), a container killed while the agent was down is noticed
with its exit status and restarted, and what no pod explains is removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest
import yaml

import netns
from minikube_py import node as nodelib
from runtime.cgroups import Resources, detect_driver
from tests.node.nodeharness import TestNode, busybox_pod

pytestmark = pytest.mark.root

PODS = 20


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def init_pid(node: TestNode, uid: str) -> int:
    return read_json(os.path.join(node.state, "pods", uid, "containers", "main", "0",
                                  "state.json"))["pid"]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_restarted_agent_adopts_its_pods_restarts_the_dead_and_sweeps_orphans(
        node: TestNode, test_names):
    docs = [busybox_pod(f"p{i:02d}", "exec sleep 100000") for i in range(PODS)]
    docs.append(busybox_pod("leftover", "exec sleep 100000"))
    slow_probe = {"exec": {"command": ["sh", "-c", "sleep 2; test -f /tmp/ready"]},
                  "timeoutSeconds": 5, "periodSeconds": 10}
    docs.append(busybox_pod("probed", "touch /tmp/ready; exec sleep 100000",
                            container={"readinessProbe": slow_probe}))
    node.cli("node", "run", "-f", node.write("pods.yaml", yaml.safe_dump_all(docs)))
    pods = {p["metadata"]["name"]: p for p in node.pods()}
    config = nodelib.load_config(node.state)
    uids = {name: p["metadata"]["uid"] for name, p in pods.items()}
    pids = {name: init_pid(node, uid) for name, uid in uids.items()}

    # The agent dies hard.
    agent = nodelib.kubelet_pid(config)
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    while alive(agent):
        time.sleep(0.01)

    # While it is down: a container dies, and a crash-like mess is left on the node.
    os.kill(pids["p07"], signal.SIGKILL)
    ghost_uid = str(uuid.uuid4())
    ghost_netns = config.netns_name("ghost", ghost_uid)
    netns.ensure_netns(ghost_netns)
    ghost_veth = f"{config.prefix}{ghost_uid.replace('-', '')}"[:15]
    subprocess.run(["ip", "link", "add", ghost_veth, "type", "veth", "peer", "name",
                    f"{config.prefix}gp"], check=True)
    subprocess.run(["ip", "link", "set", ghost_veth, "master", config.bridge], check=True)
    ipam_file = os.path.join(config.network.ipam_dir, f"10.250.{node.subnet_third}.250")
    with open(ipam_file, "w") as f:
        f.write(f"{ghost_uid}\r\neth0")
    cgroups = detect_driver()
    ghost_cgroup = f"{config.pod_cgroup(ghost_uid)}"
    cgroups.ensure(ghost_cgroup, Resources())
    leftover_shim = read_json(os.path.join(config.pod_dir(uids["leftover"]), "containers",
                                           "main", "0", "state.json"))["shim_pid"]
    os.rename(os.path.join(config.pod_dir(uids["leftover"]), "containers", "main", "0"),
              os.path.join(config.pod_dir(uids["leftover"]), "containers", "main", "moved"))
    os.unlink(nodelib.manifest_path(config, "default", "leftover"))

    # Restart it.
    restarted_at = time.time()
    started = time.monotonic()
    nodelib.ensure_kubelet(config)
    victim_status = os.path.join(config.pod_dir(uids["p07"]), "status.json")
    deadline = started + 20
    while True:
        assert time.monotonic() < deadline, "statuses did not settle after the restart"
        fresh = all(os.stat(os.path.join(config.pod_dir(uids[n]), "status.json")).st_mtime
                    >= restarted_at for n in uids if n != "leftover")
        victim = read_json(victim_status)["containerStatuses"][0]
        if fresh and victim["restartCount"] == 1 and "running" in victim["state"]:
            break
        time.sleep(0.02)
    settled = time.monotonic() - started
    print(f"statuses correct {settled:.2f}s after the restart")

    # A ready pod stays ready: its first probe under the new agent takes 2 s, and until then
    # the verdict its predecessor reported stands.
    probed = read_json(os.path.join(config.pod_dir(uids["probed"]), "status.json"))
    assert probed["containerStatuses"][0]["ready"] is True

    # The dead container: noticed with its exit status, restarted once.
    assert victim["lastState"]["terminated"]["exitCode"] == 137
    # Everything else: adopted, not restarted.
    for name, uid in uids.items():
        if name in ("p07", "leftover"):
            continue
        status = read_json(os.path.join(config.pod_dir(uid), "status.json"))
        container = status["containerStatuses"][0]
        assert container["restartCount"] == 0 and "running" in container["state"], name
        assert init_pid(node, uid) == pids[name] and alive(pids[name]), name

    # Nothing the crash left behind survives.
    deadline = time.monotonic() + 10
    while os.path.exists(config.pod_dir(uids["leftover"])):
        assert time.monotonic() < deadline, "the unwanted pod was not removed"
        time.sleep(0.02)
    assert not alive(leftover_shim) and not alive(pids["leftover"])
    assert netns.find_netns(ghost_netns) is None
    assert not os.path.exists(f"/sys/class/net/{ghost_veth}")
    assert not os.path.exists(f"/sys/class/net/{config.prefix}gp")
    assert not os.path.exists(ipam_file)
    assert not cgroups.exists(ghost_cgroup)
    with open(os.path.join(node.state, "kubelet.log")) as f:
        log = f.read()
    assert f"Removed orphan object='shim process {leftover_shim}'" in log
