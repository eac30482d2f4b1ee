"""Storage objects: PersistentVolumes, PersistentVolumeClaims and StorageClasses.

A pod's ``emptyDir`` dies with the pod. Storage that outlives pods is split in two, so that
the person who writes a Deployment need not know where disks come from:

- a **PersistentVolume** (PV, cluster-wide) is a piece of storage: here a directory of the
  node (``hostPath``), with a ``capacity``, the ``accessModes`` it allows (``ReadWriteOnce``,
  ``ReadOnlyMany``, ``ReadWriteMany``, ``ReadWriteOncePod``) and what happens to it when its
  claim is deleted (``persistentVolumeReclaimPolicy``: ``Retain`` or ``Delete``);
- a **PersistentVolumeClaim** (PVC, namespaced) asks for storage: "1Gi, ReadWriteOnce, of
  class ``standard``". The PV controller *binds* it to a PV that fits, or has one made
  (*provisioned*) by the class's provisioner; a pod then names the claim in its volumes;
- a **StorageClass** names a provisioner and its reclaim policy; the one annotated
  ``storageclass.kubernetes.io/is-default-class: "true"`` serves claims that name no class.

Here: validation and defaults as upstream's API server does them. The binding itself is in
``minikube_py/controllers/persistentvolume.py``.
"""

from __future__ import annotations

import copy
from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import is_dns1123_subdomain, namespaced_copy, validate_object_meta
from minikube_py.api.pod import HOST_PATH_TYPES, validate_type_meta
from minikube_py.api.quantity import parse_quantity

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
#: kubectl's short forms, for the tables.
SHORT_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
               "ReadWriteOncePod": "RWOP"}
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
BINDING_MODES = ["Immediate", "WaitForFirstConsumer"]
VOLUME_MODES = ["Block", "Filesystem"]
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
#: The only PV source minikube-py can mount: a directory of the (one) node.
PV_SOURCES = ("hostPath",)
_ALL_PV_SOURCES = ("awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi",
                   "fc", "flexVolume", "flocker", "gcePersistentDisk", "glusterfs", "hostPath",
                   "iscsi", "local", "nfs", "photonPersistentDisk", "portworxVolume",
                   "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume")


def _access_modes(modes: Any, path: FieldPath, errs: list[FieldError], what: str) -> None:
    modes = f.expect_list(modes, path, errs)
    if not modes:
        errs.append(f.required(path, "at least 1 access mode is required" if what == "claim"
                               else ""))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(f.not_supported(path, mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(f.forbidden(path, "may not use ReadWriteOncePod with other access modes"))


def _storage(value: Any, path: FieldPath, errs: list[FieldError]) -> None:
    try:
        if parse_quantity(value) <= 0:
            errs.append(f.invalid(path, value, "must be greater than zero"))
    except (ValueError, TypeError) as e:
        errs.append(f.invalid(path, value, str(e).split(": ", 1)[-1]))


def default_persistent_volume(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    spec = out.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
    return out


def validate_persistent_volume(obj: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "PersistentVolume")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"),
                                 name_check=is_dns1123_subdomain, namespaced=False)
    spec_path = FieldPath("spec")
    spec = f.expect_dict(obj.get("spec"), spec_path, errs)
    capacity = f.expect_dict(spec.get("capacity"), spec_path.child("capacity"), errs)
    if not capacity:
        errs.append(f.required(spec_path.child("capacity")))
    for name, value in capacity.items():
        if name != "storage":
            errs.append(f.not_supported(spec_path.child("capacity"), name, ["storage"]))
        else:
            _storage(value, spec_path.child("capacity").key("storage"), errs)
    _access_modes(spec.get("accessModes"), spec_path.child("accessModes"), errs, "volume")
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy not in RECLAIM_POLICIES:
        errs.append(f.not_supported(spec_path.child("persistentVolumeReclaimPolicy"), policy,
                                    RECLAIM_POLICIES))
    elif policy == "Recycle":
        errs.append(f.forbidden(spec_path.child("persistentVolumeReclaimPolicy"),
                                "Recycle is deprecated upstream and not supported"))
    if spec.get("volumeMode") not in VOLUME_MODES:
        errs.append(f.not_supported(spec_path.child("volumeMode"), spec.get("volumeMode"),
                                    VOLUME_MODES))
    sources = [k for k in spec if k in _ALL_PV_SOURCES]
    if not sources:
        errs.append(f.required(spec_path, "must specify a volume type"))
    elif len(sources) > 1:
        errs.append(f.forbidden(spec_path.child(sources[1]),
                                "may not specify more than 1 volume type"))
    elif sources[0] not in PV_SOURCES:
        errs.append(f.not_supported(spec_path, sources[0], list(PV_SOURCES)))
    else:
        host = f.expect_dict(spec["hostPath"], spec_path.child("hostPath"), errs)
        path = host.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            errs.append(f.invalid(spec_path.child("hostPath", "path"), path,
                                  "must be an absolute path"))
        elif ".." in path.split("/"):
            errs.append(f.invalid(spec_path.child("hostPath", "path"), path,
                                  "must not contain '..'"))
        if str(host.get("type") or "") not in HOST_PATH_TYPES:
            errs.append(f.not_supported(spec_path.child("hostPath", "type"), host.get("type"),
                                        [t for t in HOST_PATH_TYPES if t]))
    return errs


def default_persistent_volume_claim(obj: dict[str, Any]) -> dict[str, Any]:
    out = namespaced_copy(obj)
    spec = out.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    return out


def validate_persistent_volume_claim(obj: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "PersistentVolumeClaim")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"),
                                 name_check=is_dns1123_subdomain)
    spec_path = FieldPath("spec")
    spec = f.expect_dict(obj.get("spec"), spec_path, errs)
    _access_modes(spec.get("accessModes"), spec_path.child("accessModes"), errs, "claim")
    resources = f.expect_dict(spec.get("resources"), spec_path.child("resources"), errs)
    requests = f.expect_dict(resources.get("requests"),
                             spec_path.child("resources", "requests"), errs)
    if "storage" not in requests:
        errs.append(f.required(spec_path.child("resources").key("storage")))
    else:
        _storage(requests["storage"], spec_path.child("resources", "requests").key("storage"),
                 errs)
    if spec.get("volumeMode") not in VOLUME_MODES:
        errs.append(f.not_supported(spec_path.child("volumeMode"), spec.get("volumeMode"),
                                    VOLUME_MODES))
    name = spec.get("storageClassName")
    if name:  # "" means "no class": only PVs without one
        errs += [f.invalid(spec_path.child("storageClassName"), name, m)
                 for m in is_dns1123_subdomain(str(name))]
    return errs


def validate_claim_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """A claim's spec is fixed once made, but for the storage it asks (a resize) and the
    binding the controller writes (``volumeName``; ``storageClassName`` from nothing)."""
    old_spec, new_spec = dict(old.get("spec") or {}), dict(new.get("spec") or {})
    for spec in (old_spec, new_spec):
        spec.pop("resources", None)
    if not old_spec.get("volumeName"):
        old_spec.pop("volumeName", None)
        new_spec.pop("volumeName", None)
    if old_spec.get("storageClassName") is None:
        old_spec.pop("storageClassName", None)
        new_spec.pop("storageClassName", None)
    if old_spec != new_spec:
        return [f.forbidden(FieldPath("spec"), "spec is immutable after creation except "
                            "resources.requests and volumeAttributesClassName for bound claims")]
    return []


def default_storage_class(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out.setdefault("reclaimPolicy", "Delete")
    out.setdefault("volumeBindingMode", "Immediate")
    return out


def validate_storage_class(obj: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "storage.k8s.io/v1", "StorageClass")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"),
                                 name_check=is_dns1123_subdomain, namespaced=False)
    if not obj.get("provisioner"):
        errs.append(f.required(FieldPath("provisioner")))
    if obj.get("reclaimPolicy") not in ("Delete", "Retain"):
        errs.append(f.not_supported(FieldPath("reclaimPolicy"), obj.get("reclaimPolicy"),
                                    ["Delete", "Retain"]))
    if obj.get("volumeBindingMode") not in BINDING_MODES:
        errs.append(f.not_supported(FieldPath("volumeBindingMode"),
                                    obj.get("volumeBindingMode"), BINDING_MODES))
    return errs


def validate_storage_class_update(new: dict[str, Any], old: dict[str, Any]
                                  ) -> list[FieldError]:
    errs = []
    for name in ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"):
        if new.get(name) != old.get(name):
            errs.append(f.forbidden(FieldPath(name), "updates to " + name + " are forbidden."))
    return errs
