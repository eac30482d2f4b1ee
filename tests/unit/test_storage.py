"""PersistentVolumes, claims and classes: what the API server refuses, which volume a claim
gets, when a claim is still in use."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api import default_object, validate_object, validate_object_update
from minikube_py.controllers.pv_binding import (
    best_volume,
    claim_in_use,
    default_class,
    fits,
)


def volume(name: str, size: str, modes: list[str] | None = None, cls: str = "",
           **extra: Any) -> dict[str, Any]:
    return default_object({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": modes or ["ReadWriteOnce"],
                 "storageClassName": cls, "hostPath": {"path": f"/srv/{name}"}, **extra},
        "status": {"phase": "Available"}})


def claim(size: str = "1Gi", modes: list[str] | None = None, cls: str | None = "",
          **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": modes or ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}, **extra}
    if cls is not None:
        spec["storageClassName"] = cls
    return default_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
                           "spec": spec})


def errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_object(obj)]


def test_defaults_retain_and_filesystem():
    pv = volume("a", "1Gi")
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["volumeMode"] == "Filesystem" and "namespace" not in pv["metadata"]
    assert errors(pv) == [] and errors(claim()) == []


@pytest.mark.parametrize("change, message", [
    (lambda pv: pv["spec"].pop("capacity"), "spec.capacity: Required value"),
    (lambda pv: pv["spec"].update(capacity={"storage": "-1Gi"}),
     'spec.capacity[storage]: Invalid value: "-1Gi": must be greater than zero'),
    (lambda pv: pv["spec"].update(accessModes=["ReadWriteSometimes"]),
     'spec.accessModes: Unsupported value: "ReadWriteSometimes"'),
    (lambda pv: pv["spec"].pop("hostPath"), "spec: Required value: must specify a volume type"),
    (lambda pv: pv["spec"].update(nfs={"server": "x", "path": "/"}),
     "spec.nfs: Forbidden: may not specify more than 1 volume type"),
    (lambda pv: pv["spec"].update(hostPath={"path": "relative"}),
     'spec.hostPath.path: Invalid value: "relative": must be an absolute path'),
    (lambda pv: pv["spec"].update(persistentVolumeReclaimPolicy="Recycle"),
     "spec.persistentVolumeReclaimPolicy: Forbidden"),
])
def test_bad_volumes_are_refused_naming_the_field(change: Any, message: str):
    pv = volume("a", "1Gi")
    change(pv)
    assert any(e.startswith(message) for e in errors(pv)), errors(pv)


def test_a_claim_needs_access_modes_and_storage_and_keeps_its_spec():
    bad = claim()
    bad["spec"]["accessModes"] = []
    bad["spec"]["resources"] = {}
    assert errors(bad) == ["spec.accessModes: Required value: at least 1 access mode is "
                           "required", "spec.resources[storage]: Required value"]
    old, new = claim(cls=None), claim(cls="standard")
    assert validate_object_update(new, old) == []  # the default class filled in
    new["spec"]["volumeName"] = "pv-1"
    assert validate_object_update(new, old) == []  # the binding
    new["spec"]["accessModes"] = ["ReadWriteMany"]
    assert [str(e) for e in validate_object_update(new, old)] == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims"]


def test_the_smallest_volume_that_fits_wins():
    volumes = [volume("big", "10Gi"), volume("small", "2Gi"), volume("tiny", "500Mi"),
               volume("fast", "2Gi", cls="fast"), volume("rox", "1Gi", ["ReadOnlyMany"]),
               volume("taken", "1Gi", claimRef={"name": "other", "namespace": "ns"})]
    assert best_volume(volumes, claim("1Gi"))["metadata"]["name"] == "small"
    assert best_volume(volumes, claim("1Gi", cls="fast"))["metadata"]["name"] == "fast"
    assert best_volume(volumes, claim("20Gi")) is None
    assert best_volume(volumes, claim("1Gi", ["ReadWriteMany"])) is None
    labelled = volume("labelled", "3Gi")
    labelled["metadata"]["labels"] = {"tier": "gold"}
    wants_gold = claim("1Gi", selector={"matchLabels": {"tier": "gold"}})
    assert fits(labelled, wants_gold) and not fits(volume("plain", "3Gi"), wants_gold)


def test_the_default_class_and_claims_in_use():
    classes = [{"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"}},
               {"metadata": {"name": "b", "creationTimestamp": "2026-01-02T00:00:00Z",
                             "annotations": {"storageclass.kubernetes.io/is-default-class":
                                             "true"}}}]
    found = default_class(classes)
    assert found is not None and found["metadata"]["name"] == "b"
    assert default_class(classes[:1]) is None
    pvc = claim()

    def pod(phase: str, namespace: str = "ns") -> dict[str, Any]:
        return {"metadata": {"namespace": namespace}, "status": {"phase": phase},
                "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "c"}}]}}

    assert claim_in_use(pvc, [pod("Running")])
    assert not claim_in_use(pvc, [pod("Succeeded"), pod("Running", "other")])
