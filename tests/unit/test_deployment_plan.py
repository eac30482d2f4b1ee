"""The Deployment controller's plan: hashes, rollouts, rollback, scaling, status."""

from __future__ import annotations

import copy
from typing import Any

from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.base import now_iso
from minikube_py.controllers.deployment_plan import build_replica_set, plan_deployment

Obj = dict[str, Any]
NOW = 1_700_000_000.0


def template(image: str = "nginx:1.24") -> Obj:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": image}]}}


def deployment(replicas: int = 3, image: str = "nginx:1.24", **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-uid",
                         "generation": 2, "annotations": {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template(image), "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600,
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%",
                                                    "maxUnavailable": "25%"}},
                     **spec}}


def replica_set(image: str, replicas: int, available: int | None = None,
                revision: int = 1, age: float = 100, d: Obj | None = None) -> Obj:
    """A ReplicaSet as the server would hold it, with its status caught up."""
    owner = copy.deepcopy(d or deployment())
    owner["spec"]["template"] = template(image)
    rs = build_replica_set(owner, replicas, revision)
    rs["metadata"]["creationTimestamp"] = now_iso(NOW - age)
    rs["metadata"]["annotations"][du.DESIRED_REPLICAS] = str(owner["spec"]["replicas"])
    avail = replicas if available is None else available
    rs["status"] = {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail}
    return rs


def reason(status: Obj, kind: str) -> str:
    cond = du.condition(status, kind)
    assert cond is not None, f"no {kind} condition"
    return str(cond["reason"])


def test_template_hash_ignores_defaults_nulls_and_its_own_label() -> None:
    plain = template()
    as_kubectl_sends = copy.deepcopy(plain)
    as_kubectl_sends["metadata"]["creationTimestamp"] = None
    as_kubectl_sends["metadata"]["labels"][du.HASH_LABEL] = "whatever"
    as_kubectl_sends["spec"]["containers"][0]["resources"] = {}
    as_kubectl_sends["spec"]["restartPolicy"] = "Always"
    assert du.template_hash(plain) == du.template_hash(as_kubectl_sends)
    assert du.template_hash(plain) != du.template_hash(template("nginx:1.25"))
    assert du.template_hash(plain) != du.template_hash(plain, collision_count=1)
    assert set(du.template_hash(plain)) <= set(du.SAFE_ALPHABET)


def test_safe_encode_and_fnv_match_upstream() -> None:
    assert du.fnv32a(b"") == 0x811C9DC5
    assert du.fnv32a(b"a") == 0xE40C292C
    assert du.safe_encode("0123") == "4567"  # bytes 48..51 mod 27 = 21..24


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    d = deployment(10)
    assert du.fenceposts(d) == (3, 2)
    d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": "0%"}
    assert du.fenceposts(d) == (0, 1)
    assert du.max_unavailable(deployment(3)) == 0


def test_a_new_deployment_gets_its_first_replica_set() -> None:
    plan = plan_deployment(deployment(3), [], NOW)
    assert plan.create is not None
    name = plan.create["metadata"]["name"]
    h = du.template_hash(template())
    assert name == f"web-{h}"
    assert plan.create["spec"]["replicas"] == 3
    assert plan.create["spec"]["selector"]["matchLabels"] == {"app": "web", du.HASH_LABEL: h}
    assert plan.create["spec"]["template"]["metadata"]["labels"][du.HASH_LABEL] == h
    annotations = plan.create["metadata"]["annotations"]
    assert annotations[du.REVISION] == "1" and annotations[du.MAX_REPLICAS] == "4"
    assert plan.revision == "1"
    assert plan.events == [("Normal", "ScalingReplicaSet", f"Scaled up replica set {name} to 3")]
    progressing = du.condition(plan.status, "Progressing")
    assert progressing and progressing["reason"] == "NewReplicaSetCreated"


def test_change_cause_is_copied_to_the_new_replica_set() -> None:
    d = deployment(1)
    d["metadata"]["annotations"] = {du.CHANGE_CAUSE: "kubectl set image", du.REVISION: "4"}
    plan = plan_deployment(d, [], NOW)
    assert plan.create is not None
    assert plan.create["metadata"]["annotations"][du.CHANGE_CAUSE] == "kubectl set image"
    assert plan.create["metadata"]["annotations"][du.REVISION] == "1"


def test_rolling_update_surges_first_and_keeps_enough_pods_available() -> None:
    d = deployment(4, image="nginx:1.25")
    old = replica_set("nginx:1.24", 4, revision=1, d=d)  # maxSurge 1, maxUnavailable 1
    plan = plan_deployment(d, [old], NOW)
    assert plan.create is not None and plan.create["spec"]["replicas"] == 1
    assert plan.create["metadata"]["annotations"][du.REVISION] == "2"
    # the new pod is not available yet: only maxUnavailable=1 old pod may go
    assert plan.scale == {old["metadata"]["name"]: 3}


def test_rolling_update_walks_to_the_new_version_without_dropping_below_minimum() -> None:
    d = deployment(4, image="nginx:1.25")
    old = replica_set("nginx:1.24", 4, revision=1, age=300, d=d)
    new = replica_set("nginx:1.25", 0, revision=2, age=10, d=d)
    for _ in range(20):
        plan = plan_deployment(d, [old, new], NOW)
        assert plan.create is None
        for rs in (old, new):
            size = plan.scale.get(rs["metadata"]["name"], du.replicas_of(rs))
            rs["spec"]["replicas"] = size
        total = du.replicas_of(old) + du.replicas_of(new)
        available = du.status_of(old, "availableReplicas") + du.status_of(
            new, "availableReplicas")
        assert total <= 5 and available >= 3
        # pods converge to the sizes; new pods become available one step later
        old["status"] = {"replicas": du.replicas_of(old),
                         "availableReplicas": du.replicas_of(old)}
        new["status"] = {"replicas": du.replicas_of(new),
                         "availableReplicas": du.replicas_of(new)}
        if du.replicas_of(old) == 0 and du.replicas_of(new) == 4:
            break
    assert (du.replicas_of(old), du.replicas_of(new)) == (0, 4)
    done = plan_deployment(d, [old, new], NOW)
    assert reason(done.status, "Progressing") == "NewReplicaSetAvailable"
    assert done.status["updatedReplicas"] == 4 and done.status["availableReplicas"] == 4


def test_rollback_reuses_the_old_replica_set_with_the_next_revision() -> None:
    first = replica_set("nginx:1.24", 0, revision=1, age=300)
    second = replica_set("nginx:1.25", 3, revision=2, age=100)
    d = deployment(3)
    undo = copy.deepcopy(first["spec"]["template"])  # what kubectl rollout undo sends
    del undo["metadata"]["labels"][du.HASH_LABEL]
    undo["metadata"]["creationTimestamp"] = None
    d["spec"]["template"] = undo
    plan = plan_deployment(d, [first, second], NOW)
    assert plan.create is None
    name = first["metadata"]["name"]
    assert plan.annotate[name][du.REVISION] == "3"
    assert plan.annotate[name][du.REVISION_HISTORY] == "1"
    assert plan.revision == "3"
    assert plan.scale[name] >= 1


def test_recreate_scales_old_to_zero_and_waits_for_its_pods() -> None:
    old = replica_set("nginx:1.24", 3)
    d = deployment(3, image="nginx:1.25", strategy={"type": "Recreate"})
    plan = plan_deployment(d, [old], NOW)
    assert plan.create is None and plan.scale == {old["metadata"]["name"]: 0}
    old["spec"]["replicas"] = 0
    old["status"] = {"replicas": 0}
    plan = plan_deployment(d, [old], NOW)
    assert plan.create is not None and plan.create["spec"]["replicas"] == 3


def test_paused_deployment_does_not_roll_out_but_still_scales() -> None:
    current = replica_set("nginx:1.24", 3)
    d = deployment(5, image="nginx:1.25", paused=True)
    plan = plan_deployment(d, [current], NOW)
    assert plan.create is None
    assert plan.scale == {current["metadata"]["name"]: 5}
    assert reason(plan.status, "Progressing") == "DeploymentPaused"


def test_scaling_mid_rollout_is_proportional() -> None:
    d = deployment(10, image="nginx:1.25")
    old = replica_set("nginx:1.24", 5, revision=1, age=300, d=deployment(5))
    new = replica_set("nginx:1.25", 2, revision=2, age=10, d=deployment(5))
    for rs in (old, new):
        rs["metadata"]["annotations"][du.MAX_REPLICAS] = "7"  # 5 + maxSurge 2
    plan = plan_deployment(d, [old, new], NOW)
    sizes = {rs["metadata"]["name"]: plan.scale.get(rs["metadata"]["name"],
                                                    du.replicas_of(rs)) for rs in (old, new)}
    assert sum(sizes.values()) == 13  # 10 + maxSurge 3
    assert sizes == {old["metadata"]["name"]: 10, new["metadata"]["name"]: 3}


def test_scale_of_a_finished_rollout_resizes_its_replica_set() -> None:
    current = replica_set("nginx:1.24", 3)
    plan = plan_deployment(deployment(1), [current], NOW)
    name = current["metadata"]["name"]
    assert plan.scale == {name: 1}
    assert plan.annotate[name][du.DESIRED_REPLICAS] == "1"
    assert ("Normal", "ScalingReplicaSet",
            f"Scaled down replica set {name} to 1 from 3") in plan.events


def test_old_replica_sets_beyond_the_history_limit_are_deleted_oldest_first() -> None:
    olds = [replica_set(f"nginx:1.{i}", 0, revision=i, age=1000 - i) for i in range(1, 5)]
    current = replica_set("nginx:1.24", 3, revision=5, age=1)
    d = deployment(3, revisionHistoryLimit=2)
    plan = plan_deployment(d, olds + [current], NOW)
    assert plan.delete == [olds[0]["metadata"]["name"], olds[1]["metadata"]["name"]]


def test_status_counts_and_available_condition() -> None:
    current = replica_set("nginx:1.24", 3, available=1)
    plan = plan_deployment(deployment(3), [current], NOW)
    assert plan.status["observedGeneration"] == 2
    assert (plan.status["replicas"], plan.status["updatedReplicas"],
            plan.status["availableReplicas"], plan.status["unavailableReplicas"]) == (3, 3, 1, 2)
    assert reason(plan.status, "Available") == "MinimumReplicasUnavailable"


def test_no_progress_past_the_deadline_is_reported() -> None:
    current = replica_set("nginx:1.24", 3, available=1)
    d = deployment(3)
    stamp = now_iso(NOW - 700)
    d["status"] = {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 1,
                   "availableReplicas": 1,
                   "conditions": [{"type": "Progressing", "status": "True",
                                   "reason": "ReplicaSetUpdated", "lastUpdateTime": stamp,
                                   "lastTransitionTime": stamp, "message": ""}]}
    plan = plan_deployment(d, [current], NOW)
    progressing = du.condition(plan.status, "Progressing")
    assert progressing and progressing["reason"] == "ProgressDeadlineExceeded"
    assert progressing["status"] == "False"
    d["status"]["conditions"][0]["lastUpdateTime"] = now_iso(NOW - 100)
    plan = plan_deployment(d, [current], NOW)
    assert reason(plan.status, "Progressing") == "ReplicaSetUpdated"
    assert plan.requeue_after is not None and 490 < plan.requeue_after < 510
