"""The cluster's DNS records, computed from Services and Endpoints (pure: no sockets).

Kubernetes gives every Service a DNS name. The records are fixed by the Kubernetes
DNS-Based Service Discovery specification (``kubernetes/dns`` ``docs/specification.md``,
schema 1.0.1); CoreDNS's ``kubernetes`` plugin builds the same table from the same objects:

=========================  ==============================================================
Service with a ClusterIP   ``A <svc>.<ns>.svc.<zone>`` → the ClusterIP
                           ``PTR <d>.<c>.<b>.<a>.in-addr.arpa`` → ``<svc>.<ns>.svc.<zone>``
                           ``SRV _<port>._<proto>.<svc>.<ns>.svc.<zone>`` per *named* port
Headless (clusterIP None)  one ``A <svc>.<ns>.svc.<zone>`` per ready endpoint, plus
                           ``A <hostname>.<svc>.<ns>.svc.<zone>`` (hostname = the endpoint's
                           ``hostname`` or, like CoreDNS, its IP with dashes) and its PTR;
                           SRV per named port × ready endpoint, pointing at that hostname
ExternalName               ``CNAME <svc>.<ns>.svc.<zone>`` → ``spec.externalName``
The schema version         ``TXT dns-version.<zone>`` → ``"1.0.1"``
Pods (deprecated)          ``A a-b-c-d.<ns>.pod.<zone>`` → ``a.b.c.d`` (CoreDNS ``pods
                           insecure``: computed from the name, see :func:`pod_record`)
=========================  ==============================================================

"Ready" endpoints are those in ``subsets[].addresses``; ``notReadyAddresses`` count too when
the Service sets ``spec.publishNotReadyAddresses``. A name that exists without records of the
asked type (a headless Service with no ready pods, ``default.svc.cluster.local``) answers
"no data" rather than NXDOMAIN: the distinction the spec asks for.

Print a :class:`RecordTable` to see it as a zone file; compare with a pod's answers::

    nslookup -type=srv _http._tcp.web.default.svc.cluster.local 10.96.0.10
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0.1"
DEFAULT_TTL = 5  # seconds, as CoreDNS's kubernetes plugin

Obj = dict[str, Any]


@dataclass(frozen=True)
class Record:
    """One resource record. ``name`` is absolute, lower case, with the trailing dot."""

    name: str
    rtype: str  # A, AAAA, PTR, CNAME, SRV, TXT
    value: str  # the address, the target name (absolute) or the text
    ttl: int = DEFAULT_TTL
    port: int = 0  # SRV only
    priority: int = 0  # SRV only
    weight: int = 0  # SRV only

    def __str__(self) -> str:
        data = self.value
        if self.rtype == "SRV":
            data = f"{self.priority} {self.weight} {self.port} {self.value}"
        elif self.rtype == "TXT":
            data = f'"{self.value}"'
        return f"{self.name}\t{self.ttl}\tIN\t{self.rtype}\t{data}"


@dataclass
class RecordTable:
    """Every record of the zone, by name; ``names`` also holds the empty non-terminals."""

    zone: str  # "cluster.local." (absolute)
    records: dict[str, list[Record]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def add(self, record: Record) -> None:
        self.records.setdefault(record.name, []).append(record)
        self.add_name(record.name)

    def add_name(self, name: str) -> None:
        """Mark ``name`` and, inside the zone, its ancestors up to the zone as existing."""
        if not self.in_zone(name):
            self.names.add(name)
            return
        while name not in self.names:
            self.names.add(name)
            if name == self.zone:
                break
            name = name.split(".", 1)[1]

    def lookup(self, name: str, rtype: str | None = None) -> list[Record]:
        """Records of ``name`` (any case); of one type, or all of them when ``rtype`` is None."""
        found = self.records.get(absolute(name), [])
        return [r for r in found if rtype is None or r.rtype == rtype]

    def exists(self, name: str) -> bool:
        return absolute(name) in self.names

    def in_zone(self, name: str) -> bool:
        name = absolute(name)
        return name == self.zone or name.endswith("." + self.zone)

    def __len__(self) -> int:
        return sum(len(v) for v in self.records.values())

    def __str__(self) -> str:
        """The table as a zone file (sorted), for logs and for learners."""
        lines = [str(r) for name in sorted(self.records) for r in self.records[name]]
        return "\n".join(lines) + ("\n" if lines else "")


def absolute(name: str) -> str:
    """``Web.Default.svc.cluster.local`` → ``web.default.svc.cluster.local.``"""
    name = name.lower()
    return name if name.endswith(".") else name + "."


def reverse_name(ip: str) -> str:
    """``10.96.0.10`` → ``10.0.96.10.in-addr.arpa.`` (and the ip6.arpa form for IPv6)."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _address_type(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


def endpoint_hostname(address: Obj) -> str:
    """The endpoint's ``hostname``, else a stable system-assigned one: its IP with dashes."""
    return str(address.get("hostname") or address["ip"].replace(".", "-").replace(":", "-"))


def _ready_addresses(service: Obj, endpoints: Obj | None) -> list[tuple[Obj, list[Obj]]]:
    """(address, ports of its subset) for each ready endpoint."""
    if endpoints is None:
        return []
    publish_all = bool(service.get("spec", {}).get("publishNotReadyAddresses"))
    out = []
    for subset in endpoints.get("subsets") or []:
        addresses = list(subset.get("addresses") or [])
        if publish_all:
            addresses += subset.get("notReadyAddresses") or []
        out += [(a, list(subset.get("ports") or [])) for a in addresses if a.get("ip")]
    return out


def _srv_records(name: str, targets: list[tuple[str, int]], ttl: int) -> list[Record]:
    """SRV records sharing one name: priority 0, weight split evenly (as CoreDNS)."""
    weight = max(1, 100 // max(1, len(targets)))
    return [Record(name, "SRV", target, ttl, port=port, weight=weight)
            for target, port in targets]


def service_records(service: Obj, endpoints: Obj | None, zone: str,
                    ttl: int = DEFAULT_TTL) -> list[Record]:
    """The records of one Service (its Endpoints, if any, for headless Services)."""
    meta, spec = service["metadata"], service.get("spec") or {}
    base = absolute(f"{meta['name']}.{meta.get('namespace', 'default')}.svc.{zone}")
    if spec.get("type") == "ExternalName":
        target = spec.get("externalName")
        return [Record(base, "CNAME", absolute(target), ttl)] if target else []
    cluster_ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    cluster_ips = [ip for ip in cluster_ips if ip and ip != "None"]
    out: list[Record] = []
    srv: dict[str, list[tuple[str, int]]] = {}
    if cluster_ips:
        for ip in cluster_ips:
            out.append(Record(base, _address_type(ip), ip, ttl))
            out.append(Record(reverse_name(ip), "PTR", base, ttl))
        for port in spec.get("ports") or []:
            if port.get("name"):
                proto = str(port.get("protocol", "TCP")).lower()
                srv.setdefault(absolute(f"_{port['name']}._{proto}.{base}"), []).append(
                    (base, int(port["port"])))
    elif spec.get("clusterIP") == "None":
        for address, ports in _ready_addresses(service, endpoints):
            ip = address["ip"]
            host = absolute(f"{endpoint_hostname(address)}.{base}")
            out.append(Record(base, _address_type(ip), ip, ttl))
            out.append(Record(host, _address_type(ip), ip, ttl))
            out.append(Record(reverse_name(ip), "PTR", host, ttl))
            for port in ports:
                if port.get("name"):
                    proto = str(port.get("protocol", "TCP")).lower()
                    srv.setdefault(absolute(f"_{port['name']}._{proto}.{base}"), []).append(
                        (host, int(port["port"])))
    for name, targets in srv.items():
        out += _srv_records(name, targets, ttl)
    return out


def build_table(services: Iterable[Obj], endpoints: Iterable[Obj],
                zone: str = "cluster.local", ttl: int = DEFAULT_TTL) -> RecordTable:
    """The whole zone: every Service's records, plus ``dns-version``."""
    table = RecordTable(absolute(zone))
    by_key = {(e["metadata"].get("namespace", "default"), e["metadata"]["name"]): e
              for e in endpoints}
    table.add(Record(absolute(f"dns-version.{zone}"), "TXT", SCHEMA_VERSION, ttl))
    for svc in services:
        meta = svc["metadata"]
        key = (meta.get("namespace", "default"), meta["name"])
        table.add_name(absolute(f"{key[1]}.{key[0]}.svc.{zone}"))
        for record in service_records(svc, by_key.get(key), zone, ttl):
            table.add(record)
    return table


def pod_record(name: str, zone: str, ttl: int = DEFAULT_TTL) -> Record | None:
    """``10-244-0-5.default.pod.cluster.local`` → an A record for 10.244.0.5, for any
    well-formed address (deprecated in the spec; CoreDNS's ``pods insecure`` mode)."""
    name = absolute(name)
    suffix = ".pod." + absolute(zone)
    if not name.endswith(suffix):
        return None
    labels = name[: -len(suffix)].split(".")
    if len(labels) != 2 or not labels[1]:
        return None
    try:
        ip = ipaddress.IPv4Address(labels[0].replace("-", "."))
    except ValueError:
        return None
    return Record(name, "A", str(ip), ttl)
