"""``describe``: an object's key fields in prose-like columns, and what happened to it.

``kubectl describe pod x`` is a GET of the pod plus a list of its *Events*:

    GET /api/v1/namespaces/default/events?fieldSelector=involvedObject.name=x,
        involvedObject.namespace=default,involvedObject.uid=<uid>

Events are ordinary API objects that the scheduler (``Scheduled``), the kubelet (``Pulled``,
``Created``, ``Started``, ``BackOff``) and the controllers (``ScalingReplicaSet``,
``SuccessfulCreate``) write; ``kubectl get events`` lists them all. The layout follows
kubectl's describers: ``Key:<tab>value`` lines aligned by Go's tabwriter (:func:`tabwrite`),
two spaces of indent per level, ``<none>`` for empty values, times in RFC 1123 form.
"""

from __future__ import annotations

import calendar
import time
from email.utils import formatdate
from typing import Any

from minikube_py.api.resources import Resource, lookup
from minikube_py.apiserver.tables import human_duration
from minikube_py.cli.printers import FLUSH, tabwrite
from minikube_py.cli.rollout import owned_replicasets, revision_of, selector_text
from minikube_py.client import Client

Obj = dict[str, Any]


def _seconds(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return float(calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def rfc1123(ts: str | None) -> str:
    """``Mon, 02 Jan 2006 15:04:05 +0000`` (Go's RFC1123Z), as kubectl prints times."""
    seconds = _seconds(ts)
    return formatdate(seconds).replace("-0000", "+0000") if seconds is not None else "<unset>"


def multiline(out: list[str], title: str, values: dict[str, Any] | None, sep: str = "=",
              indent: str = "") -> None:
    """``Labels:  a=b`` then ``\\tc=d`` lines (kubectl's printLabelsMultiline); like kubectl,
    the last-applied-configuration annotation is not shown."""
    values = {k: str(v).strip() for k, v in (values or {}).items()
              if k != "kubectl.kubernetes.io/last-applied-configuration"}
    if not values:
        out.append(f"{indent}{title}:\t<none>")
        return
    for i, key in enumerate(sorted(values)):
        out.append(f"{indent}{title}:\t{key}{sep}{values[key]}" if i == 0
                   else f"{indent}\t{key}{sep}{values[key]}")


def events_section(events: list[Obj], now: float | None = None) -> list[str]:
    if not events:
        return ["Events:\t<none>"]
    now = time.time() if now is None else now
    out = [FLUSH, "Events:", "  Type\tReason\tAge\tFrom\tMessage",
           "  ----\t------\t----\t----\t-------"]
    for e in sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
        first = _seconds(e.get("firstTimestamp") or e.get("eventTime"))
        last = _seconds(e.get("lastTimestamp")) or first
        since = human_duration(now - first) if first is not None else "<unknown>"
        interval = since
        if (e.get("count") or 1) > 1 and last is not None:
            interval = f"{human_duration(now - last)} (x{e['count']} over {since})"
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent", "")
        out.append(f"  {e.get('type', '')}\t{e.get('reason', '')}\t{interval}\t{source}\t"
                   f"{str(e.get('message', '')).strip()}")
    return out


def _ports(ports: list[Obj], field: str) -> str:
    return ", ".join(f"{p.get(field, 0)}/{p.get('protocol', 'TCP')}" for p in ports) or \
        "<none>"


def _state(out: list[str], title: str, state: Obj, pad: str) -> None:
    if "running" in state:
        out += [f"{pad}{title}:\tRunning",
                f"{pad}  Started:\t{rfc1123(state['running'].get('startedAt'))}"]
    elif "terminated" in state:
        t = state["terminated"]
        out.append(f"{pad}{title}:\tTerminated")
        if t.get("reason"):
            out.append(f"{pad}  Reason:\t{t['reason']}")
        out.append(f"{pad}  Exit Code:\t{t.get('exitCode', 0)}")
        out += [f"{pad}  Started:\t{rfc1123(t.get('startedAt'))}",
                f"{pad}  Finished:\t{rfc1123(t.get('finishedAt'))}"]
    else:
        out.append(f"{pad}{title}:\tWaiting")
        reason = (state.get("waiting") or {}).get("reason")
        if reason:
            out.append(f"{pad}  Reason:\t{reason}")


def containers(out: list[str], section: str, specs: list[Obj], statuses: list[Obj] | None,
               space: str = "") -> None:
    """kubectl's describeContainers: one block per container, with its state if known."""
    out.append(f"{space}{section}:")
    by_name = {s.get("name"): s for s in statuses or []}
    pad = "    "  # kubectl: fields at level 2 always; the name one space deeper in templates
    for c in specs:
        out.append(f"  {' ' if space else ''}{c.get('name')}:")
        status = by_name.get(c.get("name"))
        if status is not None:
            out.append(f"{pad}Container ID:\t{status.get('containerID', '')}")
        out.append(f"{pad}Image:\t{c.get('image', '')}")
        if status is not None:
            out.append(f"{pad}Image ID:\t{status.get('imageID', '')}")
        ports = c.get("ports") or []
        word = "Ports" if len(ports) > 1 else "Port"
        out.append(f"{pad}{word}:\t{_ports(ports, 'containerPort')}")
        out.append(f"{pad}Host {word}:\t{_ports(ports, 'hostPort')}")
        for title, key in (("Command", "command"), ("Args", "args")):
            if c.get(key):
                out.append(f"{pad}{title}:")
                out += [f"{pad}  {arg}" for arg in c[key]]
        if status is not None:
            _state(out, "State", status.get("state") or {}, pad)
            if "terminated" in (status.get("lastState") or {}):
                _state(out, "Last State", status["lastState"], pad)
            out.append(f"{pad}Ready:\t{str(bool(status.get('ready'))).capitalize()}")
            out.append(f"{pad}Restart Count:\t{status.get('restartCount', 0)}")
        for title in ("limits", "requests"):
            values = (c.get("resources") or {}).get(title)
            if values:
                out.append(f"{pad}{title.capitalize()}:")
                out += [f"{pad}  {k}:\t{v}" for k, v in sorted(values.items())]
        env = c.get("env") or []
        out.append(f"{pad}Environment:" + ("" if env else "\t<none>"))
        out += [f"{pad}  {e.get('name')}:\t{e.get('value', '<set from valueFrom>')}"
                for e in env]
        mounts = c.get("volumeMounts") or []
        out.append(f"{pad}Mounts:" + ("" if mounts else "\t<none>"))
        out += [f"{pad}  {m.get('mountPath')} from {m.get('name')} "
                f"({'ro' if m.get('readOnly') else 'rw'})" for m in mounts]


def volumes(out: list[str], vols: list[Obj], space: str = "") -> None:
    if not vols:
        out.append(f"{space}Volumes:\t<none>")
        return
    out.append(f"{space}Volumes:")
    for v in vols:
        kind = next((k for k in v if k != "name"), "")
        out += [f"{space}  {v.get('name')}:", f"{space}    Type:\t{kind}"]


def pod_template(out: list[str], template: Obj) -> None:
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    out.append("Pod Template:")
    multiline(out, "Labels", meta.get("labels"), indent="  ")
    if spec.get("initContainers"):
        containers(out, "Init Containers", spec["initContainers"], None, "  ")
    containers(out, "Containers", spec.get("containers") or [], None, "  ")
    volumes(out, spec.get("volumes") or [], "  ")
    multiline(out, "Node-Selectors", spec.get("nodeSelector"), indent="  ")
    out.append("  Tolerations:\t" + (", ".join(t.get("key", "") for t in
                                                 spec.get("tolerations") or []) or "<none>"))


def _head(obj: Obj, created: bool = True) -> list[str]:
    meta = obj.get("metadata") or {}
    out = [f"Name:\t{meta.get('name', '')}"]
    if meta.get("namespace"):
        out.append(f"Namespace:\t{meta['namespace']}")
    if created:
        out.append(f"CreationTimestamp:\t{rfc1123(meta.get('creationTimestamp'))}")
    multiline(out, "Labels", meta.get("labels"))
    multiline(out, "Annotations", meta.get("annotations"), sep=": ")
    return out


def describe_pod(pod: Obj, client: Client) -> list[str]:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    out = [f"Name:\t{meta['name']}", f"Namespace:\t{meta.get('namespace', '')}"]
    if "priority" in spec:
        out.append(f"Priority:\t{spec['priority']}")
    out.append(f"Service Account:\t{spec.get('serviceAccountName', '')}")
    node = spec.get("nodeName")
    out.append(f"Node:\t{node}/{status.get('hostIP', '')}" if node else "Node:\t<none>")
    if status.get("startTime"):
        out.append(f"Start Time:\t{rfc1123(status['startTime'])}")
    multiline(out, "Labels", meta.get("labels"))
    multiline(out, "Annotations", meta.get("annotations"), sep=": ")
    if meta.get("deletionTimestamp"):
        out.append(f"Status:\tTerminating (lasts "
                   f"{human_duration(time.time() - (_seconds(meta['deletionTimestamp']) or 0))})")
        out.append(f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s")
    else:
        out.append(f"Status:\t{status.get('phase', '')}")
    for key in ("reason", "message"):
        if status.get(key):
            out.append(f"{key.capitalize()}:\t{status[key]}")
    out.append(f"IP:\t{status.get('podIP', '')}")
    ips = status.get("podIPs") or []
    out.append("IPs:" + ("" if ips else "\t<none>"))
    out += [f"  IP:\t{ip.get('ip')}" for ip in ips]
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if owner:
        out.append(f"Controlled By:\t{owner['kind']}/{owner['name']}")
    if spec.get("initContainers"):
        containers(out, "Init Containers", spec["initContainers"],
                   status.get("initContainerStatuses") or [])
    containers(out, "Containers", spec.get("containers") or [],
               status.get("containerStatuses") or [])
    if status.get("conditions"):
        out += ["Conditions:", "  Type\tStatus"]
        out += [f"  {c.get('type')} \t{c.get('status')} " for c in status["conditions"]]
    volumes(out, spec.get("volumes") or [])
    if status.get("qosClass"):
        out.append(f"QoS Class:\t{status['qosClass']}")
    multiline(out, "Node-Selectors", spec.get("nodeSelector"))
    tolerations = [f"{t.get('key', '')}:{t.get('effect', '')}".strip(":")
                   for t in spec.get("tolerations") or []] or ["<none>"]
    out += [("Tolerations:\t" if i == 0 else "\t") + t for i, t in enumerate(tolerations)]
    return out


def describe_deployment(d: Obj, client: Client) -> list[str]:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    out = _head(d)
    out.append(f"Selector:\t{selector_text(spec.get('selector') or {})}")
    out.append(f"Replicas:\t{spec.get('replicas', 1)} desired | "
               f"{status.get('updatedReplicas', 0)} updated | {status.get('replicas', 0)} "
               f"total | {status.get('availableReplicas', 0)} available | "
               f"{status.get('unavailableReplicas', 0)} unavailable")
    strategy = spec.get("strategy") or {}
    out.append(f"StrategyType:\t{strategy.get('type', '')}")
    out.append(f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}")
    rolling = strategy.get("rollingUpdate")
    if rolling:
        out.append(f"RollingUpdateStrategy:\t{rolling.get('maxUnavailable')} max unavailable, "
                   f"{rolling.get('maxSurge')} max surge")
    pod_template(out, spec.get("template") or {})
    if status.get("conditions"):
        out += ["Conditions:", "  Type\tStatus\tReason", "  ----\t------\t------"]
        out += [f"  {c.get('type')} \t{c.get('status')}\t{c.get('reason', '')}"
                for c in status["conditions"]]
    sets = sorted(owned_replicasets(client, d), key=lambda rs: revision_of(rs) or 0)
    newest = sets[-1] if sets else None
    old = [rs for rs in sets[:-1] if (rs.get("spec") or {}).get("replicas")]

    def brief(rs: Obj) -> str:
        return (f"{rs['metadata']['name']} ({(rs.get('status') or {}).get('replicas', 0)}/"
                f"{(rs.get('spec') or {}).get('replicas', 0)} replicas created)")
    out.append("OldReplicaSets:\t" + (", ".join(brief(rs) for rs in old) or "<none>"))
    out.append("NewReplicaSet:\t" + (brief(newest) if newest else "<none>"))
    return out


def describe_replicaset(rs: Obj, client: Client) -> list[str]:
    meta, spec, status = rs["metadata"], rs.get("spec") or {}, rs.get("status") or {}
    out = _head(rs, created=False)
    out.insert(2, f"Selector:\t{selector_text(spec.get('selector') or {})}")
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if owner:
        out.append(f"Controlled By:\t{owner['kind']}/{owner['name']}")
    out.append(f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 0)} "
               f"desired")
    out.append(f"Pods Status:\t{status.get('readyReplicas', 0)} Running / 0 Waiting / "
               f"0 Succeeded / 0 Failed")
    pod_template(out, spec.get("template") or {})
    return out


def describe_service(svc: Obj, client: Client) -> list[str]:
    spec = svc.get("spec") or {}
    out = _head(svc, created=False)
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    out.append(f"Selector:\t{selector or '<none>'}")
    out.append(f"Type:\t{spec.get('type', 'ClusterIP')}")
    out.append(f"IP Family Policy:\t{spec.get('ipFamilyPolicy', 'SingleStack')}")
    out.append(f"IP Families:\t{','.join(spec.get('ipFamilies') or ['IPv4'])}")
    out.append(f"IP:\t{spec.get('clusterIP', '')}")
    out.append(f"IPs:\t{','.join(spec.get('clusterIPs') or [spec.get('clusterIP', '')])}")
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        out.append(f"Port:\t{name}\t{port.get('port')}/{port.get('protocol', 'TCP')}")
        out.append(f"TargetPort:\t{port.get('targetPort', port.get('port'))}/"
                   f"{port.get('protocol', 'TCP')}")
        if port.get("nodePort"):
            out.append(f"NodePort:\t{name}\t{port['nodePort']}/{port.get('protocol', 'TCP')}")
        out.append(f"Endpoints:\t{_endpoints(client, svc)}")
    out.append(f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    return out


def _endpoints(client: Client, svc: Obj) -> str:
    endpoints = lookup("endpoints")
    meta = svc["metadata"]
    found = client.find(endpoints, meta["name"], meta.get("namespace")) if endpoints else None
    addrs = [f"{a.get('ip')}:{p.get('port')}" for s in (found or {}).get("subsets") or []
             for a in s.get("addresses") or [] for p in s.get("ports") or []]
    return ",".join(addrs) or "<none>"


def describe_node(node: Obj, client: Client) -> list[str]:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    out = _head(node)
    out.append("Taints:\t" + (", ".join(f"{t.get('key')}:{t.get('effect')}" for t in
                                        spec.get("taints") or []) or "<none>"))
    out.append(f"Unschedulable:\t{str(bool(spec.get('unschedulable'))).lower()}")
    if status.get("conditions"):
        out += ["Conditions:", "  Type\tStatus\tLastHeartbeatTime\tReason\tMessage",
                "  ----\t------\t-----------------\t------\t-------"]
        out += [f"  {c.get('type')}\t{c.get('status')}\t{rfc1123(c.get('lastHeartbeatTime'))}"
                f"\t{c.get('reason', '')}\t{c.get('message', '')}" for c in status["conditions"]]
    out.append("Addresses:")
    out += [f"  {a.get('type')}:\t{a.get('address')}" for a in status.get("addresses") or []]
    for title in ("capacity", "allocatable"):
        out.append(f"{title.capitalize()}:")
        out += [f"  {k}:\t{v}" for k, v in sorted((status.get(title) or {}).items())]
    out.append(f"PodCIDR:\t{spec.get('podCIDR', '')}")
    return out


def describe_namespace(ns: Obj, client: Client) -> list[str]:
    out = _head(ns, created=False)
    out.append(f"Status:\t{(ns.get('status') or {}).get('phase', 'Active')}")
    out += [FLUSH, "", "No resource quota.", "", "No LimitRange resource."]
    return out


DESCRIBERS = {"Pod": describe_pod, "Deployment": describe_deployment,
              "ReplicaSet": describe_replicaset, "Service": describe_service,
              "Node": describe_node, "Namespace": describe_namespace}


def describe(client: Client, resource: Resource, obj: Obj) -> str:
    """The whole text for one object, events included."""
    describer = DESCRIBERS.get(resource.kind)
    lines = describer(obj, client) if describer else _head(obj)
    meta = obj["metadata"]
    selector = [f"involvedObject.name={meta['name']}"]
    if meta.get("namespace"):
        selector.append(f"involvedObject.namespace={meta['namespace']}")
    selector.append(f"involvedObject.uid={meta.get('uid', '')}")
    events_resource = lookup("events")
    assert events_resource is not None
    events = client.list(events_resource, meta.get("namespace"),
                         field_selector=",".join(selector)).get("items") or []
    if resource.kind != "Namespace":  # kubectl shows no events for a namespace
        lines += events_section(events)
    return "\n".join(tabwrite(lines))
