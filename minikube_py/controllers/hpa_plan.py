"""How many replicas a HorizontalPodAutoscaler wants: the arithmetic, without any I/O.

Upstream's replica calculator (``pkg/controller/podautoscaler``), for a Resource metric
with a ``Utilization`` target:

1. utilization = the pods' summed usage / their summed requests, in percent (pods without a
   sample yet are left out; a pod without a request for the resource makes the metric
   unusable: ``missing request for cpu``);
2. ratio = utilization / target; within the **tolerance** (10 %) nothing changes;
3. otherwise desired = ceil(ratio x pods measured) — 2 pods at 150 % of a 50 % target want 6;
4. ``AverageValue`` targets work the same on the average usage instead of a percentage;
5. several metrics: the largest proposal wins;
6. **stabilization**: the recommendations of the last ``stabilizationWindowSeconds`` are
   kept; scaling down goes only as low as the highest of them (default window 300 s: a dip
   in load does not shed pods at once), scaling up only as high as the lowest (default 0 s);
7. one step up adds at most max(4 pods, +100 %) (upstream's default policies allow that
   per 15 s); then the result is clamped to ``[minReplicas, maxReplicas]``.

``kubectl describe hpa`` shows the outcome as conditions and events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.quantity import cpu_millis, memory_bytes

TOLERANCE = 0.1
DEFAULT_SCALE_DOWN_WINDOW = 300.0
DEFAULT_SCALE_UP_WINDOW = 0.0
Obj = dict[str, Any]


class MetricError(Exception):
    """A metric cannot be computed (missing requests, no pods with samples...)."""


def amount(resource: str, quantity: str) -> float:
    """CPU in millicores, memory in bytes."""
    return float(cpu_millis(quantity)) if resource == "cpu" else float(memory_bytes(quantity))


@dataclass
class MetricResult:
    """One metric's proposal and what ``status.currentMetrics`` shows for it."""

    name: str
    proposal: int
    utilization: int | None  # percent of requests (Utilization targets)
    average: float  # average usage per pod (millicores or bytes)
    above: bool  # above its target?


def pod_requests(pod: Obj, resource: str) -> float:
    total = 0.0
    for container in pod["spec"].get("containers") or []:
        request = ((container.get("resources") or {}).get("requests") or {}).get(resource)
        if request is None:
            raise MetricError(f"missing request for {resource} in container "
                              f"{container['name']} of Pod {pod['metadata']['name']}")
        total += amount(resource, str(request))
    return total


def pod_usage(metrics: Obj, resource: str) -> float:
    return sum(amount(resource, str((c.get("usage") or {}).get(resource, "0")))
               for c in metrics.get("containers") or [])


def evaluate(metric: Obj, current: int, pods: list[Obj], usage: dict[str, Obj]) -> MetricResult:
    """One ``spec.metrics[]`` entry of type Resource against the pods and their samples."""
    resource = metric["resource"]["name"]
    target = metric["resource"]["target"]
    measured = [p for p in pods if p["metadata"]["name"] in usage]
    if not measured:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    used = sum(pod_usage(usage[p["metadata"]["name"]], resource) for p in measured)
    if target.get("type") == "AverageValue":
        average = used / len(measured)
        wanted = amount(resource, str(target["averageValue"]))
        ratio = average / wanted if wanted else 0.0
        utilization = None
    else:
        requested = sum(pod_requests(p, resource) for p in measured)
        if requested <= 0:
            raise MetricError(f"missing request for {resource}")
        utilization = int(round(used * 100 / requested))
        ratio = used * 100 / requested / float(target["averageUtilization"])
        average = used / len(measured)
    if abs(ratio - 1.0) <= TOLERANCE:
        proposal = current
    else:
        proposal = math.ceil(ratio * len(measured))
    return MetricResult(resource, proposal, utilization, average, ratio > 1.0)


@dataclass
class Recommendation:
    at: float
    replicas: int


@dataclass
class Decision:
    desired: int
    reason: str
    results: list[MetricResult] = field(default_factory=list)
    limited: str = ""  # "TooManyReplicas" | "TooFewReplicas" | ""


def window(behavior: Obj | None, direction: str) -> float:
    rules = (behavior or {}).get(direction) or {}
    default = DEFAULT_SCALE_DOWN_WINDOW if direction == "scaleDown" else DEFAULT_SCALE_UP_WINDOW
    seconds = rules.get("stabilizationWindowSeconds")
    return float(default if seconds is None else seconds)


def decide(spec: Obj, current: int, results: list[MetricResult],
           history: list[Recommendation], now: float) -> Decision:
    """The replica count to set, from the metrics' proposals and the recent history.

    ``history`` is updated in place (the new recommendation is added, old ones dropped)."""
    proposal = max(r.proposal for r in results)
    history.append(Recommendation(now, proposal))
    behavior = spec.get("behavior")
    longest = max(window(behavior, "scaleDown"), window(behavior, "scaleUp"))
    history[:] = [h for h in history if h.at >= now - longest]
    desired = proposal
    if proposal < current:  # scale down no lower than any recent recommendation
        recent = [h.replicas for h in history if h.at >= now - window(behavior, "scaleDown")]
        desired = min(current, max(recent))
    elif proposal > current:  # scale up no higher than every recent recommendation
        recent = [h.replicas for h in history if h.at >= now - window(behavior, "scaleUp")]
        desired = max(current, min(recent))
        desired = min(desired, max(current * 2, current + 4))  # max(+100 %, 4 pods) a step
    low, high = int(spec.get("minReplicas") or 1), int(spec["maxReplicas"])
    limited = ""
    if desired > high:
        desired, limited = high, "TooManyReplicas"
    elif desired < low:
        desired, limited = low, "TooFewReplicas"
    above = [r for r in results if r.above]
    reason = (f"{above[0].name} resource utilization (percentage of request) above target"
              if above else "All metrics below target")
    return Decision(desired, reason, results, limited)


def current_metrics(results: list[MetricResult]) -> list[Obj]:
    """``status.currentMetrics``, as kubectl get hpa's TARGETS column reads it."""
    out = []
    for r in results:
        current: Obj = {"averageValue": (f"{int(r.average)}m" if r.name == "cpu"
                                         else str(int(r.average)))}
        if r.utilization is not None:
            current["averageUtilization"] = r.utilization
        out.append({"type": "Resource", "resource": {"name": r.name, "current": current}})
    return out
