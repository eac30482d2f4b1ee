"""List latency: ``GET /api/v1/pods`` with 1,000 pods stored, as JSON and as a Table.

``kubectl get pods -A`` asks for a Table (``Accept: application/json;as=Table;v=v1;
g=meta.k8s.io``): the server builds kubectl's columns (NAME, READY, STATUS, RESTARTS, AGE,
IP, NODE...) and sends each object's metadata only. Controllers and informers ask for the
plain JSON list (every object whole). This bench stores 1,000 realistic pods (bound, Running,
with a status) in a fresh API server (its own process, own SQLite store), then times:

1. the JSON list, all namespaces and one namespace;
2. the Table list (what ``kubectl get pods -A`` waits for);
3. a label-selected list that matches 10 pods (the server still reads all 1,000);

each repeated, from sending the request to having the whole body (and, for JSON, decoded).
No root needed.  Run:  .venv/bin/python bench/list_latency.py [--pods 1000] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import apiserver_process, create_all, summary  # noqa: E402
from minikube_py.api.resources import must  # noqa: E402
from minikube_py.client import Client  # noqa: E402

PODS = must("pods")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"list-{i:05d}", "labels": {"app": f"app-{i % 100}",
                                                              "tier": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{
                "name": "web", "image": "nginx:latest", "ports": [{"containerPort": 80}],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def running_status(i: int) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"status": {
        "phase": "Running", "podIP": f"10.244.{i // 250}.{i % 250 + 2}", "hostIP": "10.0.0.1",
        "startTime": now,
        "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": [{"name": "web", "image": "nginx:latest", "ready": True,
                               "started": True, "restartCount": 0,
                               "imageID": "sha256:" + "0" * 64,
                               "containerID": f"minikube://web-{i}",
                               "state": {"running": {"startedAt": now}}}]}}


def timed(client: Client, runs: int, path: str, query: dict[str, Any] | None,
          accept: str) -> tuple[list[float], int, int]:
    """Latencies, the body size and the item count of the last answer."""
    times, size, items = [], 0, 0
    for _ in range(runs):
        start = time.perf_counter()
        conn, resp = client.open("GET", path, query, accept=accept)
        raw = resp.read()
        body = json.loads(raw)
        times.append(time.perf_counter() - start)
        conn.close()
        size = len(raw)
        items = len(body.get("items") or body.get("rows") or [])
    return times, size, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with apiserver_process("minikube-py-bench-list-") as client:
        create_all(client, PODS, [pod(i) for i in range(args.pods)])
        for i in range(args.pods):
            client.patch(PODS, f"list-{i:05d}", running_status(i), namespace="default",
                         subresource="status")
        cases = [
            ("JSON, all namespaces", "/api/v1/pods", None, "application/json"),
            ("JSON, namespace default", "/api/v1/namespaces/default/pods", None,
             "application/json"),
            ("Table, all namespaces (kubectl get pods -A)", "/api/v1/pods", None, TABLE),
            ("JSON, labelSelector app=app-7", "/api/v1/pods", {"labelSelector": "app=app-7"},
             "application/json"),
        ]
        print(f"list latency, {args.pods} pods stored, {args.runs} lists each "
              "(request sent -> body received and decoded):")
        for label, path, query, accept in cases:
            timed(client, 2, path, query, accept)  # warm up
            times, size, items = timed(client, args.runs, path, query, accept)
            print(f"  {label}")
            print(f"    {summary(times)}   {items} items, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
