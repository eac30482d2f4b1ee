"""Cluster DNS: record-table rebuild time and query latency/throughput (no root needed).

What is measured, with 1,000 ClusterIP Services (one named port each) and 100 headless
Services × 5 ready endpoints, in one process, on 127.0.0.1 only:

1. ``build_table`` for all of them (what one burst of Service/Endpoints changes costs: the
   table is rebuilt lazily, once, at the next query);
2. UDP query latency, one client asking one name at a time (an A query for a Service name);
3. the same over TCP, one connection per query (what a resolver does after a truncated reply);
4. UDP throughput with 4 client threads.

Run:  .venv/bin/python bench/dns_bench.py [--services 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import threading
import time
from typing import Any

from dnslib import DNSRecord

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import summary
from minikube_py.dns.records import build_table
from minikube_py.dns.server import DNSServer, StaticSource

HOST = "127.0.0.1"


def objects(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    services, endpoints = [], []
    for i in range(count):
        services.append({"metadata": {"name": f"svc-{i}", "namespace": f"ns-{i % 20}"},
                         "spec": {"clusterIP": f"10.96.{i // 250 + 1}.{i % 250 + 1}",
                                  "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    for i in range(count // 10):
        meta = {"name": f"headless-{i}", "namespace": "default"}
        services.append({"metadata": meta, "spec": {"clusterIP": "None", "ports": [
            {"name": "http", "port": 80}]}})
        endpoints.append({"metadata": meta, "subsets": [{
            "addresses": [{"ip": f"10.244.{i % 250}.{k + 1}"} for k in range(5)],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]})
    return services, endpoints


def query_udp(sock: socket.socket, port: int, name: str) -> None:
    packet = DNSRecord.question(name).pack()
    sock.sendto(packet, (HOST, port))
    DNSRecord.parse(sock.recv(4096))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    services, endpoints = objects(args.services)

    builds = []
    for _ in range(7):
        started = time.perf_counter()
        table = build_table(services, endpoints)
        builds.append(time.perf_counter() - started)
    print(f"build_table ({len(services)} Services, {len(table)} records): {summary(builds)}")

    server = DNSServer(StaticSource(table), HOST, 0)
    server.start()
    names = [f"svc-{i}.ns-{i % 20}.svc.cluster.local" for i in range(args.services)]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            udp = []
            for _ in range(args.queries):
                started = time.perf_counter()
                query_udp(sock, server.port, random.choice(names))
                udp.append(time.perf_counter() - started)
        print(f"UDP query, one at a time: {summary(udp)}")

        tcp = []
        for _ in range(args.queries // 4):
            started = time.perf_counter()
            DNSRecord.question(random.choice(names)).send(HOST, server.port, tcp=True)
            tcp.append(time.perf_counter() - started)
        print(f"TCP query, new connection each: {summary(tcp)}")

        per_thread, done = args.queries // 4, []

        def client() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(2)
                for _ in range(per_thread):
                    query_udp(sock, server.port, random.choice(names))
            done.append(per_thread)

        threads = [threading.Thread(target=client) for _ in range(4)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        print(f"UDP throughput, 4 clients: {sum(done) / elapsed:7.0f} queries/s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
