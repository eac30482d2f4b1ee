"""``minikube-py up``: the whole cluster in one process, each part talking HTTP to the API.

The study note's components, started in the order a real cluster needs them:

1. the **store** (SQLite, ``<state>/store.db``) and the **API server** on
   https://127.0.0.1:6443, with a CA made at the first start (``<state>/pki/``, see
   :mod:`minikube_py.clusterauth`), client certificates or tokens, and RBAC;
2. a **kubeconfig** (``<state>/kubeconfig``, with the CA and the admin's certificate) so that
   the CLI and the real ``kubectl`` find and trust it;
3. the **controller manager** (Deployment, ReplicaSet, garbage collector, namespace);
4. the **scheduler**;
5. the **kubelet**: it prepares the node (bridge, cgroups), serves logs and exec on the
   node's address, registers its Node and runs the pods bound to it; then the API server
   listens on the bridge address too, behind the ``default/kubernetes`` Service (10.96.0.1),
   so pods can reach it;
6. **kube-proxy**: Services and Endpoints become nftables rules (``docs/services.md``);
7. **cluster DNS** (:mod:`minikube_py.dns`) on the bridge's address, reached by pods as the
   Service ``kube-system/kube-dns``, 10.96.0.10.

They share nothing but the API server's URL: the scheduler, controllers and kubelet use the
same REST client they would use across machines, each with its own client certificate
(:func:`make_internal_client`). Stopping ``up`` stops the components and
leaves the pods' containers running, as stopping a real kubelet does; ``down`` also removes
what the node created.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import yaml

from minikube_py.clusterauth import (  # noqa: F401 (kubeconfig: re-exported)
    authenticator,
    ensure_cluster_pki,
    ensure_kubelet_token,
    kubeconfig,
    make_internal_client,
    token_signer,
    user_kubeconfig,
)
from minikube_py.config import NodeConfig
from minikube_py.controllers.nodelifecycle import DEFAULT_GRACE_PERIOD
from minikube_py.dns.kubedns import CLUSTER_DNS_IP
from minikube_py.kubelet import apisource
from minikube_py.kubelet.apisource import ApiSource
from minikube_py.kubelet.kubelet import Kubelet
from minikube_py.kubelet.server import KubeletServer

if TYPE_CHECKING:
    from minikube_py.apiserver.server import APIServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterConfig:
    node: NodeConfig
    api_host: str = "127.0.0.1"
    api_port: int = 6443
    kubelet_port: int = 10250
    dns_port: int = 53  # the cluster DNS server's port on the bridge address (Step 7)
    node_monitor_grace_period: float = DEFAULT_GRACE_PERIOD  # seconds without heartbeat
    tls: bool = True  # HTTPS + authentication + RBAC; False = plain HTTP (--insecure-http)

    @property
    def store_path(self) -> str:
        return os.path.join(self.node.state_dir, "store.db")

    @property
    def kubeconfig_path(self) -> str:
        return os.path.join(self.node.state_dir, "kubeconfig")

    @property
    def api_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.api_host}:{self.api_port}"


def write_kubeconfig(config: ClusterConfig) -> str:
    path = config.kubeconfig_path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        yaml.safe_dump(user_kubeconfig(config.api_url, config.node.state_dir), f,
                       sort_keys=False)
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
        6. kube-proxy: Services -> nftables table ``<nft_table>-proxy`` (``minikube_py.proxy``)
        7. cluster DNS on the bridge address, behind the Service kube-system/kube-dns
        """
        from minikube_py.apiserver.rbac import RBACAuthorizer
        from minikube_py.apiserver.server import APIServer
        from minikube_py.controllers.manager import ControllerManager
        from minikube_py.scheduler.scheduler import Scheduler

        cfg = self.config
        os.makedirs(cfg.node.state_dir, exist_ok=True)
        # Step 1: store + API server (TLS: the PKI is made at the first start).
        tls = ensure_cluster_pki(cfg) if cfg.tls else None
        kubelet_token = ensure_kubelet_token(cfg)
        signer = token_signer(cfg) if tls else None
        api = APIServer(cfg.store_path, host=cfg.api_host, port=cfg.api_port, tls=tls,
                        authenticator=authenticator(cfg, signer) if tls else None,
                        authorizer=RBACAuthorizer() if tls else None,
                        kubelet_token=kubelet_token, token_signer=signer)
        api.start()
        self._stops.append(("API server", api))
        log.info("Started API server url=%s store=%s", cfg.api_url, cfg.store_path)
        # Step 2: kubeconfig.
        write_kubeconfig(cfg)
        # Step 3: controllers.
        controllers = ControllerManager(make_internal_client(cfg, "controller-manager"),
                                        node_monitor_grace_period=cfg.node_monitor_grace_period,
                                        volumes_dir=cfg.node.volumes_dir)
        controllers.start()
        self._stops.append(("controller manager", controllers))
        # Step 4: scheduler.
        scheduler = Scheduler(make_internal_client(cfg, "scheduler"))
        scheduler.start()
        self._stops.append(("scheduler", scheduler))
        # Step 5: kubelet. It heartbeats several times per grace period (upstream: every
        # 10 s for a 40 s grace), so a short grace period shortens the heartbeat period.
        client = make_internal_client(cfg, f"kubelet/{cfg.node.node_name}")
        source = ApiSource(client, cfg.node, cfg.kubelet_port, heartbeat_period=min(
            apisource.HEARTBEAT_PERIOD, cfg.node_monitor_grace_period / 4))
        kubelet = Kubelet(replace(cfg.node, cluster_dns=cfg.node.cluster_dns or CLUSTER_DNS_IP),
                          source)  # pods' resolv.conf: nameserver 10.96.0.10 (Step 7)
        kubelet.prepare_node()
        server = KubeletServer(cfg.node, self._lookup, cfg.node.network.gateway,
                               cfg.kubelet_port, token=kubelet_token)
        server.start()
        self._stops.append(("kubelet server", server))
        self.kubelet = kubelet
        self._kubelet_thread = threading.Thread(target=kubelet.run, name="kubelet",
                                                daemon=True)
        self._kubelet_thread.start()
        self._stops.append(("kubelet", kubelet))
        self._serve_pods(api)
        # Step 6: kube-proxy (stopping it leaves its table; `down` deletes it).
        from minikube_py.proxy import Proxier, ProxyConfig
        proxier = Proxier(make_internal_client(cfg, "kube-proxy"),
                          ProxyConfig.from_node(cfg.node))
        proxier.start()
        self._stops.append(("kube-proxy", proxier))
        # Step 7: cluster DNS.
        self._start_dns()
        log.info("Cluster is up api=%s node=%s kubeconfig=%s", cfg.api_url,
                 cfg.node.node_name, cfg.kubeconfig_path)

    def _serve_pods(self, api: APIServer) -> None:
        """The API server on the bridge address too (the bridge exists now), and the
        ``default/kubernetes`` Service's Endpoints pointing there: pods reach it as
        https://kubernetes.default.svc (10.96.0.1:443, DNATed by kube-proxy)."""
        from minikube_py.dns.kubedns import ensure_endpoints

        cfg = self.config
        address = cfg.node.network.gateway
        api.listen(address)
        ensure_endpoints(make_internal_client(cfg, "apiserver"), {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address}],
                         "ports": [{"name": "https", "port": api.port,
                                    "protocol": "TCP"}]}]})

    def _start_dns(self) -> None:
        """The DNS server on the bridge's own address, then the Service 10.96.0.10 and its
        hand-written Endpoints pointing there (kube-proxy DNATs one to the other)."""
        from minikube_py.dns import ClusterDNS, ensure_kube_dns

        cfg = self.config
        address = cfg.node.network.gateway
        client = make_internal_client(cfg, "cluster-dns")
        dns = ClusterDNS(client, address, cfg.dns_port, zone=cfg.node.cluster_domain)
        dns.start()
        self._stops.append(("cluster DNS", dns))
        ensure_kube_dns(client, address, dns.port)

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
