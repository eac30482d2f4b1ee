"""The arithmetic of Deployments: template hashes, revisions, surge and unavailability.

**pod-template-hash.** Each version of a Deployment's pod template gets its own ReplicaSet,
named ``<deployment>-<hash>``; the hash is also a label on the ReplicaSet's selector and on
its pods, so two versions never select each other's pods (``kubectl get pods --show-labels``).
Upstream hashes the template with FNV-32a and writes the decimal number through
``SafeEncodeString`` (an alphabet without vowels, so no words appear). We hash a canonical JSON
of the template *after defaulting* and *without* the hash label, so that ``kubectl rollout
undo`` (which sends an old ReplicaSet's template minus that label) lands on the same hash and
the old ReplicaSet is reused.

**Revisions.** ``deployment.kubernetes.io/revision`` on each ReplicaSet orders the rollouts
(``kubectl rollout history``); a ReplicaSet that becomes current again gets the next number
and remembers its old ones in ``revision-history``.

**Fenceposts.** ``maxSurge`` (rounded up) is how many pods may exist above ``replicas``;
``maxUnavailable`` (rounded down) how many of ``replicas`` may be missing; both 0 would
deadlock, so unavailable becomes 1 (upstream ``ResolveFenceposts``).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from minikube_py.api.pod import default_pod_spec

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
#: Deployment annotations that are not copied to its ReplicaSets (upstream's skip list).
NOT_COPIED = {REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
              "kubectl.kubernetes.io/last-applied-configuration",
              "deprecated.deployment.rollback.to"}
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(text: str) -> str:
    """Upstream ``rand.SafeEncodeString``: each byte -> alphabet[byte % 27]."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def canonical_template(template: Obj) -> Obj:
    """The template as compared and hashed: defaulted, no hash label, no nulls."""
    out = _drop_nulls(copy.deepcopy(template or {}))
    meta = out.setdefault("metadata", {})
    labels = dict(meta.get("labels") or {})
    labels.pop(HASH_LABEL, None)
    meta["labels"] = labels
    for key in [k for k, v in meta.items() if v in ({}, [], "")]:
        del meta[key]
    default_pod_spec(out.setdefault("spec", {}))
    return out


def template_hash(template: Obj, collision_count: int = 0) -> str:
    text = json.dumps(canonical_template(template), sort_keys=True, separators=(",", ":"))
    data = text.encode()
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    return safe_encode(str(fnv32a(data)))


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    return canonical_template(a) == canonical_template(b)


def revision(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """``2`` -> 2; ``"25%"`` of 10 -> 3 rounded up, 2 rounded down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        exact = int(text[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def is_rolling(deployment: Obj) -> bool:
    strategy = deployment.get("spec", {}).get("strategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"


def fenceposts(deployment: Obj) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` as pod counts for the Deployment's replicas."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    if not is_rolling(deployment):
        return 0, 0
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_unavailable(deployment: Obj) -> int:
    replicas = int(deployment.get("spec", {}).get("replicas", 1))
    if not is_rolling(deployment) or replicas == 0:
        return 0
    return min(fenceposts(deployment)[1], replicas)


def replicas_of(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0) or 0)


def status_of(rs: Obj, field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0) or 0)


def new_rs_replicas(deployment: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """How big the new ReplicaSet may be now (upstream ``NewRSNewReplicas``)."""
    replicas = int(deployment["spec"].get("replicas", 1))
    if not is_rolling(deployment):
        return replicas
    current = replicas_of(new_rs)
    if current >= replicas:
        return replicas
    surge, _ = fenceposts(deployment)
    total = sum(replicas_of(rs) for rs in all_rss)
    if total >= replicas + surge:
        return current
    return current + min(replicas + surge - total, replicas - current)


def condition(status: Obj, kind: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str,
                  stamp: str) -> None:
    """Upstream ``SetDeploymentCondition``: same status and reason -> left as is."""
    current = condition(status, kind)
    if current and current.get("status") == value and current.get("reason") == reason:
        return
    new = {"type": kind, "status": value, "lastUpdateTime": stamp,
           "lastTransitionTime": stamp, "reason": reason, "message": message}
    if current and current.get("status") == value:
        new["lastTransitionTime"] = current.get("lastTransitionTime", stamp)
    status["conditions"] = [c for c in status.get("conditions") or []
                            if c.get("type") != kind] + [new]
