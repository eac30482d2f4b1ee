"""kube-proxy's rules: Services + Endpoints in, one nftables table out (pure, no kernel).

Kubernetes concept: nothing listens on a Service's ClusterIP. kube-proxy turns every Service
port into packet-rewriting rules: a packet for ``clusterIP:port`` (or for ``nodeIP:nodePort``)
is DNATed to one ready pod, ``podIP:targetPort``, picked at random. The rules live in one
nftables table that only the proxy writes (upstream's ``nftables`` mode; see
``docs/services.md`` for a guided tour). Chain names say which Service they belong to::

    services                          ClusterIP . proto . port  -> @service-ips (a verdict map)
    service-default/web/tcp/http      numgen random mod 3 vmap { 0 : goto endpoint-..., ... }
    endpoint-default/web/tcp/http__10.244.0.5/8080     meta l4proto tcp dnat to 10.244.0.5:8080
    external-default/web/tcp/http     NodePort traffic: mark for masquerade, then the service

Masquerade (source NAT to the node) is needed when the reply would otherwise bypass the
node: traffic from outside the pod network, NodePort traffic, and "hairpin" traffic (a pod
reaching itself through its own Service). Those packets get mark ``0x4000`` on the way in
and ``masquerading`` rewrites their source on the way out. A Service port with no ready
endpoint is rejected at once (TCP reset / ICMP port unreachable) instead of hanging, and any
other packet for the service range is rejected too, so it can never leave the node.

This module only computes text. The table is built as one :class:`Fragment` per Service,
so a sync can compare fragments and send only what changed (:func:`update_script`) instead of
the whole table (:func:`render`). See the result with ``nft list table ip minikube-py-proxy``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MASQUERADE_MARK = "0x4000"     # upstream's 1 << masqueradeBit (14)
DSTNAT, SRCNAT, FILTER, FILTER_POST_DNAT = -100, 100, -110, -90  # numeric: nft 1.0.6 quirk
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds, upstream's ClientIP default (3 hours)
SERVICE_CIDR = "10.96.0.0/12"
REJECT_CHAIN = "reject-no-endpoints"
MAPS = {  # name -> (type, comment)
    "service-ips": ("ipv4_addr . inet_proto . inet_service : verdict",
                    "ClusterIP . protocol . port -> the Service's chain"),
    "service-nodeports": ("inet_proto . inet_service : verdict",
                          "protocol . NodePort -> the Service's external chain"),
    "no-endpoint-services": ("ipv4_addr . inet_proto . inet_service : verdict",
                             "ClusterIP ports without a ready endpoint: rejected"),
    "no-endpoint-nodeports": ("inet_proto . inet_service : verdict",
                              "NodePorts without a ready endpoint: rejected"),
}
NODE_LOCAL = "fib daddr type local ip daddr != 127.0.0.0/8"


@dataclass(frozen=True)
class RulesConfig:
    table: str                       # e.g. "minikube-py-proxy"
    cluster_cidr: str                # the pod network: traffic from elsewhere is masqueraded
    service_cidr: str = SERVICE_CIDR
    #: The node's pod bridge: ClusterIPs are DNATed only for packets arriving from it (and
    #: for the host's own traffic), NodePorts for packets from anywhere. Empty = any input.
    pod_interface: str = ""


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with the endpoints that serve it."""

    namespace: str
    name: str
    port_name: str
    protocol: str                    # "tcp" | "udp" | "sctp"
    port: int
    cluster_ip: str
    node_port: int | None
    endpoints: tuple[tuple[str, int], ...]   # (podIP, targetPort), sorted
    affinity_timeout: int | None     # seconds when sessionAffinity is ClientIP

    @property
    def base(self) -> str:
        """``default/web/tcp/http``: the readable part of every chain name of this port."""
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name or self.port}"

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}" + (f":{self.port_name}" if self.port_name else "")

    def endpoint_chain(self, ip: str, port: int) -> str:
        return f"endpoint-{self.base}__{ip}/{port}"

    def affinity_set(self, ip: str, port: int) -> str:
        return f"affinity-{self.base}__{ip}/{port}"


def _valid_ip(value: Any) -> bool:
    try:
        return isinstance(value, str) and ipaddress.ip_address(value).version == 4
    except ValueError:
        return False


def endpoints_for(endpoints: dict[str, Any] | None, port_name: str,
                  protocol: str) -> tuple[tuple[str, int], ...]:
    """Ready ``(ip, port)`` pairs of an Endpoints object for the Service port ``port_name``.

    The endpoints controller names each Endpoints port after the Service port and has
    already resolved named target ports pod by pod (each subset carries its own numbers).
    """
    found: set[tuple[str, int]] = set()
    for subset in (endpoints or {}).get("subsets") or []:
        for port in subset.get("ports") or []:
            if (port.get("name") or "") != port_name or \
                    str(port.get("protocol", "TCP")).lower() != protocol:
                continue
            for address in subset.get("addresses") or []:
                if _valid_ip(address.get("ip")):
                    found.add((address["ip"], int(port["port"])))
    return tuple(sorted(found))


def service_ports(service: dict[str, Any],
                  endpoints: dict[str, Any] | None) -> list[ServicePort]:
    """The ports kube-proxy programs for a Service; none for headless, ExternalName, or a
    Service whose ClusterIP is not allocated yet."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    cluster_ip = spec.get("clusterIP")
    if spec.get("type") == "ExternalName" or not _valid_ip(cluster_ip):
        return []
    timeout = None
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        timeout = int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    result = []
    for port in spec.get("ports") or []:
        protocol = str(port.get("protocol", "TCP")).lower()
        port_name = port.get("name") or ""
        result.append(ServicePort(
            namespace=meta.get("namespace", "default"), name=meta["name"],
            port_name=port_name, protocol=protocol, port=int(port["port"]),
            cluster_ip=str(cluster_ip), node_port=(int(port["nodePort"]) if node_ports
                                              and port.get("nodePort") else None),
            endpoints=endpoints_for(endpoints, port_name, protocol), affinity_timeout=timeout))
    return result


@dataclass
class Fragment:
    """Everything one Service adds to the table: its chains, its affinity sets, and its
    elements in the shared maps. Compared as a whole between syncs."""

    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)            # name -> declaration
    elements: dict[str, dict[str, str]] = field(default_factory=dict)  # map -> key -> verdict
    _text: str | None = None

    def element(self, map_name: str, key: str, verdict: str) -> None:
        self.elements.setdefault(map_name, {})[key] = verdict

    def text(self) -> str:
        """The sets and chains, as they appear in the full table (cached)."""
        if self._text is None:
            out = [f"\tset {name} {{\n\t\t{decl}\n\t}}\n" for name, decl in self.sets.items()]
            out += [_chain_text(name, None, rules) for name, rules in self.chains.items()]
            self._text = "".join(out)
        return self._text


def _chain_text(name: str, hook: str | None, rules: Iterable[str]) -> str:
    body = [f"\t\t{hook}\n"] if hook else []
    body += [f"\t\t{rule}\n" for rule in rules]
    return f"\tchain {name} {{\n{''.join(body)}\t}}\n"


def _add_port(frag: Fragment, sp: ServicePort, cfg: RulesConfig) -> None:
    svc_chain = f"service-{sp.base}"
    key = f"{sp.cluster_ip} . {sp.protocol} . {sp.port}"
    if not sp.endpoints:
        frag.element("no-endpoint-services", key, f"goto {REJECT_CHAIN}")
        if sp.node_port:
            frag.element("no-endpoint-nodeports", f"{sp.protocol} . {sp.node_port}",
                         f"goto {REJECT_CHAIN}")
        return
    frag.element("service-ips", key, f"goto {svc_chain}")
    rules = [f"ip daddr {sp.cluster_ip} {sp.protocol} dport {sp.port} "
             f"ip saddr != {cfg.cluster_cidr} jump mark-for-masquerade "
             f'comment "{sp.label} from outside the pod network"']
    targets = [sp.endpoint_chain(ip, port) for ip, port in sp.endpoints]
    for (ip, port), chain in zip(sp.endpoints, targets, strict=True):
        affinity = sp.affinity_set(ip, port)
        if sp.affinity_timeout:
            frag.sets[affinity] = (f"type ipv4_addr; flags dynamic,timeout; "
                                   f"timeout {sp.affinity_timeout}s;")
            rules.append(f"ip saddr @{affinity} goto {chain}")
        frag.chains[chain] = tuple(
            [f'ip saddr {ip} jump mark-for-masquerade comment "hairpin"']
            + ([f"update @{affinity} {{ ip saddr }}"] if sp.affinity_timeout else [])
            + [f"meta l4proto {sp.protocol} dnat to {ip}:{port}"])
    if len(targets) == 1:
        rules.append(f'goto {targets[0]} comment "{sp.label}: 1 endpoint"')
    else:
        choices = ", ".join(f"{i} : goto {chain}" for i, chain in enumerate(targets))
        rules.append(f"numgen random mod {len(targets)} vmap {{ {choices} }} "
                     f'comment "{sp.label}: {len(targets)} endpoints"')
    frag.chains[svc_chain] = tuple(rules)
    if sp.node_port:
        external = f"external-{sp.base}"
        frag.element("service-nodeports", f"{sp.protocol} . {sp.node_port}",
                     f"goto {external}")
        frag.chains[external] = ("jump mark-for-masquerade", f"goto {svc_chain}")


def service_fragment(service: dict[str, Any], endpoints: dict[str, Any] | None,
                     cfg: RulesConfig) -> Fragment:
    frag = Fragment()
    for sp in service_ports(service, endpoints):
        _add_port(frag, sp, cfg)
    return frag


@dataclass
class Ruleset:
    config: RulesConfig
    fragments: dict[str, Fragment]   # "namespace/name" -> the Service's part


def service_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"


def build_ruleset(services: Iterable[dict[str, Any]], endpoints: Iterable[dict[str, Any]],
                  cfg: RulesConfig) -> Ruleset:
    """The whole table for these Services and Endpoints (matched by namespace/name)."""
    by_key = {service_key(e): e for e in endpoints}
    fragments = {}
    for svc in services:
        key = service_key(svc)
        fragments[key] = service_fragment(svc, by_key.get(key), cfg)
    return Ruleset(cfg, fragments)


def base_chains(cfg: RulesConfig) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """The chains every table has: name -> (hook declaration or None, rules)."""
    def hook(kind: str, point: str, priority: int) -> str:
        return f"type {kind} hook {point} priority {priority}; policy accept;"
    check = ("ct state new jump endpoints-check",)
    prerouting: tuple[str, ...] = ("jump services",)
    if cfg.pod_interface:
        prerouting = (f'iifname "{cfg.pod_interface}" jump services',
                      f"{NODE_LOCAL} meta l4proto . th dport vmap @service-nodeports")
    return {
        "nat-prerouting": (hook("nat", "prerouting", DSTNAT), prerouting),
        "nat-output": (hook("nat", "output", DSTNAT), ("jump services",)),
        "nat-postrouting": (hook("nat", "postrouting", SRCNAT), ("jump masquerading",)),
        "filter-input": (hook("filter", "input", FILTER), check),
        "filter-forward": (hook("filter", "forward", FILTER),
                           check + ("jump cluster-ips-check",)),
        "filter-output": (hook("filter", "output", FILTER), check),
        "filter-output-post-dnat": (hook("filter", "output", FILTER_POST_DNAT),
                                    ("jump cluster-ips-check",)),
        "services": (None, ("ip daddr . meta l4proto . th dport vmap @service-ips",
                            f"{NODE_LOCAL} meta l4proto . th dport vmap @service-nodeports")),
        "endpoints-check": (None, (
            "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
            f"{NODE_LOCAL} meta l4proto . th dport vmap @no-endpoint-nodeports")),
        "cluster-ips-check": (None, (
            f'ip daddr {cfg.service_cidr} reject comment "no Service at this address and port"',
        )),
        "mark-for-masquerade": (None, (f"meta mark set meta mark | {MASQUERADE_MARK}",)),
        "masquerading": (None, (f"meta mark & {MASQUERADE_MARK} == 0 return",
                                f"meta mark set meta mark ^ {MASQUERADE_MARK}",
                                "masquerade fully-random")),
        REJECT_CHAIN: (None, ("meta l4proto tcp reject with tcp reset", "reject")),
    }


def merged_elements(ruleset: Ruleset) -> dict[str, dict[str, str]]:
    """Each map's elements over all Services; a key claimed twice keeps the first claim."""
    merged: dict[str, dict[str, str]] = {name: {} for name in MAPS}
    for svc in sorted(ruleset.fragments):
        for map_name, elements in ruleset.fragments[svc].elements.items():
            target = merged[map_name]
            for key, verdict in elements.items():
                if key in target:
                    log.warning("Skipped duplicate map element map=%s key=%r service=%s",
                                map_name, key, svc)
                    continue
                target[key] = verdict
    return merged


def render(ruleset: Ruleset) -> str:
    """The complete table as an ``nft -f`` script that replaces the old one atomically."""
    cfg = ruleset.config
    out = [f"# kube-proxy (minikube-py): {len(ruleset.fragments)} Services. Load with "
           f"nft -f; see it with: nft list table ip {cfg.table}\n",
           f"table ip {cfg.table}\n", f"delete table ip {cfg.table}\n",
           f"table ip {cfg.table} {{\n",
           '\tcomment "rules for kube-proxy (minikube-py)"\n']
    for name, elements in merged_elements(ruleset).items():
        kind, comment = MAPS[name]
        items = ""
        if elements:
            items = "\t\telements = {\n" + ",\n".join(
                f"\t\t\t{k} : {v}" for k, v in elements.items()) + "\n\t\t}\n"
        out.append(f'\tmap {name} {{\n\t\ttype {kind}\n\t\tcomment "{comment}"\n{items}\t}}\n')
    for name, (hook, rules) in base_chains(cfg).items():
        out.append(_chain_text(name, hook, rules))
    for svc in sorted(ruleset.fragments):
        text = ruleset.fragments[svc].text()
        if text:
            out.append(f"\t# Service {svc}\n{text}")
    out.append("}\n")
    return "".join(out)


def update_script(old: Ruleset, new: Ruleset) -> str | None:
    """The ``nft -f`` transaction turning table ``old`` into ``new`` touching only the
    Services that changed; "" when nothing did; None when only a full reload can do it."""
    if old.config != new.config:
        return None
    t = f"ip {new.config.table}"
    empty = Fragment()
    changed = [(old.fragments.get(k) or empty, new.fragments.get(k) or empty)
               for k in sorted(set(old.fragments) | set(new.fragments))
               if old.fragments.get(k) is not new.fragments.get(k)]
    adds, chains, rules, dels, adds_el, drop, gone_sets = [], [], [], [], [], [], []
    for before, after in changed:
        for name, decl in after.sets.items():
            if name in before.sets and before.sets[name] != decl:
                return None  # a set's timeout changed: rebuild everything
            if name not in before.sets:
                adds.append(f"add set {t} {name} {{ {decl} }}")
        for name, body in after.chains.items():
            if before.chains.get(name) == body:
                continue
            if name in before.chains:
                rules.append(f"flush chain {t} {name}")
            else:
                chains.append(f"add chain {t} {name}")
            rules += [f"add rule {t} {name} {rule}" for rule in body]
        for map_name in MAPS:
            old_el = before.elements.get(map_name, {})
            new_el = after.elements.get(map_name, {})
            gone = [k for k, v in old_el.items() if new_el.get(k) != v]
            came = [f"{k} : {v}" for k, v in new_el.items() if old_el.get(k) != v]
            if gone:
                dels.append(f"delete element {t} {map_name} {{ {', '.join(gone)} }}")
            if came:
                adds_el.append(f"add element {t} {map_name} {{ {', '.join(came)} }}")
        removed = [name for name in before.chains if name not in after.chains]
        drop += [f"flush chain {t} {name}" for name in removed]
        drop += [f"delete chain {t} {name}" for name in removed]
        gone_sets += [f"delete set {t} {name}" for name in before.sets
                      if name not in after.sets]
    lines = adds + chains + dels + rules + adds_el + drop + gone_sets
    return "".join(line + "\n" for line in lines)
