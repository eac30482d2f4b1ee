"""The node's pod network: bridge ``br0``, one veth pair per pod, host-local IPAM, masquerade.

Kubernetes concept: the Container Network Interface. Kubernetes itself does not wire pods;
the runtime calls a CNI plugin with the pod's network namespace, and the plugin makes the pod
reachable. This package is such a plugin, modelled on the reference "bridge" + "host-local"
plugins, usable two ways:

* as a library (the kubelet's runtime calls :func:`ensure_bridge` once and
  :func:`attach` / :func:`detach` per pod), and
* as a real CNI 1.0.0 executable, ``minikube-cni`` / ``python -m bridge.cni`` (``bridge.cni``).

Modules: ``config`` (NetworkConfig, errors, veth names), ``link`` (the bridge, IP forwarding),
``masquerade`` (the nftables table), ``veth`` (attach/detach a pod), ``ipam`` (one file per IP),
``cni`` (the plugin protocol).

See everything for a node::

    ip -br addr show br0; bridge link; nft list table ip minikube-py
    ls /var/lib/minikube-py/networks/minikube-py/
"""

from __future__ import annotations

from bridge.config import BridgeError, IPAMExhausted, NetworkConfig, veth_name
from bridge.ipam import allocate, allocations, release
from bridge.link import delete_bridge, ensure_bridge, find_bridge
from bridge.veth import Attachment, attach, detach, find_attachment

__all__ = [
    "Attachment",
    "BridgeError",
    "IPAMExhausted",
    "NetworkConfig",
    "allocate",
    "allocations",
    "attach",
    "delete_bridge",
    "detach",
    "ensure_bridge",
    "find_attachment",
    "find_bridge",
    "release",
    "veth_name",
]
