"""How the API server reaches its store: off the event loop, with revisions as versions.

The store (``minikube_py.store``, SQLite) is synchronous: every call runs on the server's
thread pool (:func:`call`) so that a slow disk never stalls the event loop that serves the
watches. Its revisions become ``metadata.resourceVersion`` on the way out (:func:`as_object`)
and are stripped on the way in (:func:`for_storage`): the version is where an object *is* in
the store's history, not part of the object.

Updates are compare-and-swap: read the object and its revision, change it, write it only if
the revision is still the same, else read again (:func:`guaranteed_update`, upstream's
``GuaranteedUpdate``). See it: ``sqlite3 /var/lib/minikube-py/store.db "select key,
mod_revision from kv"`` before and after a ``kubectl label``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from minikube_py.apiserver import registry
from minikube_py.apiserver import status as st
from minikube_py.apiserver.allocators import ServiceAllocator
from minikube_py.apiserver.registry import Target
from minikube_py.store.backend import Backend, Conflict, KeyNotFound

# What the application object carries (``request.app[STORE]``).
STORE: web.AppKey[Backend] = web.AppKey("store")
EXECUTOR: web.AppKey[ThreadPoolExecutor] = web.AppKey("executor")
SERVICES: web.AppKey[ServiceAllocator] = web.AppKey("service_allocator")
UPDATE_RETRIES = 8


async def call(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a (synchronous, possibly blocking) store call on the server's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[EXECUTOR], fn, *args)


def as_object(value: dict[str, Any], revision: int) -> dict[str, Any]:
    """A stored value as the API shows it: with ``metadata.resourceVersion``.

    Only the top level and ``metadata`` are copied: the store decodes a fresh dict for
    every get, list and watch event (``json.loads``), so nothing else shares the nested
    parts (a deep copy of 1,000 pods was half the time of a list). A store that caches
    decoded objects must hand out copies."""
    obj = dict(value)
    meta = obj.get("metadata")
    obj["metadata"] = dict(meta) if isinstance(meta, dict) else {}
    obj["metadata"]["resourceVersion"] = str(revision)
    return obj


def for_storage(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    registry.meta_of(out).pop("resourceVersion", None)
    return out


async def read(request: web.Request, target: Target) -> tuple[dict[str, Any], int]:
    """The object and its revision, or 404."""
    kv = await call(request, request.app[STORE].get, target.key)
    if kv is None:
        raise st.not_found(target.resource, str(target.name))
    return as_object(kv.value, kv.mod_revision), kv.mod_revision


async def write(request: web.Request, target: Target, obj: dict[str, Any], expected: int
                ) -> dict[str, Any]:
    """Store an updated object (or delete it if its last finalizer just went)."""
    store = request.app[STORE]
    if registry.deleted_by_update(obj):
        _, revision = await call(request, store.delete, target.key, expected)
    else:
        revision = await call(request, store.update, target.key, for_storage(obj), expected)
    return as_object(obj, revision)


def service_guard(request: web.Request, target: Target) -> Any:
    """Around a Service write: one at a time, then its ClusterIP/NodePorts settled from the
    store (:mod:`.allocators`). Other kinds: nothing."""
    allocator = request.app.get(SERVICES)
    if allocator is None or target.resource.kind != "Service" or target.subresource:
        return contextlib.nullcontext()

    async def stored() -> dict[str, Any] | None:
        kv = await call(request, request.app[STORE].get, target.key)
        return None if kv is None else dict(kv.value)

    return allocator.writing(target.key, stored)


async def guaranteed_update(request: web.Request, target: Target,
                            mutate: Callable[[dict[str, Any]], dict[str, Any]],
                            required_version: str | None = None) -> dict[str, Any]:
    """Read, change, compare-and-swap; retry on a concurrent write (upstream's
    ``GuaranteedUpdate``). A ``required_version`` that is not current is a 409 Conflict."""
    async with service_guard(request, target):
        return await _guaranteed_update(request, target, mutate, required_version)


async def _guaranteed_update(request: web.Request, target: Target,
                             mutate: Callable[[dict[str, Any]], dict[str, Any]],
                             required_version: str | None) -> dict[str, Any]:
    for _ in range(UPDATE_RETRIES):
        current, revision = await read(request, target)
        if required_version and required_version != str(revision):
            raise st.conflict(target.resource, str(target.name))
        new = mutate(current)
        if not target.subresource and SERVICES in request.app:
            new = registry.allocate_service(request.app[SERVICES], target.key, new, current)
        try:
            return await write(request, target, new, revision)
        except Conflict:
            if required_version:
                raise st.conflict(target.resource, str(target.name)) from None
        except KeyNotFound:
            raise st.not_found(target.resource, str(target.name)) from None
    raise st.conflict(target.resource, str(target.name))
