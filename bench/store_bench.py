"""The cluster store: write throughput, list time, watch latency; reader pool vs one connection.

What is measured, on a fresh ``store.db`` in a temporary directory (real disk, fsync on):

1. creates/s, one thread, of pod-sized objects (~2 KB of JSON each), with per-call latency;
2. creates/s from 8 threads (the API server's thread pool): one writer at a time, so about
   the same number; the point is that nothing breaks and latency stays bounded;
3. updates/s and gets/s;
4. the time to list 1000 keys (a ``kubectl get pods -A`` on a busy node), alone and while 4
   threads keep writing;
5. watch latency: from calling ``create`` (commit included) to a watcher thread receiving
   the event.

Everything runs twice: with the reader pool (reads on their own connections, in parallel with
the writer) and with ``reader_pool=False`` (reads share the writer connection and its lock).
Run:  .venv/bin/python bench/store_bench.py [--objects 2000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time

from bench.common import summary
from minikube_py.store import SqliteBackend


def pod(i: int) -> dict:
    containers = [{"name": f"c{n}", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                   "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                   "env": [{"name": f"VAR{k}", "value": "x" * 40} for k in range(8)]}
                  for n in range(2)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i:05d}", "namespace": "default",
                         "labels": {"app": "bench", "i": str(i)}},
            "spec": {"containers": containers, "nodeName": "node-1"},
            "status": {"phase": "Running", "podIP": "10.244.0.5"}}


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def creates(store: SqliteBackend, count: int) -> list[float]:
    return [timed(lambda i=i: store.create(f"/registry/pods/default/pod-{i:05d}", pod(i)))
            for i in range(count)]


def threaded(work, threads: int) -> float:
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def list_times(store: SqliteBackend, runs: int) -> list[float]:
    return [timed(lambda: store.list("/registry/pods/")) for _ in range(runs)]


def list_under_writes(store: SqliteBackend, runs: int) -> list[float]:
    stop = threading.Event()

    def writer(t: int) -> None:
        n = 0
        while not stop.is_set():
            store.update(f"/registry/pods/default/pod-{t:05d}", pod(n))
            n += 1

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for thread in writers:
        thread.start()
    try:
        return list_times(store, runs)
    finally:
        stop.set()
        for thread in writers:
            thread.join()


def watch_latency(store: SqliteBackend, count: int) -> list[float]:
    watch = store.watch("/registry/latency/", store.revision())
    received: list[float] = []
    thread = threading.Thread(target=lambda: received.extend(
        time.perf_counter() for _ in range(count) if watch.next(10) is not None))
    thread.start()
    sent = []
    for i in range(count):
        sent.append(time.perf_counter())
        store.create(f"/registry/latency/{i}", {"i": i})
        time.sleep(0.002)
    thread.join()
    watch.close()
    return [r - s for r, s in zip(received, sent, strict=True)]


def run(objects: int, reader_pool: bool) -> None:
    state = tempfile.mkdtemp(prefix="minikube-py-bench-")
    try:
        with SqliteBackend(f"{state}/store.db", reader_pool=reader_pool) as store:
            print(f"\n== reader_pool={reader_pool} ({state}/store.db)")
            latencies = creates(store, objects)
            print(f"create, 1 thread:   {objects / sum(latencies):8.0f} creates/s   "
                  f"{summary(latencies)}")
            per = objects // 8
            elapsed = threaded(lambda t: [store.create(f"/registry/other/t{t}-{i}", pod(i))
                                          for i in range(per)], 8)
            print(f"create, 8 threads:  {per * 8 / elapsed:8.0f} creates/s")
            elapsed = timed(lambda: [store.update(f"/registry/pods/default/pod-{i:05d}", pod(i))
                                     for i in range(objects // 2)])
            print(f"update, 1 thread:   {objects / 2 / elapsed:8.0f} updates/s")
            elapsed = timed(lambda: [store.get(f"/registry/pods/default/pod-{i:05d}")
                                     for i in range(objects)])
            print(f"get, 1 thread:      {objects / elapsed:8.0f} gets/s")
            elapsed = threaded(lambda t: [store.get(f"/registry/pods/default/pod-{i:05d}")
                                          for i in range(objects // 4)], 4)
            print(f"get, 4 threads:     {objects / elapsed:8.0f} gets/s")
            print(f"list {objects} keys:     {summary(list_times(store, 20))}")
            print(f"  ... under writes: {summary(list_under_writes(store, 20))}")
            print(f"watch latency:      {summary(watch_latency(store, 200))}")
            print(f"objects: {len(store.list('')[0])}  revision: {store.revision()}")
    finally:
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    args = parser.parse_args()
    for reader_pool in (True, False):
        run(args.objects, reader_pool)


if __name__ == "__main__":
    main()
