"""Choosing a node for a pod: filter the nodes that can run it, score them, take the best.

This is the core of kube-scheduler's "scheduling cycle", as pure functions over plain
objects (no server, no threads), so that tests can run it on a thousand made-up nodes.

**Filter** (upstream's filter plugins) -- a node is kept only if

- its ``Ready`` condition is ``True`` (``kubectl get nodes`` STATUS Ready);
- it is not cordoned (``spec.unschedulable``, set by ``kubectl cordon``);
- the pod's ``nodeSelector`` labels are all on the node;
- every taint with effect ``NoSchedule`` or ``NoExecute`` is tolerated by the pod
  (``PreferNoSchedule`` is only a preference and never filters);
- the pod's requests fit in what is left: ``status.allocatable`` minus the requests of the
  pods already on the node, for ``cpu`` and ``memory``, and the ``pods`` count (110).

A node that fails says why; the reasons are counted into upstream's message
``0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.``

**Score** (0-200): *least allocated* (the more cpu and memory left after placing the pod, the
better; 0-100) plus *spread* (fewer pods of the same owner on the node is better; 0-100), so a
Deployment's replicas land on different nodes. Ties go to the node whose name sorts first.

Requests, not usage, are what count: see them with ``kubectl describe node`` ("Allocated
resources"). The kubelet later turns them into cgroup ``cpu.shares`` / ``cpu.weight``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from minikube_py.api import quantity

Obj = dict[str, Any]
FILTER_EFFECTS = ("NoSchedule", "NoExecute")


@lru_cache(maxsize=4096)
def cpu_millis(value: str | int | float) -> int:
    """Cached: a scheduling cycle converts the same few quantities thousands of times."""
    return quantity.cpu_millis(value)


@lru_cache(maxsize=4096)
def memory_bytes(value: str | int | float) -> int:
    return quantity.memory_bytes(value)


@dataclass
class Requests:
    cpu: int = 0  # millicores
    memory: int = 0  # bytes
    pods: int = 0

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.cpu + other.cpu, self.memory + other.memory,
                        self.pods + other.pods)


def pod_requests(pod: Obj) -> Requests:
    """The pod's requests: the sum over its containers, or the largest init container."""
    spec = pod.get("spec") or {}
    total = Requests(pods=1)
    for ctr in spec.get("containers") or []:
        requests = (ctr.get("resources") or {}).get("requests") or {}
        total.cpu += cpu_millis(requests["cpu"]) if "cpu" in requests else 0
        total.memory += memory_bytes(requests["memory"]) if "memory" in requests else 0
    for ctr in spec.get("initContainers") or []:
        requests = (ctr.get("resources") or {}).get("requests") or {}
        if "cpu" in requests:
            total.cpu = max(total.cpu, cpu_millis(requests["cpu"]))
        if "memory" in requests:
            total.memory = max(total.memory, memory_bytes(requests["memory"]))
    return total


#: ``id(node) -> (node, allocatable)``: informers replace a changed node by a new dict, so
#: the same dict object always has the same allocatable; the entry keeps the dict alive,
#: which keeps its id from being reused.
_ALLOCATABLE: dict[int, tuple[Obj, Requests]] = {}


def node_allocatable(node: Obj) -> Requests:
    cached = _ALLOCATABLE.get(id(node))
    if cached is not None and cached[0] is node:
        return cached[1]
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    found = Requests(cpu=cpu_millis(alloc.get("cpu", 0)),
                     memory=memory_bytes(alloc.get("memory", 0)),
                     pods=int(memory_bytes(alloc.get("pods", 110))))
    if len(_ALLOCATABLE) > 20000:  # nodes come and go (heartbeats): start over
        _ALLOCATABLE.clear()
    _ALLOCATABLE[id(node)] = (node, found)
    return found


def node_usage(pods: Iterable[Obj]) -> Requests:
    total = Requests()
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        total = total + pod_requests(pod)
    return total


def is_node_ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Upstream's ``ToleratesTaint``: effect (empty = all), key (empty + Exists = all),
    operator ``Equal`` (default; values must match) or ``Exists``."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return bool(key) and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(pod: Obj, node: Obj) -> Obj | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in FILTER_EFFECTS:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return dict(taint)
    return None


def node_failures(pod: Obj, node: Obj, used: Requests, request: Requests) -> list[str]:
    """Why the pod cannot go to this node (empty list: it fits), in upstream's words."""
    if not is_node_ready(node):
        return ["node(s) were not ready"]
    if (node.get("spec") or {}).get("unschedulable"):
        return ["node(s) were unschedulable"]
    labels = (node.get("metadata") or {}).get("labels") or {}
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return ["node(s) didn't match Pod's node affinity/selector"]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key', '')}: "
                f"{taint.get('value', '')}}}"]
    alloc = node_allocatable(node)
    reasons = []
    if used.pods + 1 > alloc.pods:
        reasons.append("Too many pods")
    if request.cpu and used.cpu + request.cpu > alloc.cpu:
        reasons.append("Insufficient cpu")
    if request.memory and used.memory + request.memory > alloc.memory:
        reasons.append("Insufficient memory")
    return reasons


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _used(name: str, pods_by_node: dict[str, list[Obj]],
          usage: dict[str, Requests] | None) -> Requests:
    """What the node's pods request: from ``usage`` when the caller summed it already."""
    if usage is not None:
        return usage.get(name) or Requests()
    return node_usage(pods_by_node.get(name, ()))


def feasible_nodes_to_find(total: int) -> int:
    """Upstream's ``numFeasibleNodesToFind``: in a big cluster, filtering stops once this
    many nodes fit (all nodes up to 100; then 50% less 1% per 125 nodes, at least 5%, and
    never fewer than 100). The scheduler starts each search where the last one stopped,
    so every node gets its turn."""
    if total <= 100:
        return total
    return max(100, total * max(5, 50 - total // 125) // 100)


def filter_nodes(pod: Obj, nodes: list[Obj], pods_by_node: dict[str, list[Obj]],
                 usage: dict[str, Requests] | None = None, limit: int | None = None
                 ) -> tuple[list[Obj], dict[str, str]]:
    """The nodes that fit, and for the others ``{node: "reason; reason"}``.

    ``usage`` (optional): each node's summed requests, if the caller keeps them (the
    scheduler does, so that one cycle does not re-add every pod of every node twice).
    ``limit`` (optional): stop once that many nodes fit (see :func:`feasible_nodes_to_find`).
    """
    request = pod_requests(pod)
    fits: list[Obj] = []
    reasons: dict[str, str] = {}
    for node in nodes:
        if limit is not None and len(fits) >= limit:
            break
        failures = node_failures(pod, node, _used(_name(node), pods_by_node, usage), request)
        if failures:
            reasons[_name(node)] = "; ".join(failures)
        else:
            fits.append(node)
    return fits, reasons


def owner_uid(pod: Obj) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def score_nodes(pod: Obj, nodes: list[Obj], pods_by_node: dict[str, list[Obj]],
                usage: dict[str, Requests] | None = None) -> list[tuple[str, float]]:
    """``[(node, score)]``, best first (ties by name); call it with the filtered nodes."""
    request = pod_requests(pod)
    owner = owner_uid(pod)
    siblings: dict[str, int] = {}
    if owner is not None:
        for node in nodes:
            siblings[_name(node)] = sum(1 for p in pods_by_node.get(_name(node), ())
                                        if owner_uid(p) == owner)
    most = max(siblings.values(), default=0)
    scored = []
    for node in nodes:
        name = _name(node)
        alloc = node_allocatable(node)
        used = _used(name, pods_by_node, usage) + request
        parts = [max(0.0, (a - u) / a) for a, u in ((alloc.cpu, used.cpu),
                                                     (alloc.memory, used.memory)) if a > 0]
        least = 100.0 * sum(parts) / len(parts) if parts else 0.0
        spread = 100.0 if most == 0 else 100.0 * (most - siblings.get(name, 0)) / most
        scored.append((name, round(least + spread, 6)))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored


def schedule_one(pod: Obj, nodes: list[Obj], pods_by_node: dict[str, list[Obj]]
                 ) -> str | None:
    """The chosen node's name, or None when no node fits."""
    fits, _ = filter_nodes(pod, nodes, pods_by_node)
    if not fits:
        return None
    return score_nodes(pod, fits, pods_by_node)[0][0]


def claim_problem(pod: Obj, find_claim: Callable[[str, str], Obj | None]) -> str | None:
    """Upstream's VolumeBinding PreFilter: a pod whose claim is missing, being deleted or not
    bound yet waits here rather than on a node. None when every claim is bound."""
    namespace = pod["metadata"].get("namespace", "default")
    unbound = False
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not name:
            continue
        claim = find_claim(name, namespace)
        if claim is None:
            return f'persistentvolumeclaim "{name}" not found'
        if claim["metadata"].get("deletionTimestamp"):
            return f'persistentvolumeclaim "{name}" is being deleted'
        if (claim.get("status") or {}).get("phase") != "Bound":
            unbound = True
    return "pod has unbound immediate PersistentVolumeClaims" if unbound else None


def prefilter_message(total: int, reason: str) -> str:
    """A PreFilter refusal: one reason for the pod, not per node."""
    return (f"0/{total} nodes are available: {reason}. preemption: 0/{total} nodes are "
            f"available: {total} Preemption is not helpful for scheduling.")


def unschedulable_message(total: int, reasons: dict[str, str]) -> str:
    """Upstream's FailedScheduling text: ``0/3 nodes are available: 2 Insufficient cpu, ...``.

    Each reason is counted once per node that gave it; reasons are sorted by their text.
    """
    counts: Counter[str] = Counter()
    for text in reasons.values():
        for reason in text.split("; "):
            counts[reason] += 1
    if total == 0:
        return "0/0 nodes are available: no nodes available to schedule pods."
    parts = sorted(f"{count} {reason}" for reason, count in counts.items())
    return (f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes "
            f"are available: {total} Preemption is not helpful for scheduling.")
