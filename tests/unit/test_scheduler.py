"""The scheduling algorithm on made-up nodes: filters, scores, messages, and speed."""

from __future__ import annotations

import time
from typing import Any

from minikube_py.scheduler.algorithm import (
    filter_nodes,
    pod_requests,
    schedule_one,
    score_nodes,
    tolerates,
    unschedulable_message,
)

Obj = dict[str, Any]


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         ready: bool = True, labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None, unschedulable: bool = False) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                       "conditions": [{"type": "Ready",
                                       "status": "True" if ready else "False"}]}}


def pod(name: str = "p", cpu: str | None = None, memory: str | None = None,
        owner: str | None = None, **spec: Any) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    meta: Obj = {"name": name, "namespace": "default"}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "controller": True}]
    return {"metadata": meta,
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": requests}}], **spec}}


def test_requests_add_up_containers_and_take_the_largest_init_container() -> None:
    p = pod(cpu="250m", memory="64Mi")
    p["spec"]["containers"].append({"name": "d", "resources": {"requests": {"cpu": "0.5"}}})
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]
    req = pod_requests(p)
    assert (req.cpu, req.memory, req.pods) == (2000, 64 * 2**20, 1)


def test_a_node_that_is_not_ready_or_cordoned_is_filtered_out() -> None:
    nodes = [node("a", ready=False), node("b", unschedulable=True), node("c")]
    fits, reasons = filter_nodes(pod(), nodes, {})
    assert [n["metadata"]["name"] for n in fits] == ["c"]
    assert reasons == {"a": "node(s) were not ready", "b": "node(s) were unschedulable"}


def test_node_selector_must_match_the_node_labels() -> None:
    nodes = [node("a", labels={"disk": "hdd"}), node("b", labels={"disk": "ssd"})]
    assert schedule_one(pod(nodeSelector={"disk": "ssd"}), nodes, {}) == "b"
    assert schedule_one(pod(nodeSelector={"disk": "nvme"}), nodes, {}) is None


def test_taints_need_a_toleration_but_prefer_no_schedule_does_not_filter() -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    soft = {"key": "x", "effect": "PreferNoSchedule"}
    nodes = [node("a", taints=[taint]), node("b", taints=[soft])]
    assert schedule_one(pod(), nodes, {}) == "b"
    _, reasons = filter_nodes(pod(), nodes, {})
    assert reasons["a"] == "node(s) had untolerated taint {dedicated: gpu}"
    equal = pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                              "effect": "NoSchedule"}])
    fits, _ = filter_nodes(equal, nodes, {})
    assert len(fits) == 2


def test_toleration_operators_follow_upstream() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoExecute"}
    assert tolerates({"operator": "Exists"}, taint)  # empty key + Exists: everything
    assert tolerates({"key": "k", "operator": "Exists"}, taint)
    assert not tolerates({"key": "k", "value": "w"}, taint)
    assert not tolerates({"key": "k", "operator": "Exists", "effect": "NoSchedule"}, taint)
    assert tolerates({"key": "k", "value": "v", "effect": "NoExecute"}, taint)


def test_requests_must_fit_what_the_node_has_left() -> None:
    nodes = [node("small", cpu="1", memory="1Gi"), node("big", cpu="8", memory="16Gi")]
    running = {"big": [pod("x", cpu="7500m")]}
    fits, reasons = filter_nodes(pod(cpu="600m"), nodes, running)
    assert [n["metadata"]["name"] for n in fits] == ["small"]
    assert reasons == {"big": "Insufficient cpu"}
    _, reasons = filter_nodes(pod(cpu="2", memory="2Gi"), nodes, running)
    assert reasons["small"] == "Insufficient cpu; Insufficient memory"


def test_the_pods_count_is_a_resource_too() -> None:
    nodes = [node("a", pods="2")]
    assert schedule_one(pod(), nodes, {"a": [pod("x"), pod("y")]}) is None
    assert filter_nodes(pod(), nodes, {"a": [pod("x"), pod("y")]})[1] == {"a": "Too many pods"}


def test_failed_scheduling_message_counts_reasons_like_upstream() -> None:
    taint = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    nodes = [node("a", taints=[taint]), node("b", cpu="1"), node("c", cpu="1")]
    _, reasons = filter_nodes(pod(cpu="2"), nodes, {})
    message = unschedulable_message(len(nodes), reasons)
    assert message.startswith("0/3 nodes are available: 1 node(s) had untolerated taint "
                              "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.")


def test_least_allocated_node_wins() -> None:
    nodes = [node("a"), node("b")]
    busy = {"a": [pod("x", cpu="3", memory="6Gi")]}
    assert schedule_one(pod(cpu="100m", memory="100Mi"), nodes, busy) == "b"


def test_replicas_of_one_owner_spread_over_nodes() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    placed: dict[str, list[Obj]] = {}
    for i in range(6):
        p = pod(f"web-{i}", cpu="100m", owner="rs-1")
        chosen = schedule_one(p, nodes, placed)
        assert chosen is not None
        placed.setdefault(chosen, []).append(p)
    assert sorted(len(v) for v in placed.values()) == [2, 2, 2]


def test_ties_go_to_the_first_name_and_scores_come_best_first() -> None:
    nodes = [node("b"), node("a"), node("c")]
    scores = score_nodes(pod(), nodes, {})
    assert [name for name, _ in scores] == ["a", "b", "c"]
    assert scores[0][1] == scores[2][1]


def _many(count: int) -> tuple[list[Obj], dict[str, list[Obj]]]:
    nodes = [node(f"node-{i:04d}", cpu="16", memory="64Gi",
                  ready=i % 50 != 0, labels={"zone": f"z{i % 3}"}) for i in range(count)]
    pods = {f"node-{i:04d}": [pod(f"x-{i}-{j}", cpu="500m", memory="1Gi", owner=f"o{j}")
                              for j in range(i % 5)] for i in range(count)}
    return nodes, pods


def _measure(count: int, rounds: int) -> float:
    nodes, placed = _many(count)
    start = time.perf_counter()
    for i in range(rounds):
        p = pod(f"new-{i}", cpu="250m", memory="256Mi", owner="rs-new")
        chosen = schedule_one(p, nodes, placed)
        assert chosen is not None
        assert not chosen.endswith(("0000", "0050"))  # not-ready nodes are never chosen
        placed[chosen].append(p)
    return rounds / (time.perf_counter() - start)


def test_scheduling_on_100_and_1000_nodes_places_every_pod(capsys: Any) -> None:
    small = _measure(100, 50)
    large = _measure(1000, 10)
    with capsys.disabled():
        print(f"\nschedule_one: 100 nodes {small:.0f} pods/s, 1000 nodes {large:.1f} pods/s")


def test_a_pod_waits_for_its_claims_before_any_node_is_tried():
    from minikube_py.scheduler.algorithm import claim_problem, prefilter_message

    claims = {("data", "ns"): {"metadata": {"name": "data"}, "status": {"phase": "Bound"}},
              ("new", "ns"): {"metadata": {"name": "new"}, "status": {"phase": "Pending"}},
              ("old", "ns"): {"metadata": {"name": "old", "deletionTimestamp": "x"},
                              "status": {"phase": "Bound"}}}

    def pod_using(*names: str) -> dict:
        return {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"volumes": [
            {"name": n, "persistentVolumeClaim": {"claimName": n}} for n in names]}}

    def find(name: str, namespace: str) -> dict | None:
        return claims.get((name, namespace))

    assert claim_problem(pod_using("data"), find) is None
    assert claim_problem(pod_using("data", "new"), find) == \
        "pod has unbound immediate PersistentVolumeClaims"
    assert claim_problem(pod_using("gone"), find) == 'persistentvolumeclaim "gone" not found'
    assert claim_problem(pod_using("old"), find) == 'persistentvolumeclaim "old" is being deleted'
    assert prefilter_message(1, "pod has unbound immediate PersistentVolumeClaims") == (
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
