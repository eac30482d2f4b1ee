"""The resource metrics API (``metrics.k8s.io/v1beta1``): what ``kubectl top`` reads.

On a real cluster this API is not the API server's own: metrics-server registers it through
the aggregation layer, scrapes every kubelet's ``/stats/summary`` every 15 s and keeps the
last samples in memory — metrics are never stored in etcd. Here the API server plays
metrics-server itself, on demand:

1. find the nodes concerned (all of them, or those running the pods asked for);
2. fetch each one's ``/stats/summary`` from its kubelet (the address and port the Node
   advertises, as for ``pods/log`` and ``pods/exec``);
3. remember each container's (and node's) cumulative CPU time with its sample time, and turn
   the newest sample and one taken up to ~15 s earlier into a *rate*: CPU nanoseconds used
   per second = **nanocores** (``"250000000n"`` = 250m = a quarter of a core). The first
   request has no earlier sample, so it samples twice, one second apart;
4. answer ``PodMetrics`` / ``NodeMetrics`` objects with ``usage.cpu`` in nanocores and
   ``usage.memory`` as the working set in KiB (``"10240Ki"``).

Paths (GET only; verbs get and list)::

    /apis/metrics.k8s.io/v1beta1/nodes[/<node>]                   kubectl top nodes
    /apis/metrics.k8s.io/v1beta1/pods                             kubectl top pods -A
    /apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods[/<pod>]     kubectl top pods [-l ...]

Try ``kubectl get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
from aiohttp import web

from minikube_py.api.resources import Resource, must
from minikube_py.apiserver import handlers, registry, storage, subresources
from minikube_py.apiserver import status as st
from minikube_py.apiserver.handlers import HTTP, NODE_PROXY
from minikube_py.apiserver.storage import STORE

log = logging.getLogger(__name__)

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
PREFIX = f"/apis/{GROUP}/{VERSION}"
POD_METRICS = Resource(GROUP, VERSION, "PodMetrics", "pods", verbs=("get", "list"))
NODE_METRICS = Resource(GROUP, VERSION, "NodeMetrics", "nodes", namespaced=False,
                        verbs=("get", "list"))
#: Listed in discovery (``kubectl top`` checks for the group first); never stored.
RESOURCES = (POD_METRICS, NODE_METRICS)
PODS, NODES = must("pods"), must("nodes")
WINDOW_S = 15.0  # metrics-server's default resolution
MIN_WINDOW_S = 0.5  # two samples closer than this give no trustworthy rate
KEEP_S = 60.0
PRIME_WAIT_S = 1.0
SCRAPE_TIMEOUT_S = 5.0


# -- rates from cumulative counters -------------------------------------------------------
@dataclass
class CpuRates:
    """Recent (time, cumulative CPU ns) samples per key; rates over about ``window`` s."""

    window: float = WINDOW_S
    keep: float = KEEP_S
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def add(self, key: str, t: float, used_ns: int) -> None:
        seen = self.samples.setdefault(key, [])
        if seen and t <= seen[-1][0]:
            return  # the same sample again
        if seen and used_ns < seen[-1][1]:
            seen.clear()  # the counter restarted: a new cgroup under the same key
        seen.append((t, used_ns))
        while len(seen) > 2 and seen[1][0] < t - self.keep:
            seen.pop(0)

    def rate(self, key: str) -> tuple[int, float] | None:
        """(nanocores, window in s) between the newest sample and the oldest one at most
        ``window`` s before it (else the closest older one, up to ``keep`` s); None without
        two such samples."""
        seen = self.samples.get(key) or []
        if len(seen) < 2:
            return None
        t, used = seen[-1]
        older = [s for s in seen[:-1] if MIN_WINDOW_S <= t - s[0] <= self.keep]
        if not older:
            return None
        within = [s for s in older if t - s[0] <= self.window]
        base_t, base_used = within[0] if within else older[-1]
        return int((used - base_used) / (t - base_t)), t - base_t

    def forget_before(self, t: float) -> None:
        for key in [k for k, v in self.samples.items() if v[-1][0] < t - self.keep]:
            del self.samples[key]


_RATES: weakref.WeakKeyDictionary[web.Application, CpuRates] = weakref.WeakKeyDictionary()


def rates_of(app: web.Application) -> CpuRates:
    return _RATES.setdefault(app, CpuRates())


# -- quantities and objects ---------------------------------------------------------------
def cpu_quantity(nanocores: int) -> str:
    return f"{max(0, nanocores)}n"


def memory_quantity(working_set_bytes: int) -> str:
    return f"{max(0, working_set_bytes) // 1024}Ki"


def go_duration(seconds: float) -> str:
    """``15.002s``: the form of a Go ``time.Duration`` that kubectl parses."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def parse_time(text: str | None) -> float:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=timezone.utc).timestamp()
    except ValueError:
        return time.time()


def container_key(pod: dict[str, Any], container: dict[str, Any]) -> str:
    ref = pod.get("podRef") or {}
    return f"ctr/{ref.get('uid')}/{container.get('name')}/{container.get('startTime')}"


def record(rates: CpuRates, summary: dict[str, Any]) -> None:
    """Feed one ``/stats/summary`` document's CPU counters into ``rates``."""
    node = summary.get("node") or {}
    cpu = node.get("cpu") or {}
    if "usageCoreNanoSeconds" in cpu:
        rates.add(f"node/{node.get('nodeName')}", parse_time(cpu.get("time")),
                  int(cpu["usageCoreNanoSeconds"]))
    for pod in summary.get("pods") or []:
        for c in pod.get("containers") or []:
            cpu = c.get("cpu") or {}
            if "usageCoreNanoSeconds" in cpu:
                rates.add(container_key(pod, c), parse_time(cpu.get("time")),
                          int(cpu["usageCoreNanoSeconds"]))


def node_metrics(rates: CpuRates, summary: dict[str, Any], node: dict[str, Any]
                 ) -> dict[str, Any] | None:
    stats = summary.get("node") or {}
    rate = rates.rate(f"node/{stats.get('nodeName')}")
    if rate is None:
        return None
    meta = registry.meta_of(node)
    return {"kind": "NodeMetrics", "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"name": meta.get("name"), "labels": meta.get("labels") or {},
                         "creationTimestamp": registry.now_rfc3339()},
            "timestamp": (stats.get("cpu") or {}).get("time"), "window": go_duration(rate[1]),
            "usage": {"cpu": cpu_quantity(rate[0]), "memory": memory_quantity(
                int((stats.get("memory") or {}).get("workingSetBytes", 0)))}}


def pod_metrics(rates: CpuRates, entry: dict[str, Any], pod: dict[str, Any]
                ) -> dict[str, Any] | None:
    """A ``PodMetrics`` from a summary's pod entry; None until every container has a rate."""
    containers, windows = [], []
    for c in entry.get("containers") or []:
        rate = rates.rate(container_key(entry, c))
        if rate is None:
            return None
        windows.append(rate[1])
        containers.append({"name": c.get("name"), "usage": {
            "cpu": cpu_quantity(rate[0]),
            "memory": memory_quantity(int((c.get("memory") or {}).get("workingSetBytes", 0)))}})
    if not containers:
        return None
    meta = registry.meta_of(pod)
    stamp = ((entry.get("containers") or [{}])[0].get("cpu") or {}).get("time")
    return {"kind": "PodMetrics", "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "labels": meta.get("labels") or {},
                         "creationTimestamp": registry.now_rfc3339()},
            "timestamp": stamp, "window": go_duration(max(windows)),
            "containers": containers}


# -- serving ------------------------------------------------------------------------------
def parse_path(path: str) -> tuple[Resource, str | None, str | None] | None:
    """``/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods/x`` -> (POD_METRICS, "ns", "x")."""
    rest = [p for p in path[len(PREFIX):].split("/") if p]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "pods":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 2 or rest[0] not in ("pods", "nodes"):
        return None
    resource = POD_METRICS if rest[0] == "pods" else NODE_METRICS
    return resource, namespace, rest[1] if len(rest) == 2 else None


async def scrape(request: web.Request, nodes: list[dict[str, Any]]
                 ) -> dict[str, dict[str, Any]]:
    """{node name: its kubelet's summary}; nodes whose kubelet does not answer are left out."""
    resolve: Callable[[dict[str, Any]], str | None] = (request.app[NODE_PROXY]
                                                      or subresources.kubelet_url)
    session: aiohttp.ClientSession = request.app[HTTP]

    async def one(node: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        name = str(registry.meta_of(node).get("name"))
        base = resolve(node)
        if not base:
            return name, None
        try:
            async with session.get(f"{base}/stats/summary", timeout=aiohttp.ClientTimeout(
                    total=SCRAPE_TIMEOUT_S)) as response:
                response.raise_for_status()
                return name, await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            log.warning("Failed to scrape kubelet node=%s url=%s err=%s", name, base, e)
            return name, None

    found = await asyncio.gather(*(one(n) for n in nodes))
    return {name: summary for name, summary in found if summary is not None}


async def sampled(request: web.Request, nodes: list[dict[str, Any]],
                  ready: Callable[[CpuRates, dict[str, dict[str, Any]]], bool]
                  ) -> tuple[CpuRates, dict[str, dict[str, Any]]]:
    """Scrape, record; if ``ready`` says rates are missing (first look), scrape once more."""
    rates = rates_of(request.app)
    summaries = await scrape(request, nodes)
    for summary in summaries.values():
        record(rates, summary)
    if summaries and not ready(rates, summaries):
        await asyncio.sleep(PRIME_WAIT_S)
        summaries = await scrape(request, nodes)
        for summary in summaries.values():
            record(rates, summary)
    rates.forget_before(time.time())
    return rates, summaries


async def stored(request: web.Request, resource: Resource, namespace: str | None,
                 name: str | None) -> list[dict[str, Any]]:
    """Pods or Nodes from the store (one by name, or all in the namespace)."""
    if name:
        kv = await storage.call(request, request.app[STORE].get,
                                 resource.storage_key(namespace, name))
        return [kv.value] if kv is not None else []
    kvs, _ = await storage.call(request, request.app[STORE].list,
                                 resource.storage_key(namespace))
    return [kv.value for kv in kvs]


def not_found(resource: Resource, namespace: str | None, name: str) -> st.StatusError:
    shown = f"{namespace}/{name}" if namespace else name
    return st.StatusError(404, "NotFound", f'{resource.kind.lower()}.{GROUP} "{shown}" not '
                          "found", {"name": name, "group": GROUP, "kind": resource.plural})


async def serve(request: web.Request, path: str) -> web.StreamResponse:
    """Answer one metrics.k8s.io request (404 for unknown paths, 405 for writes)."""
    parsed = parse_path(path)
    if parsed is None:
        raise st.StatusError(404, "NotFound", "the server could not find the requested "
                             "resource")
    if request.method != "GET":
        raise st.method_not_allowed(request.method)
    resource, namespace, name = parsed
    matches = handlers.selector_filter(request, PODS if resource is POD_METRICS else NODES)
    if resource is NODE_METRICS:
        items = await node_items(request, [n for n in await stored(request, NODES, None, name)
                                           if matches(n)])
    else:
        items = await pod_items(request, [p for p in await stored(request, PODS, namespace,
                                                                  name) if matches(p)])
    if name:
        if not items:
            raise not_found(resource, namespace, name)
        return handlers.respond(items[0])
    return handlers.respond({"kind": f"{resource.kind}List", "apiVersion": f"{GROUP}/{VERSION}",
                             "metadata": {}, "items": items})


async def node_items(request: web.Request, nodes: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    def ready(rates: CpuRates, summaries: dict[str, dict[str, Any]]) -> bool:
        return all(rates.rate(f"node/{(s.get('node') or {}).get('nodeName')}") is not None
                   for s in summaries.values())

    rates, summaries = await sampled(request, nodes, ready)
    items = []
    for node in nodes:
        summary = summaries.get(str(registry.meta_of(node).get("name")))
        found = node_metrics(rates, summary, node) if summary else None
        if found is not None:
            items.append(found)
    return items


async def pod_items(request: web.Request, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted = {str(registry.meta_of(p).get("uid")): p for p in pods
              if (p.get("spec") or {}).get("nodeName")}
    node_names = {p["spec"]["nodeName"] for p in wanted.values()}
    nodes = [n for n in await stored(request, NODES, None, None)
             if registry.meta_of(n).get("name") in node_names]

    def entries(summaries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for s in summaries.values() for e in s.get("pods") or []
                if (e.get("podRef") or {}).get("uid") in wanted]

    def ready(rates: CpuRates, summaries: dict[str, dict[str, Any]]) -> bool:
        return all(rates.rate(container_key(e, c)) is not None
                   for e in entries(summaries) for c in e.get("containers") or [])

    if not nodes:
        return []
    rates, summaries = await sampled(request, nodes, ready)
    items = []
    for entry in entries(summaries):
        found = pod_metrics(rates, entry, wanted[entry["podRef"]["uid"]])
        if found is not None:
            items.append(found)
    return sorted(items, key=lambda m: (m["metadata"]["namespace"], m["metadata"]["name"]))
