"""The node's bridge ``br0``: the virtual switch every pod's veth is plugged into.

Kubernetes concept: on a node using the CNI "bridge" plugin, all pods hang off one Linux
bridge. Pods on the node talk to each other through it (layer 2), and the bridge's own
address — the first address of the node's pod CIDR — is every pod's default gateway, so
traffic for anything else is routed by the node (which therefore needs IP forwarding on) and
masqueraded when it leaves the pod network (see ``bridge.masquerade``).

Kernel objects: a ``bridge`` link with one IPv4 address, the sysctl
``net.ipv4.ip_forward``, and the nftables table of ``bridge.masquerade``. ``ensure_bridge``
does, as a learner would by hand::

    ip link add br0 type bridge
    ip addr add 10.244.0.1/24 dev br0
    ip link set br0 up
    sysctl -w net.ipv4.ip_forward=1
    nft -f - <<EOF ... EOF

See them::

    ip -d link show br0          # "bridge" in the details
    ip -br addr show br0
    bridge link                  # the ports (pod veths) of every bridge
    sysctl net.ipv4.ip_forward

``delete_bridge`` removes the bridge and the table but leaves ``ip_forward`` on: other
software on the node may rely on it, and turning it off is not ours to decide.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

import explain
from bridge.config import BridgeError, NetworkConfig
from bridge.masquerade import delete_masquerade, ensure_masquerade

log = logging.getLogger(__name__)

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def ip_link_add_bridge(ipr: IPRoute, name: str) -> int:
    """``ip link add NAME type bridge``; returns the new ifindex."""
    explain.record(["ip", "link", "add", name, "type", "bridge"])
    ipr.link("add", ifname=name, kind="bridge")
    return int(ipr.link_lookup(ifname=name)[0])


def ip_addr_add(ipr: IPRoute, index: int, dev: str, cidr: str) -> None:
    """``ip addr add CIDR dev DEV``."""
    explain.record(["ip", "addr", "add", cidr, "dev", dev])
    address, prefix = cidr.split("/")
    ipr.addr("add", index=index, address=address, prefixlen=int(prefix))


def ip_link_set_up(ipr: IPRoute, index: int, dev: str) -> None:
    """``ip link set DEV up``."""
    explain.record(["ip", "link", "set", dev, "up"])
    ipr.link("set", index=index, state="up")


def ip_link_delete(ipr: IPRoute, dev: str) -> None:
    """``ip link delete DEV``; a link that is already gone is fine."""
    explain.record(["ip", "link", "delete", dev])
    for index in ipr.link_lookup(ifname=dev):
        try:
            ipr.link("del", index=index)
        except NetlinkError as e:
            if e.code != 19:  # ENODEV: gone in the meantime
                raise


def sysctl_ip_forward() -> None:
    """``sysctl -w net.ipv4.ip_forward=1``, skipped when it is already 1."""
    with open(IP_FORWARD) as f:
        if f.read().strip() == "1":
            return
    explain.record(["sysctl", "-w", "net.ipv4.ip_forward=1"])
    with open(IP_FORWARD, "w") as f:
        f.write("1")


def link_kind(ipr: IPRoute, index: int) -> str | None:
    """The kind of a link ("bridge", "veth"...; None for a plain device such as lo)."""
    link = ipr.link("get", index=index)[0]
    info = link.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info is not None else None


def _addresses(ipr: IPRoute, index: int) -> list[str]:
    return [
        f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
        for a in ipr.get_addr(index=index, family=2)
    ]


def find_bridge(cfg: NetworkConfig) -> int | None:
    """The ifindex of ``cfg.bridge`` if it exists and is a bridge, else None."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=cfg.bridge)
        if not found or link_kind(ipr, found[0]) != "bridge":
            return None
        return int(found[0])


def ensure_bridge(cfg: NetworkConfig) -> None:
    """Make the node's pod network ready; safe to call again.

    Steps: 1. the bridge link  2. the gateway address  3. link up  4. IP forwarding
    5. masquerade. A bridge created by this call is deleted again if a later step fails.
    """
    name = cfg.bridge
    try:
        with IPRoute() as ipr, ExitStack() as undo:
            # Step 1: the bridge (an existing link of another kind is an error, not reused).
            found = ipr.link_lookup(ifname=name)
            if found:
                index = int(found[0])
                kind = link_kind(ipr, index)
                if kind != "bridge":
                    raise BridgeError.failed("ensure", "bridge", name, f"link is a {kind}")
            else:
                index = ip_link_add_bridge(ipr, name)
                undo.callback(ip_link_delete, ipr, name)
            # Step 2: the gateway address, e.g. 10.244.0.1/24.
            if cfg.gateway_cidr not in _addresses(ipr, index):
                ip_addr_add(ipr, index, name, cfg.gateway_cidr)
            # Step 3: up.
            if not ipr.link("get", index=index)[0]["flags"] & 1:  # IFF_UP
                ip_link_set_up(ipr, index, name)
            # Step 4: the node routes pod traffic.
            sysctl_ip_forward()
            # Step 5: pods reach the outside with the node's address.
            ensure_masquerade(cfg)
            undo.pop_all()
    except BridgeError:
        raise
    except (NetlinkError, OSError) as e:
        raise BridgeError.failed("ensure", "bridge", name, e) from e
    log.info("Ensured bridge bridge=%s gateway=%s subnet=%s", name, cfg.gateway_cidr, cfg.subnet)


def delete_bridge(cfg: NetworkConfig) -> None:
    """Delete the bridge and the masquerade table; nothing to do for what is gone."""
    try:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=cfg.bridge)
            if found and link_kind(ipr, found[0]) == "bridge":  # never another kind of link
                ip_link_delete(ipr, cfg.bridge)
    except (NetlinkError, OSError) as e:
        raise BridgeError.failed("delete", "bridge", cfg.bridge, e) from e
    delete_masquerade(cfg)
