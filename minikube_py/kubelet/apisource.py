"""The kubelet joins the cluster: its Node, its pods and their status, through the API.

What a kubelet does with the API server (upstream: ``pkg/kubelet/kubelet_node_status.go``,
``pkg/kubelet/config/apiserver.go``, ``pkg/kubelet/status/status_manager.go``):

1. **register** its Node: capacity and allocatable (CPUs, memory, max pods), the pod CIDR,
   its addresses, the port where it serves logs and exec, and conditions (Ready...);
2. **heartbeat**: refresh the Ready condition's ``lastHeartbeatTime`` every
   :data:`HEARTBEAT_PERIOD` seconds (more often when the control plane's grace period is
   short), so the control plane knows the node is alive;
3. **watch** the pods bound to it:
   ``GET /api/v1/pods?watch=true&fieldSelector=spec.nodeName=<node>``;
4. **report** each pod's status: ``PATCH /api/v1/namespaces/<ns>/pods/<name>/status``;
5. **record events** (Scheduled comes from the scheduler; Pulling, Pulled, Created, Started,
   Killing, BackOff, Failed from here);
6. **finish deletions**: when a pod being deleted has stopped, delete it for good
   (``gracePeriodSeconds=0``).

See it: ``minikube-py get nodes -o yaml``, ``minikube-py get events``.
"""

from __future__ import annotations

import calendar
import logging
import os
import platform
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from minikube_py.api.resources import must
from minikube_py.client import ApiError, Client, Informer
from minikube_py.config import NodeConfig
from minikube_py.kubelet.serviceaccount import token_request
from minikube_py.kubelet.sources import Pod, append_event

log = logging.getLogger(__name__)

HEARTBEAT_PERIOD = 10.0
KUBELET_VERSION = "v1.32.0-minikube-py"

PODS = must("pods")
NODES = must("nodes")
EVENTS = must("events")
SERVICES = must("services")
SERVICE_ACCOUNTS = must("serviceaccounts")
CONFIG_MAPS = must("configmaps")
SECRETS = must("secrets")
CLAIMS = must("persistentvolumeclaims")
VOLUMES = must("persistentvolumes")


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _memory_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def _os_image() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def node_object(config: NodeConfig, kubelet_port: int, max_pods: int = 110) -> dict[str, Any]:
    """The Node this kubelet registers (``kubectl get node <name> -o yaml`` shows it)."""
    resources = {"cpu": str(os.cpu_count() or 1), "memory": f"{_memory_kib()}Ki",
                 "pods": str(max_pods), "ephemeral-storage": "10Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": config.node_name, "labels": {
            "kubernetes.io/hostname": config.node_name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": platform.machine().replace("x86_64", "amd64"),
            "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": config.pod_cidr, "podCIDRs": [config.pod_cidr]},
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "addresses": [{"type": "InternalIP", "address": config.network.gateway},
                          {"type": "Hostname", "address": config.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                "osImage": _os_image(), "kernelVersion": platform.release(),
                "containerRuntimeVersion": "minikube-py://0.1.0",
                "operatingSystem": "linux",
                "architecture": platform.machine().replace("x86_64", "amd64"),
                "machineID": "", "systemUUID": "", "bootID": "",
            },
            "conditions": node_conditions(),
        },
    }


def node_conditions() -> list[dict[str, Any]]:
    now = now_rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now}

    return [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                  "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                  "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID",
                  "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]


class ApiSource:
    """Pods from the API server for one node; status and events back to it."""

    def __init__(self, client: Client, config: NodeConfig, kubelet_port: int,
                 heartbeat_period: float = HEARTBEAT_PERIOD) -> None:
        self.client = client
        self.heartbeat_period = heartbeat_period
        self.config = config
        self.kubelet_port = kubelet_port
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={config.node_name}")
        #: all Services, for the containers' environment variables (``envvars.py``)
        self.service_informer = Informer(client, SERVICES)
        self._reported: dict[str, dict[str, Any]] = {}
        self._stopping = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- configMap volumes ----------------------------------------------------------------------
    def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ConfigMap a configMap volume names (read at each sync: edits reach pods)."""
        found: dict[str, Any] | None = self.client.find(CONFIG_MAPS, name, namespace)
        return found

    def claimed_volume(self, namespace: str, claim: str
                       ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """A persistentVolumeClaim volume's claim and the PersistentVolume bound to it."""
        found = self.client.find(CLAIMS, claim, namespace)
        name = ((found or {}).get("spec") or {}).get("volumeName")
        return found, (self.client.find(VOLUMES, name) if name else None)

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret a secret volume or a variable names (read when needed, never cached)."""
        found: dict[str, Any] | None = self.client.find(SECRETS, name, namespace)
        return found

    def service_account(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ServiceAccount, for the imagePullSecrets it gives its pods."""
        found: dict[str, Any] | None = self.client.find(SERVICE_ACCOUNTS, name, namespace)
        return found

    # -- service account tokens ---------------------------------------------------------------
    @property
    def ca_file(self) -> str | None:
        """The cluster CA, for the pods' ``ca.crt`` (None when the API is plain HTTP)."""
        return self.client.ca_file

    def token_requester(self) -> Callable[[Pod], tuple[str, float] | None] | None:
        """:meth:`request_token`, when the API server authenticates (TLS); else None."""
        return self.request_token if self.client.scheme == "https" else None

    def request_token(self, pod: Pod) -> tuple[str, float] | None:
        """A token of the pod's ServiceAccount, bound to the pod (a TokenRequest); None if
        the account says ``automountServiceAccountToken: false`` and the pod does not
        override it."""
        meta = pod["metadata"]
        namespace = meta.get("namespace", "default")
        name = pod["spec"].get("serviceAccountName") or "default"
        if pod["spec"].get("automountServiceAccountToken") is None:
            account = self.client.find(SERVICE_ACCOUNTS, name, namespace) or {}
            if account.get("automountServiceAccountToken") is False:
                return None
        answer = self.client.create_subresource(SERVICE_ACCOUNTS, name, "token",
                                                token_request(pod), namespace)
        status = answer.get("status") or {}
        expires = calendar.timegm(time.strptime(status["expirationTimestamp"],
                                                "%Y-%m-%dT%H:%M:%SZ"))
        return str(status["token"]), float(expires)

    # -- node ---------------------------------------------------------------------------------
    def register_node(self) -> None:
        """Create the Node, or refresh its status if it exists (a restarted kubelet)."""
        node = node_object(self.config, self.kubelet_port)
        existing = self.client.find(NODES, self.config.node_name)
        if existing is None:
            self.client.create(NODES, node)
            log.info("Registered node node=%s", self.config.node_name)
        else:
            self.client.patch(NODES, self.config.node_name, {"status": node["status"]},
                              subresource="status")
            self.client.patch(NODES, self.config.node_name, {"spec": node["spec"]})
            log.info("Updated node node=%s", self.config.node_name)

    def heartbeat(self) -> None:
        self.client.patch(NODES, self.config.node_name,
                          {"status": {"conditions": node_conditions()}}, subresource="status")

    def _heartbeat_loop(self) -> None:
        while not self._stopping.wait(self.heartbeat_period):
            try:
                self.heartbeat()
            except Exception as e:
                log.warning("Failed to update node status node=%s err=%s",
                            self.config.node_name, e)
                try:
                    self.register_node()
                except Exception:
                    pass

    # -- PodSource ----------------------------------------------------------------------------
    def start(self, wake: Callable[[], None]) -> None:
        self.register_node()
        self.pods.add_handler(lambda kind, obj, old: wake())
        self.service_informer.start()
        self.pods.start()
        self.service_informer.wait_synced(30)
        self.pods.wait_synced(30)
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, daemon=True,
                                           name="node-heartbeat")
        self._heartbeat.start()

    def stop(self) -> None:
        self._stopping.set()
        self.pods.stop()
        self.service_informer.stop()

    def services(self, namespace: str) -> list[dict[str, Any]]:
        """The Services of ``namespace``, as the informer last saw them."""
        return [s for s in self.service_informer.list()
                if s["metadata"].get("namespace") == namespace]

    def desired(self) -> dict[str, Pod]:
        return {p["metadata"]["uid"]: p for p in self.pods.list()}

    def report_status(self, pod: Pod, status: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        if self._reported.get(uid) == status:
            return
        try:
            self.client.patch(PODS, pod["metadata"]["name"], {"status": status},
                              namespace=pod["metadata"].get("namespace"),
                              subresource="status")
            self._reported[uid] = status
        except ApiError as e:
            if e.code != 404:
                log.warning("Failed to update pod status pod=%s err=%s",
                            pod["metadata"]["name"], e)

    def record_event(self, pod: Pod, kind: str, reason: str, message: str) -> None:
        append_event(self.config, pod, kind, reason, message)
        meta = pod["metadata"]
        now = now_rfc3339()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
                         "namespace": meta.get("namespace", "default")},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                               "namespace": meta.get("namespace", "default"),
                               "uid": meta["uid"]},
            "reason": reason, "message": message, "type": kind, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": "kubelet", "host": self.config.node_name},
            "reportingComponent": "kubelet", "reportingInstance": self.config.node_name,
        }
        try:
            self.client.create(EVENTS, event)
        except Exception as e:
            log.debug("Failed to record event reason=%s err=%s", reason, e)

    def removed(self, pod: Pod) -> None:
        """The pod's containers are gone: delete the object for good (grace 0)."""
        meta = pod["metadata"]
        self._reported.pop(meta["uid"], None)
        try:
            self.client.delete(PODS, meta["name"], meta.get("namespace"),
                               grace_period_seconds=0)
        except ApiError as e:
            if e.code != 404:
                log.warning("Failed to delete pod pod=%s err=%s", meta["name"], e)
