"""The endpoints controller's plans: which pods become addresses, with which ports."""

from __future__ import annotations

from typing import Any

from minikube_py.controllers.endpoints import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    endpoint_subsets,
    find_port,
    plan_endpoints,
    slice_groups,
)


def service(ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid",
                         "labels": {"team": "a"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.3.4",
                     "ports": ports if ports is not None else
                     [{"port": 8080, "targetPort": 80, "protocol": "TCP"}], **spec}}


def pod(name: str, ip: str | None, ready: bool = True, deleting: bool = False,
        app: str = "web", namespace: str = "default",
        ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                            "labels": {"app": app}}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "c", "image": "nginx", "ports": ports or []}]},
            "status": status}


def ips(subset: dict[str, Any], kind: str = "addresses") -> list[str]:
    return [a["ip"] for a in subset.get(kind) or []]


def test_ready_pods_are_addresses_and_not_ready_ones_are_listed_apart():
    subsets = endpoint_subsets(service(), [pod("a", "10.0.0.3"), pod("b", "10.0.0.2"),
                                           pod("c", "10.0.0.4", ready=False)])
    assert len(subsets) == 1
    assert ips(subsets[0]) == ["10.0.0.2", "10.0.0.3"]
    assert ips(subsets[0], "notReadyAddresses") == ["10.0.0.4"]
    assert subsets[0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    address = subsets[0]["addresses"][0]
    assert address["nodeName"] == "node-1"
    assert address["targetRef"] == {"kind": "Pod", "name": "b", "namespace": "default",
                                    "uid": "uid-b"}


def test_pods_without_an_ip_of_another_app_or_namespace_are_not_endpoints():
    subsets = endpoint_subsets(service(), [pod("a", None), pod("b", "10.0.0.2", app="db"),
                                           pod("c", "10.0.0.3", namespace="other")])
    assert subsets == []


def test_a_terminating_pod_leaves_the_endpoints_but_stays_in_the_slice_marked():
    pods = [pod("a", "10.0.0.2"), pod("b", "10.0.0.3", deleting=True)]
    assert ips(endpoint_subsets(service(), pods)[0]) == ["10.0.0.2"]
    (endpoints,) = slice_groups(service(), pods).values()
    conditions = {e["addresses"][0]: e["conditions"] for e in endpoints}
    assert conditions["10.0.0.2"] == {"ready": True, "serving": True, "terminating": False}
    assert conditions["10.0.0.3"] == {"ready": False, "serving": True, "terminating": True}


def test_a_named_target_port_is_looked_up_in_each_pod():
    svc = service([{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    pods = [pod("a", "10.0.0.2", ports=[{"name": "web", "containerPort": 8000}]),
            pod("b", "10.0.0.3", ports=[{"name": "web", "containerPort": 9000}]),
            pod("c", "10.0.0.4", ports=[{"name": "other", "containerPort": 7000}])]
    subsets = endpoint_subsets(svc, pods)
    by_port = {s["ports"][0]["port"]: ips(s) for s in subsets}
    assert by_port == {8000: ["10.0.0.2"], 9000: ["10.0.0.3"]}  # c lacks the name: left out
    assert subsets[0]["ports"][0]["name"] == "http"
    assert len(slice_groups(svc, pods)) == 2


def test_find_port_matches_the_protocol_too():
    p = pod("a", "10.0.0.2", ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"}])
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "TCP"}) is None
    assert find_port(p, {"port": 53, "targetPort": 5353}) == 5353


def test_a_new_service_plans_its_endpoints_and_one_slice_owned_by_it():
    plan = plan_endpoints(service(), [pod("a", "10.0.0.2")], None, [])
    assert plan.create_endpoints and plan.endpoints is not None
    assert plan.endpoints["metadata"]["labels"]["team"] == "a"
    (sl,) = plan.slices_create
    assert sl["addressType"] == "IPv4"
    assert sl["metadata"]["labels"][SERVICE_NAME_LABEL] == "web"
    assert sl["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY
    assert sl["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert sl["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}]
    assert sl["endpoints"][0]["targetRef"]["name"] == "a"
    assert "service=default/web endpoints=create ready=1" in str(plan)


def stored(plan: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the API server would hold after the plan ran."""
    ep = dict(plan.endpoints, metadata=dict(plan.endpoints["metadata"], resourceVersion="7"))
    return ep, list(plan.slices_create)


def test_nothing_is_written_when_nothing_changed():
    pods = [pod("a", "10.0.0.2"), pod("b", "10.0.0.3", ready=False)]
    ep, slices = stored(plan_endpoints(service(), pods, None, []))
    again = plan_endpoints(service(), pods, ep, slices)
    assert again.is_empty(), str(again)


def test_a_pod_becoming_ready_updates_both_objects():
    ep, slices = stored(plan_endpoints(service(), [pod("a", "10.0.0.2", ready=False)], None, []))
    plan = plan_endpoints(service(), [pod("a", "10.0.0.2")], ep, slices)
    assert plan.endpoints is not None and not plan.create_endpoints
    assert ips(plan.endpoints["subsets"][0]) == ["10.0.0.2"]
    assert plan.endpoints["metadata"]["resourceVersion"] == "7"  # an update, not a create
    assert plan.slices_update[0]["endpoints"][0]["conditions"]["ready"] is True
    assert not plan.slices_create and not plan.slices_delete


def test_scaled_to_zero_leaves_no_addresses_and_an_empty_slice():
    ep, slices = stored(plan_endpoints(service(), [pod("a", "10.0.0.2")], None, []))
    plan = plan_endpoints(service(), [], ep, slices)
    assert plan.endpoints is not None and plan.endpoints["subsets"] == []
    assert len(plan.slices_create) == 1 and plan.slices_create[0]["endpoints"] == []
    assert plan.slices_delete == [slices[0]["metadata"]["name"]]


def test_a_twin_slice_is_deleted():
    ep, slices = stored(plan_endpoints(service(), [pod("a", "10.0.0.2")], None, []))
    twin = dict(slices[0], metadata=dict(slices[0]["metadata"], name="web-zzzzz"))
    plan = plan_endpoints(service(), [pod("a", "10.0.0.2")], ep, slices + [twin])
    assert plan.slices_delete == ["web-zzzzz"] and not plan.slices_create
