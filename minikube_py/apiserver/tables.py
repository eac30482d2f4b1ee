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

The column logic follows upstream ``pkg/printers/internalversion/printers.go`` and the ages
follow ``duration.HumanDuration``. Try ``kubectl get pods -o wide -v=8`` to see a Table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from minikube_py.api.resources import Resource
from minikube_py.apiserver.selectors import SelectorError, label_selector_from_match

__all__ = ["table", "age", "human_duration", "column_definitions", "row_cells",
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


def row_cells(kind: str, obj: Obj, now: float | None = None) -> list[Any]:
    """The cells of one row, wide columns included (the server always sends them all)."""
    now = time.time() if now is None else now
    printer = _PRINTERS.get(kind)
    if printer is None:
        meta = obj.get("metadata") or {}
        return [meta.get("name", ""), meta.get("creationTimestamp") or "0001-01-01T00:00:00Z"]
    return printer(obj, now)


# ------------------------------------------------------------------------------ ages


def human_duration(seconds: float) -> str:
    """Upstream ``duration.HumanDuration``: ``45s``, ``5m10s``, ``3h``, ``2d3h``, ``3y``."""
    s = int(seconds)  # truncates toward zero, like Go's int()
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def parse_time(timestamp: str | None) -> float | None:
    """RFC 3339 (``2024-05-01T10:00:00Z``, with or without fractions) -> epoch seconds."""
    if not timestamp:
        return None
    text = timestamp.replace("Z", "+00:00")
    if "." in text:  # Python 3.10 accepts only 3 or 6 fraction digits
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits):]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def age(timestamp: str | None, now: float | None = None) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when unset."""
    moment = parse_time(timestamp)
    if moment is None:
        return "<unknown>"
    return human_duration((time.time() if now is None else now) - moment)


# ---------------------------------------------------------------------- the printers


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _get(obj: Obj, *path: str) -> Any:
    value: Any = obj
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _selector_text(selector: Obj | None) -> str:
    try:
        return str(label_selector_from_match(selector))
    except SelectorError:
        return "<invalid>"


def _template_cells(obj: Obj) -> list[str]:
    pod_spec = _get(obj, "spec", "template", "spec") or {}
    ctrs = pod_spec.get("containers") or []
    return [",".join(c.get("name", "") for c in ctrs), ",".join(c.get("image", "") for c in ctrs),
            _selector_text(_get(obj, "spec", "selector"))]


def _deployment(obj: Obj, now: float) -> list[Any]:
    status = obj.get("status") or {}
    ready = f"{status.get('readyReplicas', 0)}/{_get(obj, 'spec', 'replicas') or 0}"
    return [_meta(obj).get("name", ""), ready, status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), age(_meta(obj).get("creationTimestamp"), now),
            *_template_cells(obj)]


def _replicaset(obj: Obj, now: float) -> list[Any]:
    status = obj.get("status") or {}
    return [_meta(obj).get("name", ""), _get(obj, "spec", "replicas") or 0,
            status.get("replicas", 0), status.get("readyReplicas", 0),
            age(_meta(obj).get("creationTimestamp"), now), *_template_cells(obj)]


def _format_labels(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _external_ip(spec: Obj, status: Obj) -> str:
    kind, external = spec.get("type") or "ClusterIP", list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    if kind == "LoadBalancer":
        ingress = _get(status, "loadBalancer", "ingress") or []
        found = [i.get("ip") or i.get("hostname") for i in ingress]
        return ",".join([f for f in found if f] + external) or "<pending>"
    return "<unknown>"


def _service(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP")
                                             else [])
    ports = []
    for p in spec.get("ports") or []:
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node_port}/{p.get('protocol') or 'TCP'}")
    return [_meta(obj).get("name", ""), spec.get("type") or "ClusterIP",
            cluster_ips[0] if cluster_ips else "<none>",
            _external_ip(spec, obj.get("status") or {}), ",".join(ports) or "<none>",
            age(_meta(obj).get("creationTimestamp"), now), _format_labels(spec.get("selector"))]


def _endpoints_text(subsets: list[Obj]) -> str:
    shown: list[str] = []
    count, limit = 0, 3
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or [None]  # headless services may list no ports
        for port in ports:
            count += len(addresses)
            for ip in addresses:
                if len(shown) == limit:
                    break
                host = f"[{ip}]" if ":" in ip else ip
                shown.append(f"{host}:{port.get('port')}" if port else ip)
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if count > limit else text


def _endpoints(obj: Obj, now: float) -> list[Any]:
    subsets = obj.get("subsets") or []
    return [_meta(obj).get("name", ""), _endpoints_text(subsets) if subsets else "<none>",
            age(_meta(obj).get("creationTimestamp"), now)]


def _node_address(obj: Obj, kind: str) -> str:
    for address in _get(obj, "status", "addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def _node(obj: Obj, now: float) -> list[Any]:
    states = [("Ready" if c.get("status") == "True" else "NotReady")
              for c in _get(obj, "status", "conditions") or [] if c.get("type") == "Ready"]
    status = states[-1:] or ["Unknown"]
    if _get(obj, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    roles = set()
    for key, value in (_meta(obj).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1]:
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = _get(obj, "status", "nodeInfo") or {}
    return [_meta(obj).get("name", ""), ",".join(status), ",".join(sorted(roles)) or "<none>",
            age(_meta(obj).get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            _node_address(obj, "InternalIP"), _node_address(obj, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _event(obj: Obj, now: float) -> list[Any]:
    first = age(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = age(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1
    if obj.get("series"):
        last = age(obj["series"].get("lastObservedTime"), now)
        count = obj["series"].get("count") or count
    involved = obj.get("involvedObject") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target += "/" + involved["name"]
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return [last, obj.get("type", ""), obj.get("reason", ""), target,
            involved.get("fieldPath", ""), f"{component}, {instance}" if instance else component,
            str(obj.get("message", "")).strip(), first, count, _meta(obj).get("name", "")]


def _namespace(obj: Obj, now: float) -> list[Any]:
    return [_meta(obj).get("name", ""), _get(obj, "status", "phase") or "",
            age(_meta(obj).get("creationTimestamp"), now)]


def _configmap(obj: Obj, now: float) -> list[Any]:
    return [_meta(obj).get("name", ""),
            len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
            age(_meta(obj).get("creationTimestamp"), now)]


def _terminated_reason(state: Obj, prefix: str = "") -> str:
    if state.get("reason"):
        return prefix + state["reason"]
    if state.get("signal"):
        return f"{prefix}Signal:{state['signal']}"
    return f"{prefix}ExitCode:{state.get('exitCode', 0)}"


def _condition_true(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in status.get("conditions") or [])


class _Restarts:
    """Restart count plus the moment of the latest restart (a ``finishedAt``)."""

    def __init__(self) -> None:
        self.count, self.last = 0, 0.0

    def add(self, container_status: Obj) -> None:
        self.count += int(container_status.get("restartCount") or 0)
        finished = parse_time(_get(container_status, "lastState", "terminated", "finishedAt"))
        if finished is not None and finished > self.last:
            self.last = finished

    def text(self, now: float) -> str:
        if self.count and self.last:
            return f"{self.count} ({human_duration(now - self.last)} ago)"
        return str(self.count)


def pod_status_reason(pod: Obj) -> tuple[str, int, int, _Restarts]:
    """The STATUS column of ``kubectl get pods`` and the counts behind READY and RESTARTS.

    Order of precedence, as upstream ``printPod``: the phase (or ``status.reason``); a
    failing or waiting init container (``Init:CrashLoopBackOff``, ``Init:0/2``); then the
    regular containers, last one first: a waiting reason (``ContainerCreating``,
    ``CrashLoopBackOff``, ``ImagePullBackOff``), a terminated reason (``Completed``,
    ``Error``, ``ExitCode:3``); finally ``Terminating`` once ``deletionTimestamp`` is set."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in status.get("conditions") or []):
        reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    sidecars = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total, ready = len(spec.get("containers") or []) + len(sidecars), 0
    restarts, sidecar_restarts = _Restarts(), _Restarts()
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts.add(cs)
        if cs.get("name") in sidecars:
            sidecar_restarts.add(cs)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    if not initializing or _condition_true(status, "Initialized"):
        restarts, has_running = sidecar_restarts, False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts.add(cs)
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"
    deleting = _meta(pod).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts


def _pod(obj: Obj, now: float) -> list[Any]:
    reason, ready, total, restarts = pod_status_reason(obj)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        true = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
        gates_text = f"{true}/{len(gates)}"
    return [_meta(obj).get("name", ""), f"{ready}/{total}", reason, restarts.text(now),
            age(_meta(obj).get("creationTimestamp"), now), ips[0] or "<none>",
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            gates_text]


_PRINTERS: dict[str, Callable[[Obj, float], list[Any]]] = {
    "Pod": _pod, "Deployment": _deployment, "ReplicaSet": _replicaset, "Service": _service,
    "Endpoints": _endpoints, "Node": _node, "Event": _event, "Namespace": _namespace,
    "ConfigMap": _configmap,
}
