"""Services and Endpoints: validation and defaults.

A **Service** gives a set of pods (chosen by ``selector``) one stable virtual address, the
ClusterIP, and a DNS name ``<svc>.<ns>.svc.cluster.local``. Nothing listens on a ClusterIP:
kube-proxy writes nftables rules that rewrite (DNAT) packets for ``clusterIP:port`` to one of
the pods' ``podIP:targetPort`` (see them with ``nft list table ip kube-proxy``). A
``NodePort`` Service also opens ``port`` 30000-32767 on every node's own addresses.

**Endpoints** is the list of those pod addresses, kept up to date by the endpoints controller
(``kubectl get endpoints``); it is what kube-proxy actually reads.

Upstream traps worth knowing (the seed's manifest falls into the first one): ``type`` belongs
to the Service ``spec``, not to a port; ``targetPort`` defaults to ``port``; port ``name`` is
required once a Service has more than one port; a Service's own name must be a DNS-1035 label
(it must start with a letter, because it becomes a DNS name and environment variables).
"""

from __future__ import annotations

from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.container import PROTOCOLS, validate_port_num_or_name
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import (
    PORT_RANGE_MESSAGE,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_ip,
    is_port_number,
    namespaced_copy,
    validate_labels,
    validate_object_meta,
)
from minikube_py.api.pod import validate_type_meta
from minikube_py.errors import ValidationError

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
NODE_PORT_RANGE = (30000, 32767)


def _validate_service_ports(spec: dict[str, Any], path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    ports = f.expect_list(spec.get("ports"), path, errs)
    kind = spec.get("type", "ClusterIP")
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        p = path.index(i)
        port = f.expect_dict(port, p, errs)
        name = port.get("name")
        if not name and len(ports) > 1:
            errs.append(f.required(p.child("name")))
        elif name and f.expect_str(name, p.child("name"), errs) is not None:
            errs += [f.invalid(p.child("name"), name, m) for m in is_dns1123_label(name)]
            if name in names:
                errs.append(f.duplicate(p.child("name"), name))
            names.add(name)
        number = port.get("port")
        if not is_port_number(number):
            errs.append(f.invalid(p.child("port"), number, PORT_RANGE_MESSAGE))
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            errs.append(f.not_supported(p.child("protocol"), protocol, PROTOCOLS))
        if port.get("targetPort") not in (None, 0, ""):
            errs += validate_port_num_or_name(port["targetPort"], p.child("targetPort"))
        key = (number, protocol)
        if key in keys:
            errs.append(f.duplicate(p, {"port": number, "protocol": protocol}))
        keys.add(key)
        errs += _validate_node_port(port.get("nodePort"), p.child("nodePort"), kind)
    return errs


def _validate_node_port(node_port: Any, path: FieldPath, kind: Any) -> list[FieldError]:
    if node_port in (None, 0):
        return []
    if kind not in ("NodePort", "LoadBalancer"):
        return [f.forbidden(path, f"may not be used when `type` is '{kind}'")]
    low, high = NODE_PORT_RANGE
    if not (f.is_int(node_port) and low <= node_port <= high):
        return [f.invalid(path, node_port, "provided port is not in the valid range. The range "
                          f"of valid ports is {low}-{high}")]
    return []


def validate_service(obj: Any) -> list[FieldError]:
    """Every problem of a Service manifest (unknown fields are :mod:`.schema`'s job)."""
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "Service")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"),
                                 name_check=is_dns1035_label)
    path = FieldPath("spec")
    spec = f.expect_dict(obj.get("spec"), path, errs)
    kind = spec.get("type", "ClusterIP")
    cluster_ip = spec.get("clusterIP")
    headless = cluster_ip == "None"
    if kind not in SERVICE_TYPES:
        errs.append(f.not_supported(path.child("type"), kind, SERVICE_TYPES))
    if not spec.get("ports") and not headless and kind != "ExternalName":
        errs.append(f.required(path.child("ports")))
    errs += _validate_service_ports(spec, path.child("ports"))
    if cluster_ip not in (None, "", "None") and not (isinstance(cluster_ip, str)
                                                     and is_ip(cluster_ip)):
        errs.append(f.invalid(path.child("clusterIP"), cluster_ip,
                              "must be empty, 'None', or a valid IP address"))
    if headless and kind in ("NodePort", "LoadBalancer"):
        errs.append(f.invalid(path.child("clusterIP"), cluster_ip,
                              f"may not be set to 'None' for {kind} services"))
    if kind == "ExternalName":
        name = spec.get("externalName")
        if not name:
            errs.append(f.required(path.child("externalName")))
        elif f.expect_str(name, path.child("externalName"), errs) is not None:
            errs += [f.invalid(path.child("externalName"), name, m)
                     for m in is_dns1123_subdomain(name.rstrip("."))]
    affinity = spec.get("sessionAffinity")
    if affinity is not None and affinity not in ("ClientIP", "None"):
        errs.append(f.not_supported(path.child("sessionAffinity"), affinity,
                                    ["ClientIP", "None"]))
    errs += validate_labels(spec.get("selector"), path.child("selector"))
    return errs


def check_service(obj: Any) -> None:
    errs = validate_service(obj)
    if errs:
        raise ValidationError.for_object(obj, errs)


def default_service(obj: dict[str, Any]) -> dict[str, Any]:
    """A new dict with Service defaults: type ClusterIP, sessionAffinity None, each port's
    protocol TCP and targetPort = port; traffic policies ``Cluster``."""
    svc = namespaced_copy(obj)
    spec = svc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return svc
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    return svc


def validate_endpoints(obj: Any) -> list[FieldError]:
    """Each address a valid IP; each port valid and named when there are several."""
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "Endpoints")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"))
    path = FieldPath("subsets")
    for i, subset in enumerate(f.expect_list(obj.get("subsets"), path, errs)):
        p = path.index(i)
        subset = f.expect_dict(subset, p, errs)
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(f.expect_list(subset.get(key), p.child(key), errs)):
                ip = addr.get("ip") if isinstance(addr, dict) else None
                ip_path = p.child(key).index(j).child("ip")
                if not ip:
                    errs.append(f.required(ip_path))
                elif not (isinstance(ip, str) and is_ip(ip)):
                    errs.append(f.invalid(ip_path, ip, "must be a valid IP address"))
        ports = f.expect_list(subset.get("ports"), p.child("ports"), errs)
        for j, port in enumerate(ports):
            pp = p.child("ports").index(j)
            port = f.expect_dict(port, pp, errs)
            if len(ports) > 1 and not port.get("name"):
                errs.append(f.required(pp.child("name")))
            if not is_port_number(port.get("port")):
                errs.append(f.invalid(pp.child("port"), port.get("port"), PORT_RANGE_MESSAGE))
            if port.get("protocol", "TCP") not in PROTOCOLS:
                errs.append(f.not_supported(pp.child("protocol"), port.get("protocol"),
                                            PROTOCOLS))
    return errs


def default_endpoints(obj: dict[str, Any]) -> dict[str, Any]:
    """A new dict whose ports default to protocol TCP."""
    out = namespaced_copy(obj)
    for subset in out.get("subsets") or []:
        for port in (subset.get("ports") or []) if isinstance(subset, dict) else []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    return out
