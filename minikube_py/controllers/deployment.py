"""The Deployment controller: roll a pod template out through ReplicaSets.

Create a Deployment and watch three layers appear::

    kubectl apply -f examples/nginx-deployment.yaml
    kubectl get deploy,rs,pods --show-labels
    kubectl rollout status deploy/nginx-deployment
    kubectl set image deploy/nginx-deployment nginx=nginx:1.25 ; kubectl get rs -w
    kubectl rollout history deploy/nginx-deployment ; kubectl rollout undo deploy/...

The controller watches Deployments and ReplicaSets. For each Deployment key it computes a
:class:`~minikube_py.controllers.deployment_plan.DeploymentPlan` (pure, in
:mod:`.deployment_plan`), logs it, and applies it: create the new ReplicaSet
(``<name>-<pod-template-hash>``), resize ReplicaSets, delete those beyond
``revisionHistoryLimit``, write ``deployment.kubernetes.io/revision`` on the Deployment, its
``status`` (what ``rollout status`` waits on) and ``ScalingReplicaSet`` events.

If ``<name>-<hash>`` is taken by a ReplicaSet with another template (a hash collision),
``status.collisionCount`` goes up by one and the next hash differs (upstream does the same).
"""

from __future__ import annotations

import logging
from typing import Any

from minikube_py.client import ApiError, Client
from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.base import (
    Controller,
    controller_ref,
    key_of,
    record_event,
    resource,
    split_key,
)
from minikube_py.controllers.deployment_plan import DeploymentPlan, plan_deployment
from minikube_py.errors import MinikubeError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "deployment-controller"


class DeploymentController(Controller):
    name = COMPONENT

    def __init__(self, client: Client, workers: int = 2) -> None:
        super().__init__(client, workers)
        self.deployments = self.informer("deployments", self._on_deployment)
        self.replicasets = self.informer("replicasets", self._on_rs)

    def _on_deployment(self, kind: str, deployment: Obj, old: Obj | None) -> None:
        self.queue.add(key_of(deployment))

    def _on_rs(self, kind: str, rs: Obj, old: Obj | None) -> None:
        for obj in (rs, old):
            ref = controller_ref(obj) if obj is not None else None
            if ref is not None and ref.get("kind") == "Deployment":
                self.queue.add(f"{rs['metadata'].get('namespace', '')}/{ref['name']}")

    def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        deployment = self.deployments.get(name, namespace)
        if deployment is None:
            return
        deployment = {**deployment, "kind": "Deployment", "apiVersion": "apps/v1"}
        rss = [rs for rs in self.replicasets.list()
               if rs["metadata"].get("namespace") == namespace]
        plan = plan_deployment(deployment, rss)
        if plan.create or plan.scale or plan.delete or plan.annotate:
            log.info("Planned Deployment sync %s", plan)
        self.apply(deployment, plan)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    def apply(self, deployment: Obj, plan: DeploymentPlan) -> None:
        meta = deployment["metadata"]
        namespace = meta.get("namespace")
        replicasets = resource("replicasets")
        if plan.create is not None:
            self._create_rs(deployment, plan.create)
        for rs_name in sorted(set(plan.scale) | set(plan.annotate)):
            patch: Obj = {}
            if rs_name in plan.annotate:
                patch["metadata"] = {"annotations": plan.annotate[rs_name]}
            if rs_name in plan.scale:
                patch["spec"] = {"replicas": plan.scale[rs_name]}
            self.client.patch(replicasets, rs_name, patch, namespace=namespace)
        for rs_name in plan.delete:
            try:
                self.client.delete(replicasets, rs_name, namespace=namespace,
                                   propagation_policy="Background")
                log.info("Deleted old ReplicaSet replicaset=%s/%s", namespace, rs_name)
            except ApiError as e:
                if e.code != 404:
                    raise
        deployments = resource("deployments")
        annotations = meta.get("annotations") or {}
        if plan.revision and annotations.get(du.REVISION) != plan.revision:
            self.client.patch(deployments, meta["name"],
                              {"metadata": {"annotations": {du.REVISION: plan.revision}}},
                              namespace=namespace)
        if plan.status != (deployment.get("status") or {}):
            self.client.patch(deployments, meta["name"], {"status": plan.status},
                              namespace=namespace, subresource="status")
        for type_, reason, message in plan.events:
            record_event(self.client, deployment, type_, reason, message, COMPONENT)

    def _create_rs(self, deployment: Obj, rs: Obj) -> None:
        meta = deployment["metadata"]
        namespace = meta.get("namespace")
        try:
            self.client.create(resource("replicasets"), rs, namespace=namespace)
            log.info("Created new ReplicaSet replicaset=%s/%s replicas=%s", namespace,
                     rs["metadata"]["name"], rs["spec"]["replicas"])
            return
        except ApiError as e:
            if e.code != 409:
                raise
        existing = self.client.get(resource("replicasets"), rs["metadata"]["name"], namespace)
        mine = (controller_ref(existing) or {}).get("uid") == meta.get("uid")
        if mine and du.equal_ignore_hash(existing["spec"]["template"], rs["spec"]["template"]):
            return  # our informer was behind: it exists already
        count = int((deployment.get("status") or {}).get("collisionCount") or 0) + 1
        self.client.patch(resource("deployments"), meta["name"],
                          {"status": {"collisionCount": count}}, namespace=namespace,
                          subresource="status")
        raise MinikubeError(f"failed to create replicaset {rs['metadata']['name']}: hash "
                            f"collision, collisionCount is now {count}")
