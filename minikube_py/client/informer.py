"""Informers: list, then watch, and keep a local copy (client-go's SharedInformer, small).

A controller should not poll the API server. It lists a resource once, remembers the
``resourceVersion`` of that list, and then watches for changes *after* it; each event
updates a local cache and calls the controller's handler. If the watch ends (the server
restarted, or answered ``410 Gone`` because the version was compacted away), the informer
lists again and reports the differences as events, so nothing is missed.

    pods = Informer(client, resources.lookup("pods"), field_selector="spec.nodeName=node-1")
    pods.add_handler(lambda kind, obj, old: print(kind, obj["metadata"]["name"]))
    pods.start(); pods.wait_synced()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from minikube_py.api.resources import Resource
from minikube_py.client.client import ApiError, Client, Watch
from minikube_py.errors import MinikubeError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: handler(event_type, object, previous_object_or_None); event_type ADDED/MODIFIED/DELETED
Handler = Callable[[str, Obj, "Obj | None"], None]


def object_key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Informer:
    """Keeps ``cache`` equal to the server's objects and calls handlers on each change."""

    def __init__(self, client: Client, resource: Resource, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 retry_delay: float = 0.5) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.retry_delay = retry_delay
        self.cache: dict[str, Obj] = {}
        self._handlers: list[Handler] = []
        self._lock = threading.RLock()
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._watch: Watch | None = None
        self._thread: threading.Thread | None = None

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        with self._lock:
            return self.cache.get(f"{namespace or ''}/{name}")

    def list(self) -> list[Obj]:
        with self._lock:
            return list(self.cache.values())

    def start(self) -> Informer:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"informer-{self.resource.plural}")
        self._thread.start()
        return self

    def wait_synced(self, timeout: float = 10.0) -> None:
        if not self._synced.wait(timeout):
            raise MinikubeError(f"failed to sync informer {self.resource.plural}: timed out")

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _emit(self, kind: str, obj: Obj, old: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(kind, obj, old)
            except Exception:
                log.exception("Informer handler failed resource=%s", self.resource.plural)

    def _relist(self) -> str:
        listing = self.client.list(self.resource, self.namespace, self.label_selector,
                                   self.field_selector)
        kind = self.resource.kind
        fresh = {}
        for item in listing.get("items") or []:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", self.resource.group_version)
            fresh[object_key(item)] = item
        with self._lock:
            old = self.cache
            self.cache = dict(fresh)
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None:
                self._emit("ADDED", obj, None)
            elif before["metadata"].get("resourceVersion") != obj["metadata"].get(
                    "resourceVersion"):
                self._emit("MODIFIED", obj, before)
        for key, obj in old.items():
            if key not in fresh:
                self._emit("DELETED", obj, obj)
        self._synced.set()
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    def _run(self) -> None:
        version = ""
        while not self._stopping.is_set():
            try:
                if not version:
                    version = self._relist()
                self._watch = self.client.watch(self.resource, self.namespace, version,
                                                self.label_selector, self.field_selector)
                for kind, obj in self._watch:
                    if kind == "BOOKMARK":
                        version = obj["metadata"].get("resourceVersion", version)
                        continue
                    if kind == "ERROR":
                        version = ""  # 410 Gone or similar: list again
                        break
                    version = obj["metadata"].get("resourceVersion", version)
                    key = object_key(obj)
                    with self._lock:
                        before = self.cache.get(key)
                        if kind == "DELETED":
                            self.cache.pop(key, None)
                        else:
                            self.cache[key] = obj
                    self._emit(kind, obj, before)
                else:
                    pass
            except ApiError as e:
                if e.code == 410:
                    version = ""
                    continue
                log.warning("Watch failed resource=%s err=%s", self.resource.plural, e)
            except (MinikubeError, OSError, ValueError) as e:
                if not self._stopping.is_set():
                    log.info("Watch ended resource=%s err=%s", self.resource.plural, e)
            if not self._stopping.is_set():
                time.sleep(self.retry_delay)
