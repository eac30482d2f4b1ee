"""kube-controller-manager, small: run every controller of the cluster in one process.

Upstream's controller manager is one binary holding dozens of control loops; ours holds
a few, each an independent :class:`~minikube_py.controllers.base.Controller` with its own
informers and work queue, all talking to the API server through the same :class:`Client`:

- ``deployment``  -> ReplicaSets per pod-template version, rollouts, rollbacks
- ``replicaset``  -> pods (self-healing, scaling)
- ``garbage-collector`` -> cascading deletion through ``ownerReferences``
- ``namespace``   -> emptying namespaces being deleted
- ``endpoints``   -> Endpoints and EndpointSlices: the ready pods behind each Service
- ``serviceaccount`` -> a ServiceAccount ``default`` in every namespace
- ``horizontalpodautoscaler`` -> replicas following CPU or memory use (``hpa.py``)
- ``persistentvolume`` -> claims bound to volumes, volumes provisioned (a directory per
  claim, with the default class ``standard``) and reclaimed
- ``nodelifecycle`` -> silent nodes marked Unknown and tainted, their pods evicted (only
  when given a grace period: control-plane tests with static fake nodes run without it)

See them work with ``kubectl get events -w`` and the ``minikube_py.controllers`` loggers.
"""

from __future__ import annotations

import logging

from minikube_py.client import Client
from minikube_py.controllers.base import Controller
from minikube_py.controllers.deployment import DeploymentController
from minikube_py.controllers.endpoints import EndpointsController
from minikube_py.controllers.gc import GarbageCollector
from minikube_py.controllers.hpa import HorizontalPodAutoscalerController
from minikube_py.controllers.namespace import NamespaceController
from minikube_py.controllers.nodelifecycle import NodeLifecycleController
from minikube_py.controllers.persistentvolume import PersistentVolumeController
from minikube_py.controllers.replicaset import ReplicaSetController
from minikube_py.controllers.serviceaccount import ServiceAccountsController

log = logging.getLogger(__name__)


class ControllerManager:
    """Starts and stops all controllers; ``controllers`` maps a name to each one."""

    def __init__(self, client: Client, workers: int = 2,
                 node_monitor_grace_period: float | None = None,
                 volumes_dir: str | None = None) -> None:
        self.client = client
        self.controllers: dict[str, Controller] = {
            "deployment": DeploymentController(client, workers),
            "replicaset": ReplicaSetController(client, workers),
            "garbage-collector": GarbageCollector(client),
            "namespace": NamespaceController(client),
            "endpoints": EndpointsController(client, workers),
            "serviceaccount": ServiceAccountsController(client),
            "horizontalpodautoscaler": HorizontalPodAutoscalerController(client),
            "persistentvolume": PersistentVolumeController(client, volumes_dir),
        }
        if node_monitor_grace_period is not None:
            self.controllers["nodelifecycle"] = NodeLifecycleController(
                client, node_monitor_grace_period)
        self._started: list[Controller] = []

    def start(self) -> None:
        for name, controller in self.controllers.items():
            controller.start()
            self._started.append(controller)
            log.info("Started controller controller=%s", name)

    def stop(self) -> None:
        for controller in reversed(self._started):
            controller.stop()
        self._started.clear()
