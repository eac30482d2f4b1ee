"""Pod start-up on one node: from "run" to "all containers running".

What is timed: a Pod manifest is written to the kubelet's manifest directory and the
kubelet is woken (what ``node run`` does); the clock stops when the pod's status file shows
every container running. The kubelet runs in this process (a thread), as the daemon would.

1. one pod at a time (create, measure, delete), repeated;
2. 20 pods submitted together: each pod's own start time;
3. the same plumbing done by a shell script of ``ip`` / ``unshare`` / ``mount`` commands
   for one pod (netns, veth into the bridge, address and route, cgroups, overlay root,
   new mount+pid namespaces, exec ``sleep``), for the ratio.

Target (issue: node runtime): median <= 150 ms per pod on the 2-core machine.
Run as root:  .venv/bin/python bench/pod_start.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_config, summary  # noqa: E402
from minikube_py.api.pod import default_pod  # noqa: E402
from minikube_py.config import NodeConfig  # noqa: E402
from minikube_py.kubelet.kubelet import Kubelet, wake_kubelet  # noqa: E402
from minikube_py.node import manifest_path  # noqa: E402
from minikube_py.reset import reset_node  # noqa: E402
from runtime.images import ImageStore  # noqa: E402


def make_pod(name: str) -> dict:
    pod = default_pod({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                           {"name": "main", "image": "busybox",
                            "command": ["sleep", "100000"]}]}})
    pod["metadata"]["uid"] = str(uuid.uuid4())
    return pod


def submit(config: NodeConfig, pods: list[dict]) -> float:
    os.makedirs(config.manifests_dir, exist_ok=True)
    start = time.monotonic()
    for pod in pods:
        path = manifest_path(config, "default", pod["metadata"]["name"])
        with open(path + ".tmp", "w") as f:
            json.dump(pod, f)
        os.replace(path + ".tmp", path)
    wake_kubelet(config)
    return start


def wait_running(config: NodeConfig, pods: list[dict], start: float) -> list[float]:
    done: dict[str, float] = {}
    deadline = start + 60
    while len(done) < len(pods) and time.monotonic() < deadline:
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if uid in done:
                continue
            try:
                with open(os.path.join(config.pod_dir(uid), "status.json")) as f:
                    status = json.load(f)
            except (OSError, ValueError):
                continue
            states = [c["state"] for c in status.get("containerStatuses", [])]
            if states and all("running" in s for s in states):
                done[uid] = time.monotonic() - start
        time.sleep(0.002)
    return list(done.values())


def delete_all(config: NodeConfig, pods: list[dict]) -> None:
    for pod in pods:
        os.unlink(manifest_path(config, "default", pod["metadata"]["name"]))
    wake_kubelet(config)
    deadline = time.monotonic() + 60
    while any(os.path.exists(config.pod_dir(p["metadata"]["uid"])) for p in pods):
        if time.monotonic() > deadline:
            raise SystemExit("pods were not removed in time")
        time.sleep(0.01)


SHELL_POD = r"""
set -e
ns=mkbsh$1; veth=mkbsh$1h; ip=10.251.0.$((200 + $1))
ip netns add $ns
ip link add $veth type veth peer name eth0 netns $ns
ip -n $ns addr add $ip/24 dev eth0
ip -n $ns link set eth0 up
ip -n $ns link set lo up
ip -n $ns route add default via 10.251.0.1 dev eth0
ip link set $veth master mkbbr0
ip link set $veth up
for c in cpu memory pids; do mkdir -p /sys/fs/cgroup/$c/minikube-py-bench/sh$1; done
echo 1024 > /sys/fs/cgroup/pids/minikube-py-bench/sh$1/pids.max
b=$2/sh$1; mkdir -p $b/upper $b/work $b/rootfs
echo $$ > /sys/fs/cgroup/pids/minikube-py-bench/sh$1/cgroup.procs
ip netns exec $ns unshare --mount --pid --fork --propagation private sh -c "
  mount -t overlay overlay -o lowerdir=$3,upperdir=$b/upper,workdir=$b/work $b/rootfs
  mount -t proc proc $b/rootfs/proc
  exec chroot $b/rootfs /bin/sleep 100000" &
echo $! > $b/pid
"""


def shell_pods(config: NodeConfig, runs: int) -> list[float]:
    image = ImageStore(config.images_dir).ensure_image("busybox")
    lower = ":".join(reversed(image.layers))
    work = os.path.join(config.state_dir, "shell")
    times = []
    for i in range(runs):
        start = time.monotonic()
        subprocess.run(["bash", "-c", SHELL_POD, "x", str(i), work, lower], check=True,
                       stderr=subprocess.DEVNULL)
        with open(f"{work}/sh{i}/pid") as f:
            outer = int(f.read())
        while True:  # until the sleep has exec'd somewhere below the unshare
            out = subprocess.run(["pgrep", "-P", str(outer)], capture_output=True, text=True)
            kids = out.stdout.split()
            if kids and any(_comm(k) == "sleep" for k in kids + _grandkids(kids)):
                break
            time.sleep(0.001)
        times.append(time.monotonic() - start)
        subprocess.run(["pkill", "-KILL", "-P", str(outer)])
        subprocess.run(["kill", "-KILL", str(outer)], capture_output=True)
        time.sleep(0.05)
        subprocess.run(["ip", "netns", "delete", f"mkbsh{i}"], check=False)
        for c in ("cpu", "memory", "pids"):
            try:
                os.rmdir(f"/sys/fs/cgroup/{c}/minikube-py-bench/sh{i}")
            except OSError:
                pass
    shutil.rmtree(work, ignore_errors=True)
    return times


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _grandkids(pids: list[str]) -> list[str]:
    out = subprocess.run(["pgrep", "-P", ",".join(pids)], capture_output=True, text=True)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    config = bench_config()
    kubelet = Kubelet(config)
    thread = threading.Thread(target=kubelet.run, daemon=True)
    thread.start()
    while not os.path.exists(os.path.join(config.state_dir, "kubelet.sock")):
        time.sleep(0.01)
    try:
        ImageStore(config.images_dir).ensure_image("busybox")
        warm = [make_pod("warmup")]
        wait_running(config, warm, submit(config, warm))
        delete_all(config, warm)

        single = []
        for i in range(args.runs):
            pods = [make_pod(f"one-{i}")]
            single += wait_running(config, pods, submit(config, pods))
            delete_all(config, pods)

        batch_pods = [make_pod(f"batch-{i}") for i in range(args.batch)]
        start = time.monotonic()
        batch = wait_running(config, batch_pods, submit(config, batch_pods))
        total = time.monotonic() - start
        delete_all(config, batch_pods)
    finally:
        kubelet.stop()
        thread.join(timeout=30)
    shell = shell_pods(config, args.runs)
    for _ in reset_node(config):
        pass
    shutil.rmtree(config.state_dir, ignore_errors=True)

    import statistics
    print("Pod start-up, run -> all containers running (busybox, 1 container)")
    print(f"  1 pod at a time      {summary(single)}")
    print(f"  {args.batch} pods together     {summary(batch)}")
    print(f"    all {args.batch} running after {total * 1000:.0f} ms = "
          f"{total * 1000 / args.batch:.0f} ms per pod on 2 cores")
    print(f"  shell script (ip/unshare/mount/chroot), same plumbing:  {summary(shell)}")
    ratio = statistics.median(single) / statistics.median(shell)
    print(f"  ratio minikube-py / shell (medians): {ratio:.2f}")
    print("  target: median <= 150 ms per pod -> "
          + ("met" if statistics.median(single) <= 0.150 else "NOT met"))


if __name__ == "__main__":
    main()
