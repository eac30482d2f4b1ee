"""The cluster store: where the API server keeps every object (our etcd).

In Kubernetes only the API server talks to etcd; everything else (scheduler, controllers,
kubelet, kubectl) goes through the API server. minikube-py keeps the same shape with an
embedded SQLite file, ``<state>/store.db``, that behaves like etcd where it matters:

- one global **revision** counter, bumped by every write and never reused (it survives
  restarts); each key has a ``create_revision`` and a ``mod_revision``. The API server shows
  ``mod_revision`` as ``metadata.resourceVersion``;
- **optimistic concurrency**: ``update(key, value, expected_revision=N)`` fails with
  :class:`Conflict` if someone wrote the key since revision N (a 409 for ``kubectl``);
- **list** returns the objects *and* the revision of that snapshot, so a **watch** from that
  revision misses nothing: it delivers every change after it, in order;
- an **event log** limited by **compaction**; a watch from before the compaction point fails
  with :class:`Compacted` (the API server answers 410 Gone; clients list again).

Keys follow the etcd layout upstream uses: ``/registry/<resource>/<namespace>/<name>``
(``/registry/pods/default/nginx-7c5ddbdf54-x2k9q``), values are the objects as JSON.

Look at it yourself while the cluster runs (WAL mode lets the CLI read at the same time)::

    sqlite3 <state>/store.db "select key, mod_revision from kv"
    sqlite3 <state>/store.db "select revision, type, key from events order by revision desc limit 9"
    sqlite3 <state>/store.db "select revision, compacted from meta"
    sqlite3 <state>/store.db "select key, json_extract(value, '$.status.phase') from kv
                              where key like '/registry/pods/%'"
    sqlite3 <state>/store.db "select json(value) from kv where key = '/registry/namespaces/default'"
    ls -l <state>/store.db*     # store.db, store.db-wal (recent commits), store.db-shm (index)

The equivalent questions to a real cluster's etcd would be
``etcdctl get --prefix /registry/pods --keys-only`` and ``etcdctl watch --prefix /registry``.
"""

from __future__ import annotations

import os

from minikube_py.store.backend import (
    ADDED,
    DELETED,
    KV,
    MODIFIED,
    Backend,
    Compacted,
    Conflict,
    KeyExists,
    KeyNotFound,
    StoreError,
    WatchEvent,
)
from minikube_py.store.sqlite import KEEP_EVENTS, SqliteBackend
from minikube_py.store.watch import StoreWatch

__all__ = [
    "ADDED", "DELETED", "KEEP_EVENTS", "KV", "MODIFIED", "Backend", "Compacted", "Conflict",
    "KeyExists", "KeyNotFound", "SqliteBackend", "StoreError", "StoreWatch", "WatchEvent",
    "open_store", "STORE_FILE",
]

#: The file name inside the state directory.
STORE_FILE = "store.db"


def open_store(path: str, *, keep_events: int = KEEP_EVENTS) -> SqliteBackend:
    """Open (creating if needed) the store at ``path``.

    ``path`` is the database file (``<state>/store.db``) or a directory, in which case the
    file is ``<path>/store.db``. The parent directory is created if missing.
    """
    if os.path.isdir(path):
        path = os.path.join(path, STORE_FILE)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise StoreError(f"failed to open store {path}: {e}") from e
    return SqliteBackend(path, keep_events=keep_events)
