"""Requests per second through a Service's ClusterIP, against the pod IPs directly.

Set-up (bench names only, removed at the end): bridge ``mkbsvcbr`` on 10.251.7.0/24, two
netns "pods" (``mkbsvc1``, ``mkbsvc2``) each running ``busybox httpd`` on 8080, a third "pod"
(``mkbsvc0``) for the clients — a Service is for traffic between pods — and kube-proxy's
table ``minikube_py_bench-proxy`` holding a Service 10.109.250.10:80 -> both pods, plus
``--extra-services`` other Services (1,000 by default, so the lookup is not in an empty map).

What is timed: ``--threads`` Python client threads send GET requests for ``--seconds``; each
request opens a new TCP connection (so every request goes through the DNAT rules, not only
the conntrack fast path). Rounds alternate: direct to the pod IPs (round robin), then through
the ClusterIP, ``--rounds`` times each. Reported: the median requests/s of each, their ratio,
and the median of the per-round ratios (each ClusterIP round against the direct round just
before it, which ran under the same conditions: this VM's speed drifts between rounds).
Target (issue: services): ClusterIP / direct >= 0.9. Traffic stays on the bench bridge.

Each client closes its connection with a reset (SO_LINGER 0) once it has read the answer,
as load generators do: otherwise TIME_WAIT entries (60 s) pile up by the hundred thousand and
the run measures port reuse, not the rules.

Why the clients run in a pod: traffic from the node itself to a ClusterIP is masqueraded
(its source is not in the pod CIDR), and with thousands of short connections per second the
source-NAT port search among conntrack's TIME_WAIT entries (120 s) becomes the bottleneck:
host -> ClusterIP drops to a fraction of the direct rate within seconds. Pod -> ClusterIP
traffic is only DNATed, as in a real cluster.

Known: over longer runs (more than ~4 rounds back to back) BOTH paths slow down round by
round on our VM — the direct path as much as the ClusterIP path — so something outside the
ruleset accumulates (not yet understood); keep the default 3 rounds and wait a minute between
runs.

Run as root:  .venv/bin/python bench/service_throughput.py [--seconds 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bridge  # noqa: E402
import netns  # noqa: E402
from bench.proxy_sync import endpoints, service  # noqa: E402
from minikube_py.proxy import ProxyConfig, RuleSyncer  # noqa: E402

CLUSTER_IP = "10.109.250.10"
CLIENT_NETNS = "mkbsvc0"
LINGER_RESET = struct.pack("ii", 1, 0)
NET = bridge.NetworkConfig(bridge="mkbsvcbr", subnet="10.251.7.0/24",
                           state_dir=tempfile.mkdtemp(prefix="minikube-py-bench-"),
                           nft_table="minikube_py_bench", name="bench-svc")


def load(targets: list[str], threads: int, seconds: float) -> float:
    """Requests per second over ``seconds`` with ``threads`` clients, new connection each."""
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        with netns.enter_netns(CLIENT_NETNS):
            run(n)

    def run(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection(targets[i % len(targets)], 80 if
                                              targets[0] == CLUSTER_IP else 8080, timeout=5)
            conn.request("GET", "/", headers={"Connection": "close"})
            conn.getresponse().read()
            if conn.sock is not None:  # close with a reset: no TIME_WAIT on either side
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            conn.close()
            counts[n] += 1
            i += 1

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--extra-services", type=int, default=1000)
    args = parser.parse_args()
    servers: list[subprocess.Popen[bytes]] = []
    pods: list[tuple[str, str]] = []
    syncer = RuleSyncer(ProxyConfig(table="minikube_py_bench-proxy", cluster_cidr=NET.subnet,
                                    state_dir=NET.state_dir, service_cidr="10.109.0.0/16"))
    try:
        bridge.ensure_bridge(NET)
        bridge.attach(NET, netns.ensure_netns(CLIENT_NETNS), "bench0", "mkbsvcv0")
        # Thousands of short connections a second from one client address: let the client
        # pod reuse its TIME_WAIT ports and use the whole port range (sysctls of that netns
        # only), or both paths end up measuring ephemeral-port exhaustion.
        for setting in ("net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"):
            netns.run_in_netns(CLIENT_NETNS, ["sysctl", "-q", "-w", setting], check=True)
        for n in (1, 2):
            name = f"mkbsvc{n}"
            att = bridge.attach(NET, netns.ensure_netns(name), f"bench{n}", f"mkbsvcv{n}")
            pods.append((name, att.ip))
            root = os.path.join(NET.state_dir, f"www{n}")
            os.makedirs(root)
            with open(os.path.join(root, "index.html"), "w") as f:
                f.write(f"pod{n}\n")
            servers.append(subprocess.Popen(["ip", "netns", "exec", name, "busybox", "httpd",
                                             "-f", "-p", "8080", "-h", root]))
        svc = {"metadata": {"name": "web", "namespace": "default"},
               "spec": {"clusterIP": CLUSTER_IP, "ports": [{"port": 80, "protocol": "TCP"}]}}
        eps = {"metadata": {"name": "web", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": ip} for _n, ip in pods], "ports": [{"port": 8080}]}]}
        extra = range(args.extra_services)
        syncer.sync([svc] + [service(i) for i in extra], [eps] + [endpoints(i, 5) for i in extra])
        time.sleep(0.3)
        load([CLUSTER_IP], args.threads, 0.5)  # warm up both paths
        direct, via = [], []
        for _ in range(args.rounds):
            direct.append(load([ip for _n, ip in pods], args.threads, args.seconds))
            via.append(load([CLUSTER_IP], args.threads, args.seconds))
    finally:
        syncer.delete()
        for proc in servers:
            proc.kill()
            proc.wait()
        for n, name in enumerate([CLIENT_NETNS] + [p for p, _ip in pods]):
            bridge.detach(NET, f"bench{n}", f"mkbsvcv{n}")
            netns.delete_netns(name)
        bridge.delete_bridge(NET)
        shutil.rmtree(NET.state_dir, ignore_errors=True)
    d, v = statistics.median(direct), statistics.median(via)
    print(f"HTTP requests/s from a client pod, {args.threads} client threads, new connection "
          f"per request, busybox httpd in 2 pods, {args.extra_services + 1} Services in the "
          "table")
    print(f"  direct to the pod IPs: median {d:8.0f} req/s  (rounds: "
          f"{', '.join(f'{x:.0f}' for x in direct)})")
    print(f"  through the ClusterIP: median {v:8.0f} req/s  (rounds: "
          f"{', '.join(f'{x:.0f}' for x in via)})")
    paired = statistics.median(b / a for a, b in zip(direct, via, strict=True))
    print(f"  ratio of the medians: {v / d:.3f}")
    print(f"  median of per-round ratios (each ClusterIP round against the direct round just "
          f"before it): {paired:.3f}   (target >= 0.9)")


if __name__ == "__main__":
    main()
