"""Service discovery by environment variables: what a container learns at start.

Before cluster DNS existed, a container found its Services the way linked Docker containers
found each other: the kubelet puts, into every container it starts, variables for each
Service of the pod's namespace that has a ClusterIP (upstream ``pkg/kubelet/envvars``).
For a Service ``redis-master`` at 10.96.0.11 with port 6379 named ``redis``::

    REDIS_MASTER_SERVICE_HOST=10.96.0.11
    REDIS_MASTER_SERVICE_PORT=6379                 the first port
    REDIS_MASTER_SERVICE_PORT_REDIS=6379           each named port
    REDIS_MASTER_PORT=tcp://10.96.0.11:6379        Docker-link style, first port
    REDIS_MASTER_PORT_6379_TCP=tcp://10.96.0.11:6379     and for every port:
    REDIS_MASTER_PORT_6379_TCP_PROTO=tcp
    REDIS_MASTER_PORT_6379_TCP_PORT=6379
    REDIS_MASTER_PORT_6379_TCP_ADDR=10.96.0.11

Two catches, both upstream's: only Services that exist *when the container starts* are
there (a Service made later needs a container restart — DNS has no such catch), and a pod
with ``spec.enableServiceLinks: false`` gets none of them except the API server's own
``KUBERNETES_SERVICE_HOST``/``_PORT`` (from the ``kubernetes`` Service in ``default``).
The container's own ``env`` comes after these, so it can override them and refer to them
as ``$(REDIS_MASTER_SERVICE_HOST)``. See them with ``minikube-py exec POD -- env``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Service = dict[str, Any]
#: services(namespace) -> the Services of that namespace (the kubelet's informer cache)
ServiceLister = Callable[[str], list[Service]]

MASTER_NAMESPACE = "default"
MASTER_SERVICES = ("kubernetes",)


def env_var_name(service_name: str) -> str:
    """``redis-master`` -> ``REDIS_MASTER``; a leading digit gets a ``_`` in front."""
    name = service_name.upper().replace("-", "_").replace(".", "_")
    return "_" + name if name[:1].isdigit() else name


def has_cluster_ip(service: Service) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def link_variables(service: Service) -> dict[str, str]:
    """The Docker-link style variables of one Service."""
    spec = service["spec"]
    prefix, ip = env_var_name(service["metadata"]["name"]), spec["clusterIP"]
    out: dict[str, str] = {}
    for i, port in enumerate(spec.get("ports") or []):
        protocol = str(port.get("protocol") or "TCP")
        url = f"{protocol.lower()}://{ip}:{port['port']}"
        if i == 0:
            out[f"{prefix}_PORT"] = url
        port_prefix = f"{prefix}_PORT_{port['port']}_{protocol.upper()}"
        out[port_prefix] = url
        out[f"{port_prefix}_PROTO"] = protocol.lower()
        out[f"{port_prefix}_PORT"] = str(port["port"])
        out[f"{port_prefix}_ADDR"] = ip
    return out


def from_services(services: list[Service]) -> dict[str, str]:
    """All variables for these Services (upstream ``FromServices``), in a stable order."""
    out: dict[str, str] = {}
    for service in sorted(services, key=lambda s: s["metadata"]["name"]):
        if not has_cluster_ip(service):
            continue
        spec, prefix = service["spec"], env_var_name(service["metadata"]["name"])
        ports = spec.get("ports") or []
        out[f"{prefix}_SERVICE_HOST"] = spec["clusterIP"]
        if ports:
            out[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                out[f"{prefix}_SERVICE_PORT_{env_var_name(port['name'])}"] = str(port["port"])
        out.update(link_variables(service))
    return out


def services_for_pod(pod: dict[str, Any], services: ServiceLister) -> list[Service]:
    """The pod's namespace's Services (unless ``enableServiceLinks: false``), plus the
    ``kubernetes`` Service from ``default`` always (upstream ``getServiceEnvVarMap``)."""
    namespace = pod["metadata"].get("namespace") or "default"
    links = (pod.get("spec") or {}).get("enableServiceLinks") is not False
    chosen: dict[str, Service] = {}
    for service in services(MASTER_NAMESPACE):
        if service["metadata"]["name"] in MASTER_SERVICES and has_cluster_ip(service):
            chosen[service["metadata"]["name"]] = service
    if links:
        for service in services(namespace):
            if has_cluster_ip(service):
                chosen[service["metadata"]["name"]] = service
    return list(chosen.values())


def pod_service_env(pod: dict[str, Any], services: ServiceLister | None) -> dict[str, str]:
    """The service variables for a container of ``pod``; ``{}`` on a standalone node."""
    if services is None:
        return {}
    return from_services(services_for_pod(pod, services))
