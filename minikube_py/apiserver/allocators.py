"""ClusterIPs and NodePorts: who hands them out, and how they stay unique.

A Service's ClusterIP is a *virtual* address: no interface carries it, kube-proxy only
rewrites packets sent to it. Still, two Services must never share one, so the API server
allocates it when the Service is created, from the service CIDR (``10.96.0.0/12``, upstream
kubeadm's default), exactly as it allocates a **NodePort** (30000-32767) for a Service of
type ``NodePort`` or ``LoadBalancer``. A user may also *ask* for a value
(``spec.clusterIP: 10.96.0.10`` is how kube-dns gets its well-known address); the API server
then checks it is in range and free, and answers 422 Invalid otherwise::

    spec.clusterIPs: Invalid value: ["10.96.0.10"]: failed to allocate IP 10.96.0.10:
    provided IP is already allocated
    spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated

As upstream does since 1.24/1.27, each range has a small **static band** at its start (the
first 256 addresses of the CIDR, the first 86 node ports): dynamic allocation takes from the
rest first, so that values people pick by hand (``10.96.0.1`` for the ``kubernetes``
Service, ``10.96.0.10`` for DNS, ``30080``) are rarely taken by chance. Those two addresses
are also never handed out dynamically at all.

Where is the state? Upstream keeps a bitmap in etcd plus a repair loop. Ours is simpler and
cannot drift: the in-memory maps are rebuilt from the stored Services when the API server
starts, and after each Service write the owner's values are *settled* to exactly what the
store now holds (:meth:`ServiceAllocator.settle`). Service writes are serialized by one lock,
so two concurrent creates can never be given the same address. See the result with
``kubectl get svc -A`` (CLUSTER-IP, PORT(S) ``8080:30080/TCP``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.fields import FieldError
from minikube_py.errors import MinikubeError

log = logging.getLogger(__name__)

SERVICE_CIDR = "10.96.0.0/12"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
NODE_PORT_RANGE = (30000, 32767)

Obj = dict[str, Any]


class AllocationError(MinikubeError):
    """A requested value cannot be had (``field_error`` says why), or a range is full."""

    def __init__(self, message: str, field_error: FieldError | None = None) -> None:
        super().__init__(message)
        self.field_error = field_error


class RangeFull(AllocationError):
    pass


class IntRange:
    """Integers ``first..last`` each held by at most one owner (a Service key)."""

    def __init__(self, first: int, last: int, static_band: int, reserved: Iterable[int] = ()
                 ) -> None:
        self.first, self.last = first, last
        self.static_end = min(last, first + static_band - 1)  # inclusive end of the band
        self.reserved = set(reserved)
        self._owner: dict[int, str] = {}
        self._by_owner: dict[str, set[int]] = {}

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, value: int) -> bool:
        return self.first <= value <= self.last

    def owner(self, value: int) -> str | None:
        return self._owner.get(value)

    def held_by(self, owner: str) -> set[int]:
        return set(self._by_owner.get(owner, ()))

    def used(self) -> int:
        return len(self._owner)

    def claim(self, value: int, owner: str) -> bool:
        """Take ``value`` for ``owner``; False if another owner has it (or out of range)."""
        if value not in self:
            return False
        current = self._owner.get(value)
        if current is not None and current != owner:
            return False
        self._owner[value] = owner
        self._by_owner.setdefault(owner, set()).add(value)
        return True

    def release(self, value: int) -> None:
        owner = self._owner.pop(value, None)
        if owner is not None:
            held = self._by_owner.get(owner)
            if held is not None:
                held.discard(value)
                if not held:
                    del self._by_owner[owner]

    def allocate(self, owner: str) -> int | None:
        """A free value for ``owner`` (random start, dynamic band first); None when full."""
        bands = [(self.static_end + 1, self.last), (self.first, self.static_end)]
        for low, high in bands:
            if low > high:
                continue
            span = high - low + 1
            start = random.randrange(span)
            for i in range(span):
                value = low + (start + i) % span
                if value not in self._owner and value not in self.reserved:
                    self.claim(value, owner)
                    return value
        return None


def ip_range(cidr: str, reserved: Iterable[str] = ()) -> IntRange:
    """The usable addresses of ``cidr`` (not the network or broadcast address)."""
    net = ipaddress.IPv4Network(cidr)
    first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
    band = min(max(16, net.num_addresses // 16), 256)
    return IntRange(first, last, band - 1, (int(ipaddress.IPv4Address(r)) for r in reserved))


def port_range(low: int, high: int) -> IntRange:
    size = high - low + 1
    return IntRange(low, high, min(max(16, size // 32), 128))


def needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None"


def needs_node_ports(spec: Obj) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def service_values(svc: Obj | None) -> tuple[set[str], set[int]]:
    """The ClusterIPs and NodePorts a stored Service uses."""
    if not svc:
        return set(), set()
    spec = svc.get("spec") or {}
    ips = {ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
           if isinstance(ip, str) and ip not in ("", "None")}
    ports = {p["nodePort"] for p in spec.get("ports") or []
             if isinstance(p, dict) and isinstance(p.get("nodePort"), int) and p["nodePort"]}
    return ips, ports


class ServiceAllocator:
    """ClusterIPs and NodePorts for the Services of one API server."""

    def __init__(self, cidr: str = SERVICE_CIDR,
                 node_ports: tuple[int, int] = NODE_PORT_RANGE,
                 reserved: Iterable[str] = (KUBERNETES_SERVICE_IP, DNS_SERVICE_IP)) -> None:
        self.cidr = cidr
        self.node_ports = node_ports
        self.ips = ip_range(cidr, [r for r in reserved
                                   if ipaddress.IPv4Address(r) in ipaddress.IPv4Network(cidr)])
        self.ports = port_range(*node_ports)
        self._lock = threading.RLock()
        self._writes: Any = None  # asyncio.Lock, made on first use inside the server's loop

    # -- state from the store ---------------------------------------------------------------
    def rebuild(self, services: Iterable[tuple[str, Obj]]) -> None:
        """Mark the values of every stored Service (``(key, object)`` pairs) as taken."""
        with self._lock:
            for key, svc in services:
                self.settle(key, svc)

    def settle(self, key: str, stored: Obj | None) -> None:
        """Make ``key`` hold exactly what its stored object uses (None: it is gone)."""
        ips, ports = service_values(stored)
        with self._lock:
            for rng, want in ((self.ips, {int(ipaddress.IPv4Address(i)) for i in ips}),
                              (self.ports, ports)):
                for value in rng.held_by(key) - want:
                    rng.release(value)
                for value in want - rng.held_by(key):
                    if not rng.claim(value, key) and value in rng:
                        log.warning("Found a value allocated twice service=%s value=%s "
                                    "other=%s", key, value, rng.owner(value))

    @contextlib.asynccontextmanager
    async def writing(self, key: str, read_stored: Callable[[], Awaitable[Obj | None]]
                      ) -> AsyncIterator[None]:
        """One Service write at a time; afterwards (success or not) settle from the store."""
        import asyncio

        if self._writes is None:
            self._writes = asyncio.Lock()
        async with self._writes:
            try:
                yield
            finally:
                self.settle(key, await read_stored())

    # -- one Service ------------------------------------------------------------------------
    def assign(self, key: str, svc: Obj, old: Obj | None = None) -> Obj:
        """Fill ``spec.clusterIP(s)`` and each ``nodePort`` of ``svc`` (in place, returned).

        Values the update left empty are kept from ``old`` (upstream ``patchAllocatedValues``);
        requested values are checked; the rest are allocated. Raises :class:`AllocationError`.
        Values taken here belong to ``key`` until :meth:`settle` says otherwise.
        """
        spec = svc.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        with self._lock:
            self._assign_cluster_ip(key, spec, old_spec)
            self._assign_node_ports(key, spec, old_spec)
        return svc

    def _assign_cluster_ip(self, key: str, spec: Obj, old_spec: Obj) -> None:
        if spec.get("clusterIP") in (None, "") and spec.get("clusterIPs"):
            spec["clusterIP"] = spec["clusterIPs"][0]
        if not needs_cluster_ip(spec):
            if spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            else:
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            return
        old_ip = old_spec.get("clusterIP") if needs_cluster_ip(old_spec) else None
        requested = spec.get("clusterIP") or old_ip
        if old_ip and requested != old_ip:
            raise AllocationError("clusterIP changed", f.invalid(
                "spec.clusterIPs[0]", requested, "may not change once set"))
        if requested:
            self._claim_ip(key, str(requested))
            ip = str(requested)
        else:
            value = self.ips.allocate(key)
            if value is None:
                raise RangeFull("failed to allocate a serviceIP: range is full")
            ip = str(ipaddress.IPv4Address(value))
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _claim_ip(self, key: str, ip: str) -> None:
        def refuse(why: str) -> AllocationError:
            return AllocationError(why, f.invalid("spec.clusterIPs", [ip],
                                                  f"failed to allocate IP {ip}: {why}"))
        try:
            value = int(ipaddress.IPv4Address(ip))
        except ValueError:
            raise refuse("not a valid IPv4 address") from None
        if value not in self.ips:
            raise refuse(f"the provided IP ({ip}) is not in the valid range. The range of "
                         f"valid IPs is {self.cidr}")
        if not self.ips.claim(value, key):
            raise refuse("provided IP is already allocated")

    def _assign_node_ports(self, key: str, spec: Obj, old_spec: Obj) -> None:
        if not needs_node_ports(spec):
            return
        before = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                  for p in old_spec.get("ports") or []
                  if needs_node_ports(old_spec) and isinstance(p, dict)}
        low, high = self.node_ports
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            wanted = port.get("nodePort") or before.get((port.get("port"),
                                                         port.get("protocol", "TCP")))
            path = f"spec.ports[{i}].nodePort"
            if wanted:
                if not isinstance(wanted, int) or not low <= wanted <= high:
                    raise AllocationError("node port out of range", f.invalid(
                        path, wanted, f"provided port is not in the valid range. The range "
                        f"of valid ports is {low}-{high}"))
                if not self.ports.claim(wanted, key):
                    raise AllocationError("node port taken", f.invalid(
                        path, wanted, "provided port is already allocated"))
                port["nodePort"] = wanted
                continue
            value = self.ports.allocate(key)
            if value is None:
                raise RangeFull("failed to allocate a nodePort: range is full")
            port["nodePort"] = value
