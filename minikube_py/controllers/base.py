"""The controller pattern: informers feed a work queue of keys; workers reconcile each key.

A Kubernetes controller never acts on the watch event itself. The event only says "look at
``default/web`` again": its key goes into a **work queue**, which

- dedupes: a key added ten times before a worker takes it is reconciled once;
- never hands the same key to two workers at once (a key re-added while it is being worked
  on is queued again when the worker finishes);
- retries failures with exponential backoff (5 ms doubling up to 30 s, as client-go's
  rate-limiting queue; ours starts at 50 ms).

``reconcile(key)`` then reads the *current* objects from the informer caches, computes a
printable plan, and applies it through the API server. Because it always starts from the
current state, a missed or repeated event does no harm: this is "level-triggered" control.

Events (``kubectl get events``, ``kubectl describe``) are ordinary ``core/v1`` objects;
:func:`record_event` creates one, or bumps ``count`` and ``lastTimestamp`` of the same event
seen before, like client-go's event correlator.
"""

from __future__ import annotations

import datetime
import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from minikube_py.api.resources import Resource, lookup
from minikube_py.client import ApiError, Client, Informer

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def resource(plural: str) -> Resource:
    """The resource table entry for ``plural`` (``pods``, ``replicasets``...)."""
    found = lookup(plural)
    if found is None:  # pragma: no cover - the table is fixed
        raise KeyError(plural)
    return found


def now_iso(now: float | None = None) -> str:
    """RFC 3339 in UTC, second precision, as the API server writes timestamps."""
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now,
                                             datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch for an RFC 3339 timestamp; None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def key_of(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.rpartition("/")
    return namespace, name


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Obj, kind: str, api_version: str) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


class WorkQueue:
    """A deduplicating, rate-limited queue of keys (client-go's ``workqueue``)."""

    def __init__(self, base_delay: float = 0.05, max_delay: float = 30.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._cond = threading.Condition()
        self._queue: list[str] = []
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, str]] = []
        self._failures: dict[str, int] = {}
        self._shutdown = False

    def add(self, key: str) -> None:
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._delayed, (time.monotonic() + delay, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Re-queue after a failure; the delay doubles with each consecutive failure."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = min(self.base_delay * (2 ** failures), self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def get(self, timeout: float | None = None) -> str | None:
        """The next key (marked as processing), or None on shutdown / timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, key = heapq.heappop(self._delayed)
                    if key not in self._dirty:
                        self._dirty.add(key)
                        if key not in self._processing:
                            self._queue.append(key)
                if self._shutdown:
                    return None
                if self._queue:
                    key = self._queue.pop(0)
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                wait = None if deadline is None else deadline - now
                if self._delayed:
                    until = self._delayed[0][0] - now
                    wait = until if wait is None else min(wait, until)
                if wait is not None and wait <= 0:
                    if deadline is not None and now >= deadline:
                        return None
                    continue
                self._cond.wait(wait)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def shut_down(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()


def process_until_shut_down(queue: WorkQueue, handle: Callable[[str], object],
                            failed: Callable[[str, float, Exception], None]) -> None:
    """A worker's loop (upstream ``processNextWorkItem``): take a key, handle it; on success
    forget its failures, on an error re-add it rate-limited and tell ``failed`` (key, delay,
    error). Returns when the queue shuts down."""
    while True:
        key = queue.get()
        if key is None:
            return
        try:
            handle(key)
            queue.forget(key)
        except Exception as e:  # noqa: BLE001 - a worker must survive any error
            failed(key, queue.add_rate_limited(key), e)
        finally:
            queue.done(key)


class Controller:
    """Informers + a work queue + worker threads calling :meth:`reconcile`."""

    name = "controller"

    def __init__(self, client: Client, workers: int = 2) -> None:
        self.client = client
        self.workers = workers
        self.queue = WorkQueue()
        self.informers: list[Informer] = []
        self._threads: list[threading.Thread] = []

    def informer(self, plural: str, handler: Callable[[str, Obj, Obj | None], None],
                 **selectors: str) -> Informer:
        inf = Informer(self.client, resource(plural), **selectors)  # type: ignore[arg-type]
        inf.add_handler(handler)
        self.informers.append(inf)
        return inf

    def reconcile(self, key: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> None:
        for inf in self.informers:
            inf.start()
        for inf in self.informers:
            inf.wait_synced(30)
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"{self.name}-worker-{i}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.queue.shut_down()
        for inf in self.informers:
            inf.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        process_until_shut_down(self.queue, lambda key: self.reconcile(key), self._failed)

    def _failed(self, key: str, delay: float, e: Exception) -> None:
        log.warning("Reconcile failed controller=%s key=%s retry_in=%.2fs err=%s",
                    self.name, key, delay, e)


# --- events --------------------------------------------------------------------------------

_seen_events: dict[tuple[str, ...], tuple[str, int]] = {}
_events_lock = threading.Lock()


def record_event(client: Client, obj: Obj, type_: str, reason: str, message: str,
                 component: str) -> None:
    """Create a core/v1 Event about ``obj``; a repeat bumps ``count`` and ``lastTimestamp``.

    ``kubectl describe`` shows them as ``Normal  ScalingReplicaSet  2m (x3 over 5m) ...``.
    Errors are logged, never raised: an event is a courtesy, not part of the reconcile.
    """
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace") or "default"
    involved = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""),
                "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")}
    signature = (client.server, namespace, involved["uid"], involved["name"], type_, reason,
                 message, component)
    stamp = now_iso()
    events = resource("events")
    with _events_lock:
        seen = _seen_events.get(signature)
    try:
        if seen is not None:
            name, count = seen
            client.patch(events, name, {"count": count + 1, "lastTimestamp": stamp},
                         namespace=namespace)
            with _events_lock:
                _seen_events[signature] = (name, count + 1)
            return
    except ApiError as e:
        if e.code != 404:
            log.warning("Event update failed reason=%s err=%s", reason, e)
            return
    name = f"{involved['name']}.{time.time_ns():x}"
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": name, "namespace": namespace},
             "involvedObject": involved, "reason": reason, "message": message, "type": type_,
             "source": {"component": component}, "count": 1, "firstTimestamp": stamp,
             "lastTimestamp": stamp, "reportingComponent": component,
             "reportingInstance": component}
    try:
        client.create(events, event, namespace=namespace)
        with _events_lock:
            _seen_events[signature] = (name, 1)
    except Exception as e:  # noqa: BLE001 - events are best effort
        log.warning("Event creation failed reason=%s err=%s", reason, e)
