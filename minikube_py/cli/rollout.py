"""``rollout status|history|undo``: watching and reverting a Deployment's rollouts.

A Deployment never runs pods itself. Each version of its pod template gets a ReplicaSet
named ``<deployment>-<pod-template-hash>`` with the annotation
``deployment.kubernetes.io/revision: N``; a rolling update scales the new ReplicaSet up and
the old one down. So the rollout *history* is simply the list of ReplicaSets the Deployment
owns (``ownerReferences`` with ``controller: true`` and the Deployment's uid)::

    kubectl get rs -l app=nginx -o custom-columns=NAME:.metadata.name,\\
REV:.metadata.annotations.deployment\\.kubernetes\\.io/revision

``status`` reads the Deployment's ``status`` as kubectl's ``deploymentRolloutStatus`` does,
and watches it until the rollout is complete. ``undo`` is done entirely by the client, as in
kubectl: copy the old ReplicaSet's pod template (minus ``pod-template-hash``) back into the
Deployment with a JSON patch. The deployment controller then recognises the template, scales
that old ReplicaSet back up, and gives it the next revision number.
Unlike kubectl, ``status`` prints a waiting message only when it changes.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from minikube_py.api.resources import lookup
from minikube_py.client import Client
from minikube_py.errors import MinikubeError

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
#: Deployment annotations an undo keeps; the ReplicaSet's others are copied over them.
KEPT_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", REVISION,
                    "deployment.kubernetes.io/revision-history",
                    "deployment.kubernetes.io/desired-replicas",
                    "deployment.kubernetes.io/max-replicas",
                    "deprecated.deployment.rollback.to")

DEPLOYMENTS = lookup("deployments")
REPLICASETS = lookup("replicasets")


class RolloutError(MinikubeError):
    """A rollout failed, timed out, or cannot be undone."""


def rollout_status(deployment: dict[str, Any]) -> tuple[str, bool]:
    """kubectl's message for this Deployment and whether the rollout is done."""
    name = deployment["metadata"]["name"]
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    if deployment["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == \
                "ProgressDeadlineExceeded":
            raise RolloutError(f'deployment "{name}" exceeded its progress deadline')
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < wanted:
        return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of '
                f"{wanted} new replicas have been updated..."), False
    total = status.get("replicas", 0)
    if total > updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {total - updated} old '
                f"replicas are pending termination..."), False
    available = status.get("availableReplicas", 0)
    if available < updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} '
                f"updated replicas are available..."), False
    return f'deployment "{name}" successfully rolled out', True


def watch_rollout(client: Client, namespace: str, name: str, timeout: float,
                  echo: Any, watch: bool = True) -> None:
    """Print status messages until the rollout is done (RolloutError on timeout)."""
    assert DEPLOYMENTS is not None
    deadline = time.monotonic() + timeout if timeout > 0 else None
    last = ""
    deployment = client.get(DEPLOYMENTS, name, namespace)
    while True:
        message, done = rollout_status(deployment)
        if message != last:
            echo(message)
            last = message
        if done or not watch:
            return
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise RolloutError("timed out waiting for the condition")
        stream = client.watch(DEPLOYMENTS, namespace,
                              resource_version=deployment["metadata"]["resourceVersion"],
                              field_selector=f"metadata.name={name}",
                              timeout_seconds=int(remaining) + 1 if remaining else None)
        timer = threading.Timer(remaining, stream.close) if remaining else None
        if timer:
            timer.start()
        try:
            for kind, obj in stream:
                if kind == "DELETED":
                    raise RolloutError(f'deployment "{name}" was deleted')
                if kind in ("ADDED", "MODIFIED"):
                    deployment = obj
                    break
            else:
                deployment = client.get(DEPLOYMENTS, name, namespace)
        finally:
            stream.close()
            if timer:
                timer.cancel()


def selector_text(selector: dict[str, Any]) -> str:
    """A LabelSelector as a query string: ``app=nginx,tier in (web,api)``."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def owned_replicasets(client: Client, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """The ReplicaSets this Deployment controls (by ownerReference uid)."""
    assert REPLICASETS is not None
    meta = deployment["metadata"]
    selector = selector_text((deployment.get("spec") or {}).get("selector") or {})
    items = client.list(REPLICASETS, meta["namespace"], selector).get("items") or []
    return [rs for rs in items if any(
        ref.get("controller") and ref.get("uid") == meta["uid"]
        for ref in rs["metadata"].get("ownerReferences") or [])]


def revision_of(rs: dict[str, Any]) -> int | None:
    try:
        return int((rs["metadata"].get("annotations") or {})[REVISION])
    except (KeyError, ValueError):
        return None


def history(replicasets: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Revision -> that ReplicaSet's pod template (with its change-cause annotation)."""
    out: dict[int, dict[str, Any]] = {}
    for rs in replicasets:
        revision = revision_of(rs)
        if revision is None:
            continue
        template = copy.deepcopy(rs["spec"]["template"])
        cause = (rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
        template.setdefault("metadata", {}).setdefault("annotations", {})
        if cause:
            template["metadata"]["annotations"][CHANGE_CAUSE] = cause
        out[revision] = template
    return out


def history_table(templates: dict[int, dict[str, Any]]) -> list[str]:
    lines = ["REVISION\tCHANGE-CAUSE"]
    for revision in sorted(templates):
        cause = templates[revision]["metadata"]["annotations"].get(CHANGE_CAUSE) or "<none>"
        lines.append(f"{revision}\t{cause}")
    return lines


def pick_revision(replicasets: list[dict[str, Any]], name: str, to_revision: int
                  ) -> dict[str, Any]:
    """kubectl's ``deploymentRevision``: the second newest, or exactly ``to_revision``."""
    latest: tuple[int, dict[str, Any] | None] = (-1, None)
    previous: tuple[int, dict[str, Any] | None] = (-1, None)
    for rs in replicasets:
        v = revision_of(rs)
        if v is None:
            continue
        if to_revision == 0:
            if latest[0] < v:
                previous, latest = latest, (v, rs)
            elif previous[0] < v:
                previous = (v, rs)
        elif v == to_revision:
            return rs
    if to_revision > 0:
        raise RolloutError(f"unable to find specified revision {to_revision} in history")
    if previous[1] is None:
        raise RolloutError(f'no rollout history found for deployment "{name}"')
    return previous[1]


def _semantic(value: Any) -> Any:
    """Drop empty values, as Go's typed structs (and Semantic.DeepEqual) would."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def undo_patch(deployment: dict[str, Any], rs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The JSON patch restoring ``rs``'s template, or None when it is already current."""
    template = without_hash(rs["spec"]["template"])
    if _semantic(template) == _semantic(without_hash(deployment["spec"]["template"])):
        return None
    current = deployment["metadata"].get("annotations") or {}
    annotations = {k: current[k] for k in KEPT_ANNOTATIONS if k in current}
    for k, v in (rs["metadata"].get("annotations") or {}).items():
        if k not in KEPT_ANNOTATIONS:
            annotations[k] = v
    return [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations}]


def undo(client: Client, namespace: str, name: str, to_revision: int = 0) -> str:
    """Roll back; returns kubectl's word for what happened (``rolled back``...)."""
    assert DEPLOYMENTS is not None
    deployment = client.get(DEPLOYMENTS, name, namespace)
    replicasets = owned_replicasets(client, deployment)
    rs = pick_revision(replicasets, name, to_revision)
    if (deployment.get("spec") or {}).get("paused"):
        raise RolloutError("you cannot rollback a paused deployment; resume it first with "
                           "'kubectl rollout resume' and try again")
    patch = undo_patch(deployment, rs)
    if patch is None:
        return (f"skipped rollback (current template already matches revision "
                f"{to_revision})")
    try:
        client.patch(DEPLOYMENTS, name, patch, "json", namespace)
    except MinikubeError as e:
        raise RolloutError(f"failed restoring revision {to_revision}: {e}") from e
    return "rolled back"
