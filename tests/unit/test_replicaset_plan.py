"""The ReplicaSet controller's plan, computed from plain objects (no server)."""

from __future__ import annotations

from typing import Any

from minikube_py.controllers.base import WorkQueue, now_iso
from minikube_py.controllers.replicaset import Expectations, new_pod, plan_replica_set

Obj = dict[str, Any]
NOW = 1_700_000_000.0


def rs(replicas: int = 3, min_ready: int = 0) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "namespace": "default", "uid": "rs-uid",
                         "generation": 4},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"},
                                               "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def pod(name: str, *, owned: bool = True, node: str = "n1", phase: str = "Running",
        ready: bool = True, ready_at: float = NOW - 100, created: float = NOW - 200,
        labels: dict[str, str] | None = None, deleting: bool = False,
        restarts: int = 0) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "labels": {"app": "web", "tier": "fe"} if labels is None else labels,
                 "creationTimestamp": now_iso(created)}
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": "web-abc", "uid": "rs-uid", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = now_iso(NOW)
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": now_iso(ready_at)}]}}


def test_missing_pods_are_created_and_status_counts_the_rest() -> None:
    plan = plan_replica_set(rs(3), [pod("a"), pod("b", ready=False)], NOW)
    assert plan.create == 1 and plan.delete == []
    assert plan.status == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1,
                           "availableReplicas": 1, "observedGeneration": 4}
    assert "create=1" in str(plan)


def test_nothing_is_created_while_earlier_creations_are_not_yet_seen() -> None:
    plan = plan_replica_set(rs(3), [], NOW, expectations_met=False)
    assert plan.create == 0 and plan.status["replicas"] == 0


def test_pods_being_deleted_do_not_count() -> None:
    pods = [pod("a"), pod("b"), pod("c", deleting=True)]
    assert plan_replica_set(rs(3), pods, NOW).create == 1


def test_scale_down_removes_unscheduled_then_pending_then_not_ready_then_newest() -> None:
    pods = [pod("ready-old", created=NOW - 500), pod("ready-new", created=NOW - 50),
            pod("notready", ready=False), pod("pending", phase="Pending", ready=False),
            pod("unscheduled", node="", phase="Pending", ready=False)]
    for keep, expected in ((4, ["unscheduled"]), (3, ["unscheduled", "pending"]),
                           (1, ["unscheduled", "pending", "notready", "ready-new"])):
        assert plan_replica_set(rs(keep), pods, NOW).delete == expected


def test_among_equal_pods_the_one_restarted_most_goes_first() -> None:
    pods = [pod("calm", created=NOW - 10), pod("flappy", restarts=5, created=NOW - 500)]
    assert plan_replica_set(rs(1), pods, NOW).delete == ["flappy"]


def test_orphans_matching_the_selector_are_adopted_and_mismatches_released() -> None:
    pods = [pod("orphan", owned=False), pod("moved", labels={"app": "other"}),
            pod("foreign", owned=False, labels={"app": "other"})]
    plan = plan_replica_set(rs(1), pods, NOW)
    assert plan.adopt == ["orphan"] and plan.release == ["moved"]
    assert plan.create == 0 and plan.status["replicas"] == 1


def test_available_waits_for_min_ready_seconds_and_asks_to_come_back() -> None:
    pods = [pod("a", ready_at=NOW - 100), pod("b", ready_at=NOW - 2)]
    plan = plan_replica_set(rs(2, min_ready=10), pods, NOW)
    assert plan.status["readyReplicas"] == 2 and plan.status["availableReplicas"] == 1
    assert plan.requeue_after is not None and 7 <= plan.requeue_after <= 9


def test_fully_labeled_counts_pods_with_every_template_label() -> None:
    plan = plan_replica_set(rs(2), [pod("a"), pod("b", labels={"app": "web"})], NOW)
    assert plan.status["fullyLabeledReplicas"] == 1


def test_new_pods_come_from_the_template_and_name_their_owner() -> None:
    made = new_pod(rs())
    assert made["metadata"]["generateName"] == "web-abc-"
    assert made["metadata"]["labels"] == {"app": "web", "tier": "fe"}
    assert made["metadata"]["annotations"] == {"a": "b"}
    assert made["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs-uid",
        "controller": True, "blockOwnerDeletion": True}]
    assert made["spec"]["containers"][0]["image"] == "nginx"


def test_expectations_are_met_once_the_creations_are_observed() -> None:
    exp = Expectations()
    exp.expect("default/web", adds=2, deletes=0)
    assert not exp.satisfied("default/web")
    exp.observe("default/web", adds=1)
    assert not exp.satisfied("default/web")
    exp.observe("default/web", adds=1)
    assert exp.satisfied("default/web")


def test_work_queue_dedupes_keys_and_requeues_one_changed_while_processing() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    key = queue.get(timeout=1)
    assert key == "a"
    queue.add("a")  # changed while being worked on: not handed out twice at once
    assert queue.get(timeout=1) == "b"
    assert queue.get(timeout=0.05) is None
    queue.done("a")
    assert queue.get(timeout=1) == "a"


def test_work_queue_backs_off_after_failures() -> None:
    queue = WorkQueue(base_delay=0.01)
    delays = [queue.add_rate_limited("k") for _ in range(4)]
    assert delays == [0.01, 0.02, 0.04, 0.08]
    queue.forget("k")
    assert queue.add_rate_limited("k") == 0.01
    assert queue.get(timeout=1) == "k"
