"""Plugging a pod into the bridge with a veth pair.

Kubernetes concept: the CNI ADD step. The runtime hands the plugin the pod's network
namespace; the plugin gives the pod an ``eth0`` with an IP from the node's pod CIDR and a
default route through the bridge, so that the pod can reach other pods, the node and —
masqueraded — the outside. CNI DEL undoes it.

Kernel objects: a *veth pair*, two virtual interfaces joined like the ends of a cable. One
end is created directly inside the pod's netns and named ``eth0``; the other stays on the
host (named ``veth_name(prefix, container_id)``) and becomes a port of the bridge, with
*hairpin* on so that a pod can reach itself through a Service address. ``attach`` does::

    ip link add mkv1a2b3c4d type veth peer name eth0 netns NAME
    ip -n NAME addr add 10.244.0.5/24 dev eth0
    ip -n NAME link set eth0 up
    ip -n NAME link set lo up
    ip -n NAME route add default via 10.244.0.1 dev eth0
    ip link set mkv1a2b3c4d master br0
    bridge link set dev mkv1a2b3c4d hairpin on
    ip link set mkv1a2b3c4d up

See them::

    ip -br link show type veth          # host ends; "@ifN" is the peer's index in the pod
    bridge -d link show                 # ports of the bridge, "hairpin on"
    ip netns exec NAME ip addr; ip netns exec NAME ip route
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

import explain
import netns
from bridge import ipam
from bridge.config import BridgeError, NetworkConfig
from bridge.link import ip_link_delete, ip_link_set_up, link_kind

log = logging.getLogger(__name__)


@dataclass
class Attachment:
    """A pod's interface as it is wired: both ends of the veth pair and the address."""

    container_id: str
    ifname: str  # the pod side, "eth0"
    host_veth: str
    host_ifindex: int
    peer_ifindex: int  # ifindex of ifname inside the pod's netns
    address: str  # "10.244.0.5/24"
    ip: str  # "10.244.0.5"
    gateway: str
    mac: str  # of the pod side
    netns: str  # path of the pod's netns


def _ip(netns_path: str) -> list[str]:
    """The ``ip`` prefix that targets a netns: ``ip -n NAME`` or ``nsenter --net=PATH ip``."""
    if os.path.dirname(netns_path) == netns.NETNS_DIR:
        return ["ip", "-n", os.path.basename(netns_path)]
    return ["nsenter", f"--net={netns_path}", "ip"]


@contextmanager
def _netlink_in(netns_path: str) -> Iterator[IPRoute]:
    """A netlink socket opened inside the pod's netns (it stays there once opened)."""
    with netns.enter_netns(netns_path):
        ipr = IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()


# --- one helper per command ----------------------------------------------------------------


def ip_link_add_veth(ipr: IPRoute, host_veth: str, ifname: str, netns_path: str) -> int:
    """``ip link add HOST type veth peer name IFNAME netns NAME``; returns the host ifindex."""
    target = os.path.basename(netns_path) if _ip(netns_path)[0] == "ip" else netns_path
    explain.record(
        ["ip", "link", "add", host_veth, "type", "veth", "peer", "name", ifname, "netns", target]
    )
    ipr.link(
        "add", ifname=host_veth, kind="veth", peer={"ifname": ifname, "net_ns_fd": netns_path}
    )
    return int(ipr.link_lookup(ifname=host_veth)[0])


def ip_link_set_up_in(pod: IPRoute, netns_path: str, dev: str) -> None:
    """``ip -n NAME link set DEV up``."""
    explain.record([*_ip(netns_path), "link", "set", dev, "up"])
    pod.link("set", index=pod.link_lookup(ifname=dev)[0], state="up")


def ip_addr_add_in(pod: IPRoute, netns_path: str, dev: str, cidr: str) -> None:
    """``ip -n NAME addr add CIDR dev DEV``."""
    explain.record([*_ip(netns_path), "addr", "add", cidr, "dev", dev])
    address, prefix = cidr.split("/")
    pod.addr("add", index=pod.link_lookup(ifname=dev)[0], address=address, prefixlen=int(prefix))


def ip_route_add_default_in(pod: IPRoute, netns_path: str, gateway: str, dev: str) -> None:
    """``ip -n NAME route add default via GATEWAY dev DEV``."""
    explain.record([*_ip(netns_path), "route", "add", "default", "via", gateway, "dev", dev])
    pod.route("add", dst="0.0.0.0/0", gateway=gateway, oif=pod.link_lookup(ifname=dev)[0])


def ip_link_set_master(ipr: IPRoute, index: int, dev: str, bridge: str) -> None:
    """``ip link set DEV master BRIDGE``."""
    explain.record(["ip", "link", "set", dev, "master", bridge])
    ipr.link("set", index=index, master=ipr.link_lookup(ifname=bridge)[0])


def bridge_link_set_hairpin(ipr: IPRoute, index: int, dev: str) -> None:
    """``bridge link set dev DEV hairpin on`` (IFLA_BRPORT_MODE = 1)."""
    explain.record(["bridge", "link", "set", "dev", dev, "hairpin", "on"])
    ipr.brport("set", index=index, mode=1)


# --- attach / detach / find ----------------------------------------------------------------


def attach(
    cfg: NetworkConfig, netns_path: str, container_id: str, host_veth: str, ifname: str = "eth0"
) -> Attachment:
    """Give the netns an ``ifname`` on the bridge; returns what was wired. Safe to repeat.

    Steps: 1. allocate an IP  2. create the veth pair, pod end in the netns
    3. configure the pod end (address, up, lo up, default route)  4. put the host end on
    the bridge with hairpin on, up. On failure everything done so far is undone, the IP too.
    """
    existing = find_attachment(cfg, netns_path, container_id, host_veth, ifname)
    if existing is not None:
        return existing
    if netns.find_netns(netns_path) is None:
        raise BridgeError.failed("attach", "netns", netns_path, "no such network namespace")
    try:
        with IPRoute() as ipr, ExitStack() as undo:
            if not ipr.link_lookup(ifname=cfg.bridge):
                raise BridgeError.failed("attach", "veth", host_veth, f"no bridge {cfg.bridge}")
            # Step 1: an address from the node's pod CIDR.
            ip = ipam.allocate(cfg, container_id, ifname)
            undo.callback(ipam.release, cfg, container_id, ifname)
            # Step 2: the cable, with one end already inside the pod.
            index = ip_link_add_veth(ipr, host_veth, ifname, netns_path)
            undo.callback(ip_link_delete, ipr, host_veth)
            # Step 3: the pod end.
            with _netlink_in(netns_path) as pod:
                ip_addr_add_in(pod, netns_path, ifname, f"{ip}/{cfg.network.prefixlen}")
                ip_link_set_up_in(pod, netns_path, ifname)
                ip_link_set_up_in(pod, netns_path, "lo")
                ip_route_add_default_in(pod, netns_path, cfg.gateway, ifname)
            # Step 4: the host end, plugged into the bridge.
            ip_link_set_master(ipr, index, host_veth, cfg.bridge)
            bridge_link_set_hairpin(ipr, index, host_veth)
            ip_link_set_up(ipr, index, host_veth)
            undo.pop_all()
    except BridgeError:
        raise
    except (NetlinkError, OSError) as e:
        raise BridgeError.failed("attach", "veth", host_veth, e) from e
    found = find_attachment(cfg, netns_path, container_id, host_veth, ifname)
    if found is None:
        raise BridgeError.failed("attach", "veth", host_veth, "not found right after setup")
    log.info("Attached veth veth=%s ip=%s netns=%s", host_veth, found.ip, netns_path)
    return found


def detach(cfg: NetworkConfig, container_id: str, host_veth: str, ifname: str = "eth0") -> None:
    """Delete the veth pair (both ends go together) and release the IP. Safe to repeat."""
    try:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=host_veth)
            if found and link_kind(ipr, found[0]) == "veth":  # never another kind of link
                ip_link_delete(ipr, host_veth)
    except (NetlinkError, OSError) as e:
        raise BridgeError.failed("detach", "veth", host_veth, e) from e
    ipam.release(cfg, container_id, ifname)


def find_attachment(
    cfg: NetworkConfig, netns_path: str, container_id: str, host_veth: str, ifname: str = "eth0"
) -> Attachment | None:
    """What is wired for this pod, or None if either end or the address is missing."""
    if netns.find_netns(netns_path) is None:
        return None
    try:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=host_veth)
            if not found:
                return None
            host_index = int(found[0])
        with _netlink_in(netns_path) as pod:
            found = pod.link_lookup(ifname=ifname)
            if not found:
                return None
            link = pod.link("get", index=found[0])[0]
            addrs = pod.get_addr(index=found[0], family=2)
    except (NetlinkError, OSError) as e:
        raise BridgeError.failed("find", "veth", host_veth, e) from e
    if link.get_attr("IFLA_LINK") != host_index or not addrs:
        return None  # an eth0 that is not the peer of our veth, or has no address
    ip = addrs[0].get_attr("IFA_ADDRESS")
    return Attachment(
        container_id=container_id,
        ifname=ifname,
        host_veth=host_veth,
        host_ifindex=host_index,
        peer_ifindex=int(found[0]),
        address=f"{ip}/{addrs[0]['prefixlen']}",
        ip=ip,
        gateway=cfg.gateway,
        mac=link.get_attr("IFLA_ADDRESS"),
        netns=netns_path,
    )
