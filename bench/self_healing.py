"""Self-healing on a whole cluster: a killed container, a deleted pod.

Starts its own ``minikube-py up --detach`` with bench names (prefix ``mkb``, bridge
``mkbbr0``, pod CIDR 10.251.0.0/24, cgroup parent ``minikube-py-bench``, nft table
``minikube_py_bench``, state in ``/tmp/minikube-py-bench-*``) and ends with
``down --purge``.

1. **kill -9 of a container's main process** -> the container runs again. The pid comes
   from the container's bundle ``<state>/pods/<uid>/containers/<name>/<n>/state.json``; the
   clock stops at the new instance's ``started_at`` (bundle ``<n+1>``), and also when the
   API shows the pod running with one more restart (watch). Each pod is killed once: a
   second kill of the same container would meet the CrashLoopBackOff delay.
   Target (issue 5): median <= 100 ms.
2. **delete a pod of a Deployment** -> its replacement is Running, seen through a watch on
   the pods. Target (issue 5): median <= 500 ms. The watch also says when the replacement was
   created (ReplicaSet controller) and bound (scheduler), which splits the time.

``--profile`` instead runs the kubelet alone in this process (node mode, no API server) and
samples its threads' stacks between each kill and the restart: where the time goes.

Run as root:  .venv/bin/python bench/self_healing.py [--kills 10] [--deletes 10] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.common import StackSampler, free_port, summary  # noqa: E402
from minikube_py.client import Client, Watch  # noqa: E402
from minikube_py.controllers.base import resource  # noqa: E402

Obj = dict[str, Any]
PODS = resource("pods")
IMAGES = "/var/lib/minikube-py/images"


class BenchCluster:
    """``up --detach`` with bench names; :meth:`close` runs ``down --purge``."""

    def __init__(self) -> None:
        self.state = tempfile.mkdtemp(prefix="minikube-py-bench-")
        self.api_port, self.kubelet_port = free_port(), free_port()
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The admin's client, from the kubeconfig that ``up`` wrote."""
        if self._client is None:
            from minikube_py.cli.kubeconfig import find_target, make_client

            self._client = make_client(find_target(self.state))
        return self._client

    def mk(self, *args: str, stdin: str | None = None) -> str:
        argv = [sys.executable, "-m", "minikube_py", "--state-dir", self.state, *args]
        proc = subprocess.run(argv, capture_output=True, text=True, input=stdin, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"minikube-py {args[0]} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def up(self) -> None:
        self.mk("up", "--detach", "--api-port", str(self.api_port), "--kubelet-port",
                str(self.kubelet_port), "--bridge", "mkbbr0", "--pod-cidr", "10.251.0.0/24",
                "--prefix", "mkb", "--cgroup-parent", "minikube-py-bench", "--nft-table",
                "minikube_py_bench", "--log-dir", os.path.join(self.state, "logs"),
                "--image-store", IMAGES, "--node-name", "mkb-node")

    def apply(self, obj: Obj) -> None:
        self.mk("apply", "-f", "-", stdin=json.dumps(obj))

    def close(self) -> None:
        """``down --purge``; the cluster's log is kept as /tmp/minikube-py-bench-last.log."""
        log = os.path.join(self.state, "minikube-py.log")
        if os.path.exists(log):
            shutil.copy(log, "/tmp/minikube-py-bench-last.log")
        try:
            self.mk("down", "--purge")
        finally:
            shutil.rmtree(self.state, ignore_errors=True)


class PodEvents:
    """A watch on the pods of one app, recording (time, type, pod) as events arrive."""

    def __init__(self, client: Client, selector: str) -> None:
        listed = client.list(PODS, "default", label_selector=selector)
        self._watch: Watch = client.watch(PODS, "default", listed["metadata"]["resourceVersion"],
                                          label_selector=selector)
        self.events: list[tuple[float, str, Obj]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for kind, obj in self._watch:
            with self._cond:
                self.events.append((time.time(), kind, obj))
                self._cond.notify_all()

    def wait(self, match: Any, since: int = 0, timeout: float = 60) -> tuple[float, Obj]:
        """The first event at index >= since for which ``match(type, pod)`` is true."""
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self.events):
                    when, kind, obj = self.events[i]
                    if match(kind, obj):
                        return when, obj
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit("timed out waiting for a pod event")
                self._cond.wait(left)

    def close(self) -> None:
        self._watch.close()


def running(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(
        c.get("ready") for c in status.get("containerStatuses") or []) and bool(
        status.get("containerStatuses")) and not pod["metadata"].get("deletionTimestamp")


def restarts(pod: Obj) -> int:
    return sum(c.get("restartCount", 0) for c in (pod.get("status") or {}).get(
        "containerStatuses") or [])


def deployment(name: str, replicas: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "main", "image": "busybox",
                                         "command": ["sleep", "100000"]}]}}}}


def wait_pods(client: Client, app: str, count: int, timeout: float = 120) -> list[Obj]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = client.list(PODS, "default", label_selector=f"app={app}")["items"]
        if len(pods) == count and all(running(p) for p in pods):
            return list(pods)
        time.sleep(0.05)
    raise SystemExit(f"{app}: {count} running pods not seen in time")


def read_json(path: str) -> Obj | None:
    try:
        with open(path) as f:
            return dict(json.load(f))
    except (OSError, ValueError):
        return None


def log_time(cluster: BenchCluster, needle: str, after: float) -> float:
    """The time of the first line of the cluster's log containing ``needle`` logged at or
    after ``after`` (the log has millisecond timestamps), or NaN."""
    with open(os.path.join(cluster.state, "minikube-py.log")) as f:
        for line in f:
            if needle not in line:
                continue
            try:
                stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
                when = stamp + int(line[20:23]) / 1000
            except ValueError:
                continue
            if when >= after - 0.001:
                return when
    return float("nan")


def kill_and_wait(cluster: BenchCluster, events: PodEvents, pod: Obj) -> dict[str, float]:
    """SIGKILL the container's init; the times of the steps back to running (seconds)."""
    uid = pod["metadata"]["uid"]
    ctr_dir = os.path.join(cluster.state, "pods", uid, "containers", "main")
    attempt = max(int(n) for n in os.listdir(ctr_dir) if n.isdigit())
    old = read_json(os.path.join(ctr_dir, str(attempt), "state.json")) or {}
    since = len(events.events)
    killed = time.time()
    os.kill(int(old["pid"]), signal.SIGKILL)
    new_state = os.path.join(ctr_dir, str(attempt + 1), "state.json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = read_json(new_state)
        if state and state.get("started_at"):
            break
        time.sleep(0.001)
    else:
        raise SystemExit(f"pod {pod['metadata']['name']}: no new container in 30 s")
    exited = read_json(os.path.join(ctr_dir, str(attempt), "exit.json")) or {}
    seen, _ = events.wait(lambda kind, p: p["metadata"]["uid"] == uid and running(p)
                          and restarts(p) > restarts(pod), since)
    finished = float(exited.get("finished_at") or killed)  # the shim reaped the init
    observed = log_time(cluster, f"Observed container exit uid={uid}", killed)
    planned = log_time(cluster, f"Computed pod actions pod={pod['metadata']['name']}", killed)
    written = os.stat(os.path.join(ctr_dir, str(attempt), "exit.json")).st_mtime
    return {"init reaped by shim": finished - killed,
            "exit.json written": written - killed,
            "kubelet saw the exit": observed - killed,
            "kubelet planned": planned - killed,
            "created": state["created_at"] - killed,
            "running (state.json)": state["started_at"] - killed,
            "running (API watch)": seen - killed}


def delete_and_wait(cluster: BenchCluster, events: PodEvents, pod: Obj) -> dict[str, float]:
    """DELETE the pod; when its replacement was created, bound and running (seconds)."""
    old_uid = pod["metadata"]["uid"]
    since = len(events.events)

    def new(kind: str, p: Obj) -> bool:
        return p["metadata"]["uid"] != old_uid and kind != "DELETED"

    start = time.time()
    cluster.client.delete(PODS, pod["metadata"]["name"], "default")
    created, fresh = events.wait(new, since)
    uid = fresh["metadata"]["uid"]
    bound, _ = events.wait(lambda k, p: p["metadata"]["uid"] == uid and bool(
        p["spec"].get("nodeName")), since)
    ready, _ = events.wait(lambda k, p: p["metadata"]["uid"] == uid and running(p), since)
    return {"replacement created": created - start, "bound": bound - start,
            "running": ready - start}


def report(title: str, samples: list[dict[str, float]]) -> None:
    print(title)
    for step in samples[0] if samples else []:
        print(f"  {step:22s} {summary([s[step] for s in samples if s[step] == s[step]])}")


def profile_restarts(kills: int) -> None:
    """Node mode (no API server): the kubelet in this process, sampled while it restarts
    each killed container. Names as bench/pod_start.py (``mkb``)."""
    from bench.common import bench_config
    from bench.pod_start import delete_all, make_pod, submit, wait_running
    from minikube_py.kubelet.kubelet import Kubelet
    from minikube_py.reset import reset_node

    config = bench_config()
    kubelet = Kubelet(config)
    thread = threading.Thread(target=kubelet.run, daemon=True, name="kubelet-main")
    thread.start()
    sampler = StackSampler()
    sampler.start()
    pods = [make_pod(f"prof-{i}") for i in range(kills)]
    wall, samples = 0.0, []
    try:
        if len(wait_running(config, pods, submit(config, pods))) < len(pods):
            raise SystemExit("the pods did not start in 60 s")
        for pod in pods:
            ctr_dir = os.path.join(config.pod_dir(pod["metadata"]["uid"]), "containers", "main")
            state = read_json(os.path.join(ctr_dir, "0", "state.json")) or {}
            sampler.active.set()
            killed = time.time()
            os.kill(int(state["pid"]), signal.SIGKILL)
            while not (read_json(os.path.join(ctr_dir, "1", "state.json")) or {}).get(
                    "started_at"):
                time.sleep(0.001)
            sampler.active.clear()
            new = read_json(os.path.join(ctr_dir, "1", "state.json")) or {}
            exit_json = os.path.join(ctr_dir, "0", "exit.json")
            samples.append({"init reaped by shim": float(
                                (read_json(exit_json) or {}).get("finished_at", killed)) - killed,
                            "exit.json written": os.stat(exit_json).st_mtime - killed,
                            "created": new["created_at"] - killed,
                            "running (state.json)": new["started_at"] - killed})
            wall += time.time() - killed
            time.sleep(0.2)
        delete_all(config, pods)
    finally:
        sampler.done.set()
        kubelet.stop()
        thread.join(timeout=30)
        for _ in reset_node(config):
            pass
        shutil.rmtree(config.state_dir, ignore_errors=True)
    report(f"Profile: kill -9 -> running again, node mode ({kills} pods)", samples)
    sampler.kills = kills
    sampler.report(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="pods, each killed once")
    parser.add_argument("--deletes", type=int, default=10)
    parser.add_argument("--profile", action="store_true",
                        help="instead: where a restart's time goes (kubelet in-process)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the cluster's node creates kernel objects")
    if args.profile:
        profile_restarts(args.kills)
        return
    cluster = BenchCluster()
    cluster.up()
    try:
        # 1. kill -9 of each pod's container, one pod at a time.
        cluster.apply(deployment("kill", args.kills))
        pods = wait_pods(cluster.client, "kill", args.kills)
        events = PodEvents(cluster.client, "app=kill")
        kills = []
        for pod in pods:
            kills.append(kill_and_wait(cluster, events, pod))
            time.sleep(0.2)
        events.close()
        cluster.client.delete(resource("deployments"), "kill", "default")
        wait_pods(cluster.client, "kill", 0)  # the node is quiet again

        # 2. delete the Deployment's pod, wait for its replacement, again and again.
        cluster.apply(deployment("replace", 1))
        events = PodEvents(cluster.client, "app=replace")
        deletes = []
        for _ in range(args.deletes):
            pod = wait_pods(cluster.client, "replace", 1)[0]
            deletes.append(delete_and_wait(cluster, events, pod))
        events.close()
    finally:
        cluster.close()
    print(f"Self-healing on one node (busybox; {os.cpu_count()} cores); times from the "
          "kill / the DELETE")
    report(f"1. kill -9 of the container's process -> running again ({len(kills)} pods); "
           "target median <= 100 ms", kills)
    report(f"2. delete a Deployment's pod -> replacement Running ({len(deletes)} times); "
           "target median <= 500 ms", deletes)


if __name__ == "__main__":
    main()
