"""kube-proxy's ruleset text for sample Services (pure: no kernel; the node tests load it)."""

from __future__ import annotations

from typing import Any

from minikube_py.proxy.rules import (
    RulesConfig,
    build_ruleset,
    endpoints_for,
    render,
    service_ports,
    update_script,
)

CFG = RulesConfig(table="kp", cluster_cidr="10.244.0.0/24")


def service(name: str = "web", ip: str = "10.96.0.20", **spec: Any) -> dict[str, Any]:
    ports = spec.pop("ports", [{"name": "http", "port": 80, "targetPort": "http",
                                "protocol": "TCP"}])
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": ports, **spec}}


def endpoints(*ips: str, name: str = "web", port: int = 8080,
              port_name: str = "http") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                         "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}]}


def text(services: list[dict[str, Any]], eps: list[dict[str, Any]]) -> str:
    return render(build_ruleset(services, eps, CFG))


def test_cluster_ip_service_maps_to_its_chain_and_balances_at_random():
    out = text([service()], [endpoints("10.244.0.5", "10.244.0.6")])
    assert "10.96.0.20 . tcp . 80 : goto service-default/web/tcp/http" in out
    assert ("numgen random mod 2 vmap { 0 : goto endpoint-default/web/tcp/http__10.244.0.5/8080"
            ", 1 : goto endpoint-default/web/tcp/http__10.244.0.6/8080 }") in out
    assert "meta l4proto tcp dnat to 10.244.0.5:8080" in out
    assert "meta l4proto tcp dnat to 10.244.0.6:8080" in out
    assert "# Service default/web" in out


def test_table_is_replaced_atomically_and_has_the_base_chains():
    out = text([], [])
    assert out.splitlines()[1:4] == ["table ip kp", "delete table ip kp", "table ip kp {"]
    assert "type nat hook output priority -100; policy accept;" in out
    assert "type nat hook postrouting priority 100; policy accept;" in out
    assert "ip daddr . meta l4proto . th dport vmap @service-ips" in out
    assert ("fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport "
            "vmap @service-nodeports") in out
    assert "ip daddr 10.96.0.0/12 reject" in out
    assert "elements" not in out  # empty maps are declared without elements


def test_masquerade_for_outside_traffic_and_hairpin():
    out = text([service()], [endpoints("10.244.0.5")])
    assert ("ip daddr 10.96.0.20 tcp dport 80 ip saddr != 10.244.0.0/24 "
            "jump mark-for-masquerade") in out
    assert 'ip saddr 10.244.0.5 jump mark-for-masquerade comment "hairpin"' in out
    assert "goto endpoint-default/web/tcp/http__10.244.0.5/8080" in out  # one: no numgen
    assert "numgen" not in out
    assert "masquerade fully-random" in out


def test_node_port_service_gets_an_external_chain_that_masquerades():
    svc = service(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080,
                                           "protocol": "TCP"}])
    out = text([svc], [endpoints("10.244.0.5")])
    assert "tcp . 30080 : goto external-default/web/tcp/http" in out
    assert ("chain external-default/web/tcp/http {\n\t\tjump mark-for-masquerade\n"
            "\t\tgoto service-default/web/tcp/http\n\t}") in out


def test_named_target_port_is_resolved_per_pod_from_the_endpoints_subsets():
    eps = {"metadata": {"name": "web", "namespace": "default"}, "subsets": [
        {"addresses": [{"ip": "10.244.0.5"}], "ports": [{"name": "http", "port": 8080}]},
        {"addresses": [{"ip": "10.244.0.6"}], "ports": [{"name": "http", "port": 9090}]},
        {"addresses": [{"ip": "10.244.0.7"}], "ports": [{"name": "metrics", "port": 9100}],
         "notReadyAddresses": [{"ip": "10.244.0.8"}]},
    ]}
    assert endpoints_for(eps, "http", "tcp") == (("10.244.0.5", 8080), ("10.244.0.6", 9090))
    out = text([service()], [eps])
    assert "dnat to 10.244.0.6:9090" in out and "10.244.0.7" not in out


def test_unnamed_single_port_matches_the_unnamed_endpoints_port():
    svc = service(ports=[{"port": 80, "protocol": "TCP"}])
    out = text([svc], [endpoints("10.244.0.5", port_name="")])
    assert "service-default/web/tcp/80" in out and "dnat to 10.244.0.5:8080" in out


def test_service_without_endpoints_is_rejected_not_dropped():
    out = text([service(type="NodePort", ports=[{"name": "http", "port": 80,
                                                 "nodePort": 30081}])], [])
    assert "10.96.0.20 . tcp . 80 : goto reject-no-endpoints" in out
    assert "tcp . 30081 : goto reject-no-endpoints" in out
    assert "meta l4proto tcp reject with tcp reset" in out
    assert "service-default/web" not in out


def test_client_ip_affinity_uses_a_timed_set_per_endpoint():
    svc = service(sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    out = text([svc], [endpoints("10.244.0.5", "10.244.0.6")])
    name = "affinity-default/web/tcp/http__10.244.0.5/8080"
    assert f"set {name} {{\n\t\ttype ipv4_addr; flags dynamic,timeout; timeout 60s;" in out
    assert f"ip saddr @{name} goto endpoint-default/web/tcp/http__10.244.0.5/8080" in out
    assert f"update @{name} {{ ip saddr }}" in out
    default = text([service(sessionAffinity="ClientIP")], [endpoints("10.244.0.5")])
    assert "timeout 10800s;" in default


def test_headless_external_name_and_unallocated_services_get_no_rules():
    assert service_ports(service(ip="None"), None) == []
    assert service_ports(service(ip=""), None) == []
    assert service_ports(service(type="ExternalName", externalName="example.org"), None) == []


def test_udp_port_uses_its_own_protocol():
    svc = service(ports=[{"name": "dns", "port": 53, "protocol": "UDP"}])
    eps = {"metadata": {"name": "web", "namespace": "default"}, "subsets": [
        {"addresses": [{"ip": "10.244.0.9"}],
         "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}]}]}
    out = text([svc], [eps])
    assert "10.96.0.20 . udp . 53 : goto service-default/web/udp/dns" in out
    assert "meta l4proto udp dnat to 10.244.0.9:5353" in out


def test_duplicate_cluster_ip_port_keeps_the_first_service():
    out = text([service("a"), service("b")], [endpoints("10.244.0.5", name="a"),
                                               endpoints("10.244.0.6", name="b")])
    assert out.count("10.96.0.20 . tcp . 80 :") == 1


def test_update_touches_only_the_changed_service():
    services = [service("a", "10.96.0.21"), service("b", "10.96.0.22")]
    old = build_ruleset(services, [endpoints("10.244.0.5", name="a"),
                                   endpoints("10.244.0.6", name="b")], CFG)
    b = old.fragments["default/b"]
    new = build_ruleset(services, [endpoints("10.244.0.7", name="a"),
                                   endpoints("10.244.0.6", name="b")], CFG)
    new.fragments["default/b"] = b  # what the syncer's cache does for an unchanged Service
    script = update_script(old, new) or ""
    assert "default/b" not in script
    assert script.splitlines() == [
        "add chain ip kp endpoint-default/a/tcp/http__10.244.0.7/8080",
        "add rule ip kp endpoint-default/a/tcp/http__10.244.0.7/8080 ip saddr 10.244.0.7 jump "
        'mark-for-masquerade comment "hairpin"',
        "add rule ip kp endpoint-default/a/tcp/http__10.244.0.7/8080 meta l4proto tcp dnat to "
        "10.244.0.7:8080",
        "flush chain ip kp service-default/a/tcp/http",
        "add rule ip kp service-default/a/tcp/http ip daddr 10.96.0.21 tcp dport 80 ip saddr"
        ' != 10.244.0.0/24 jump mark-for-masquerade comment "default/a:http from outside the'
        ' pod network"',
        'add rule ip kp service-default/a/tcp/http goto endpoint-default/a/tcp/http__10.244.0.7'
        '/8080 comment "default/a:http: 1 endpoint"',
        "flush chain ip kp endpoint-default/a/tcp/http__10.244.0.5/8080",
        "delete chain ip kp endpoint-default/a/tcp/http__10.244.0.5/8080",
    ]


def test_update_of_a_deleted_service_removes_its_elements_and_chains():
    old = build_ruleset([service()], [endpoints("10.244.0.5")], CFG)
    script = update_script(old, build_ruleset([], [], CFG)) or ""
    assert "delete element ip kp service-ips { 10.96.0.20 . tcp . 80 }" in script
    assert script.index("delete element") < script.index("delete chain ip kp service-")
    assert "delete chain ip kp endpoint-default/web/tcp/http__10.244.0.5/8080" in script


def test_update_is_empty_when_nothing_changed_and_none_when_the_config_changed():
    old = build_ruleset([service()], [endpoints("10.244.0.5")], CFG)
    same = build_ruleset([], [], CFG)
    same.fragments = dict(old.fragments)
    assert update_script(old, same) == ""
    other = build_ruleset([service()], [endpoints("10.244.0.5")],
                          RulesConfig(table="kp", cluster_cidr="10.244.1.0/24"))
    assert update_script(old, other) is None


def test_changed_affinity_timeout_needs_a_full_reload():
    eps = [endpoints("10.244.0.5")]
    old = build_ruleset([service(sessionAffinity="ClientIP")], eps, CFG)
    new = build_ruleset([service(sessionAffinity="ClientIP", sessionAffinityConfig={
        "clientIP": {"timeoutSeconds": 5}})], eps, CFG)
    assert update_script(old, new) is None
