"""Where the node keeps things, and what it names them: one ``NodeConfig`` for everything.

A real kubelet takes ~100 flags; ours takes a handful, all in this dataclass. The defaults
follow upstream where upstream has one (pod CIDR 10.244.0.0/24 for the first node, bridge
``br0`` as in the study note, logs under ``/var/log/pods``). Tests build a ``NodeConfig``
with their own prefix, bridge, subnet and temporary directories so they never collide with a
node a learner is running.

Look at the defaults on a running node::

    ls /var/lib/minikube-py            # state: pods/, images/, networks/, kubelet.log
    ls /var/log/pods                   # container logs, CRI format
    ip link show br0                   # the bridge
    ls /sys/fs/cgroup/memory/minikube-py   # the cgroup parent (cgroup v1)
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from bridge import NetworkConfig
from runtime.images import ImageStore

DEFAULT_STATE_DIR = "/var/lib/minikube-py"


@dataclass(frozen=True)
class NodeConfig:
    """Everything the node needs to know about where and how to create its objects."""

    state_dir: str = DEFAULT_STATE_DIR
    log_dir: str = "/var/log/pods"
    #: Prefix of every host object named after a pod: netns ``mk-<pod>-<uid8>``, veth ``mk<uid>``.
    prefix: str = "mk"
    bridge: str = "br0"
    pod_cidr: str = "10.244.0.0/24"
    cgroup_parent: str = "minikube-py"
    nft_table: str = "minikube-py"
    node_name: str = field(default_factory=socket.gethostname)
    #: nameserver written into pods' resolv.conf; None = copy the host's (upstream "Default").
    cluster_dns: str | None = None
    cluster_domain: str = "cluster.local"
    #: Upper bound on processes per pod (upstream's --pod-max-pids; it defaults to unlimited).
    pod_pids_limit: int = 1024
    #: The image store; empty = ``<state_dir>/images``. Tests share one between nodes.
    image_store: str = ""
    #: Pull Docker Hub names (``redis``) from Docker Hub when no built-in recipe makes them.
    #: Names with a registry host (``localhost:5000/x``) are always pulled from that host.
    docker_hub: bool = True

    @classmethod
    def from_env(cls) -> NodeConfig:
        """Defaults, with ``MINIKUBE_PY_STATE`` overriding the state directory."""
        state = os.environ.get("MINIKUBE_PY_STATE", DEFAULT_STATE_DIR)
        return cls(state_dir=state)

    @property
    def network(self) -> NetworkConfig:
        return NetworkConfig(
            bridge=self.bridge,
            subnet=self.pod_cidr,
            state_dir=os.path.join(self.state_dir, "networks"),
            nft_table=self.nft_table,
            name=self.nft_table,
        )

    @property
    def pods_dir(self) -> str:
        return os.path.join(self.state_dir, "pods")

    @property
    def manifests_dir(self) -> str:
        return os.path.join(self.state_dir, "manifests")

    @property
    def images_dir(self) -> str:
        return self.image_store or os.path.join(self.state_dir, "images")

    @property
    def volumes_dir(self) -> str:
        """Where the ``standard`` StorageClass makes PersistentVolumes (a directory each)."""
        return os.path.join(self.state_dir, "persistent-volumes")

    def open_image_store(self) -> ImageStore:
        """The node's image store, pulling as the node's settings say."""
        return ImageStore(self.images_dir, registries=True, docker_hub=self.docker_hub)

    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.pods_dir, uid)

    def netns_name(self, pod_name: str, uid: str) -> str:
        """``mk-nginx-1a2b3c4d``: readable in ``ip netns list``, unique by the UID."""
        return f"{self.prefix}-{pod_name[:40]}-{uid[:8]}"

    def pod_log_dir(self, namespace: str, name: str, uid: str) -> str:
        """Upstream's layout: ``/var/log/pods/<namespace>_<pod>_<uid>/``."""
        return os.path.join(self.log_dir, f"{namespace}_{name}_{uid}")

    def pod_cgroup(self, uid: str) -> str:
        return f"{self.cgroup_parent}/pod{uid}"
