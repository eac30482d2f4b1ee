"""The horizontal pod autoscaler: the study note's 弹性伸缩, replicas following the load.

Every :data:`SYNC_PERIOD` seconds (upstream: 15 s) for each HorizontalPodAutoscaler:

1. read the target's ``scale`` subresource: its replica count and its pod selector;
2. list the target's running pods and read their usage from the resource metrics API
   (``/apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods?labelSelector=...``, what
   ``kubectl top pods`` shows: our API server samples each kubelet's cgroup counters);
3. let :mod:`.hpa_plan` compute the replica count (usage / requests vs the target, the
   tolerance, the stabilization window, the min/max range);
4. if it differs, write it to the target's ``scale`` subresource — exactly what ``kubectl
   scale`` does — and record a ``SuccessfulRescale`` event;
5. write ``status``: current and desired replicas, the current metrics (``kubectl get hpa``'s
   TARGETS column) and the conditions ``AbleToScale``, ``ScalingActive``, ``ScalingLimited``.

Try it: ``kubectl autoscale deployment web --cpu-percent=50 --min=1 --max=5``, give the
pods CPU work, and watch ``kubectl get hpa -w`` and ``kubectl get pods -w``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import (
    Controller,
    key_of,
    now_iso,
    record_event,
    resource,
    split_key,
)
from minikube_py.controllers.hpa_plan import (
    MetricError,
    Recommendation,
    current_metrics,
    decide,
    evaluate,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SYNC_PERIOD = 5.0
COMPONENT = "horizontal-pod-autoscaler"
TARGETS = {"Deployment": "deployments", "ReplicaSet": "replicasets"}


def condition(kind: str, ok: bool, reason: str, message: str) -> Obj:
    return {"type": kind, "status": "True" if ok else "False", "reason": reason,
            "message": message, "lastTransitionTime": now_iso()}


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler"

    def __init__(self, client: Client, workers: int = 1) -> None:
        super().__init__(client, workers)
        self.hpas = self.informer("horizontalpodautoscalers", self._on_hpa)
        self.history: dict[str, list[Recommendation]] = {}

    def _on_hpa(self, kind: str, hpa: Obj, old: Obj | None) -> None:
        key = key_of(hpa)
        if kind == "DELETED":
            self.history.pop(key, None)
        elif old is None or old.get("spec") != hpa.get("spec"):
            self.queue.add(key)

    def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        hpa = self.hpas.get(name, namespace)
        if hpa is None:
            return
        try:
            self.autoscale(hpa)
        finally:
            self.queue.add_after(key, SYNC_PERIOD)  # the periodic resync of every HPA

    def autoscale(self, hpa: Obj) -> None:
        meta, spec = hpa["metadata"], hpa["spec"]
        namespace, key = meta.get("namespace", "default"), key_of(hpa)
        ref = spec["scaleTargetRef"]
        target = resource(TARGETS.get(ref.get("kind"), "deployments"))
        # Step 1: the target's scale subresource.
        try:
            scale = self.client.request("GET", target.path(namespace, ref["name"], "scale"))
        except ApiError as e:
            self.write_status(hpa, None, [condition(
                "AbleToScale", False, "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {e}")])
            return
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        selector = str((scale.get("status") or {}).get("selector") or "")
        able = condition("AbleToScale", True, "SucceededGetScale",
                         "the HPA controller was able to get the target's current scale")
        if current == 0:
            self.write_status(hpa, current, [able, condition(
                "ScalingActive", False, "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero")])
            return
        # Step 2: the pods and their usage; Step 3: the replica count.
        try:
            pods, usage = self.pods_and_usage(namespace, selector)
            results = [evaluate(m, current, pods, usage) for m in spec["metrics"]]
        except (MetricError, ApiError) as e:
            record_event(self.client, hpa, "Warning", "FailedGetResourceMetric", str(e),
                         COMPONENT)
            self.write_status(hpa, current, [able, condition(
                "ScalingActive", False, "FailedGetResourceMetric",
                f"the HPA was unable to compute the replica count: {e}")])
            return
        decision = decide(spec, current, results, self.history.setdefault(key, []),
                          time.time())
        # Step 4: scale.
        rescaled = None
        if decision.desired != current:
            self.client.patch(target, ref["name"], {"spec": {"replicas": decision.desired}},
                              namespace=namespace, subresource="scale")
            message = f"New size: {decision.desired}; reason: {decision.reason}"
            record_event(self.client, hpa, "Normal", "SuccessfulRescale", message, COMPONENT)
            log.info("Rescaled hpa=%s from=%d to=%d reason=%s", key, current,
                     decision.desired, decision.reason)
            rescaled = now_iso()
        # Step 5: status.
        limited = decision.limited
        conditions = [
            able, condition("ScalingActive", True, "ValidMetricFound",
                            "the HPA was able to successfully calculate a replica count from "
                            f"{results[0].name} resource utilization (percentage of request)"),
            condition("ScalingLimited", bool(limited), limited or "DesiredWithinRange",
                      {"TooManyReplicas": "the desired replica count is more than the "
                                          "maximum replica count",
                       "TooFewReplicas": "the desired replica count is less than the minimum "
                                         "replica count"}.get(limited, "the desired count is "
                                                                       "within the acceptable "
                                                                       "range"))]
        self.write_status(hpa, current, conditions, decision.desired,
                          current_metrics(results), rescaled)

    def pods_and_usage(self, namespace: str, selector: str) -> tuple[list[Obj], dict[str, Obj]]:
        listed = self.client.list(resource("pods"), namespace, label_selector=selector)
        pods = [p for p in listed.get("items") or []
                if (p.get("status") or {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")]
        metrics = self.client.request(
            "GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods",
            {"labelSelector": selector})
        usage = {m["metadata"]["name"]: m for m in metrics.get("items") or []}
        return pods, usage

    def write_status(self, hpa: Obj, current: int | None, conditions: list[Obj],
                     desired: int | None = None, metrics: list[Obj] | None = None,
                     rescaled: str | None = None) -> None:
        old = hpa.get("status") or {}
        status: Obj = {"currentReplicas": current if current is not None
                       else old.get("currentReplicas", 0),
                       "desiredReplicas": desired if desired is not None
                       else old.get("desiredReplicas", 0),
                       "conditions": conditions}
        if metrics is not None:
            status["currentMetrics"] = metrics
        if rescaled or old.get("lastScaleTime"):
            status["lastScaleTime"] = rescaled or old["lastScaleTime"]
        previous = {c["type"]: c for c in old.get("conditions") or []}
        for c in conditions:  # a condition keeps its transition time while it holds
            was = previous.get(c["type"])
            if was and was.get("status") == c["status"]:
                c["lastTransitionTime"] = was.get("lastTransitionTime", c["lastTransitionTime"])
        status["observedGeneration"] = hpa["metadata"].get("generation", 1)
        try:
            self.client.patch(resource("horizontalpodautoscalers"), hpa["metadata"]["name"],
                              {"status": status}, namespace=hpa["metadata"].get("namespace"),
                              subresource="status")
        except ApiError as e:
            if e.code != 404:
                raise
