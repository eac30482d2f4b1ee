"""kube-proxy sync time: 1,000 Services x 5 endpoints in one nftables table.

What is timed (each includes computing the rules, writing the file and ``nft -f``):

1. a full sync: the whole table loaded in one transaction (cold: no table yet; warm: the
   table is there and is replaced, as at a restart of the proxy);
2. one endpoint change: one Service's endpoint replaced by another -> a partial sync (that
   Service's chains and map elements only), until ``nft`` returns (the rules are live);
   rewriting the readable ``kube-proxy.nft`` afterwards is timed on its own;
3. a sync where nothing changed (no ``nft`` at all).

Target (issue: services): full sync <= 1 s, one endpoint change <= 50 ms.
The table is ``minikube_py_bench-proxy``; its ClusterIPs come from 10.109.0.0/16 and its
endpoints from the bench pod CIDR 10.251.0.0/16 (no traffic is sent); it is deleted at the end.
Run as root:  .venv/bin/python bench/proxy_sync.py [--services 1000] [--endpoints 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import summary  # noqa: E402
from minikube_py.proxy import ProxyConfig, RuleSyncer, delete_proxy_table, render  # noqa: E402

TABLE = "minikube_py_bench-proxy"


def service(i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"svc-{i}", "namespace": "default", "resourceVersion": "1"},
            "spec": {"type": "NodePort", "clusterIP": f"10.109.{i // 250}.{i % 250 + 1}",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP", "nodePort": 30000 + i}]}}


def endpoints(i: int, count: int, generation: int = 0) -> dict[str, Any]:
    ips = [f"10.251.{(i * count + k) // 250 % 256}.{(i * count + k) % 250 + 1}"
           for k in range(count)]
    if generation:
        ips[0] = f"10.251.255.{generation % 250 + 1}"
    return {"metadata": {"name": f"svc-{i}", "namespace": "default",
                         "resourceVersion": str(generation + 1)},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}


def timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n, per = args.services, args.endpoints
    state = tempfile.mkdtemp(prefix="minikube-py-bench-")
    config = ProxyConfig(table=TABLE, cluster_cidr="10.251.0.0/16", state_dir=state,
                         service_cidr="10.109.0.0/16")
    services = [service(i) for i in range(n)]
    eps = [endpoints(i, per) for i in range(n)]
    try:
        delete_proxy_table(TABLE)
        cold, warm, change, same, build, text, written = [], [], [], [], [], [], []
        for _ in range(args.runs):
            delete_proxy_table(TABLE)
            cold.append(timed(RuleSyncer(config).sync, services, eps))
        for _ in range(args.runs):
            syncer = RuleSyncer(config)
            build.append(timed(syncer.build, services, eps))
            text.append(timed(render, syncer.build(services, eps)))
            warm.append(timed(syncer.sync, services, eps, full=True))
        syncer = RuleSyncer(config)
        syncer.sync(services, eps)
        for g in range(1, 4 * args.runs + 1):
            i = (g * 37) % n
            eps[i] = endpoints(i, per, g)
            change.append(timed(syncer.sync, services, eps, write=False))
            written.append(timed(syncer.write_ruleset))
            assert syncer.sync(services, eps) == "unchanged"
            same.append(timed(syncer.sync, services, eps))
        size = os.path.getsize(config.ruleset_path)
    finally:
        delete_proxy_table(TABLE)
        shutil.rmtree(state, ignore_errors=True)
    print(f"kube-proxy sync, {n} Services x {per} endpoints (NodePort each), table {TABLE}, "
          f"ruleset {size / 1e6:.1f} MB")
    print(f"  full sync, no table yet:      {summary(cold)}")
    print(f"  full sync, replacing a table: {summary(warm)}")
    print(f"    of which computing rules:   {summary(build)}")
    print(f"    of which rendering text:    {summary(text)}")
    print(f"  one endpoint change:          {summary(change)}   (in the kernel)")
    print(f"    then kube-proxy.nft rewritten: {summary(written)}")
    print(f"  nothing changed:              {summary(same)}")
    print("  targets: full sync <= 1000 ms, one endpoint change <= 50 ms")


if __name__ == "__main__":
    main()
