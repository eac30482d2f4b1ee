"""The autoscaler's arithmetic: utilization, tolerance, stabilization, limits (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.autoscaling import default_hpa, validate_hpa
from minikube_py.controllers.hpa_plan import (
    MetricError,
    Recommendation,
    current_metrics,
    decide,
    evaluate,
)

CPU_50 = {"type": "Resource", "resource": {"name": "cpu", "target": {
    "type": "Utilization", "averageUtilization": 50}}}


def pod(name: str, request: str | None = "100m") -> dict[str, Any]:
    resources = {"requests": {"cpu": request}} if request else {}
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "resources": resources}]}}


def usage(**millis: int) -> dict[str, Any]:
    return {name: {"containers": [{"name": "c", "usage": {"cpu": f"{m}m"}}]}
            for name, m in millis.items()}


def test_utilization_over_target_asks_for_proportionally_more_pods():
    result = evaluate(CPU_50, 2, [pod("a"), pod("b")], usage(a=150, b=150))
    assert (result.utilization, result.proposal, result.above) == (150, 6, True)
    assert current_metrics([result]) == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageValue": "150m", "averageUtilization": 150}}}]


def test_within_the_tolerance_nothing_changes_and_idle_pods_ask_for_fewer():
    assert evaluate(CPU_50, 3, [pod("a"), pod("b"), pod("c")],
                    usage(a=54, b=54, c=54)).proposal == 3  # 108 % of target: tolerated
    assert evaluate(CPU_50, 3, [pod("a"), pod("b"), pod("c")],
                    usage(a=1, b=0, c=0)).proposal == 1


def test_pods_without_a_sample_are_left_out_and_missing_requests_stop_the_metric():
    assert evaluate(CPU_50, 2, [pod("a"), pod("b")], usage(a=100)).proposal == 2
    with pytest.raises(MetricError, match="missing request for cpu"):
        evaluate(CPU_50, 1, [pod("a", request=None)], usage(a=100))
    with pytest.raises(MetricError, match="did not receive metrics"):
        evaluate(CPU_50, 1, [pod("a")], {})


def test_average_value_targets_compare_raw_usage():
    metric = {"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "AverageValue", "averageValue": "100m"}}}
    result = evaluate(metric, 2, [pod("a"), pod("b")], usage(a=300, b=300))
    assert (result.utilization, result.proposal) == (None, 6)


def test_scaling_down_waits_out_the_stabilization_window_scaling_up_does_not():
    spec = {"minReplicas": 1, "maxReplicas": 10}
    history: list[Recommendation] = []
    high = evaluate(CPU_50, 2, [pod("a"), pod("b")], usage(a=150, b=150))
    up = decide(spec, 2, [high], history, now=1000.0)
    assert (up.desired, up.reason) == (6, "cpu resource utilization (percentage of request) "
                                          "above target")
    low = evaluate(CPU_50, 6, [pod(x) for x in "abcdef"], usage(a=0, b=0, c=0, d=0, e=0,
                                                                f=0))
    assert decide(spec, 6, [low], history, now=1100.0).desired == 6  # 6 was wanted 100 s ago
    later = decide(spec, 6, [low], history, now=1301.0)
    assert (later.desired, later.reason) == (1, "All metrics below target")
    quick = {**spec, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}
    assert decide(quick, 6, [low], [Recommendation(1299.0, 6)], now=1300.0).desired == 1


def test_one_step_up_at_most_doubles_or_adds_four_and_the_range_clamps():
    spec = {"minReplicas": 2, "maxReplicas": 5}
    huge = evaluate(CPU_50, 1, [pod("a")], usage(a=2000))  # wants 40
    decision = decide({**spec, "maxReplicas": 100}, 1, [huge], [], now=0.0)
    assert decision.desired == 5  # max(2 x 1, 1 + 4)
    clamped = decide(spec, 4, [evaluate(CPU_50, 4, [pod(x) for x in "abcd"],
                                        usage(a=500, b=500, c=500, d=500))], [], now=0.0)
    assert (clamped.desired, clamped.limited) == (5, "TooManyReplicas")


def test_an_hpa_is_validated_and_defaulted_like_upstream():
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "web"}, "maxReplicas": 3}}
    assert validate_hpa(hpa) == []
    defaulted = default_hpa(hpa)
    assert defaulted["spec"]["minReplicas"] == 1
    assert defaulted["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    bad = {**hpa, "spec": {**hpa["spec"], "minReplicas": 4, "metrics": [
        {"type": "External"}, {"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}]}}
    errors = {str(e) for e in validate_hpa(bad)}
    assert "spec.maxReplicas: Invalid value: 3: must be greater than or equal to " \
           "`minReplicas`" in errors
    assert 'spec.metrics[0].type: Unsupported value: "External": supported values: ' \
           '"Resource"' in errors
    assert "spec.metrics[1].resource.target.averageUtilization: Invalid value: 0: must be " \
           "greater than 0" in errors
