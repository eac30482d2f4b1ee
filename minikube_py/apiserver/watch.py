"""Watch: a long HTTP response carrying one JSON event per line, as objects change.

Every controller in Kubernetes is driven by watches instead of polling::

    $ curl -N 'http://127.0.0.1:6443/api/v1/namespaces/default/pods?watch=true'
    {"type":"ADDED","object":{"kind":"Pod",...,"metadata":{"resourceVersion":"41",...}}}
    {"type":"MODIFIED","object":{...,"resourceVersion":"42"...}}

Rules, as upstream:

- no ``resourceVersion`` (or ``"0"``): first a synthetic ``ADDED`` for every current object,
  then changes; ``resourceVersion=N``: only changes after revision N (informers list, then
  watch from the list's revision, so nothing is missed in between);
- with a selector, an object that stops matching is sent as ``DELETED`` and one that starts
  matching as ``ADDED`` — a watcher's cache then holds exactly the matching set;
- a revision older than the store's compaction point gets an ``ERROR`` event with a 410
  Status: the client must list again;
- the stream stays open until ``timeoutSeconds`` or until the client goes away. The
  response is chunked and flushed after each event (``kubectl get pods -w`` prints a line per
  event; with ``Accept: ...;as=Table`` each event carries a one-row Table).

A store watch blocks a thread, so each HTTP watch gets one small thread that pumps store
events into an asyncio queue.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from minikube_py.apiserver import handlers, registry, storage
from minikube_py.apiserver import status as st
from minikube_py.apiserver.handlers import WATCHES
from minikube_py.apiserver.registry import Target
from minikube_py.apiserver.storage import STORE
from minikube_py.store.backend import Compacted, WatchEvent

CLIENT_CHECK_SECONDS = 1.0


def is_watch(request: web.Request) -> bool:
    return request.query.get("watch", "").lower() in ("true", "1")


def transition(event: WatchEvent, matches: Any) -> tuple[str, dict[str, Any]] | None:
    """The event a selective watcher sees for a store event (or None)."""
    value = event.value if event.value else (event.prev or {})
    obj = storage.as_object(value, event.revision)
    if event.type == "DELETED":
        return ("DELETED", obj) if matches(obj) else None
    now = matches(obj)
    if event.type == "ADDED":
        before = False
    else:
        before = matches(event.prev) if event.prev is not None else now
    if now and before:
        return "MODIFIED", obj
    if now:
        return "ADDED", obj
    if before:
        return "DELETED", obj
    return None


class Pump:
    """Moves events of one store watch into an asyncio queue from a helper thread."""

    def __init__(self, store_watch: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.store_watch = store_watch
        self.queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self.loop = loop
        self.thread = threading.Thread(target=self._run, name="apiserver-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.store_watch:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except Exception:  # the store closed underneath us: end the stream
            pass
        finally:
            try:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, None)
            except RuntimeError:  # the loop is already closed
                pass

    def close(self) -> None:
        self.store_watch.close()


async def send(response: web.StreamResponse, request: web.Request, target: Target,
               kind: str, obj: dict[str, Any]) -> None:
    if handlers.wants_table(request):
        obj = handlers.make_table(request, target.resource, [obj],
                                  registry.meta_of(obj).get("resourceVersion", ""))
    line = json.dumps({"type": kind, "object": obj}) + "\n"
    await response.write(line.encode())


async def watch(request: web.Request, target: Target) -> web.StreamResponse:
    """Serve ``?watch=true`` on a collection (or one object, old style)."""
    matches = handlers.selector_filter(request, target.resource)
    if target.name:  # GET .../pods/x?watch=true: the same as fieldSelector=metadata.name=x
        name, inner = target.name, matches
        target = Target(target.resource, target.namespace)

        def matches(obj: dict[str, Any]) -> bool:
            return registry.meta_of(obj).get("name") == name and inner(obj)

    store = request.app[STORE]
    version = request.query.get("resourceVersion", "")
    initial: list[dict[str, Any]] = []
    if version in ("", "0"):
        kvs, start = await storage.call(request, store.list, target.prefix)
        initial = [o for o in (storage.as_object(kv.value, kv.mod_revision) for kv in kvs)
                   if matches(o)]
    else:
        try:
            start = int(version)
        except ValueError:
            raise st.bad_request(f"invalid resourceVersion {version!r}") from None
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        store_watch = await storage.call(request, store.watch, target.prefix, start)
    except Compacted as e:
        gone = st.gone(f"too old resource version: {start} ({e})").to_status()
        await response.write((json.dumps({"type": "ERROR", "object": gone}) + "\n").encode())
        return response
    pump = Pump(store_watch, asyncio.get_running_loop())
    request.app[WATCHES].add(pump)
    pump.start()
    try:
        for obj in initial:
            await send(response, request, target, "ADDED", obj)
        await stream(request, response, target, pump, matches)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        pump.close()
        request.app[WATCHES].discard(pump)
    return response


async def stream(request: web.Request, response: web.StreamResponse, target: Target,
                 pump: Pump, matches: Any) -> None:
    """Forward events until the timeout, the client leaving, or the server stopping."""
    loop = asyncio.get_running_loop()
    timeout = request.query.get("timeoutSeconds")
    deadline = loop.time() + float(timeout) if timeout else None
    while True:
        wait = CLIENT_CHECK_SECONDS
        if deadline is not None:
            wait = min(wait, deadline - loop.time())
            if wait <= 0:
                return
        try:
            event = await asyncio.wait_for(pump.queue.get(), wait)
        except asyncio.TimeoutError:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            continue
        if event is None:
            return
        seen = transition(event, matches)
        if seen is not None:
            await send(response, request, target, *seen)
