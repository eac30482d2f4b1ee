"""What the PersistentVolume controller decides, as pure functions over objects.

Which volume a claim gets (:func:`best_volume`: the smallest that :func:`fits`), which class
is the default, whether a pod still uses a claim, and the objects the controller writes
(a claim reference, the ``standard`` class). No API calls here: ``persistentvolume.py``
reads the informers, asks these, and writes the answers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from minikube_py.api.names import selector_matches
from minikube_py.api.quantity import parse_quantity
from minikube_py.api.storage import DEFAULT_CLASS_ANNOTATION

Obj = dict[str, Any]
PROVISIONER = "minikube-py.io/hostpath"


def capacity_of(volume: Obj) -> Decimal:
    """A volume's ``spec.capacity.storage``."""
    return parse_quantity(((volume.get("spec") or {}).get("capacity") or {})
                          .get("storage", "0"))


def request_of(claim: Obj) -> Decimal:
    """A claim's ``spec.resources.requests.storage``."""
    resources = (claim.get("spec") or {}).get("resources") or {}
    return parse_quantity((resources.get("requests") or {}).get("storage", "0"))


def class_of(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def fits(volume: Obj, claim: Obj) -> bool:
    """Could this Available volume serve this claim?"""
    spec, want = volume.get("spec") or {}, claim.get("spec") or {}
    labels = (volume.get("metadata") or {}).get("labels") or {}
    return (not spec.get("claimRef") and not volume["metadata"].get("deletionTimestamp")
            and (volume.get("status") or {}).get("phase") in ("Available", "Pending")
            and class_of(volume) == class_of(claim)
            and spec.get("volumeMode", "Filesystem") == want.get("volumeMode", "Filesystem")
            and set(want.get("accessModes") or []) <= set(spec.get("accessModes") or [])
            and capacity_of(volume) >= request_of(claim)
            and selector_matches(want.get("selector") or {}, labels))


def best_volume(volumes: list[Obj], claim: Obj) -> Obj | None:
    """The smallest volume that fits (upstream picks the smallest, to waste least)."""
    candidates = [v for v in volumes if fits(v, claim)]
    return min(candidates, key=lambda v: (capacity_of(v), v["metadata"]["name"]),
               default=None)


def default_class(classes: list[Obj]) -> Obj | None:
    marked = [c for c in classes
              if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    return max(marked, key=lambda c: c["metadata"].get("creationTimestamp", ""), default=None)


def claim_in_use(claim: Obj, pods: list[Obj]) -> bool:
    """Does a pod that has not finished name this claim among its volumes?"""
    meta = claim["metadata"]
    for pod in pods:
        if pod["metadata"].get("namespace") != meta.get("namespace"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName") == meta["name"]:
                return True
    return False


def claim_ref(claim: Obj) -> Obj:
    meta = claim["metadata"]
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace":
            meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion")}


def standard_class() -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "standard", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate"}
