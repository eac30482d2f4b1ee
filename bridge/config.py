"""The node's pod network, described by one small value: :class:`NetworkConfig`.

Kubernetes concept: each node owns a slice of the cluster's pod CIDR (upstream's default
cluster range is 10.244.0.0/16, one /24 per node, ``node.spec.podCIDR``). Every pod on the
node gets one address from that /24; the first address belongs to the node itself, on the
bridge, and is every pod's default gateway. This is what the CNI "bridge" plugin with
"host-local" IPAM sets up on a real cluster.

Kernel objects named here (made elsewhere in the package): the bridge ``br0`` with the gateway
address, one veth pair per pod (host side named by :func:`veth_name`), an nftables table with
the masquerade rule, and the IPAM directory ``<state_dir>/<name>/``.

See them::

    ip -br addr show br0                 # the gateway address, e.g. 10.244.0.1/24
    ls /var/lib/minikube-py/networks/minikube-py/     # one file per allocated IP
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from explain.errors import MinikubeError

#: Linux limits interface names to IFNAMSIZ - 1 = 15 bytes.
IFNAME_MAX = 15


class BridgeError(MinikubeError):
    """The bridge, a veth pair, the masquerade table or an IP allocation failed."""


class IPAMExhausted(BridgeError):
    """Every address of the subnet (except the gateway) is allocated."""


@dataclass(frozen=True)
class NetworkConfig:
    """One node's pod network: which bridge, which subnet, where IPAM keeps its files."""

    bridge: str = "br0"
    subnet: str = "10.244.0.0/24"
    state_dir: str = "/var/lib/minikube-py/networks"
    nft_table: str = "minikube-py"
    name: str = "minikube-py"

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The subnet as an ``ipaddress`` object (host bits must be zero)."""
        try:
            return ipaddress.IPv4Network(self.subnet, strict=True)
        except ValueError as e:
            raise BridgeError(f"invalid subnet {self.subnet!r}: {e}") from e

    @property
    def gateway(self) -> str:
        """The first address of the subnet, e.g. ``10.244.0.1``: the bridge's own address."""
        return str(self.network.network_address + 1)

    @property
    def gateway_cidr(self) -> str:
        """The gateway with the subnet's prefix, e.g. ``10.244.0.1/24``."""
        return f"{self.gateway}/{self.network.prefixlen}"

    @property
    def ipam_dir(self) -> str:
        """``<state_dir>/<name>``: the host-local IPAM directory of this network."""
        return f"{self.state_dir.rstrip('/')}/{self.name}"


def veth_name(prefix: str, container_id: str) -> str:
    """The host-side veth name for a container: ``prefix`` + the start of its id, <= 15 chars.

    Only letters and digits of the id are kept (a pod UID's dashes go), lower-cased, so the
    name is stable — delete can recompute it — and a sweep can find leftovers by prefix:
    ``veth_name("mkv", "1a2b3c4d-...")`` -> ``"mkv1a2b3c4d...."``.
    """
    room = IFNAME_MAX - len(prefix)
    if room < 4:
        raise BridgeError(f"veth prefix {prefix!r} leaves fewer than 4 characters for the id")
    cleaned = re.sub(r"[^a-z0-9]", "", container_id.lower())
    if not cleaned:
        raise BridgeError(f"container id {container_id!r} has no letters or digits")
    return prefix + cleaned[:room]
