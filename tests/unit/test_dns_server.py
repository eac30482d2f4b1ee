"""The cluster DNS server on 127.0.0.1 (a free port), asked with dnslib as a client.

No query ever leaves the machine: the only "upstream" used here is a second server on
127.0.0.1.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSQuestion, DNSRecord

from minikube_py.api.resources import must
from minikube_py.apiserver.server import APIServer
from minikube_py.client import Client
from minikube_py.dns.answer import answer
from minikube_py.dns.kubedns import ensure_kube_dns
from minikube_py.dns.records import build_table
from minikube_py.dns.server import ClusterDNS, DNSServer, DNSServerError, StaticSource

HOST = "127.0.0.1"


def svc(name: str, cluster_ip: str, ports: list[dict[str, Any]] | None = None,
        ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": cluster_ip,
                     "ports": ports or [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def headless_with(count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    eps = {"metadata": {"name": "many", "namespace": "default"},
           "subsets": [{"addresses": [{"ip": f"10.244.1.{i}"} for i in range(1, count + 1)],
                        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}
    return svc("many", "None"), eps


def serve(services: list[dict[str, Any]], endpoints: list[dict[str, Any]],
          **kw: Any) -> DNSServer:
    server = DNSServer(StaticSource(build_table(services, endpoints)), HOST, 0, **kw)
    server.start()
    return server


@pytest.fixture()
def dns() -> Iterator[DNSServer]:
    many, many_eps = headless_with(40)
    server = serve([svc("nginx-svc", "10.96.0.42"), many], [many_eps])
    try:
        yield server
    finally:
        server.stop()


def ask(server: DNSServer, name: str, qtype: str = "A", tcp: bool = False,
        edns: int | None = None, qclass: str = "IN") -> DNSRecord:
    q = DNSRecord.question(name, qtype, qclass)
    if edns:
        q.add_ar(EDNS0(udp_len=edns))
    reply = DNSRecord.parse(q.send(HOST, server.port, tcp=tcp, timeout=3))
    assert reply.header.id == q.header.id
    return reply


def rdata(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_service_name_answers_its_cluster_ip(dns: DNSServer, tcp: bool) -> None:
    reply = ask(dns, "nginx-svc.default.svc.cluster.local", tcp=tcp)
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa
    assert rdata(reply) == ["10.96.0.42"]


def test_the_answer_keeps_the_case_of_the_question(dns: DNSServer) -> None:
    reply = ask(dns, "NGINX-svc.Default.svc.cluster.local")
    assert str(reply.rr[0].rname) == "NGINX-svc.Default.svc.cluster.local."


def test_srv_answers_carry_the_target_address(dns: DNSServer) -> None:
    reply = ask(dns, "_http._tcp.nginx-svc.default.svc.cluster.local", "SRV")
    assert rdata(reply) == ["0 100 80 nginx-svc.default.svc.cluster.local."]
    assert [str(rr.rdata) for rr in reply.ar] == ["10.96.0.42"]


def test_a_reverse_lookup_of_the_cluster_ip_names_the_service(dns: DNSServer) -> None:
    reply = ask(dns, "42.0.96.10.in-addr.arpa", "PTR")
    assert rdata(reply) == ["nginx-svc.default.svc.cluster.local."]


def test_a_missing_name_in_the_cluster_domain_is_nxdomain_with_the_soa(dns: DNSServer) -> None:
    reply = ask(dns, "nope.default.svc.cluster.local")
    assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr
    assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]


def test_an_existing_name_without_that_type_is_no_data_not_nxdomain(dns: DNSServer) -> None:
    for name, qtype in [("default.svc.cluster.local", "A"),
                        ("nginx-svc.default.svc.cluster.local", "AAAA")]:
        reply = ask(dns, name, qtype)
        assert (reply.header.rcode, len(reply.rr)) == (RCODE.NOERROR, 0), name


def test_the_schema_version_is_a_txt_record(dns: DNSServer) -> None:
    assert rdata(ask(dns, "dns-version.cluster.local", "TXT")) == ['"1.0.1"']


def test_pod_names_answer_the_address_they_spell(dns: DNSServer) -> None:
    assert rdata(ask(dns, "10-244-0-7.default.pod.cluster.local")) == ["10.244.0.7"]


def test_names_outside_the_cluster_are_nxdomain_without_an_upstream(dns: DNSServer) -> None:
    reply = ask(dns, "example.com")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert not reply.header.aa and not reply.header.ra


def test_a_class_other_than_in_is_refused(dns: DNSServer) -> None:
    assert ask(dns, "version.bind", "TXT", qclass="CH").header.rcode == RCODE.REFUSED


def test_a_big_answer_is_truncated_over_udp_and_whole_over_tcp(dns: DNSServer) -> None:
    name = "many.default.svc.cluster.local"
    udp = ask(dns, name)
    assert udp.header.tc and not udp.rr and str(udp.q.qname) == name + "."
    tcp = ask(dns, name, tcp=True)
    assert not tcp.header.tc and len(tcp.rr) == 40


def test_an_edns_client_gets_a_bigger_udp_answer(dns: DNSServer) -> None:
    reply = ask(dns, "many.default.svc.cluster.local", edns=4096)
    assert not reply.header.tc and len(reply.rr) == 40
    assert [rr.rtype for rr in reply.ar] == [QTYPE.OPT]


def test_malformed_messages_do_not_stop_the_server(dns: DNSServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"\x12\x34" + b"\x01\x00" + b"\x00\x05" + b"\xff" * 20, (HOST, dns.port))
        reply = DNSRecord.parse(sock.recv(512))
        assert reply.header.id == 0x1234 and reply.header.rcode == RCODE.FORMERR
        sock.sendto(b"\x01", (HOST, dns.port))  # too short even for a header: dropped
    with socket.create_connection((HOST, dns.port), timeout=2) as conn:
        conn.sendall(struct.pack("!H", 3) + b"abc")
        conn.recv(512)
    rng = random.Random(4)
    valid = DNSRecord.question("nginx-svc.default.svc.cluster.local", "SRV").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for round_ in range(15):  # random bytes, and valid queries with random bytes flipped
            for _ in range(20):
                junk = bytearray(valid)
                for _ in range(rng.randint(1, 6)):
                    junk[rng.randrange(len(junk))] = rng.randrange(256)
                sock.sendto(bytes(junk[:rng.randint(0, len(junk))]), (HOST, dns.port))
                sock.sendto(rng.randbytes(rng.randint(0, 80)), (HOST, dns.port))
            # UDP is answered in order, so this reply means the burst before it was handled
            # (small bursts: a big one could overflow the socket buffer, and UDP drops).
            assert ask(dns, "dns-version.cluster.local", "TXT").rr, round_
    assert rdata(ask(dns, "nginx-svc.default.svc.cluster.local")) == ["10.96.0.42"]
    assert rdata(ask(dns, "nginx-svc.default.svc.cluster.local", tcp=True)) == ["10.96.0.42"]


def test_several_questions_over_one_tcp_connection(dns: DNSServer) -> None:
    with socket.create_connection((HOST, dns.port), timeout=2) as conn:
        for name in ("nginx-svc.default.svc.cluster.local", "dns-version.cluster.local"):
            packed = DNSRecord.question(name, "ANY").pack()
            conn.sendall(struct.pack("!H", len(packed)) + packed)
            size = struct.unpack("!H", conn.recv(2))[0]
            data = b""
            while len(data) < size:
                data += conn.recv(size - len(data))
            assert DNSRecord.parse(data).rr, name


def test_names_outside_the_cluster_go_to_an_upstream_only_when_one_is_configured() -> None:
    upstream = DNSServer(StaticSource(build_table([svc("web", "10.0.0.9")], [],
                                                  zone="example.test")), HOST, 0)
    upstream.start()
    cluster = serve([], [], upstream=(HOST, upstream.port))
    try:
        reply = ask(cluster, "web.default.svc.example.test")
        assert rdata(reply) == ["10.0.0.9"]
        assert ask(cluster, "nope.cluster.local").header.rcode == RCODE.NXDOMAIN
    finally:
        cluster.stop()
        upstream.stop()


def test_a_dead_upstream_is_servfail() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind((HOST, 0))  # receives, never answers
        cluster = serve([], [], upstream=(HOST, hole.getsockname()[1]), forward_timeout=0.3)
        try:
            assert ask(cluster, "example.com").header.rcode == RCODE.SERVFAIL
        finally:
            cluster.stop()


def test_a_taken_port_is_a_clear_error(dns: DNSServer) -> None:
    other = DNSServer(StaticSource(build_table([], [])), HOST, dns.port)
    with pytest.raises(DNSServerError, match="failed to bind DNS server"):
        other.start()


def test_the_cluster_dns_follows_services_through_the_api(tmp_path: Any) -> None:
    api = APIServer(str(tmp_path / "store.db"), port=0)
    api.start()
    client = Client(api.url)
    dns = ClusterDNS(client, HOST, 0)
    try:
        dns.start()
        ensure_kube_dns(client, "127.0.0.1", dns.port)
        ensure_kube_dns(client, "127.0.0.1", dns.port)  # idempotent
        name = "kube-dns.kube-system.svc.cluster.local"
        wait_for(lambda: rdata(ask(dns.server, name)) == ["10.96.0.10"])
        client.create(must("services"), svc("late", "10.96.7.7"), "default")
        wait_for(lambda: rdata(ask(dns.server, "late.default.svc.cluster.local"))
                 == ["10.96.7.7"])
        client.delete(must("services"), "late", "default")
        wait_for(lambda: ask(dns.server, "late.default.svc.cluster.local").header.rcode
                 == RCODE.NXDOMAIN)
        srv = ask(dns.server, "_dns._udp." + name, "SRV")
        assert rdata(srv) == ["0 100 53 kube-dns.kube-system.svc.cluster.local."]
        ep = client.get(must("endpoints"), "kube-dns", "kube-system")
        assert ep["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}]
    finally:
        dns.stop()
        api.stop()


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)



def test_an_external_name_pointing_into_the_cluster_is_followed_to_the_address() -> None:
    ext = {"metadata": {"name": "alias", "namespace": "default"},
           "spec": {"type": "ExternalName",
                    "externalName": "nginx-svc.default.svc.cluster.local"}}
    table = build_table([svc("nginx-svc", "10.96.0.42"), ext], [])
    reply = answer(DNSRecord.question("alias.default.svc.cluster.local"), table)
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [
        ("CNAME", "nginx-svc.default.svc.cluster.local."), ("A", "10.96.0.42")]


def test_only_plain_single_questions_are_answered() -> None:
    table = build_table([], [])
    notify = DNSRecord.question("cluster.local", "SOA")
    notify.header.opcode = OPCODE.NOTIFY
    assert answer(notify, table).header.rcode == RCODE.NOTIMP
    two = DNSRecord.question("a.cluster.local")
    two.add_question(DNSQuestion("b.cluster.local"))
    assert answer(two, table).header.rcode == RCODE.FORMERR


def test_the_zone_apex_answers_its_soa_and_ns() -> None:
    table = build_table([], [])
    soa = answer(DNSRecord.question("cluster.local", "SOA"), table, serial=7)
    assert str(soa.rr[0].rdata).split()[:3] == ["ns.dns.cluster.local.",
                                                "hostmaster.cluster.local.", "7"]
    ns = answer(DNSRecord.question("cluster.local", "NS"), table)
    assert [str(rr.rdata) for rr in ns.rr] == ["ns.dns.cluster.local."]


def test_ensuring_kube_dns_again_corrects_a_changed_port_and_address(tmp_path: Any) -> None:
    api = APIServer(str(tmp_path / "store.db"), port=0)
    api.start()
    try:
        client = Client(api.url)
        ensure_kube_dns(client, "10.250.1.1", 53)
        ensure_kube_dns(client, "10.250.2.1", 5353)
        service = client.get(must("services"), "kube-dns", "kube-system")
        assert {p["targetPort"] for p in service["spec"]["ports"]} == {5353}
        assert service["spec"]["clusterIP"] == "10.96.0.10"
        ep = client.get(must("endpoints"), "kube-dns", "kube-system")
        assert ep["subsets"][0]["addresses"] == [{"ip": "10.250.2.1"}]
        assert {p["port"] for p in ep["subsets"][0]["ports"]} == {5353}
    finally:
        api.stop()
