"""``minikube-py up``: the whole cluster in one process, each part talking HTTP to the API.

The study note's components, started in the order a real cluster needs them:

1. the **store** (SQLite, ``<state>/store.db``) and the **API server** on 127.0.0.1:6443;
2. a **kubeconfig** (``<state>/kubeconfig``) so that the CLI and the real ``kubectl`` find it;
3. the **controller manager** (Deployment, ReplicaSet, garbage collector, namespace);
4. the **scheduler**;
5. the **kubelet**: it prepares the node (bridge, cgroups), serves logs and exec on the
   node's address, registers its Node and runs the pods bound to it.

They share nothing but the API server's URL: the scheduler, controllers and kubelet use the
same REST client they would use across machines. Stopping ``up`` stops the components and
leaves the pods' containers running, as stopping a real kubelet does; ``down`` also removes
what the node created.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import yaml

from minikube_py.client import Client
from minikube_py.config import NodeConfig
from minikube_py.kubelet.apisource import ApiSource
from minikube_py.kubelet.kubelet import Kubelet
from minikube_py.kubelet.server import KubeletServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterConfig:
    node: NodeConfig
    api_host: str = "127.0.0.1"
    api_port: int = 6443
    kubelet_port: int = 10250

    @property
    def store_path(self) -> str:
        return os.path.join(self.node.state_dir, "store.db")

    @property
    def kubeconfig_path(self) -> str:
        return os.path.join(self.node.state_dir, "kubeconfig")

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"


def kubeconfig(url: str, name: str = "minikube-py") -> dict:
    """A kubeconfig with one cluster, one user and one context, all named ``name``."""
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": {}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                "namespace": "default"}}],
    }


def write_kubeconfig(config: ClusterConfig) -> str:
    path = config.kubeconfig_path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        yaml.safe_dump(kubeconfig(config.api_url), f, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


class Cluster:
    """All components of ``up``; :meth:`start` then :meth:`stop` (or :meth:`run`)."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self._stops: list[tuple[str, object]] = []
        self._kubelet_thread: threading.Thread | None = None
        self.kubelet: Kubelet | None = None

    def start(self) -> None:
        """Steps:
        1. store + API server
        2. kubeconfig
        3. controller manager
        4. scheduler
        5. kubelet: node prepared, server for logs/exec, registered, pods watched
        """
        from minikube_py.apiserver.server import APIServer
        from minikube_py.controllers.manager import ControllerManager
        from minikube_py.scheduler.scheduler import Scheduler

        cfg = self.config
        os.makedirs(cfg.node.state_dir, exist_ok=True)
        # Step 1: store + API server.
        api = APIServer(cfg.store_path, host=cfg.api_host, port=cfg.api_port)
        api.start()
        self._stops.append(("API server", api))
        log.info("Started API server url=%s store=%s", cfg.api_url, cfg.store_path)
        # Step 2: kubeconfig.
        write_kubeconfig(cfg)
        # Step 3: controllers.
        controllers = ControllerManager(Client(cfg.api_url, user_agent="controller-manager"))
        controllers.start()
        self._stops.append(("controller manager", controllers))
        # Step 4: scheduler.
        scheduler = Scheduler(Client(cfg.api_url, user_agent="scheduler"))
        scheduler.start()
        self._stops.append(("scheduler", scheduler))
        # Step 5: kubelet.
        client = Client(cfg.api_url, user_agent=f"kubelet/{cfg.node.node_name}")
        source = ApiSource(client, cfg.node, cfg.kubelet_port)
        kubelet = Kubelet(cfg.node, source)
        kubelet.prepare_node()
        server = KubeletServer(cfg.node, self._lookup, cfg.node.network.gateway,
                               cfg.kubelet_port)
        server.start()
        self._stops.append(("kubelet server", server))
        self.kubelet = kubelet
        self._kubelet_thread = threading.Thread(target=kubelet.run, name="kubelet",
                                                daemon=True)
        self._kubelet_thread.start()
        self._stops.append(("kubelet", kubelet))
        log.info("Cluster is up api=%s node=%s kubeconfig=%s", cfg.api_url,
                 cfg.node.node_name, cfg.kubeconfig_path)

    def _lookup(self, namespace: str, name: str) -> dict | None:
        if self.kubelet is None:
            return None
        for pod in self.kubelet.source.desired().values():
            meta = pod["metadata"]
            if meta["name"] == name and meta.get("namespace", "default") == namespace:
                return pod
        return None

    def stop(self) -> None:
        for name, component in reversed(self._stops):
            try:
                component.stop()  # type: ignore[attr-defined]
            except Exception:
                log.exception("Failed to stop %s", name)
        if self._kubelet_thread is not None:
            self._kubelet_thread.join(timeout=30)
        self._stops.clear()
        log.info("Cluster stopped")
