"""Subresources: status, scale, binding, eviction, log, exec and portforward.

A subresource is a second door into the same object, with its own rules:

- ``pods/x/status``, ``deployments/x/status``... — only ``status`` changes. The kubelet
  reports a pod's phase here, controllers their counts; the main resource ignores ``status``.
- ``deployments/x/scale`` — an ``autoscaling/v1 Scale`` view (``spec.replicas`` and
  ``status.selector`` as text): ``kubectl scale deploy/x --replicas=3`` PATCHes it.
- ``pods/x/binding`` — the scheduler's decision: POST a Binding and ``spec.nodeName`` is set
  (409 if the pod is already bound). ``pods/x/eviction`` deletes the pod gracefully.
- ``pods/x/log`` and ``pods/x/exec`` — proxied to the kubelet of the pod's node, found from
  the Node object (``status.addresses`` InternalIP and
  ``status.daemonEndpoints.kubeletEndpoint.Port``): ``kubectl logs -f`` is a chunked text
  stream, ``kubectl exec`` a WebSocket (subprotocol ``v5.channel.k8s.io``) whose binary
  frames are relayed unchanged both ways. ``pods/x/portforward`` is relayed the same way:
  a WebSocket carrying SPDY (``kubectl port-forward``) or channels (the Python client),
  which only the kubelet reads. See the kubelet side with
  ``curl http://<node-ip>:<port>/containerLogs/default/<pod>/<container>``.
"""

from __future__ import annotations

import asyncio
import copy
import urllib.parse
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from minikube_py.api.resources import RESOURCES, find_resource
from minikube_py.apiserver import handlers, registry, storage
from minikube_py.apiserver import status as st
from minikube_py.apiserver.handlers import HTTP, NODE_PROXY
from minikube_py.apiserver.registry import Target
from minikube_py.apiserver.storage import STORE
from minikube_py.store.backend import Conflict

LOG_PARAMS = ("follow", "tailLines", "previous", "timestamps", "sinceSeconds", "limitBytes")
NODES = find_resource("", "nodes")


# -- status -------------------------------------------------------------------------------
async def status(request: web.Request, target: Target) -> web.Response:
    if request.method == "GET":
        return handlers.respond((await storage.read(request, target))[0])
    if request.method == "PUT":
        body = registry.check_type_meta(target.resource, await handlers.read_body(request),
                                        target.namespace)
        required = registry.meta_of(body).get("resourceVersion") or None
        return handlers.respond(await storage.guaranteed_update(
            request, target, lambda cur: registry.prepare_status_update(body, cur), required))
    if request.method == "PATCH":
        patch_type = handlers.patch_kind(request)
        body = await handlers.read_body(request)

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            patched = handlers.apply_patch_body(patch_type, copy.deepcopy(current), body,
                                                target.resource.kind)
            return registry.prepare_status_update(patched, current)

        return handlers.respond(await storage.guaranteed_update(request, target, mutate))
    raise st.method_not_allowed(request.method)


# -- scale --------------------------------------------------------------------------------
def to_scale(obj: dict[str, Any]) -> dict[str, Any]:
    meta = registry.meta_of(obj)
    spec = obj.get("spec") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in keep if k in meta},
            "spec": {"replicas": spec.get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": registry.selector_string(spec.get("selector"))}}


async def scale(request: web.Request, target: Target) -> web.Response:
    if request.method == "GET":
        return handlers.respond(to_scale((await storage.read(request, target))[0]))
    if request.method not in ("PUT", "PATCH"):
        raise st.method_not_allowed(request.method)
    patch_type = handlers.patch_kind(request) if request.method == "PATCH" else ""
    body = await handlers.read_body(request)
    required = None
    if request.method == "PUT" and isinstance(body, dict):
        required = (body.get("metadata") or {}).get("resourceVersion") or None

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        wanted = body
        if patch_type:
            wanted = handlers.apply_patch_body(patch_type, to_scale(current), body, "Scale")
        replicas = ((wanted or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise st.StatusError(422, "Invalid", f'Scale.autoscaling "{target.name}" is '
                                 f"invalid: spec.replicas: Invalid value: {replicas!r}: must "
                                 f"be greater than or equal to 0")
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        return registry.prepare_update(target.resource, new, current)

    updated = await storage.guaranteed_update(request, target, mutate, required)
    return handlers.respond(to_scale(updated))


# -- binding, eviction, finalize ----------------------------------------------------------
async def binding(request: web.Request, target: Target) -> web.Response:
    body = await handlers.read_body(request)
    node = ((body or {}).get("target") or {}).get("name") if isinstance(body, dict) else None
    if not node:
        raise st.bad_request("a Binding needs target.name (the node)")
    name = str(target.name)

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        spec = current.setdefault("spec", {})
        if registry.meta_of(current).get("deletionTimestamp"):
            raise st.conflict(target.resource, name, f"pod {name} is being deleted, cannot "
                              f"be assigned to a host")
        if spec.get("nodeName"):
            raise st.conflict(target.resource, name, f'pod {name} is already assigned to '
                              f'node "{spec["nodeName"]}"')
        spec["nodeName"] = node
        conditions = [c for c in current.setdefault("status", {}).get("conditions") or []
                      if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True",
                           "lastTransitionTime": registry.now_rfc3339()})
        current["status"]["conditions"] = conditions
        return current

    await storage.guaranteed_update(request, target, mutate)
    return handlers.respond(st.success(code=201), 201)


async def eviction(request: web.Request, target: Target) -> web.Response:
    body = await handlers.read_body(request)
    options = (body or {}).get("deleteOptions") or {} if isinstance(body, dict) else {}
    store = request.app[STORE]
    for _ in range(storage.UPDATE_RETRIES):
        current, revision = await storage.read(request, target)
        marked = registry.plan_delete(target.resource, current, options)
        try:
            if marked is None:
                await storage.call(request, store.delete, target.key, revision)
            elif marked != current:
                await storage.write(request, target, marked, revision)
            return handlers.respond(st.success(code=201), 201)
        except Conflict:
            continue
    raise st.conflict(target.resource, str(target.name))


async def finalize(request: web.Request, target: Target) -> web.Response:
    body = await handlers.read_body(request)
    finalizers = ((body or {}).get("spec") or {}).get("finalizers") or []

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        current.setdefault("spec", {})["finalizers"] = list(finalizers)
        return current

    return handlers.respond(await storage.guaranteed_update(request, target, mutate))


def orphan_sync(store: Any, uid: str) -> int:
    """Remove ownerReferences to ``uid`` from every object (``--cascade=orphan``)."""
    changed = 0
    for resource in RESOURCES:
        kvs, _ = store.list(resource.storage_key(None))
        for kv in kvs:
            refs = registry.meta_of(kv.value).get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") != uid]
            if len(kept) == len(refs):
                continue
            value = copy.deepcopy(kv.value)
            registry.meta_of(value)["ownerReferences"] = kept
            try:
                store.update(kv.key, value, kv.mod_revision)
                changed += 1
            except Conflict:
                pass  # changed meanwhile; the garbage collector sees the owner still there
    return changed


async def orphan_dependents(request: web.Request, owner: dict[str, Any]) -> None:
    uid = registry.meta_of(owner).get("uid")
    if uid:
        await storage.call(request, orphan_sync, request.app[STORE], str(uid))


# -- log and exec: proxied to the kubelet -------------------------------------------------
def kubelet_url(node: dict[str, Any]) -> str | None:
    """``http://<InternalIP>:<kubelet port>`` from a Node object, or None."""
    node_status = node.get("status") or {}
    port = ((node_status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = node_status.get("addresses") or []
    ip = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
    if not ip or not port:
        return None
    host = f"[{ip}]" if ":" in str(ip) else ip
    return f"http://{host}:{port}"


async def pod_endpoint(request: web.Request, target: Target) -> tuple[str, str]:
    """(kubelet base URL, container name) for a log or exec request."""
    pod, _ = await storage.read(request, target)
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    container = request.query.get("container") or (names[0] if len(names) == 1 else None)
    if not container:
        raise st.bad_request(f"a container name must be specified for pod {target.name}, "
                             f"choose one of: [{' '.join(str(n) for n in names)}]")
    return await kubelet_base(request, target, pod), str(container)


async def kubelet_base(request: web.Request, target: Target, pod: dict[str, Any]) -> str:
    """The kubelet base URL of the node the pod is bound to (400 if none)."""
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name or NODES is None:
        raise st.bad_request(f"pod {target.name} does not have a host assigned")
    kv = await storage.call(request, request.app[STORE].get, NODES.storage_key(None,
                                                                               node_name))
    resolve: Callable[[dict[str, Any]], str | None] = request.app[NODE_PROXY] or kubelet_url
    base = resolve(kv.value) if kv is not None else None
    if not base:
        raise st.bad_request(f'no kubelet address known for node "{node_name}"')
    return base


async def pod_log(request: web.Request, target: Target) -> web.StreamResponse:
    base, container = await pod_endpoint(request, target)
    url = f"{base}/containerLogs/{target.namespace}/{target.name}/{container}"
    params = {k: request.query[k] for k in LOG_PARAMS if k in request.query}
    session: aiohttp.ClientSession = request.app[HTTP]
    try:
        async with session.get(url, params=params) as upstream:
            if upstream.status >= 400:
                raise st.StatusError(upstream.status, "BadRequest" if upstream.status < 500
                                     else "InternalError", (await upstream.text()).strip())
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
    except aiohttp.ClientError as e:
        raise st.internal(f"failed to get logs from kubelet {base}: {e}") from e


async def pod_exec(request: web.Request, target: Target) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise st.bad_request("Upgrade request required (exec speaks WebSocket "
                             "v5.channel.k8s.io)")
    base, container = await pod_endpoint(request, target)
    query = [(k, v) for k, v in request.query.items() if k != "container"]
    return await relay_websocket(request, base, f"/exec/{target.namespace}/{target.name}/"
                                 f"{container}", query, "exec")


async def pod_portforward(request: web.Request, target: Target) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise st.bad_request("Upgrade request required (port-forward speaks WebSocket: "
                             "SPDY/3.1+portforward.k8s.io or v4.channel.k8s.io)")
    pod, _ = await storage.read(request, target)
    if (pod.get("status") or {}).get("phase") != "Running":
        raise st.bad_request(f"unable to forward ports: pod {target.name} is not running "
                             f"(phase {(pod.get('status') or {}).get('phase') or 'unknown'})")
    base = await kubelet_base(request, target, pod)
    return await relay_websocket(request, base, f"/portForward/{target.namespace}/"
                                 f"{target.name}", list(request.query.items()), "port-forward")


async def relay_websocket(request: web.Request, base: str, path: str,
                          query: list[tuple[str, str]], what: str) -> web.StreamResponse:
    """Open the same WebSocket on the kubelet, answer the client, relay until one closes."""
    url = f"ws{base[4:]}{path}?" + urllib.parse.urlencode(query)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
               if p.strip()]
    session: aiohttp.ClientSession = request.app[HTTP]
    try:
        upstream = await session.ws_connect(url, protocols=offered)
    except aiohttp.WSServerHandshakeError as e:
        if 400 <= e.status < 500:  # the kubelet said no (pod gone, bad ports...)
            raise st.StatusError(e.status, "BadRequest", f"kubelet refused {what}: "
                                 f"{e.message}") from e
        raise st.internal(f"failed to reach kubelet {base} for {what}: {e}") from e
    except aiohttp.ClientError as e:
        raise st.internal(f"failed to reach kubelet {base} for {what}: {e}") from e
    client = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else ())
    await client.prepare(request)
    await relay(client, upstream)
    return client


async def relay(client: web.WebSocketResponse, upstream: Any) -> None:
    """Copy frames both ways until one side closes; then close the other."""

    async def pipe(src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            else:
                break

    down = asyncio.ensure_future(pipe(upstream, client))
    up = asyncio.ensure_future(pipe(client, upstream))
    done, pending = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(down, up, return_exceptions=True)  # a peer that vanished: no noise
    await client.close(code=upstream.close_code or aiohttp.WSCloseCode.OK)
    await upstream.close()
