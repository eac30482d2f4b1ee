"""The cluster store in one SQLite file: etcd's data model on Python's standard ``sqlite3``.

Tables (see them with ``sqlite3 <state>/store.db .schema``):

- ``kv(key, value, create_revision, mod_revision)``: the current objects, value = JSON text;
- ``events(revision, type, key, value, prev)``: the change log watches read, one row per
  revision (ADDED / MODIFIED / DELETED, the new and the previous value);
- ``meta(revision, compacted)``: one row, the store revision and the compaction point.

Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) that bumps
``meta.revision``, changes ``kv`` and appends to ``events``: either all three happen or none.
The file is in WAL mode (readers never wait for the writer, and the ``sqlite3`` CLI can read
while the API server runs) with ``synchronous=FULL``: COMMIT returns only after the write-ahead
log is fsync'ed, so an acknowledged write survives ``kill -9`` and a power cut.

Concurrency: one writer connection behind a lock (SQLite allows one writer at a time anyway,
and the lock makes revisions strictly increasing in commit order) and a small pool of reader
connections, one per concurrent call, so lists and watches read in parallel with writes on
their own WAL snapshot. ``reader_pool=False`` makes reads share the writer connection and its
lock instead. ``bench/store_bench.py`` compares the two: on a disk with fast fsync they are
close (the GIL and JSON decoding dominate: ~13 ms to list 1000 pod-sized objects either way),
the pool serves concurrent gets ~30% faster, and it keeps reads from queueing behind a slow
fsync on a real disk, so it is the default. After each commit the writer notifies a
``threading.Condition`` that wakes the watches (in this process only: one process, the API
server, owns the file; the ``sqlite3`` CLI may read it at any time).

The file is created mode 0600 (it holds every object, Secrets included); SQLite gives the
``-wal`` and ``-shm`` files the same mode.

Automatic compaction keeps the newest ``keep_events`` events (10000 by default), like the API
server's periodic etcd compaction; older ones are deleted in the same transaction as the write.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from minikube_py.store.backend import (
    ADDED,
    DELETED,
    KV,
    MODIFIED,
    Compacted,
    Conflict,
    KeyExists,
    KeyNotFound,
    StoreError,
    WatchEvent,
)
from minikube_py.store.watch import StoreWatch

log = logging.getLogger(__name__)

T = TypeVar("T")

KEEP_EVENTS = 10000
IDLE_READERS = 8

SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    prev TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    compacted INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, revision, compacted) VALUES (1, 1, 0);
COMMIT;
"""


def _prefix_range(prefix: str) -> tuple[str, list[str]]:
    """SQL condition + parameters for ``key`` starting with ``prefix`` (uses the key index)."""
    if not prefix:
        return "1", []
    # Keys compare as UTF-8 bytes, which sort like code points: the first string after every
    # key starting with "abc" is "abd".
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return "key >= ?", [prefix]
    return "key >= ? AND key < ?", [prefix, stem[:-1] + chr(ord(stem[-1]) + 1)]


def _encode(verb: str, key: str, value: Any) -> str:
    if not isinstance(value, dict):
        raise StoreError(f"failed to {verb} key {key}: value must be a JSON object (a dict), "
                         f"not {type(value).__name__}")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise StoreError(f"failed to {verb} key {key}: value is not JSON: {e}") from e


class SqliteBackend:
    """The :class:`~minikube_py.store.backend.Backend` on one SQLite file."""

    def __init__(self, path: str, *, keep_events: int = KEEP_EVENTS, reader_pool: bool = True):
        if keep_events < 1:
            raise StoreError(f"failed to open store {path}: keep_events must be >= 1")
        self.path = path
        self.keep_events = keep_events
        self.reader_pool = reader_pool
        self.changed = threading.Condition()
        self._write_lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._watches: weakref.WeakSet[StoreWatch] = weakref.WeakSet()
        self._closed = False
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as e:
            raise StoreError(f"failed to open store {path}: {e}") from e
        try:
            self._writer = self._connect()
            self._writer.execute("PRAGMA journal_mode=WAL")
            self._writer.executescript(SCHEMA)
            self._head, _ = self._meta(self._writer)
        except sqlite3.Error as e:
            raise StoreError(f"failed to open store {path}: {e}") from e
        log.debug("Opened store path=%s revision=%d", path, self._head)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @staticmethod
    def _meta(conn: sqlite3.Connection) -> tuple[int, int]:
        revision, compacted = conn.execute("SELECT revision, compacted FROM meta").fetchone()
        return int(revision), int(compacted)

    def _check_open(self, verb: str, name: str) -> None:
        if self._closed:
            raise StoreError(f"failed to {verb} {name}: store {self.path} is closed")

    # --- reading ----------------------------------------------------------------------------

    @contextmanager
    def _reader(self, verb: str, name: str) -> Iterator[sqlite3.Connection]:
        """A connection for one read (from the pool); sqlite errors become StoreError."""
        if not self.reader_pool:
            with self._write_lock:
                self._check_open(verb, name)
                with self._sqlite_errors(verb, name, self._writer):
                    yield self._writer
            return
        with self._pool_lock:
            self._check_open(verb, name)
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            with self._sqlite_errors(verb, name, conn):
                yield conn
        finally:
            with self._pool_lock:
                if self._closed or len(self._idle) >= IDLE_READERS:
                    conn.close()
                else:
                    self._idle.append(conn)

    @contextmanager
    def _sqlite_errors(self, verb: str, name: str,
                       conn: sqlite3.Connection) -> Iterator[None]:
        """Roll back whatever is open on failure; report sqlite errors as StoreError."""
        try:
            yield
        except BaseException as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"failed to {verb} {name}: {e}") from e
            raise

    def revision(self) -> int:
        with self.changed:
            return self._head

    def head(self) -> int:
        return self._head

    def get(self, key: str) -> KV | None:
        with self._reader("get", f"key {key}") as conn:
            row = conn.execute("SELECT key, value, mod_revision, create_revision FROM kv "
                               "WHERE key = ?", (key,)).fetchone()
        return None if row is None else KV(row[0], json.loads(row[1]), row[2], row[3])

    def list(self, prefix: str) -> tuple[list[KV], int]:
        where, params = _prefix_range(prefix)
        with self._reader("list", f"prefix {prefix or '/'}") as conn:
            conn.execute("BEGIN")  # one snapshot for the rows and the revision
            revision, _ = self._meta(conn)
            rows = conn.execute("SELECT key, value, mod_revision, create_revision FROM kv "
                                f"WHERE {where} ORDER BY key", params).fetchall()
            conn.execute("COMMIT")
        return [KV(k, json.loads(v), m, c) for k, v, m, c in rows], revision

    def events_after(self, prefix: str, revision: int,
                     limit: int) -> tuple[builtins.list[WatchEvent], int]:
        """Events under ``prefix`` after ``revision`` (at most ``limit``) and the new cursor."""
        where, params = _prefix_range(prefix)
        with self._reader("watch", f"prefix {prefix or '/'}") as conn:
            conn.execute("BEGIN")
            head, compacted = self._meta(conn)
            if revision < compacted:
                conn.execute("COMMIT")
                raise Compacted(prefix, revision, compacted)
            rows = conn.execute("SELECT revision, type, key, value, prev FROM events "
                                f"WHERE revision > ? AND {where} ORDER BY revision LIMIT ?",
                                [revision, *params, limit]).fetchall()
            conn.execute("COMMIT")
        events = [WatchEvent(t, k, json.loads(v), r, None if p is None else json.loads(p))
                  for r, t, k, v, p in rows]
        cursor = events[-1].revision if len(events) == limit else max(revision, head)
        return events, cursor

    def watch(self, prefix: str, from_revision: int) -> StoreWatch:
        _, compacted = self._read_meta("watch", f"prefix {prefix or '/'}")
        if from_revision < compacted:
            raise Compacted(prefix, from_revision, compacted)
        watch = StoreWatch(self, prefix, from_revision)
        with self._pool_lock:
            self._check_open("watch", f"prefix {prefix or '/'}")
            self._watches.add(watch)
        return watch

    def _read_meta(self, verb: str, name: str) -> tuple[int, int]:
        with self._reader(verb, name) as conn:
            return self._meta(conn)

    # --- writing ----------------------------------------------------------------------------

    def _write(self, verb: str, key: str, change: Callable[[sqlite3.Connection, int], T]
               ) -> tuple[T, int]:
        """Run ``change(conn, new_revision)`` in one transaction that bumps the revision."""
        with self._write_lock:
            self._check_open(verb, f"key {key}")
            conn = self._writer
            with self._sqlite_errors(verb, f"key {key}", conn):
                conn.execute("BEGIN IMMEDIATE")
                current, compacted = self._meta(conn)
                revision = current + 1
                result = change(conn, revision)
                conn.execute("UPDATE meta SET revision = ?", (revision,))
                if revision - compacted > self.keep_events:
                    self._delete_events(conn, revision - self.keep_events)
                conn.execute("COMMIT")
            with self.changed:  # still under the write lock: published in commit order
                self._head = revision
                self.changed.notify_all()
        log.debug("Stored change verb=%s key=%s revision=%d", verb, key, revision)
        return result, revision

    @staticmethod
    def _current(conn: sqlite3.Connection, key: str) -> tuple[str, int, int] | None:
        row = conn.execute("SELECT value, mod_revision, create_revision FROM kv WHERE key = ?",
                           (key,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    @staticmethod
    def _delete_events(conn: sqlite3.Connection, upto: int) -> None:
        conn.execute("DELETE FROM events WHERE revision <= ?", (upto,))
        conn.execute("UPDATE meta SET compacted = ?", (upto,))

    def create(self, key: str, value: dict[str, Any]) -> int:
        text = _encode("create", key, value)

        def change(conn: sqlite3.Connection, revision: int) -> None:
            if self._current(conn, key) is not None:
                raise KeyExists(key)
            conn.execute("INSERT INTO kv VALUES (?, ?, ?, ?)", (key, text, revision, revision))
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, NULL)",
                         (revision, ADDED, key, text))

        return self._write("create", key, change)[1]

    def update(self, key: str, value: dict[str, Any],
               expected_revision: int | None = None) -> int:
        text = _encode("update", key, value)

        def change(conn: sqlite3.Connection, revision: int) -> None:
            prev = self._checked(conn, "update", key, expected_revision)
            conn.execute("UPDATE kv SET value = ?, mod_revision = ? WHERE key = ?",
                         (text, revision, key))
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                         (revision, MODIFIED, key, text, prev))

        return self._write("update", key, change)[1]

    def delete(self, key: str,
               expected_revision: int | None = None) -> tuple[dict[str, Any], int]:
        def change(conn: sqlite3.Connection, revision: int) -> str:
            prev = self._checked(conn, "delete", key, expected_revision)
            conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                         (revision, DELETED, key, prev, prev))
            return prev

        prev, revision = self._write("delete", key, change)
        return json.loads(prev), revision

    def _checked(self, conn: sqlite3.Connection, verb: str, key: str,
                 expected_revision: int | None) -> str:
        """The key's current value; KeyNotFound / Conflict when it must not be changed."""
        current = self._current(conn, key)
        if current is None:
            raise KeyNotFound(verb, key)
        if expected_revision is not None and current[1] != expected_revision:
            raise Conflict(verb, key, expected_revision, current[1])
        return current[0]

    def compact(self, revision: int) -> None:
        with self._write_lock:
            self._check_open("compact", "store")
            conn = self._writer
            with self._sqlite_errors("compact", f"store {self.path}", conn):
                conn.execute("BEGIN IMMEDIATE")
                current, compacted = self._meta(conn)
                if revision > current:
                    raise StoreError(f"failed to compact store {self.path} to revision "
                                     f"{revision}: it is newer than the store ({current})")
                if revision > compacted:
                    self._delete_events(conn, revision)
                conn.execute("COMMIT")
        log.debug("Compacted store path=%s revision=%d", self.path, revision)

    # --- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every watch, then the connections. May run twice."""
        with self._write_lock, self._pool_lock:
            if self._closed:
                return
            self._closed = True
            watches = builtins.list(self._watches)
            idle, self._idle = self._idle, []
        for watch in watches:
            watch.close()
        with self._write_lock:
            for conn in [*idle, self._writer]:
                conn.close()
        log.debug("Closed store path=%s", self.path)

    def __enter__(self) -> SqliteBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
