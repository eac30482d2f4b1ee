"""The endpoints controller: which pods are behind each Service, right now.

A Service names its pods only by a label ``selector``. Something must turn that into
addresses that kube-proxy can send packets to, and keep them current as pods come, become
ready, and go. That is this controller (upstream ``pkg/controller/endpoint`` and
``pkg/controller/endpointslice``). For each Service with a selector it writes:

- an **Endpoints** object of the same name (``kubectl get endpoints web``): ``subsets`` of
  ``addresses`` (ready pods: ``ip``, ``nodeName``, ``targetRef`` to the pod) and
  ``notReadyAddresses`` (running but not Ready), with the ports to use;
- an **EndpointSlice** (``discovery.k8s.io/v1``, ``kubectl get endpointslices -l
  kubernetes.io/service-name=web``): one entry per pod with ``conditions`` ``ready``,
  ``serving`` and ``terminating``, owned by the Service (so the garbage collector removes it).

Rules, as upstream: a pod needs an IP; a pod being deleted (``deletionTimestamp``) leaves the
Endpoints at once — before its replacement is even ready — but stays in the slice marked
``terminating``; ``targetPort`` is a number, or the *name* of a ``containerPort`` looked up in
each pod (pods lacking that name are left out for that port, so two pods may serve one
Service on different port numbers: they land in different subsets / slices). A Service without
a selector is left alone: its Endpoints are written by hand (that is how an outside database,
or our cluster DNS, gets a Service).

Each reconcile computes a printable :class:`EndpointsPlan` (pure, unit-tested) and writes only
what changed. Watch it with ``kubectl get endpoints -w`` while scaling a Deployment.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.names import selector_matches
from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import Controller, key_of, resource, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
PortKey = tuple[tuple[str, int, str], ...]  # ((name, port, protocol), ...)


def pod_is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port for a Service port: ``targetPort`` as a number, or the
    ``containerPort`` of that name and protocol in the pod's containers (None: not there)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def selected_pods(service: Obj, pods: list[Obj]) -> list[Obj]:
    """Pods of the Service's namespace whose labels match its selector and that have an IP."""
    namespace = service["metadata"].get("namespace")
    selector = (service.get("spec") or {}).get("selector") or {}
    return sorted(
        (p for p in pods if p["metadata"].get("namespace") == namespace
         and (p.get("status") or {}).get("podIP")
         and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
         and selector_matches({"matchLabels": selector}, p["metadata"].get("labels") or {})),
        key=lambda p: (p["status"]["podIP"], p["metadata"]["name"]))


def pod_ports(service: Obj, pod: Obj) -> PortKey:
    """The (name, port, protocol) of each Service port this pod serves."""
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, sp)
        if number is not None:
            out.append((str(sp.get("name") or ""), number, str(sp.get("protocol", "TCP"))))
    return tuple(out)


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "name": meta["name"], "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", "")}


def _hostname(service: Obj, pod: Obj) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        return str(spec["hostname"])
    return None


def endpoint_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """``Endpoints.subsets``: pods grouped by the ports they serve; terminating pods out."""
    has_ports = bool((service.get("spec") or {}).get("ports"))
    publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[PortKey, Obj] = {}
    for pod in selected_pods(service, pods):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        ports = pod_ports(service, pod)
        if has_ports and not ports:
            continue
        address: Obj = {"ip": pod["status"]["podIP"], "targetRef": _target_ref(pod)}
        if pod["spec"].get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        if (hostname := _hostname(service, pod)) is not None:
            address["hostname"] = hostname
        subset = groups.setdefault(ports, {})
        kind = "addresses" if publish_all or pod_is_ready(pod) else "notReadyAddresses"
        subset.setdefault(kind, []).append(address)
    subsets = []
    for ports, subset in sorted(groups.items()):
        if ports:
            subset["ports"] = [{"name": n, "port": p, "protocol": proto} if n else
                               {"port": p, "protocol": proto} for n, p, proto in ports]
        subsets.append(subset)
    return subsets


def slice_groups(service: Obj, pods: list[Obj]) -> dict[PortKey, list[Obj]]:
    """EndpointSlice ``endpoints`` by port set; terminating pods stay, marked as such."""
    has_ports = bool((service.get("spec") or {}).get("ports"))
    publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[PortKey, list[Obj]] = {}
    for pod in selected_pods(service, pods):
        ports = pod_ports(service, pod)
        if has_ports and not ports:
            continue
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        serving = publish_all or pod_is_ready(pod)
        endpoint: Obj = {"addresses": [pod["status"]["podIP"]],
                         "conditions": {"ready": serving and not terminating,
                                        "serving": serving, "terminating": terminating},
                         "targetRef": _target_ref(pod)}
        if pod["spec"].get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        if (hostname := _hostname(service, pod)) is not None:
            endpoint["hostname"] = hostname
        groups.setdefault(ports, []).append(endpoint)
    return groups or {(): []}  # a Service with no endpoints still gets one (empty) slice


def endpoints_labels(service: Obj) -> dict[str, str]:
    """The Service's labels, plus upstream's mark that this controller owns the Endpoints."""
    return dict(service["metadata"].get("labels") or {}, **{SKIP_MIRROR_LABEL: "true"})


def slice_name(service: Obj, ports: PortKey) -> str:
    """``<svc>-<5 hex>`` from the port set: one stable name per group, so a create that
    raced with an older cache answers 409 instead of making a twin (upstream uses
    ``generateName``)."""
    digest = hashlib.sha256(repr(ports).encode()).hexdigest()[:5]
    return f"{service['metadata']['name']}-{digest}"


def slice_labels(service: Obj) -> dict[str, str]:
    labels = dict(service["metadata"].get("labels") or {})
    labels.update({SERVICE_NAME_LABEL: service["metadata"]["name"], MANAGED_BY_LABEL: MANAGED_BY})
    return labels


def new_slice(service: Obj, ports: PortKey, endpoints: list[Obj]) -> Obj:
    meta = service["metadata"]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name(service, ports), "namespace": meta.get("namespace"),
                         "labels": slice_labels(service),
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                              "name": meta["name"], "uid": meta.get("uid", ""),
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]}


def _slice_ports(obj: Obj) -> PortKey:
    return tuple((str(p.get("name") or ""), int(p.get("port") or 0),
                  str(p.get("protocol", "TCP"))) for p in obj.get("ports") or [])


@dataclass
class EndpointsPlan:
    """What one reconcile writes: the Endpoints (None = leave), slices to create, update
    (full objects) and delete (names)."""

    key: str
    endpoints: Obj | None = None
    create_endpoints: bool = False
    slices_create: list[Obj] = field(default_factory=list)
    slices_update: list[Obj] = field(default_factory=list)
    slices_delete: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.endpoints is not None or self.slices_create or self.slices_update
                    or self.slices_delete)

    def __str__(self) -> str:
        ready = sum(len(s.get("addresses") or []) for s in (self.endpoints or {}).get(
            "subsets") or [])
        return (f"service={self.key} endpoints="
                f"{'create' if self.create_endpoints else 'update' if self.endpoints else '-'}"
                f" ready={ready} slices(create={len(self.slices_create)} "
                f"update={len(self.slices_update)} delete={self.slices_delete})")


def plan_endpoints(service: Obj, pods: list[Obj], current: Obj | None,
                   slices: list[Obj]) -> EndpointsPlan:
    """Compare what the Service's pods say with the stored Endpoints and slices."""
    plan = EndpointsPlan(key_of(service))
    subsets = endpoint_subsets(service, pods)
    labels = endpoints_labels(service)
    if current is None:
        meta = service["metadata"]
        plan.create_endpoints = True
        plan.endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                          "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                                       "labels": labels}, "subsets": subsets}
    elif (current.get("subsets") or []) != subsets or \
            (current["metadata"].get("labels") or {}) != labels:
        updated = dict(current)
        updated["metadata"] = dict(current["metadata"], labels=labels)
        updated["subsets"] = subsets
        plan.endpoints = updated
    existing = sorted(slices, key=lambda s: s["metadata"]["name"])
    want_labels = slice_labels(service)
    for ports, endpoints in slice_groups(service, pods).items():
        have = next((s for s in existing if _slice_ports(s) == ports), None)
        if have is None:
            plan.slices_create.append(new_slice(service, ports, endpoints))
            continue
        existing.remove(have)
        if (have.get("endpoints") or []) != endpoints or \
                (have["metadata"].get("labels") or {}) != want_labels:
            plan.slices_update.append(dict(have, endpoints=endpoints, metadata=dict(
                have["metadata"], labels=want_labels)))
    plan.slices_delete = [s["metadata"]["name"] for s in existing]
    return plan


class EndpointsController(Controller):
    """Keeps Endpoints and EndpointSlices of every selector Service current."""

    name = "endpoints-controller"

    def __init__(self, client: Client, workers: int = 2) -> None:
        super().__init__(client, workers)
        self.services = self.informer("services", self._on_service)
        self.pods = self.informer("pods", self._on_pod)
        self.endpoints = self.informer("endpoints", self._on_endpoints)
        self.slices = self.informer("endpointslices", self._on_slice,
                                    label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}")

    def _on_service(self, kind: str, svc: Obj, old: Obj | None) -> None:
        self.queue.add(key_of(svc))

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        namespace = pod["metadata"].get("namespace")
        label_sets = [pod["metadata"].get("labels") or {}]
        if old is not None:
            label_sets.append(old["metadata"].get("labels") or {})
        for svc in self.services.list():
            selector = (svc.get("spec") or {}).get("selector")
            if svc["metadata"].get("namespace") == namespace and selector and any(
                    selector_matches({"matchLabels": selector}, labels) for labels in label_sets):
                self.queue.add(key_of(svc))

    def _on_endpoints(self, kind: str, ep: Obj, old: Obj | None) -> None:
        self.queue.add(key_of(ep))  # someone else changed them: look again

    def _on_slice(self, kind: str, sl: Obj, old: Obj | None) -> None:
        name = (sl["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name:
            self.queue.add(f"{sl['metadata'].get('namespace', '')}/{name}")

    def _slices_of(self, namespace: str, name: str) -> list[Obj]:
        return [s for s in self.slices.list() if s["metadata"].get("namespace") == namespace
                and (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name]

    def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        svc = self.services.get(name, namespace)
        if svc is None:
            self._forget(namespace, name)
            return
        if not (svc.get("spec") or {}).get("selector"):
            return  # manual Endpoints: not ours
        pods = [p for p in self.pods.list() if p["metadata"].get("namespace") == namespace]
        plan = plan_endpoints(svc, pods, self.endpoints.get(name, namespace),
                              self._slices_of(namespace, name))
        if not plan.is_empty():
            log.info("Planned endpoints sync %s", plan)
            try:
                self.apply(namespace, plan)
            except ApiError as e:
                if e.code != 409:  # AlreadyExists: our cache was behind; look again soon
                    raise
                self.queue.add_after(key, 0.1)

    def apply(self, namespace: str, plan: EndpointsPlan) -> None:
        if plan.endpoints is not None:
            if plan.create_endpoints:
                self.client.create(resource("endpoints"), plan.endpoints, namespace)
            else:
                self.client.update(resource("endpoints"), plan.endpoints, namespace)
        slices = resource("endpointslices")
        for obj in plan.slices_create:
            self.client.create(slices, obj, namespace)
        for obj in plan.slices_update:
            self.client.update(slices, obj, namespace)
        for name in plan.slices_delete:
            self._delete(slices, name, namespace)

    def _forget(self, namespace: str, name: str) -> None:
        """The Service is gone: so are its Endpoints (if we made them) and slices."""
        ep = self.endpoints.get(name, namespace)
        if ep is not None and (ep["metadata"].get("labels") or {}).get(SKIP_MIRROR_LABEL):
            self._delete(resource("endpoints"), name, namespace)
        for sl in self._slices_of(namespace, name):
            self._delete(resource("endpointslices"), sl["metadata"]["name"], namespace)

    def _delete(self, res: Any, name: str, namespace: str) -> None:
        try:
            self.client.delete(res, name, namespace)
        except ApiError as e:
            if e.code != 404:
                raise
