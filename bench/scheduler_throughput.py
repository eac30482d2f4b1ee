"""Scheduler throughput: pods bound per second, with 100 and with 1,000 nodes.

No kubelet and no kernel object: the nodes are made-up Node objects (Ready, 8 CPUs, 32 Gi,
110 pods) registered through the API, as upstream's ``scheduler_perf`` does with fake
nodes. For each node count, on a fresh API server (its own process, own SQLite store):

1. register the nodes (``POST /api/v1/nodes``);
2. create N pods with requests and no node (``spec.nodeName`` empty);
3. start the scheduler (three informers: pending pods, all pods, nodes) and time from its
   start — lists included — until the last of the N pods is bound. Each binding is a
   ``POST pods/x/binding`` plus a ``Scheduled`` Event, as in the real scheduler;
4. also report the scheduling cycle alone (filter + score + assume, in the scheduler's
   memory): what the scheduler could do if the API server's writes were free.

Target (issue 3): >= 500 pods/s bound at 100 nodes. No root needed.
Run:  .venv/bin/python bench/scheduler_throughput.py [--pods 1000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import apiserver_process, create_all, summary  # noqa: E402
from minikube_py.api.resources import must  # noqa: E402
from minikube_py.client import Client  # noqa: E402
from minikube_py.scheduler import Scheduler  # noqa: E402

PODS, NODES = must("pods"), must("nodes")


def node(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"fake-{i:04d}", "labels": {"kubernetes.io/os": "linux"}},
            "status": {"capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True",
                                       "reason": "KubeletReady"}]}}


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"sched-{i:05d}"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {
                "requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


class TimedScheduler(Scheduler):
    """The real scheduler, noting how long each scheduling cycle takes."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.cycles: list[float] = []

    def schedule(self, key: str) -> str | None:
        start = time.perf_counter()
        try:
            return super().schedule(key)
        finally:
            self.cycles.append(time.perf_counter() - start)


def run(nodes: int, pods: int, profile: bool) -> tuple[float, float, list[float]]:
    """(pods/s from scheduler start, seconds to bind all, scheduling cycle times)."""
    with apiserver_process("minikube-py-bench-sched-") as client:
        took = create_all(client, NODES, [node(i) for i in range(nodes)])
        print(f"  registered {nodes} nodes in {took:.1f} s")
        took = create_all(client, PODS, [pod(i) for i in range(pods)])
        print(f"  created {pods} unscheduled pods in {took:.1f} s")
        scheduler = TimedScheduler(client)
        profiler = cProfile.Profile() if profile else None
        start = time.monotonic()
        if profiler:
            profiler.enable()
        scheduler.start()
        while scheduler.scheduled < pods:
            time.sleep(0.005)
        elapsed = time.monotonic() - start
        if profiler:
            profiler.disable()
        scheduler.stop()
        bound = client.list(PODS, "default", field_selector="spec.nodeName!=")["items"]
        assert len(bound) == pods, f"only {len(bound)} of {pods} pods bound"
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return pods / elapsed, elapsed, scheduler.cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--nodes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--profile", action="store_true", help="cProfile the scheduler")
    args = parser.parse_args()
    results = []
    for count in args.nodes:
        print(f"{count} nodes, {args.pods} pods:")
        rate, elapsed, cycles = run(count, args.pods, args.profile)
        print(f"  bound {args.pods} pods in {elapsed:.2f} s: {rate:.0f} pods/s")
        print(f"  scheduling cycle: {summary(cycles)}")
        results.append((count, rate, statistics.median(cycles)))
    print("scheduler throughput (pods bound per second, lists included):")
    for count, rate, cycle in results:
        print(f"  {count:5d} nodes: {rate:7.0f} pods/s bound   (scheduling cycle alone: "
              f"median {cycle * 1000:.2f} ms = {1 / cycle:.0f} pods/s)")
    print("  target: >= 500 pods/s bound at 100 nodes")


if __name__ == "__main__":
    main()
