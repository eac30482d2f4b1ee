"""The cluster DNS record table, built from Service and Endpoints objects (no sockets)."""

from __future__ import annotations

from typing import Any

from minikube_py.dns.kubedns import _service_differs, dns_endpoints, dns_service
from minikube_py.dns.records import (
    build_table,
    endpoint_hostname,
    pod_record,
    reverse_name,
)


def service(name: str, ns: str = "default", cluster_ip: str | None = "10.96.3.4",
            ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": ports if ports is not None else
                            [{"port": 80, "protocol": "TCP", "targetPort": 8080}], **spec}
    if cluster_ip is not None:
        body["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": body}


def endpoints(name: str, ready: list[dict[str, Any]], ns: str = "default",
              not_ready: list[dict[str, Any]] | None = None,
              ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    subset: dict[str, Any] = {"addresses": ready,
                              "ports": ports or [{"name": "http", "port": 8080,
                                                  "protocol": "TCP"}]}
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns}, "subsets": [subset]}


def values(table: Any, name: str, rtype: str) -> list[str]:
    return sorted(r.value for r in table.lookup(name, rtype))


def test_a_service_with_a_cluster_ip_gets_an_a_record_under_its_namespace() -> None:
    table = build_table([service("nginx-svc", cluster_ip="10.96.0.42")], [])
    assert values(table, "nginx-svc.default.svc.cluster.local", "A") == ["10.96.0.42"]
    assert table.lookup("nginx-svc.other.svc.cluster.local") == []


def test_names_are_compared_without_regard_to_case() -> None:
    table = build_table([service("web")], [])
    assert values(table, "WEB.Default.SVC.cluster.LOCAL.", "A") == ["10.96.3.4"]


def test_the_cluster_ip_has_a_ptr_record_back_to_the_service_name() -> None:
    table = build_table([service("web", cluster_ip="10.96.0.10")], [])
    assert reverse_name("10.96.0.10") == "10.0.96.10.in-addr.arpa."
    assert values(table, "10.0.96.10.in-addr.arpa.", "PTR") == ["web.default.svc.cluster.local."]


def test_named_ports_get_srv_records_and_unnamed_ports_do_not() -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP"},
             {"name": "dns", "port": 53, "protocol": "UDP"}]
    table = build_table([service("web", ports=ports), service("plain")], [])
    srv = table.lookup("_http._tcp.web.default.svc.cluster.local", "SRV")
    assert [(r.port, r.value) for r in srv] == [(80, "web.default.svc.cluster.local.")]
    assert table.lookup("_dns._udp.web.default.svc.cluster.local", "SRV")[0].port == 53
    assert not [r for rs in table.records.values() for r in rs
                if r.rtype == "SRV" and "plain" in r.name]


def test_a_headless_service_gets_one_a_record_per_ready_endpoint_and_their_hostnames() -> None:
    svc = service("db", cluster_ip="None", ports=[{"name": "pg", "port": 5432}])
    eps = endpoints("db", [{"ip": "10.244.0.5", "hostname": "db-0"}, {"ip": "10.244.0.6"}],
                    not_ready=[{"ip": "10.244.0.7"}],
                    ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])
    table = build_table([svc], [eps])
    assert values(table, "db.default.svc.cluster.local", "A") == ["10.244.0.5", "10.244.0.6"]
    assert values(table, "db-0.db.default.svc.cluster.local", "A") == ["10.244.0.5"]
    assert values(table, "10-244-0-6.db.default.svc.cluster.local", "A") == ["10.244.0.6"]
    assert values(table, "5.0.244.10.in-addr.arpa", "PTR") == ["db-0.db.default.svc.cluster.local."]
    srv = table.lookup("_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert sorted(r.value for r in srv) == ["10-244-0-6.db.default.svc.cluster.local.",
                                            "db-0.db.default.svc.cluster.local."]
    assert {r.weight for r in srv} == {50}


def test_publish_not_ready_addresses_includes_the_pods_that_are_not_ready() -> None:
    svc = service("db", cluster_ip="None", publishNotReadyAddresses=True)
    eps = endpoints("db", [{"ip": "10.244.0.5"}], not_ready=[{"ip": "10.244.0.7"}])
    table = build_table([svc], [eps])
    assert values(table, "db.default.svc.cluster.local", "A") == ["10.244.0.5", "10.244.0.7"]


def test_a_headless_service_without_ready_pods_exists_but_has_no_records() -> None:
    table = build_table([service("db", cluster_ip="None")], [endpoints("db", [])])
    assert table.lookup("db.default.svc.cluster.local") == []
    assert table.exists("db.default.svc.cluster.local")
    assert table.exists("default.svc.cluster.local")
    assert table.exists("svc.cluster.local")
    assert not table.exists("nope.default.svc.cluster.local")
    assert not table.exists("kube-system.svc.cluster.local")


def test_a_cluster_ip_service_ignores_its_endpoints_for_dns() -> None:
    table = build_table([service("web")], [endpoints("web", [{"ip": "10.244.0.5"}])])
    assert values(table, "web.default.svc.cluster.local", "A") == ["10.96.3.4"]
    assert table.lookup("5.0.244.10.in-addr.arpa") == []


def test_an_external_name_service_is_a_cname() -> None:
    svc = service("ext", cluster_ip=None, ports=[], type="ExternalName",
                  externalName="Example.COM")
    table = build_table([svc], [])
    assert values(table, "ext.default.svc.cluster.local", "CNAME") == ["example.com."]
    assert table.lookup("ext.default.svc.cluster.local", "A") == []


def test_the_zone_says_its_schema_version_in_txt() -> None:
    table = build_table([], [], zone="example.internal")
    assert values(table, "dns-version.example.internal", "TXT") == ["1.0.1"]
    assert table.zone == "example.internal."


def test_the_table_prints_as_a_zone_file() -> None:
    text = str(build_table([service("web", cluster_ip="10.96.0.42")], []))
    assert "web.default.svc.cluster.local.\t5\tIN\tA\t10.96.0.42" in text.splitlines()
    assert 'dns-version.cluster.local.\t5\tIN\tTXT\t"1.0.1"' in text.splitlines()


def test_a_service_still_waiting_for_its_cluster_ip_only_reserves_its_name() -> None:
    table = build_table([service("web", cluster_ip="")], [])
    assert table.lookup("web.default.svc.cluster.local") == []
    assert table.exists("web.default.svc.cluster.local")


def test_pod_records_are_computed_from_the_dashed_address() -> None:
    record = pod_record("10-244-0-5.default.pod.cluster.local", "cluster.local")
    assert record is not None and record.value == "10.244.0.5"
    assert pod_record("10-244-0-999.default.pod.cluster.local", "cluster.local") is None
    assert pod_record("10-244-0-5.pod.cluster.local", "cluster.local") is None
    assert pod_record("10-244-0-5.default.svc.cluster.local", "cluster.local") is None


def test_an_endpoint_without_hostname_is_named_after_its_address() -> None:
    assert endpoint_hostname({"ip": "10.244.0.5"}) == "10-244-0-5"
    assert endpoint_hostname({"ip": "10.244.0.5", "hostname": "web-0"}) == "web-0"


def test_the_kube_dns_service_has_no_selector_and_points_both_ports_at_the_server() -> None:
    svc = dns_service(target_port=5353)
    assert svc["spec"]["clusterIP"] == "10.96.0.10" and "selector" not in svc["spec"]
    assert [(p["name"], p["port"], p["protocol"], p["targetPort"])
            for p in svc["spec"]["ports"]] == [("dns", 53, "UDP", 5353),
                                               ("dns-tcp", 53, "TCP", 5353)]
    ep = dns_endpoints("10.250.3.1", 5353)
    assert ep["subsets"][0]["addresses"] == [{"ip": "10.250.3.1"}]
    assert {p["port"] for p in ep["subsets"][0]["ports"]} == {5353}


def test_the_kube_dns_service_is_corrected_only_when_its_ports_differ() -> None:
    assert not _service_differs(dns_service(target_port=53), dns_service(target_port=53))
    assert _service_differs(dns_service(target_port=53), dns_service(target_port=5353))
    with_selector = dns_service()
    with_selector["spec"]["selector"] = {"k8s-app": "kube-dns"}
    assert _service_differs(with_selector, dns_service())
