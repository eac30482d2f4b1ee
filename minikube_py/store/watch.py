"""A watch on the store: every change under a key prefix after a revision, in order.

This is what sits behind ``kubectl get pods -w`` and every informer: the API server opens a
:class:`StoreWatch` at the revision its client last saw, and turns each
:class:`~minikube_py.store.backend.WatchEvent` into one line of the chunked watch stream.

How it works (no event is lost, none is delivered twice):

1. the watch keeps a *cursor*, the revision it has seen everything up to;
2. it reads the backlog from the store's event log (``events`` table) in batches: events
   with revision > cursor under its prefix, oldest first; the cursor moves to the last event
   read, or, when there are no more, to the store revision the read was taken at;
3. once caught up it sleeps on the store's condition variable, which every committed write
   notifies; it wakes when the store's revision passes the cursor, and goes back to step 2.

Live events therefore come from the same table as the backlog: there is one code path, and a
slow watcher simply reads more of the log. A watcher that falls so far behind that the events
it needs were compacted gets :class:`~minikube_py.store.backend.Compacted` from ``next()``
(the API server sends 410 Gone and the client lists again), as with etcd.

One thread consumes a watch; any thread may ``close()`` it, which unblocks the consumer.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from minikube_py.store.backend import StoreError, WatchEvent

#: How many events one read of the event log returns at most.
BATCH = 500


class EventLog(Protocol):
    """What a watch needs from its store (the SQLite backend provides it)."""

    #: Notified after every committed write; guards ``head()``.
    changed: threading.Condition

    def head(self) -> int:
        """The last committed revision, as published to watchers (call with ``changed`` held)."""
        ...

    def events_after(self, prefix: str, revision: int,
                     limit: int) -> tuple[list[WatchEvent], int]:
        """Up to ``limit`` events under ``prefix`` after ``revision``, and the new cursor."""
        ...


class StoreWatch:
    """An iterator of :class:`WatchEvent`; ``next(timeout)`` returns None on timeout."""

    def __init__(self, log: EventLog, prefix: str, from_revision: int):
        self.prefix = prefix
        self._log = log
        self._cursor = from_revision
        self._buffer: collections.deque[WatchEvent] = collections.deque()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def revision(self) -> int:
        """Everything up to this revision has been read from the store (maybe not delivered)."""
        return self._cursor

    def next(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event; blocks up to ``timeout`` seconds (forever if None).

        Returns None on timeout and once the watch is closed. Raises Compacted when the events
        this watch still needs were compacted away.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed:
                return None
            if self._buffer:
                return self._buffer.popleft()
            if not self._read_log():
                if not self._wait_for_write(deadline):
                    return None

    def _read_log(self) -> bool:
        """Step 2: fetch the next batch of the backlog; True if it had events."""
        try:
            events, self._cursor = self._log.events_after(self.prefix, self._cursor, BATCH)
        except StoreError:
            if self._closed:  # the store closed under us: that is the end of the watch
                return False
            raise
        self._buffer.extend(events)
        return bool(events)

    def _wait_for_write(self, deadline: float | None) -> bool:
        """Step 3: sleep until a write passes the cursor; False on timeout or close."""
        with self._log.changed:
            while not self._closed and self._log.head() <= self._cursor:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._log.changed.wait(remaining)
        return not self._closed

    def __iter__(self) -> Iterator[WatchEvent]:
        """Yield events until the watch is closed."""
        while True:
            event = self.next(None)
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Stop the watch; a thread blocked in ``next()`` returns None. May run twice."""
        self._closed = True
        with self._log.changed:
            self._log.changed.notify_all()

    def __enter__(self) -> StoreWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
