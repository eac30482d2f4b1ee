"""Planning one Deployment sync: which ReplicaSets to create, resize or delete.

A Deployment never touches pods. It only resizes its ReplicaSets (``kubectl get rs -w``
shows the numbers move) and lets the ReplicaSet controller create and delete pods:

- **RollingUpdate**: grow the new ReplicaSet while the total stays within
  ``replicas + maxSurge``, and shrink old ones while at least ``replicas - maxUnavailable``
  pods stay available. Unhealthy old pods go first (they cost no availability).
- **Recreate**: shrink every old ReplicaSet to 0, wait until their pods are gone, then
  grow the new one.
- **Scaling** (``kubectl scale``) while a rollout is underway spreads the change over the
  active ReplicaSets in proportion to their size (upstream's proportional scaling).
- **Paused**: no rollout (no new ReplicaSet), but scaling still applies.

Everything here is pure: :func:`plan_deployment` takes the Deployment and its ReplicaSets
(from the informer caches) and returns a :class:`DeploymentPlan` that prints as one line.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.base import controller_ref, owner_reference, parse_time
from minikube_py.controllers.deployment_status import deployment_status

Obj = dict[str, Any]


@dataclass
class DeploymentPlan:
    key: str
    create: Obj | None = None  # a new ReplicaSet
    scale: dict[str, int] = field(default_factory=dict)  # rs name -> replicas
    annotate: dict[str, dict[str, str]] = field(default_factory=dict)  # rs -> annotations
    delete: list[str] = field(default_factory=list)  # old ReplicaSets past the history limit
    revision: str | None = None  # for the Deployment's own annotation
    status: Obj = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None

    def __str__(self) -> str:
        created = self.create["metadata"]["name"] if self.create else None
        return (f"deployment={self.key} create={created} scale={self.scale} "
                f"delete={self.delete} revision={self.revision} "
                f"updated={self.status.get('updatedReplicas')} "
                f"available={self.status.get('availableReplicas')}")


def _created(rs: Obj) -> tuple[float, str]:
    return parse_time(rs["metadata"].get("creationTimestamp")) or 0.0, rs["metadata"]["name"]


def owned_replica_sets(deployment: Obj, rss: list[Obj]) -> list[Obj]:
    uid, ns = deployment["metadata"].get("uid"), deployment["metadata"].get("namespace")
    return [rs for rs in rss if rs["metadata"].get("namespace") == ns and
            (controller_ref(rs) or {}).get("uid") == uid]


def find_new_rs(deployment: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash)."""
    template = deployment["spec"].get("template") or {}
    same = [rs for rs in rss if du.equal_ignore_hash(rs["spec"].get("template") or {}, template)]
    return min(same, key=_created) if same else None


def build_replica_set(deployment: Obj, replicas: int, revision: int) -> Obj:
    meta, spec = deployment["metadata"], deployment["spec"]
    collisions = int((deployment.get("status") or {}).get("collisionCount") or 0)
    template_hash = du.template_hash(spec.get("template") or {}, collisions)
    template = du.canonical_template(spec.get("template") or {})
    template["metadata"]["labels"][du.HASH_LABEL] = template_hash
    selector = {k: v for k, v in (spec.get("selector") or {}).items()}
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}),
                               du.HASH_LABEL: template_hash}
    annotations = _copied_annotations(deployment)
    annotations[du.REVISION] = str(revision)
    rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{template_hash}",
                         "namespace": meta.get("namespace"),
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": annotations,
                         "ownerReferences": [owner_reference(deployment, "Deployment",
                                                             "apps/v1")]},
            "spec": rs_spec}


def _copied_annotations(deployment: Obj) -> dict[str, str]:
    annotations = deployment["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in du.NOT_COPIED}


class _Sizes:
    """The ReplicaSets' replicas as this plan changes them."""

    def __init__(self, rss: list[Obj]) -> None:
        self.rss = rss
        self.size = {rs["metadata"]["name"]: du.replicas_of(rs) for rs in rss}

    def of(self, rs: Obj) -> int:
        return self.size[rs["metadata"]["name"]]

    def total(self) -> int:
        return sum(self.size.values())


def plan_deployment(deployment: Obj, rss: list[Obj], now: float | None = None) -> DeploymentPlan:
    """Plan one sync of ``deployment`` given the ReplicaSets of its namespace."""
    now = time.time() if now is None else now
    meta, spec = deployment["metadata"], deployment["spec"]
    plan = DeploymentPlan(f"{meta.get('namespace', '')}/{meta['name']}")
    owned = [rs for rs in owned_replica_sets(deployment, rss)
             if not rs["metadata"].get("deletionTimestamp")]
    replicas = int(spec.get("replicas", 1))
    new_rs = find_new_rs(deployment, owned)
    old = sorted((rs for rs in owned if rs is not new_rs), key=_created)
    new_revision = max((du.revision(rs) for rs in old), default=0) + 1
    paused, rolling = bool(spec.get("paused")), du.is_rolling(deployment)
    if meta.get("deletionTimestamp"):
        plan.status, _ = deployment_status(deployment, new_rs, owned, None, {}, now)
        return plan
    created_or_found = ""
    if new_rs is not None and du.revision(new_rs) < new_revision and not paused:
        _bump_revision(plan, new_rs, new_revision)
    if new_rs is None and not paused:
        start = 0 if not rolling else du.new_rs_replicas(
            deployment, owned, {"spec": {"replicas": 0}})
        recreate_waiting = not rolling and any(
            du.replicas_of(rs) or du.status_of(rs, "replicas") for rs in old)
        if not recreate_waiting:
            new_rs = build_replica_set(deployment, start if rolling else replicas, new_revision)
            plan.create = new_rs
            created_or_found = "created"
    elif new_rs is not None and du.condition(deployment.get("status") or {},
                                             "Progressing") is None:
        created_or_found = "found"
    everything = old + ([new_rs] if new_rs is not None else [])
    sizes = _Sizes(everything)
    if everything and _is_scaling_event(deployment, everything):
        _scale(deployment, new_rs, old, sizes)
    elif paused:
        pass
    elif rolling and new_rs is not None:
        _rolling(deployment, new_rs, old, sizes)
    elif not rolling:
        for rs in old:
            sizes.size[rs["metadata"]["name"]] = 0
        if new_rs is not None and not any(du.status_of(rs, "replicas") for rs in old):
            sizes.size[new_rs["metadata"]["name"]] = replicas
    _record_changes(plan, deployment, everything, sizes, new_rs)
    if new_rs is not None:
        plan.revision = str(max(du.revision(new_rs), int(
            (plan.annotate.get(new_rs["metadata"]["name"]) or {}).get(du.REVISION, 0))))
    if _complete_after(deployment, new_rs, owned) or paused:
        plan.delete = _cleanup(deployment, old, sizes)
    plan.status, plan.requeue_after = deployment_status(
        deployment, new_rs, owned, plan.create, plan.scale, now, created_or_found)
    return plan


def _bump_revision(plan: DeploymentPlan, rs: Obj, revision: int) -> None:
    annotations = dict(plan.annotate.get(rs["metadata"]["name"]) or {})
    old = du.revision(rs)
    if old:
        history = (rs["metadata"].get("annotations") or {}).get(du.REVISION_HISTORY)
        annotations[du.REVISION_HISTORY] = f"{history},{old}" if history else str(old)
    annotations[du.REVISION] = str(revision)
    plan.annotate[rs["metadata"]["name"]] = annotations


def _is_scaling_event(deployment: Obj, rss: list[Obj]) -> bool:
    replicas = str(deployment["spec"].get("replicas", 1))
    for rs in rss:
        if du.replicas_of(rs) <= 0:
            continue
        desired = (rs["metadata"].get("annotations") or {}).get(du.DESIRED_REPLICAS)
        if desired is not None and desired != replicas:
            return True
    return False


def _scale(deployment: Obj, new_rs: Obj | None, old: list[Obj], sizes: _Sizes) -> None:
    """Upstream ``scale``: one active ReplicaSet takes it all, else proportionally."""
    replicas = int(deployment["spec"].get("replicas", 1))
    active = [rs for rs in sizes.rss if sizes.of(rs) > 0]
    if len(active) <= 1:
        target = active[0] if active else (new_rs or sizes.rss[-1])
        sizes.size[target["metadata"]["name"]] = replicas
        return
    if new_rs is not None and du.replicas_of(new_rs) == replicas and \
            du.status_of(new_rs, "availableReplicas") == replicas:
        for rs in old:
            sizes.size[rs["metadata"]["name"]] = 0
        return
    surge, _ = du.fenceposts(deployment)
    allowed = replicas + surge if replicas > 0 else 0
    to_add = allowed - sizes.total()
    ordered = sorted(active, key=lambda rs: (sizes.of(rs), _created(rs)), reverse=to_add > 0)
    added = 0
    for rs in ordered:
        current = sizes.of(rs)
        annotated = int((rs["metadata"].get("annotations") or {}).get(
            du.MAX_REPLICAS, 0) or 0) or max(sizes.total(), 1)
        fraction = (math.ceil(current * allowed / annotated) - current) if replicas else -current
        share = min(fraction, to_add - added) if to_add > 0 else max(fraction, to_add - added)
        sizes.size[rs["metadata"]["name"]] = current + share
        added += share
    first = ordered[0]["metadata"]["name"]
    sizes.size[first] = max(0, sizes.size[first] + to_add - added)


def _rolling(deployment: Obj, new_rs: Obj, old: list[Obj], sizes: _Sizes) -> None:
    """Upstream ``rolloutRolling``: scale the new ReplicaSet up, then old ones down."""
    replicas = int(deployment["spec"].get("replicas", 1))
    name = new_rs["metadata"]["name"]
    current = {"spec": {"replicas": sizes.of(new_rs)}}
    sizes.size[name] = min(replicas, du.new_rs_replicas(
        deployment, [{"spec": {"replicas": n}} for n in sizes.size.values()], current))
    if not any(sizes.of(rs) for rs in old):
        return
    min_available = replicas - du.max_unavailable(deployment)
    new_unavailable = sizes.of(new_rs) - du.status_of(new_rs, "availableReplicas")
    budget = sizes.total() - min_available - new_unavailable
    if budget <= 0:
        return
    for rs in old:  # first the unhealthy: removing them costs no availability
        unhealthy = sizes.of(rs) - du.status_of(rs, "availableReplicas")
        cut = max(0, min(budget, unhealthy))
        sizes.size[rs["metadata"]["name"]] -= cut
        budget -= cut
    available = sum(min(du.status_of(rs, "availableReplicas"), sizes.of(rs))
                    for rs in sizes.rss)
    room = min(available - min_available, budget)
    for rs in old:
        cut = max(0, min(room, sizes.of(rs)))
        sizes.size[rs["metadata"]["name"]] -= cut
        room -= cut


def _record_changes(plan: DeploymentPlan, deployment: Obj, rss: list[Obj], sizes: _Sizes,
                    new_rs: Obj | None) -> None:
    replicas = int(deployment["spec"].get("replicas", 1))
    surge, _ = du.fenceposts(deployment)
    counts = {du.DESIRED_REPLICAS: str(replicas), du.MAX_REPLICAS: str(replicas + surge)}
    for rs in rss:
        name = rs["metadata"]["name"]
        before, after = du.replicas_of(rs), sizes.size[name]
        annotations = rs["metadata"].get("annotations") or {}
        wanted = dict(plan.annotate.get(name) or {})
        if before != after or rs is new_rs:
            wanted.update({k: v for k, v in counts.items() if annotations.get(k) != v})
        if rs is new_rs:
            wanted.update({k: v for k, v in _copied_annotations(deployment).items()
                           if annotations.get(k) != v})
        if rs is plan.create:
            rs["spec"]["replicas"] = after
            rs["metadata"]["annotations"].update(wanted)
            if after:
                plan.events.append(("Normal", "ScalingReplicaSet",
                                    f"Scaled up replica set {name} to {after}"))
            continue
        if wanted:
            plan.annotate[name] = wanted
        if before != after:
            plan.scale[name] = after
            direction = "up" if after > before else "down"
            plan.events.append(("Normal", "ScalingReplicaSet",
                                f"Scaled {direction} replica set {name} to {after} "
                                f"from {before}"))


def _complete_after(deployment: Obj, new_rs: Obj | None, owned: list[Obj]) -> bool:
    replicas = int(deployment["spec"].get("replicas", 1))
    return new_rs is not None and du.status_of(new_rs, "availableReplicas") >= replicas and \
        sum(du.status_of(rs, "replicas") for rs in owned) == replicas and \
        du.status_of(new_rs, "replicas") == replicas


def _cleanup(deployment: Obj, old: list[Obj], sizes: _Sizes) -> list[str]:
    limit = deployment["spec"].get("revisionHistoryLimit")
    if limit is None:
        return []
    excess = len(old) - int(limit)
    cleanable = sorted((rs for rs in old if sizes.of(rs) == 0 and du.replicas_of(rs) == 0 and
                        du.status_of(rs, "replicas") == 0), key=du.revision)
    return [rs["metadata"]["name"] for rs in cleanable[:max(0, excess)]]
