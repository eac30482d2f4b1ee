"""Tables: the columns ``kubectl get`` prints are computed by the API server.

``kubectl get pods`` asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and
prints the cells it gets back *as they are*, so the server decides what ``STATUS`` says
(``Running``, ``CrashLoopBackOff``, ``Init:0/1``, ``Terminating``...) and how ``AGE`` reads
(``45s``, ``5m10s``, ``2d3h``). A ``meta.k8s.io/v1`` Table has ``columnDefinitions``
(name, type, format, description, priority — priority 1 columns appear only with
``-o wide``) and ``rows`` of ``cells`` plus the object itself, shaped by the
``includeObject`` query parameter: ``Metadata`` (the default: a ``PartialObjectMetadata``
with just ``metadata``, enough for ``-A`` and ``--show-labels``), ``Object`` (the whole
object, for ``--sort-by``) or ``None``.

The column logic follows upstream ``pkg/printers/internalversion/printers.go`` (the cells
of each kind: :mod:`.table_printers`) and the ages follow ``duration.HumanDuration``
(:mod:`.ages`). Try ``kubectl get pods -o wide -v=8`` to see a Table.
"""

from __future__ import annotations

import time
from typing import Any

from minikube_py.api.resources import Resource
from minikube_py.apiserver.ages import age, human_duration, parse_time
from minikube_py.apiserver.table_printers import pod_status_reason, row_cells

__all__ = ["table", "age", "human_duration", "parse_time", "column_definitions", "row_cells",
           "pod_status_reason"]

Obj = dict[str, Any]
_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, "
             "although some resources may allow a client to request the generation of an "
             "appropriate name automatically.")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object "
            "was created.")


def _col(name: str, description: str, type_: str = "string", priority: int = 0,
         fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": description,
            "priority": priority}


_NAME = _col("Name", _NAME_DOC, fmt="name")
_AGE = _col("Age", _AGE_DOC)
_TEMPLATE = [_col("Containers", "Names of each container in the template.", priority=1),
             _col("Images", "Images referenced by each container in the template.",
                  priority=1),
             _col("Selector", "Label query over pods that should match the replica count.",
                  priority=1)]
_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "Pod": [_NAME,
            _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _col("Status", "The aggregate status of the containers in this pod."),
            _col("Restarts", "The number of times the containers in this pod have been "
                             "restarted and when the last container in this pod has "
                             "restarted."),
            _AGE,
            _col("IP", "IP address allocated to the pod.", priority=1),
            _col("Node", "The node the pod is scheduled onto.", priority=1),
            _col("Nominated Node", "The node the scheduler nominated for preemption.",
                 priority=1),
            _col("Readiness Gates", "Pod readiness gates that are true, out of all.",
                 priority=1)],
    "Deployment": [_NAME, _col("Ready", "Number of the pod with ready state"),
                   _col("Up-to-date", "Total number of non-terminated pods targeted by this "
                                      "deployment that have the desired template spec."),
                   _col("Available", "Total number of available pods (ready for at least "
                                     "minReadySeconds) targeted by this deployment."),
                   _AGE, *_TEMPLATE],
    "ReplicaSet": [_NAME,
                   _col("Desired", "Replicas is the number of desired replicas.", "integer"),
                   _col("Current", "Replicas is the most recently observed number of "
                                   "replicas.", "integer"),
                   _col("Ready", "The number of ready replicas for this replica set.",
                        "integer"),
                   _AGE, *_TEMPLATE],
    "Service": [_NAME, _col("Type", "How the Service is exposed."),
                _col("Cluster-IP", "The IP address of the service, usually assigned "
                                   "randomly."),
                _col("External-IP", "IP addresses for which nodes in the cluster will also "
                                    "accept traffic for this service."),
                _col("Port(s)", "The list of ports that are exposed by this service."),
                _AGE,
                _col("Selector", "Route service traffic to pods with label keys and values "
                                 "matching this selector.", priority=1)],
    "Endpoints": [_NAME, _col("Endpoints", "The set of all endpoints is the union of all "
                                           "subsets."), _AGE],
    "Node": [_NAME, _col("Status", "The status of the node"),
             _col("Roles", "The roles of the node"), _AGE,
             _col("Version", "Kubelet Version reported by the node."),
             _col("Internal-IP", "List of addresses reachable to the node.", priority=1),
             _col("External-IP", "List of addresses reachable to the node.", priority=1),
             _col("OS-Image", "OS Image reported by the node.", priority=1),
             _col("Kernel-Version", "Kernel Version reported by the node.", priority=1),
             _col("Container-Runtime", "ContainerRuntime Version reported by the node.",
                  priority=1)],
    "Event": [_col("Last Seen", "The time at which the most recent occurrence of this event "
                                "was recorded."),
              _col("Type", "Type of this event (Normal, Warning)."),
              _col("Reason", "A short, machine understandable string for the transition."),
              _col("Object", "The object that this event is about."),
              _col("Subobject", "The part of the object the event is about.", priority=1),
              _col("Source", "The component reporting this event.", priority=1),
              _col("Message", "A human-readable description of the status of this "
                              "operation."),
              _col("First Seen", "The time at which the event was first recorded.",
                   priority=1),
              _col("Count", "The number of times this event has occurred.", priority=1),
              {**_NAME, "priority": 1}],
    "Namespace": [_NAME, _col("Status", "The status of the namespace"), _AGE],
    "ConfigMap": [_NAME, _col("Data", "Number of data entries (data and binaryData)."), _AGE],
    "PersistentVolume": [
        _NAME, _col("Capacity", "Total amount of storage of the volume."),
        _col("Access Modes", "Ways the volume can be mounted."),
        _col("Reclaim Policy", "What happens to the volume when its claim is deleted."),
        _col("Status", "Phase of the volume."),
        _col("Claim", "The claim bound to the volume."),
        _col("StorageClass", "Class of the volume."),
        _col("VolumeAttributesClass", "Attributes class of the volume."),
        _col("Reason", "Why the volume is in its phase."), _AGE,
        {**_col("VolumeMode", "Filesystem or Block."), "priority": 1}],
    "PersistentVolumeClaim": [
        _NAME, _col("Status", "Phase of the claim."),
        _col("Volume", "The volume bound to the claim."),
        _col("Capacity", "Storage of the bound volume."),
        _col("Access Modes", "Ways the volume can be mounted."),
        _col("StorageClass", "Class of the claim."),
        _col("VolumeAttributesClass", "Attributes class of the claim."), _AGE,
        {**_col("VolumeMode", "Filesystem or Block."), "priority": 1}],
    "StorageClass": [
        _NAME, _col("Provisioner", "Who makes volumes of this class."),
        _col("ReclaimPolicy", "What happens to them when their claim is deleted."),
        _col("VolumeBindingMode", "When claims are bound."),
        _col("AllowVolumeExpansion", "Whether claims may grow."), _AGE],
    "Secret": [_NAME, _col("Type", "The type of the secret."),
               _col("Data", "Number of data entries."), _AGE],
    "ServiceAccount": [_NAME, _col("Secrets", "Number of secrets of the service account."),
                       _AGE],
    "HorizontalPodAutoscaler": [
        _NAME, _col("Reference", "Reference to the workload whose replicas are scaled."),
        _col("Targets", "Current and desired value of each metric."),
        _col("MinPods", "Lower limit of the replica count.", "integer"),
        _col("MaxPods", "Upper limit of the replica count.", "integer"),
        _col("Replicas", "Current replica count.", "integer"), _AGE],
}
_DEFAULT_COLUMNS = [_NAME, _col("Created At", _AGE_DOC, "date")]


def column_definitions(kind: str) -> list[dict[str, Any]]:
    return _COLUMNS.get(kind, _DEFAULT_COLUMNS)


def table(resource: Resource, objects: list[Obj], include_object: str = "Metadata",
          resource_version: str = "", now: float | None = None) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects`` with the kind's ``kubectl get`` columns."""
    now = time.time() if now is None else now
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": row_cells(resource.kind, obj, now)}
        if resource.kind == "Pod" and (obj.get("status") or {}).get("phase") in (
                "Succeeded", "Failed"):
            phase = obj["status"]["phase"]
            row["conditions"] = [{"type": "Completed", "status": "True", "reason": phase,
                                  "message": "The pod has completed successfully."
                                  if phase == "Succeeded" else "The pod failed."}]
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata") or {}}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version} if resource_version else {},
            "columnDefinitions": column_definitions(resource.kind), "rows": rows}
