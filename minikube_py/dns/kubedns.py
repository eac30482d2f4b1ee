"""The Service ``kube-system/kube-dns``: how pods reach the cluster DNS at 10.96.0.10.

In a kubeadm cluster, CoreDNS pods carry the label ``k8s-app=kube-dns`` and the Service
``kube-dns`` selects them. Ours is not a pod: the DNS server runs inside ``minikube-py up`` on
the node bridge's address. So the Service has **no selector**, and we write its Endpoints
object by hand — the standard way to give a Service a backend outside the cluster's pods (the
endpoints controller leaves selector-less Services alone). kube-proxy does not care: it DNATs
``10.96.0.10:53`` to whatever the Endpoints list, here ``<bridge address>:<port>``.

The ClusterIP is requested explicitly (``spec.clusterIP: 10.96.0.10``, kubeadm's
``DefaultClusterDNSIP``), because it must be known before any pod starts: the kubelet writes it
into every ``/etc/resolv.conf``. See them::

    kubectl -n kube-system get svc,endpoints kube-dns
"""

from __future__ import annotations

import logging
from typing import Any

from minikube_py.api.resources import must
from minikube_py.client import ApiError, Client

log = logging.getLogger(__name__)

CLUSTER_DNS_IP = "10.96.0.10"
NAMESPACE = "kube-system"
NAME = "kube-dns"
LABELS = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}

Obj = dict[str, Any]


def dns_service(cluster_ip: str = CLUSTER_DNS_IP, target_port: int = 53) -> Obj:
    """The Service: ports ``dns`` 53/UDP and ``dns-tcp`` 53/TCP, as kubeadm's CoreDNS addon,
    sent to ``target_port`` (53 unless the server listens elsewhere); no selector."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "spec": {
            "clusterIP": cluster_ip, "type": "ClusterIP",
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": target_port},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": target_port},
            ],
        },
    }


def dns_endpoints(address: str, port: int = 53) -> Obj:
    """The hand-written Endpoints: the DNS server's own address, both protocols."""
    return {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "subsets": [{
            "addresses": [{"ip": address}],
            "ports": [{"name": "dns", "port": port, "protocol": "UDP"},
                      {"name": "dns-tcp", "port": port, "protocol": "TCP"}],
        }],
    }


def _service_differs(current: Obj, wanted: Obj) -> bool:
    ports = [(p.get("name"), p.get("port"), p.get("protocol"), p.get("targetPort"))
             for p in current.get("spec", {}).get("ports") or []]
    want = [(p["name"], p["port"], p["protocol"], p["targetPort"])
            for p in wanted["spec"]["ports"]]
    return ports != want or bool(current.get("spec", {}).get("selector"))


def ensure_kube_dns(client: Client, address: str, port: int = 53,
                    cluster_ip: str = CLUSTER_DNS_IP) -> None:
    """Create or correct the Service and its Endpoints (idempotent: safe on every ``up``).

    A Service holding another ClusterIP is recreated (the field is immutable)."""
    services = must("services")
    wanted = dns_service(cluster_ip, port)
    current = client.find(services, NAME, NAMESPACE)
    if current is not None and current.get("spec", {}).get("clusterIP") != cluster_ip:
        client.delete(services, NAME, NAMESPACE)
        current = None
    if current is None:
        client.create(services, wanted, NAMESPACE)
        log.info("Created Service service=%s/%s clusterIP=%s", NAMESPACE, NAME, cluster_ip)
    elif _service_differs(current, wanted):
        current["spec"]["ports"] = wanted["spec"]["ports"]
        current["spec"].pop("selector", None)
        client.update(services, current, NAMESPACE)
        log.info("Updated Service service=%s/%s targetPort=%d", NAMESPACE, NAME, port)
    ensure_endpoints(client, dns_endpoints(address, port))


def ensure_endpoints(client: Client, wanted: Obj) -> None:
    """Create hand-written Endpoints, or correct their subsets (for a Service without a
    selector, which the endpoints controller leaves alone)."""
    endpoints = must("endpoints")
    name, namespace = wanted["metadata"]["name"], wanted["metadata"]["namespace"]
    ep = client.find(endpoints, name, namespace)
    if ep is None:
        try:
            client.create(endpoints, wanted, namespace)
        except ApiError as e:
            if e.reason != "AlreadyExists":
                raise
            ep = client.get(endpoints, name, namespace)
    if ep is not None and ep.get("subsets") != wanted["subsets"]:
        ep["subsets"] = wanted["subsets"]
        client.update(endpoints, ep, namespace)
    log.info("Ensured Endpoints endpoints=%s/%s subsets=%s", namespace, name,
             wanted["subsets"])
