"""The garbage collector's and namespace controller's plans, from plain objects."""

from __future__ import annotations

from typing import Any

from minikube_py.controllers.gc import plan_garbage_collection
from minikube_py.controllers.namespace import plan_namespace

Obj = dict[str, Any]


def obj(kind: str, name: str, owners: list[Obj] | None = None, deleting: bool = False,
        finalizers: list[str] | None = None) -> Obj:
    api = "v1" if kind == "Pod" else "apps/v1"
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if owners:
        meta["ownerReferences"] = [{"apiVersion": o["apiVersion"], "kind": o["kind"],
                                    "name": o["metadata"]["name"], "uid": o["metadata"]["uid"],
                                    "controller": True} for o in owners]
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def names(pairs: list[tuple[Any, Any]]) -> list[str]:
    return sorted(ref.name for ref, _ in pairs)


def test_dependents_of_a_gone_owner_are_deleted() -> None:
    deploy = obj("Deployment", "web")
    rs = obj("ReplicaSet", "web-abc", [deploy])
    pod = obj("Pod", "web-abc-1", [rs])
    plan = plan_garbage_collection([rs, pod])  # the deployment was deleted
    assert names(plan.delete) == ["web-abc"]
    (ref, gone), = plan.delete
    assert ref.kind == "ReplicaSet" and gone[0]["uid"] == "uid-web"
    assert "web-abc" in str(plan)


def test_objects_whose_owners_exist_are_left_alone() -> None:
    deploy = obj("Deployment", "web")
    rs = obj("ReplicaSet", "web-abc", [deploy])
    assert not plan_garbage_collection([deploy, rs, obj("Pod", "p", [rs]), obj("Pod", "bare")])


def test_a_dangling_reference_is_removed_when_another_owner_remains() -> None:
    a, b = obj("ReplicaSet", "a"), obj("ReplicaSet", "b")
    pod = obj("Pod", "shared", [a, b])
    plan = plan_garbage_collection([b, pod])
    assert plan.delete == []
    (ref, keep), = plan.strip
    assert ref.name == "shared" and [r["name"] for r in keep] == ["b"]


def test_foreground_deletion_deletes_dependents_then_drops_the_finalizer() -> None:
    deploy = obj("Deployment", "web", deleting=True, finalizers=["foregroundDeletion"])
    rs = obj("ReplicaSet", "web-abc", [deploy])
    plan = plan_garbage_collection([deploy, rs])
    assert names(plan.delete) == ["web-abc"] and plan.finalize == []
    plan = plan_garbage_collection([deploy])
    (ref, finalizers), = plan.finalize
    assert ref.name == "web" and finalizers == []


def test_orphan_deletion_strips_the_owner_from_dependents_then_finalizes() -> None:
    rs = obj("ReplicaSet", "web-abc", deleting=True, finalizers=["orphan"])
    pod = obj("Pod", "p", [rs])
    plan = plan_garbage_collection([rs, pod])
    assert plan.delete == [] and names(plan.strip) == ["p"]
    assert plan.strip[0][1] == []
    assert plan.finalize == []
    plan = plan_garbage_collection([rs, obj("Pod", "p")])
    assert names(plan.finalize) == ["web-abc"]


def test_objects_already_being_deleted_are_not_deleted_again() -> None:
    rs = obj("ReplicaSet", "gone")
    assert not plan_garbage_collection([obj("Pod", "p", [rs], deleting=True)])


def test_a_terminating_namespace_is_emptied_then_finalized() -> None:
    ns = {"metadata": {"name": "team", "deletionTimestamp": "2024-01-01T00:00:00Z"},
          "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}
    contents = {"pods": [obj("Pod", "a"), obj("Pod", "b", deleting=True)],
                "configmaps": [obj("ConfigMap", "c")]}
    plan = plan_namespace(ns, contents)
    assert plan.delete == [("configmaps", "c"), ("pods", "a")]
    assert plan.waiting == 1 and not plan.finalize
    assert plan_namespace(ns, {}).finalize
    active = {"metadata": {"name": "team"}, "status": {"phase": "Active"}}
    assert plan_namespace(active, contents).delete == []
