"""Service environment variables, named as upstream's kubelet names them."""

from __future__ import annotations

from typing import Any

from minikube_py.kubelet.containers import container_env
from minikube_py.kubelet.envvars import env_var_name, from_services, pod_service_env
from runtime.images import ImageConfig


def service(name: str, ip: str | None, ports: list[dict[str, Any]],
            namespace: str = "default") -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": ports}
    if ip is not None:
        spec["clusterIP"] = ip
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


REDIS = service("redis-master", "10.96.0.11",
                [{"name": "redis", "port": 6379, "protocol": "TCP"},
                 {"name": "metrics", "port": 9121, "protocol": "UDP"}])
KUBERNETES = service("kubernetes", "10.96.0.1", [{"name": "https", "port": 443,
                                                   "protocol": "TCP"}])


def lister(*services: dict[str, Any]) -> Any:
    return lambda ns: [s for s in services if s["metadata"]["namespace"] == ns]


def test_names_are_upper_case_with_dashes_and_dots_as_underscores():
    assert env_var_name("redis-master") == "REDIS_MASTER"
    assert env_var_name("a.b-c") == "A_B_C"
    assert env_var_name("3d") == "_3D"


def test_a_service_gives_the_host_port_and_docker_link_variables():
    env = from_services([REDIS])
    assert env == {
        "REDIS_MASTER_SERVICE_HOST": "10.96.0.11",
        "REDIS_MASTER_SERVICE_PORT": "6379",
        "REDIS_MASTER_SERVICE_PORT_REDIS": "6379",
        "REDIS_MASTER_SERVICE_PORT_METRICS": "9121",
        "REDIS_MASTER_PORT": "tcp://10.96.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP": "tcp://10.96.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP_PROTO": "tcp",
        "REDIS_MASTER_PORT_6379_TCP_PORT": "6379",
        "REDIS_MASTER_PORT_6379_TCP_ADDR": "10.96.0.11",
        "REDIS_MASTER_PORT_9121_UDP": "udp://10.96.0.11:9121",
        "REDIS_MASTER_PORT_9121_UDP_PROTO": "udp",
        "REDIS_MASTER_PORT_9121_UDP_PORT": "9121",
        "REDIS_MASTER_PORT_9121_UDP_ADDR": "10.96.0.11",
    }


def test_an_unnamed_port_has_no_named_service_port_variable():
    env = from_services([service("web", "10.96.0.20", [{"port": 80}])])
    assert env["WEB_SERVICE_PORT"] == "80" and env["WEB_PORT"] == "tcp://10.96.0.20:80"
    assert not [k for k in env if k.startswith("WEB_SERVICE_PORT_")]


def test_headless_services_and_services_without_an_address_give_nothing():
    assert from_services([service("h", "None", [{"port": 80}]),
                          service("x", None, [{"port": 80}])]) == {}


def test_a_pod_sees_its_namespace_and_always_the_kubernetes_service():
    other = service("db", "10.96.0.30", [{"port": 5432}], namespace="other")
    services = lister(REDIS, KUBERNETES, other)
    pod = {"metadata": {"name": "p", "namespace": "default"}, "spec": {}}
    env = pod_service_env(pod, services)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert "REDIS_MASTER_SERVICE_HOST" in env and "DB_SERVICE_HOST" not in env
    elsewhere = {"metadata": {"name": "p", "namespace": "other"}, "spec": {}}
    env = pod_service_env(elsewhere, services)
    assert "DB_SERVICE_HOST" in env and "KUBERNETES_SERVICE_HOST" in env
    assert "REDIS_MASTER_SERVICE_HOST" not in env


def test_enable_service_links_false_keeps_only_the_kubernetes_service():
    pod = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"enableServiceLinks": False}}
    env = pod_service_env(pod, lister(REDIS, KUBERNETES))
    assert "KUBERNETES_SERVICE_HOST" in env and "REDIS_MASTER_SERVICE_HOST" not in env


def test_a_standalone_node_has_no_service_variables():
    assert pod_service_env({"metadata": {"name": "p"}, "spec": {}}, None) == {}


def test_the_containers_own_env_overrides_and_can_refer_to_service_variables():
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": {}}
    container = {"name": "c", "env": [
        {"name": "REDIS_MASTER_SERVICE_PORT", "value": "1"},
        {"name": "URL", "value": "redis://$(REDIS_MASTER_SERVICE_HOST)"}]}
    env = container_env(container, ImageConfig(), pod, "10.0.0.2",
                        pod_service_env(pod, lister(REDIS)))
    assert env["REDIS_MASTER_SERVICE_PORT"] == "1"
    assert env["URL"] == "redis://10.96.0.11"
    assert env["REDIS_MASTER_SERVICE_HOST"] == "10.96.0.11"
