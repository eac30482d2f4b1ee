"""The printers: one function per kind computing the cells of a ``kubectl get`` row.

Each printer turns one object into the cells of its row, in the order of the kind's
columns (:mod:`.tables`): for a Deployment ``NAME READY UP-TO-DATE AVAILABLE AGE`` plus
the wide columns ``CONTAINERS IMAGES SELECTOR``; for a Service its type, cluster IP,
external IPs and ``80:30080/TCP`` ports; for a Node ``Ready`` or ``NotReady,
SchedulingDisabled``. The Pod's ``STATUS`` is the most involved: :func:`pod_status_reason`
walks init containers, then containers last to first, as upstream ``printPod`` does
(``Init:0/1``, ``CrashLoopBackOff``, ``Completed``, ``Terminating``).

The logic follows upstream ``pkg/printers/internalversion/printers.go``; see the cells the
server sends with ``kubectl get pods -o wide -v=8``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from minikube_py.api.storage import DEFAULT_CLASS_ANNOTATION, SHORT_MODES
from minikube_py.apiserver.ages import age, human_duration, parse_time
from minikube_py.apiserver.selectors import SelectorError, label_selector_from_match

Obj = dict[str, Any]


def row_cells(kind: str, obj: Obj, now: float | None = None) -> list[Any]:
    """The cells of one row, wide columns included (the server always sends them all)."""
    now = time.time() if now is None else now
    printer = _PRINTERS.get(kind)
    if printer is None:
        meta = obj.get("metadata") or {}
        return [meta.get("name", ""), meta.get("creationTimestamp") or "0001-01-01T00:00:00Z"]
    return printer(obj, now)


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


def _hpa_targets(obj: Obj) -> str:
    """``cpu: 45%/50%`` per metric, ``<unknown>`` until the controller has measured."""
    current = {m.get("resource", {}).get("name"): m.get("resource", {}).get("current") or {}
               for m in (obj.get("status") or {}).get("currentMetrics") or []}
    parts = []
    for metric in (obj.get("spec") or {}).get("metrics") or []:
        resource = metric.get("resource") or {}
        name, target = resource.get("name", ""), resource.get("target") or {}
        seen = current.get(name) or {}
        if target.get("type") == "Utilization":
            value = seen.get("averageUtilization")
            now_text = f"{value}%" if value is not None else "<unknown>"
            parts.append(f"{name}: {now_text}/{target.get('averageUtilization')}%")
        else:
            parts.append(f"{name}: {seen.get('averageValue', '<unknown>')}/"
                         f"{target.get('averageValue')}")
    return ", ".join(parts) or "<none>"


def _hpa(obj: Obj, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    return [_meta(obj).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}",
            _hpa_targets(obj), spec.get("minReplicas", 1), spec.get("maxReplicas", 0),
            status.get("currentReplicas", 0), age(_meta(obj).get("creationTimestamp"), now)]


def _serviceaccount(obj: Obj, now: float) -> list[Any]:
    return [_meta(obj).get("name", ""), len(obj.get("secrets") or []),
            age(_meta(obj).get("creationTimestamp"), now)]


def _configmap(obj: Obj, now: float) -> list[Any]:
    return [_meta(obj).get("name", ""),
            len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
            age(_meta(obj).get("creationTimestamp"), now)]


def _secret(obj: Obj, now: float) -> list[Any]:
    return [_meta(obj).get("name", ""), obj.get("type", ""), len(obj.get("data") or {}),
            age(_meta(obj).get("creationTimestamp"), now)]


def _modes(modes: Any) -> str:
    return ",".join(SHORT_MODES.get(m, m) for m in modes or [])


def _persistent_volume(obj: Obj, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    return [_meta(obj).get("name", ""), (spec.get("capacity") or {}).get("storage", ""),
            _modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""),
            "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", ""),
            f"{claim.get('namespace')}/{claim.get('name')}" if claim.get("name") else "",
            spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>",
            status.get("reason", ""), age(_meta(obj).get("creationTimestamp"), now),
            spec.get("volumeMode", "")]


def _persistent_volume_claim(obj: Obj, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    return [_meta(obj).get("name", ""), phase, spec.get("volumeName", ""),
            (status.get("capacity") or {}).get("storage", ""), _modes(status.get("accessModes")),
            spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or "<unset>",
            age(_meta(obj).get("creationTimestamp"), now), spec.get("volumeMode", "")]


def _storage_class(obj: Obj, now: float) -> list[Any]:
    name = _meta(obj).get("name", "")
    if (_meta(obj).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
        name += " (default)"
    return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy", ""),
            obj.get("volumeBindingMode", ""), bool(obj.get("allowVolumeExpansion")),
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
    "ConfigMap": _configmap, "Secret": _secret, "ServiceAccount": _serviceaccount,
    "PersistentVolume": _persistent_volume, "PersistentVolumeClaim": _persistent_volume_claim,
    "StorageClass": _storage_class,
    "HorizontalPodAutoscaler": _hpa,
}
