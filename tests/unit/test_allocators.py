"""ClusterIP and NodePort allocation: the pure allocator, then through a real API server
(HTTP on 127.0.0.1, temporary SQLite store): 422 causes, release on delete, restarts."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest

from minikube_py.api.resources import must
from minikube_py.apiserver.allocators import (
    AllocationError,
    RangeFull,
    ServiceAllocator,
)
from minikube_py.apiserver.server import APIServer
from minikube_py.client import ApiError, Client

SVC = must("services")


def service(name: str, type_: str = "ClusterIP", cluster_ip: str | None = None,
            node_port: int | None = None) -> dict[str, Any]:
    port: dict[str, Any] = {"port": 8080, "targetPort": 80, "protocol": "TCP"}
    if node_port is not None:
        port["nodePort"] = node_port
    spec: dict[str, Any] = {"type": type_, "selector": {"app": name}, "ports": [port]}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


# -- the allocator on its own -----------------------------------------------------------------
def test_a_new_service_gets_an_address_from_the_service_cidr_but_never_the_reserved_ones():
    alloc = ServiceAllocator()
    ips = {alloc.assign(f"k{i}", service(f"s{i}"))["spec"]["clusterIP"] for i in range(200)}
    assert len(ips) == 200
    net = ipaddress.IPv4Network("10.96.0.0/12")
    assert all(ipaddress.IPv4Address(ip) in net for ip in ips)
    assert not ips & {"10.96.0.0", "10.96.0.1", "10.96.0.10", "10.111.255.255"}
    # dynamic addresses come from above the static band (10.96.0.0-10.96.0.255) first
    assert not any(ip.startswith("10.96.0.") for ip in ips)


def test_the_spec_lists_the_address_in_cluster_ips_with_its_family():
    spec = ServiceAllocator().assign("k", service("web"))["spec"]
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"


def test_a_requested_address_is_given_once_and_refused_to_the_second_asker():
    alloc = ServiceAllocator()
    assert alloc.assign("a", service("a", cluster_ip="10.96.0.10"))["spec"]["clusterIP"] == \
        "10.96.0.10"
    with pytest.raises(AllocationError) as e:
        alloc.assign("b", service("b", cluster_ip="10.96.0.10"))
    assert str(e.value.field_error) == ('spec.clusterIPs: Invalid value: ["10.96.0.10"]: '
                                        "failed to allocate IP 10.96.0.10: provided IP is "
                                        "already allocated")


def test_an_address_outside_the_range_is_refused_with_the_range_in_the_message():
    with pytest.raises(AllocationError) as e:
        ServiceAllocator().assign("a", service("a", cluster_ip="10.0.0.5"))
    assert "not in the valid range. The range of valid IPs is 10.96.0.0/12" in \
        str(e.value.field_error)


def test_a_full_range_says_so_and_a_deleted_service_frees_its_address():
    alloc = ServiceAllocator(cidr="10.97.0.0/29", reserved=())
    made = {}
    for i in range(6):  # .1 - .6
        made[i] = alloc.assign(f"k{i}", service(f"s{i}"))
        alloc.settle(f"k{i}", made[i])
    with pytest.raises(RangeFull, match="failed to allocate a serviceIP: range is full"):
        alloc.assign("k6", service("s6"))
    alloc.settle("k6", None)
    alloc.settle("k3", None)  # s3 deleted
    assert alloc.assign("k7", service("s7"))["spec"]["clusterIP"] == \
        made[3]["spec"]["clusterIP"]


def test_headless_and_external_name_services_get_no_address():
    alloc = ServiceAllocator()
    headless = alloc.assign("h", service("h", cluster_ip="None"))
    assert headless["spec"]["clusterIPs"] == ["None"]
    external = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert "clusterIP" not in alloc.assign("x", external)["spec"]
    assert alloc.ips.used() == 0


def test_node_ports_are_allocated_only_for_node_port_and_load_balancer_types():
    alloc = ServiceAllocator()
    assert "nodePort" not in alloc.assign("a", service("a"))["spec"]["ports"][0]
    for kind in ("NodePort", "LoadBalancer"):
        port = alloc.assign(kind, service(kind.lower(), kind))["spec"]["ports"][0]["nodePort"]
        assert 30086 <= port <= 32767  # above the static band 30000-30085


def test_a_requested_node_port_is_checked_like_upstream():
    alloc = ServiceAllocator()
    alloc.assign("a", service("a", "NodePort", node_port=30080))
    with pytest.raises(AllocationError) as e:
        alloc.assign("b", service("b", "NodePort", node_port=30080))
    assert str(e.value.field_error) == ("spec.ports[0].nodePort: Invalid value: 30080: "
                                        "provided port is already allocated")
    with pytest.raises(AllocationError) as e:
        alloc.assign("c", service("c", "NodePort", node_port=40000))
    assert "The range of valid ports is 30000-32767" in str(e.value.field_error)


def test_node_port_exhaustion_and_reuse_after_delete():
    alloc = ServiceAllocator(node_ports=(30000, 30002))
    for i in range(3):
        alloc.settle(f"k{i}", alloc.assign(f"k{i}", service(f"s{i}", "NodePort")))
    with pytest.raises(RangeFull, match="failed to allocate a nodePort: range is full"):
        alloc.assign("k3", service("s3", "NodePort"))
    alloc.settle("k3", None)
    alloc.settle("k1", None)
    assert alloc.assign("k4", service("s4", "NodePort"))["spec"]["ports"][0]["nodePort"] \
        in range(30000, 30003)


def test_an_update_keeps_the_allocated_values_and_may_not_change_the_address():
    alloc = ServiceAllocator()
    old = alloc.assign("k", service("web", "NodePort"))
    alloc.settle("k", old)
    new = alloc.assign("k", service("web", "NodePort"), old)  # a PUT without the values
    assert new["spec"]["clusterIP"] == old["spec"]["clusterIP"]
    assert new["spec"]["ports"][0]["nodePort"] == old["spec"]["ports"][0]["nodePort"]
    with pytest.raises(AllocationError) as e:
        alloc.assign("k", service("web", "NodePort", cluster_ip="10.96.5.5"), old)
    assert "may not change once set" in str(e.value.field_error)


def test_changing_the_type_to_cluster_ip_frees_the_node_port():
    alloc = ServiceAllocator()
    old = alloc.assign("k", service("web", "NodePort", node_port=30090))
    alloc.settle("k", old)
    new = alloc.assign("k", service("web"), old)
    alloc.settle("k", new)
    assert alloc.ports.owner(30090) is None and alloc.ips.used() == 1


def test_rebuilding_from_stored_services_marks_their_values_taken():
    first = ServiceAllocator()
    stored = [("a", first.assign("a", service("a", "NodePort", node_port=30100)))]
    again = ServiceAllocator()
    again.rebuild(stored)
    with pytest.raises(AllocationError):
        again.assign("b", service("b", cluster_ip=stored[0][1]["spec"]["clusterIP"]))
    with pytest.raises(AllocationError):
        again.assign("c", service("c", "NodePort", node_port=30100))


def test_writes_are_serialized_and_settled_even_when_they_fail():
    alloc = ServiceAllocator(cidr="10.97.0.0/29", reserved=())
    order: list[str] = []

    async def nothing_stored() -> None:
        return None

    async def write(name: str, fail: bool) -> None:
        async with alloc.writing(name, nothing_stored):
            order.append(f"start {name}")
            alloc.assign(name, service(name))
            await asyncio.sleep(0.01)
            order.append(f"end {name}")
            if fail:
                raise RuntimeError("store write failed")

    async def main() -> None:
        results = await asyncio.gather(write("a", True), write("b", True),
                                       return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)

    asyncio.run(main())
    assert order == ["start a", "end a", "start b", "end b"]
    assert alloc.ips.used() == 0  # nothing stored: nothing held


# -- through the API server -------------------------------------------------------------------
@pytest.fixture()
def store_path(tmp_path: Any) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture()
def api(store_path: str) -> Iterator[Client]:
    server = APIServer(store_path, port=0)
    server.start()
    try:
        yield Client(server.url)
    finally:
        server.stop()


def test_every_cluster_has_the_kubernetes_service_at_10_96_0_1(api: Client):
    svc = api.get(SVC, "kubernetes", "default")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443


def test_the_api_server_answers_422_with_the_field_for_a_taken_node_port(api: Client):
    created = api.create(SVC, service("one", "NodePort", node_port=30080), "default")
    assert created["spec"]["ports"][0]["nodePort"] == 30080
    with pytest.raises(ApiError) as e:
        api.create(SVC, service("two", "NodePort", node_port=30080), "default")
    assert e.value.code == 422
    causes = e.value.status["details"]["causes"]
    assert causes == [{"reason": "FieldValueInvalid", "field": "spec.ports[0].nodePort",
                       "message": "Invalid value: 30080: provided port is already allocated"}]
    assert e.value.status["message"] == ('Service "two" is invalid: spec.ports[0].nodePort: '
                                         "Invalid value: 30080: provided port is already "
                                         "allocated")


def test_a_deleted_service_frees_its_values_for_the_next_one(api: Client):
    first = api.create(SVC, service("one", "NodePort", node_port=30081), "default")
    api.delete(SVC, "one", "default")
    again = api.create(SVC, service("two", "NodePort", node_port=30081,
                                    cluster_ip=first["spec"]["clusterIP"]), "default")
    assert again["spec"]["clusterIP"] == first["spec"]["clusterIP"]


def test_an_update_keeps_values_and_a_patch_can_switch_to_node_port(api: Client):
    created = api.create(SVC, service("web"), "default")
    body = service("web")
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    updated = api.update(SVC, body, "default")  # no clusterIP in the body: kept
    assert updated["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    patched = api.patch(SVC, "web", {"spec": {"type": "NodePort"}}, namespace="default")
    assert 30000 <= patched["spec"]["ports"][0]["nodePort"] <= 32767
    with pytest.raises(ApiError) as e:
        api.patch(SVC, "web", {"spec": {"clusterIP": "10.96.9.9"}}, namespace="default")
    assert e.value.code == 422 and "may not change once set" in e.value.status["message"]


def test_allocations_survive_an_api_server_restart(store_path: str):
    server = APIServer(store_path, port=0)
    server.start()
    try:
        taken = Client(server.url).create(SVC, service("one", "NodePort"), "default")
    finally:
        server.stop()
    server = APIServer(store_path, port=0)
    server.start()
    try:
        api = Client(server.url)
        with pytest.raises(ApiError) as e:
            api.create(SVC, service("two", cluster_ip=taken["spec"]["clusterIP"]), "default")
        assert "provided IP is already allocated" in e.value.status["message"]
        with pytest.raises(ApiError):
            api.create(SVC, service("three", "NodePort",
                                    node_port=taken["spec"]["ports"][0]["nodePort"]), "default")
    finally:
        server.stop()


def test_concurrent_creates_never_share_an_address(api: Client):
    from concurrent.futures import ThreadPoolExecutor

    def create(i: int) -> str:
        return str(Client(api.server).create(SVC, service(f"s{i}", "NodePort"),
                                             "default")["spec"]["clusterIP"])

    with ThreadPoolExecutor(8) as pool:
        ips = list(pool.map(create, range(40)))
    assert len(set(ips)) == 40
