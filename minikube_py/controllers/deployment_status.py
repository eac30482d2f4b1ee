"""A Deployment's status: the numbers and conditions ``kubectl rollout status`` waits on.

``kubectl get deploy`` shows READY / UP-TO-DATE / AVAILABLE from ``status.readyReplicas``,
``updatedReplicas`` (pods of the newest ReplicaSet) and ``availableReplicas`` (ready for
``minReadySeconds``). Two conditions explain the rollout (``kubectl describe deploy``):

- ``Available``: ``True/MinimumReplicasAvailable`` when at least ``replicas -
  maxUnavailable`` pods are available, else ``False/MinimumReplicasUnavailable``;
- ``Progressing``: ``NewReplicaSetCreated`` / ``FoundNewReplicaSet`` / ``ReplicaSetUpdated``
  while moving, ``NewReplicaSetAvailable`` when done, ``False/ProgressDeadlineExceeded``
  when nothing moved for ``progressDeadlineSeconds`` (``rollout status`` then fails), and
  ``Unknown/DeploymentPaused`` while paused.

``lastUpdateTime`` changes whenever progress is seen; ``lastTransitionTime`` only when the
condition's status flips (upstream ``SetDeploymentCondition``).
"""

from __future__ import annotations

from typing import Any

from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.base import now_iso, parse_time

Obj = dict[str, Any]


def deployment_status(deployment: Obj, new_rs: Obj | None, owned: list[Obj],
                      created: Obj | None, scale: dict[str, int], now: float,
                      created_or_found: str = "") -> tuple[Obj, float | None]:
    """The Deployment's status and conditions (upstream ``syncRolloutStatus``), and when
    to look again for the progress deadline (None: no need)."""
    meta, spec = deployment["metadata"], deployment["spec"]
    before = deployment.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    status: Obj = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": sum(du.status_of(rs, "replicas") for rs in owned),
        "updatedReplicas": du.status_of(new_rs, "replicas") if new_rs and not created else 0,
        "readyReplicas": sum(du.status_of(rs, "readyReplicas") for rs in owned),
        "availableReplicas": sum(du.status_of(rs, "availableReplicas") for rs in owned),
        "conditions": [dict(c) for c in before.get("conditions") or []],
    }
    if before.get("collisionCount"):
        status["collisionCount"] = before["collisionCount"]
    planned_total = sum(scale.get(rs["metadata"]["name"], du.replicas_of(rs))
                        for rs in owned)
    status["unavailableReplicas"] = max(0, planned_total - status["availableReplicas"])
    stamp = now_iso(now)
    if status["availableReplicas"] >= replicas - du.max_unavailable(deployment):
        du.set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                         "Deployment has minimum availability.", stamp)
    else:
        du.set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                         "Deployment does not have minimum availability.", stamp)
    name = (created or new_rs or {"metadata": {"name": ""}})["metadata"]["name"]
    if created_or_found == "created":
        du.set_condition(status, "Progressing", "True", "NewReplicaSetCreated",
                         f'Created new replica set "{name}"', stamp)
    elif created_or_found == "found":
        du.set_condition(status, "Progressing", "True", "FoundNewReplicaSet",
                         f'Found new replica set "{name}"', stamp)
    if spec.get("progressDeadlineSeconds") is None:
        return status, None
    return status, _progress(deployment, status, before, name, now)


def _progress(deployment: Obj, status: Obj, before: Obj, name: str, now: float
              ) -> float | None:
    spec = deployment["spec"]
    replicas = int(spec.get("replicas", 1))
    stamp = now_iso(now)
    current = du.condition(status, "Progressing")
    if spec.get("paused"):
        du.set_condition(status, "Progressing", "Unknown", "DeploymentPaused",
                         "Deployment is paused", stamp)
        return None
    if current and current.get("reason") == "DeploymentPaused":
        du.set_condition(status, "Progressing", "Unknown", "DeploymentResumed",
                         "Deployment is resumed", stamp)
        current = du.condition(status, "Progressing")
    complete = (status["updatedReplicas"] == replicas and status["replicas"] == replicas and
                status["availableReplicas"] == replicas)
    moved = (status["updatedReplicas"] > int(before.get("updatedReplicas", 0)) or
             status["readyReplicas"] > int(before.get("readyReplicas", 0)) or
             status["availableReplicas"] > int(before.get("availableReplicas", 0)) or
             int(before.get("replicas", 0)) - int(before.get("updatedReplicas", 0)) >
             status["replicas"] - status["updatedReplicas"])
    if complete:
        du.set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                         f'ReplicaSet "{name}" has successfully progressed.', stamp)
    elif moved:
        status["conditions"] = [c for c in status["conditions"] if c["type"] != "Progressing"]
        du.set_condition(status, "Progressing", "True", "ReplicaSetUpdated",
                         f'ReplicaSet "{name}" is progressing.', stamp)
        if current and current.get("status") == "True":
            for cond in status["conditions"]:
                if cond["type"] == "Progressing":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime", stamp)
    elif current is not None and current.get("reason") != "NewReplicaSetAvailable":
        since = parse_time(current.get("lastUpdateTime")) or now
        deadline = since + int(spec["progressDeadlineSeconds"])
        if current.get("reason") == "ProgressDeadlineExceeded" or now > deadline:
            du.set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                             f'ReplicaSet "{name}" has timed out progressing.', stamp)
        else:
            return max(1.0, deadline - now + 1)
    return None
