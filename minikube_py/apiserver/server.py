"""The API server: the one door to the cluster's state (aiohttp on 127.0.0.1:6443).

Every other component — scheduler, controllers, kubelet, kube-proxy, kubectl — reads and
writes objects only through these HTTP paths; only this process opens the store. Try::

    curl -s http://127.0.0.1:6443/version
    curl -s http://127.0.0.1:6443/api/v1/namespaces          # the four made at start
    kubectl --server http://127.0.0.1:6443 get pods -A

:func:`make_app` builds the aiohttp application over a store ``Backend``; :func:`serve`
starts it on a loop; :class:`APIServer` runs it in a background thread with its own event
loop (what ``minikube-py up`` and the tests use). Store calls are synchronous, so they run
on a thread pool (``run_in_executor``) and never block the loop that serves watches.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp import web

from minikube_py.api.resources import find_resource
from minikube_py.apiserver import (
    auth,
    discovery,
    handlers,
    metrics,
    rbac,
    registry,
    subresources,
    tokenrequest,
    watch,
)
from minikube_py.apiserver import status as st
from minikube_py.apiserver.allocators import ServiceAllocator
from minikube_py.apiserver.handlers import (
    HTTP,
    KUBELET_TOKEN,
    NAMESPACES,
    NODE_PROXY,
    VERSION,
    WATCHES,
)
from minikube_py.apiserver.registry import Target
from minikube_py.apiserver.storage import EXECUTOR, SERVICES, STORE
from minikube_py.apiserver.tokenrequest import SIGNER
from minikube_py.apiserver.tokens import TokenSigner
from minikube_py.errors import MinikubeError
from minikube_py.store.backend import Backend, KeyExists

log = logging.getLogger(__name__)
SUBRESOURCE_HANDLERS = {
    "status": subresources.status, "scale": subresources.scale,
    "binding": subresources.binding, "eviction": subresources.eviction,
    "finalize": subresources.finalize, "log": subresources.pod_log,
    "exec": subresources.pod_exec, "portforward": subresources.pod_portforward,
    "token": tokenrequest.token,
}
SUBRESOURCE_METHODS = {"binding": ("POST",), "eviction": ("POST",), "finalize": ("PUT",),
                       "log": ("GET",), "exec": ("GET", "POST"),
                       "portforward": ("GET", "POST"), "token": ("POST",)}


class APIServerError(MinikubeError):
    pass


def make_app(store: Backend, *, version: str = "v1.32.0", node_proxy: Any = None,
             authenticator: auth.Authenticator | None = None,
             authorizer: rbac.RBACAuthorizer | None = None,
             kubelet_token: str | None = None,
             token_signer: TokenSigner | None = None) -> web.Application:
    """The application: discovery, health, then every resource path of the table.

    ``node_proxy(node) -> "http://ip:port"`` overrides how a node's kubelet is found for
    ``pods/log`` and ``pods/exec`` (default: the Node's InternalIP and kubelet port).
    With an ``authenticator`` every request first passes :mod:`.auth` (401/403).
    ``kubelet_token`` is sent as a bearer token on every call to a kubelet (logs, exec,
    stats), which refuses calls without it. ``token_signer`` issues service account tokens
    (``serviceaccounts/x/token``); the authenticator verifies them with the same key.
    """
    middlewares = [auth.auth_middleware(authenticator, authorizer)] if authenticator else []
    app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=middlewares)
    app[STORE] = store
    app[VERSION] = version
    app[NODE_PROXY] = node_proxy
    app[KUBELET_TOKEN] = kubelet_token
    app[SIGNER] = token_signer
    app[EXECUTOR] = ThreadPoolExecutor(max_workers=16, thread_name_prefix="apiserver-store")
    app[WATCHES] = set()
    app[SERVICES] = ServiceAllocator()
    app.on_startup.append(_startup)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


async def _startup(app: web.Application) -> None:
    token = app[KUBELET_TOKEN]
    app[HTTP] = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        headers={"Authorization": f"Bearer {token}"} if token else None)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(app[EXECUTOR], ensure_system_namespaces, app[STORE])
    await loop.run_in_executor(app[EXECUTOR], rbac.ensure_default_policy, app[STORE])
    await loop.run_in_executor(app[EXECUTOR], ensure_service_allocations, app[STORE],
                               app[SERVICES])


async def _shutdown(app: web.Application) -> None:
    pumps: set[Any] = app[WATCHES]
    for pump in list(pumps):
        pump.close()


async def _cleanup(app: web.Application) -> None:
    await app[HTTP].close()
    app[EXECUTOR].shutdown(wait=False)


def ensure_system_namespaces(store: Backend) -> None:
    """``default``, ``kube-system``, ``kube-public``, ``kube-node-lease``: as a new cluster."""
    if NAMESPACES is None:
        return
    for name in registry.SYSTEM_NAMESPACES:
        obj = registry.prepare_create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name}})
        try:
            store.create(NAMESPACES.storage_key(None, name), obj)
            log.info("Created namespace name=%s", name)
        except KeyExists:
            pass


def ensure_service_allocations(store: Backend, allocator: ServiceAllocator) -> None:
    """Rebuild the ClusterIP/NodePort maps from the stored Services, then make sure the
    ``default/kubernetes`` Service (10.96.0.1:443) exists, as every cluster has it."""
    services = find_resource("", "services")
    if services is None:
        return
    kvs, _ = store.list(services.storage_key(None))
    allocator.rebuild((kv.key, kv.value) for kv in kvs)
    key = services.storage_key("default", "kubernetes")
    if store.get(key) is not None:
        return
    obj = registry.prepare_create(services, registry.kubernetes_service())
    try:
        obj = registry.allocate_service(allocator, key, obj)
        store.create(key, obj)
        log.info("Created service name=kubernetes clusterIP=%s", obj["spec"]["clusterIP"])
    except (KeyExists, st.StatusError) as e:
        log.warning("Failed to create service name=kubernetes err=%s", e)
    finally:
        kv = store.get(key)
        allocator.settle(key, None if kv is None else kv.value)


async def dispatch(request: web.Request) -> web.StreamResponse:
    try:
        return await route(request)
    except st.StatusError as e:
        return st.status_response(e)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # one bad request must not take the server down
        log.exception("Request failed method=%s path=%s", request.method, request.path)
        return st.status_response(st.internal(str(e)))


async def route(request: web.Request) -> web.StreamResponse:
    path = request.path.rstrip("/") or "/"
    fixed = await fixed_path(request, path)
    if fixed is not None:
        return fixed
    if path.startswith(metrics.PREFIX + "/"):  # kubectl top: read-only, never stored
        return await metrics.serve(request, path)
    target = registry.parse_target(path)
    if target is None:
        raise st.StatusError(404, "NotFound", "the server could not find the requested "
                             "resource")
    if target.resource.namespaced and target.namespace is None and \
            (target.name or request.method != "GET"):
        raise st.StatusError(404, "NotFound", "the server could not find the requested "
                             "resource")
    if target.subresource:
        return await subresource(request, target)
    if target.name is None:
        return await collection(request, target)
    return await item(request, target)


async def collection(request: web.Request, target: Target) -> web.StreamResponse:
    if request.method == "GET":
        if watch.is_watch(request):
            return await watch.watch(request, target)
        return await handlers.list_objects(request, target)
    if request.method == "POST":
        return await handlers.create_object(request, target)
    if request.method == "DELETE":
        return await handlers.delete_collection(request, target)
    raise st.method_not_allowed(request.method)


async def item(request: web.Request, target: Target) -> web.StreamResponse:
    method = request.method
    if method == "GET":
        if watch.is_watch(request):
            return await watch.watch(request, target)
        return await handlers.get_object(request, target)
    if method == "PUT":
        return await handlers.update_object(request, target)
    if method == "PATCH":
        return await handlers.patch_object(request, target)
    if method == "DELETE":
        return await handlers.delete_object(request, target)
    raise st.method_not_allowed(method)


async def subresource(request: web.Request, target: Target) -> web.StreamResponse:
    sub = str(target.subresource)
    handler = SUBRESOURCE_HANDLERS.get(sub)
    if handler is None or sub not in target.resource.subresources:
        raise st.StatusError(404, "NotFound", "the server could not find the requested "
                             "resource")
    if request.method not in SUBRESOURCE_METHODS.get(sub, ("GET", "PUT", "PATCH")):
        raise st.method_not_allowed(request.method)
    return await handler(request, target)


async def fixed_path(request: web.Request, path: str) -> web.StreamResponse | None:
    """Version, health, discovery and OpenAPI documents (None for resource paths)."""
    if path == "/version":
        return st.json_response(discovery.version_info(request.app[VERSION]))
    if path in ("/healthz", "/readyz", "/livez"):
        return web.Response(text="ok")
    if path in ("/api", "/apis"):
        version = discovery.discovery_version(request.headers.get("Accept", ""))
        if version:
            return st.json_response(discovery.aggregated(path == "/api", version),
                                    content_type=discovery.DISCOVERY_TYPES[version])
        if path == "/api":
            return st.json_response(discovery.api_versions(request.host))
        return st.json_response(discovery.api_group_list())
    parts = path.strip("/").split("/")
    if request.method == "GET" and (len(parts) == 2 and parts[0] == "api" or
                                    len(parts) == 3 and parts[0] == "apis"):
        found = discovery.api_resource_list(parts[1] if len(parts) == 3 else "", parts[-1])
        if found is None:
            raise st.StatusError(404, "NotFound", "the server could not find the requested "
                                 "resource")
        return st.json_response(found)
    if path == "/openapi/v3":
        return st.json_response(discovery.openapi_root())
    if path.startswith("/openapi/v3/"):
        rest = parts[2:]  # ["api", "v1"] or ["apis", "apps", "v1"]
        doc = None
        if rest[:1] == ["api"] and len(rest) == 2 or rest[:1] == ["apis"] and len(rest) == 3:
            doc = discovery.openapi_group_version("" if len(rest) == 2 else rest[1], rest[-1],
                                                  request.app[VERSION])
        if doc is None:
            raise st.StatusError(404, "NotFound", "the server could not find the requested "
                                 "resource")
        return st.json_response(doc)
    if path.startswith("/openapi"):  # v2 stays 404: kubectl falls back to built-in types
        raise st.StatusError(404, "NotFound", "the server could not find the requested "
                             "resource")
    return None


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 6443,
                ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    """Start serving ``app`` (HTTPS with ``ssl_context``); the caller keeps the runner and
    calls ``cleanup()`` to stop."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    await site.start()
    log.info("Started API server host=%s port=%s tls=%s", host, port, ssl_context is not None)
    return runner


class APIServer:
    """The API server in a background thread with its own event loop.

    ``port=0`` picks a free port; :attr:`url` tells which. ``stop()`` ends open watches and
    closes the store.
    """

    def __init__(self, store_path: str, host: str = "127.0.0.1", port: int = 6443,
                 version: str = "v1.32.0", node_proxy: Any = None,
                 tls: auth.TLSConfig | None = None,
                 authenticator: auth.Authenticator | None = None,
                 authorizer: rbac.RBACAuthorizer | None = None,
                 kubelet_token: str | None = None,
                 token_signer: TokenSigner | None = None) -> None:
        self.store_path = store_path
        self.token_signer = token_signer
        self.kubelet_token = kubelet_token
        self.tls = tls
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.host = host
        self.port = port
        self.version = version
        self.node_proxy = node_proxy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._ssl: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="apiserver", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or not self._ready.is_set():
            self._thread.join(5)
            raise APIServerError(f"failed to start API server {self.host}:{self.port}: "
                                 f"{self._error or 'timed out'}") from self._error

    def _run(self) -> None:
        from minikube_py.store import open_store

        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        store = None
        try:
            store = open_store(self.store_path)
            app = make_app(store, version=self.version, node_proxy=self.node_proxy,
                           authenticator=self.authenticator, authorizer=self.authorizer,
                           kubelet_token=self.kubelet_token, token_signer=self.token_signer)
            context = self._ssl = auth.server_ssl_context(self.tls) if self.tls else None
            runner = self._runner = loop.run_until_complete(serve(app, self.host, self.port,
                                                                  context))
            self.port = runner.addresses[0][1]
        except BaseException as e:
            self._error = e
            if store is not None:
                store.close()
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            store.close()
            loop.close()

    def listen(self, host: str) -> None:
        """Also serve on ``host`` (same port, same TLS): the node's bridge address, where the
        ``kubernetes`` Service's Endpoints send pods (``ss -tlnp | grep <port>`` shows both)."""
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            raise APIServerError("failed to listen: the API server is not running")
        site = web.TCPSite(runner, host, self.port, reuse_address=True, ssl_context=self._ssl)
        try:
            asyncio.run_coroutine_threadsafe(site.start(), loop).result(10)
        except OSError as e:
            raise APIServerError(f"failed to listen on {host}:{self.port}: {e}") from e
        log.info("Started API server host=%s port=%s tls=%s", host, self.port, bool(self._ssl))

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
