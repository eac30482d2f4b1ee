"""The store's vocabulary: what it keeps, what a watch delivers, how it fails.

Kubernetes keeps every object in etcd, a key-value store with a *revision*: one counter for
the whole store, bumped by every write. Each key remembers the revision that created it
(``create_revision``) and the one that last changed it (``mod_revision``); the API server
shows ``mod_revision`` to clients as ``metadata.resourceVersion``. Because the counter is
global, "everything that happened after revision N" is a well-defined question — that is what
a watch asks, and why ``kubectl get -w`` can start exactly where a list left off.

:class:`Backend` is the narrow interface the API server needs; minikube-py implements it with
SQLite (:mod:`minikube_py.store.sqlite`), and a real etcd client could implement it too.
Values are JSON objects (Python dicts); the store never looks inside them.

Errors map onto API answers: :class:`KeyExists` -> 409 AlreadyExists, :class:`KeyNotFound`
-> 404 NotFound, :class:`Conflict` -> 409 Conflict, :class:`Compacted` -> 410 Gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from minikube_py.errors import MinikubeError

if TYPE_CHECKING:
    from minikube_py.store.watch import StoreWatch

#: The three kinds of change a watch reports (the same words as a Kubernetes watch).
ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


class StoreError(MinikubeError):
    """The store failed (or was asked something impossible); the message names the key."""


class KeyExists(StoreError):
    """``create`` of a key that is already there."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"failed to create key {key}: key already exists")


class KeyNotFound(StoreError):
    """``update`` or ``delete`` of a key that is not there."""

    def __init__(self, verb: str, key: str):
        self.key = key
        super().__init__(f"failed to {verb} key {key}: key not found")


class Conflict(StoreError):
    """The caller's ``expected_revision`` is not the key's current ``mod_revision``.

    Somebody else wrote the key since the caller read it (optimistic concurrency: the caller
    should read again, reapply its change and retry).
    """

    def __init__(self, verb: str, key: str, expected: int, actual: int):
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(f"failed to {verb} key {key}: revision mismatch "
                         f"(expected {expected}, current {actual})")


class Compacted(StoreError):
    """A watch asked for events the store has already thrown away.

    ``compacted`` is the compaction point: events with a revision up to and including it are
    gone, so only a watch from ``revision >= compacted`` can be served. The API server answers
    410 Gone and the client lists again.
    """

    def __init__(self, prefix: str, revision: int, compacted: int):
        self.prefix = prefix
        self.revision = revision
        self.compacted = compacted
        super().__init__(f"failed to watch prefix {prefix or '/'} from revision {revision}: "
                         f"required revision has been compacted (compacted up to {compacted})")


@dataclass
class KV:
    """One stored key: its value and the revisions that created and last modified it."""

    key: str
    value: dict[str, Any]
    mod_revision: int
    create_revision: int


@dataclass
class WatchEvent:
    """One change, as a watch delivers it.

    ``value`` is the new value (for DELETED: the last value before the delete); ``prev`` is
    the value before the change (None for ADDED). ``revision`` is the revision of the change.
    """

    type: str
    key: str
    value: dict[str, Any]
    revision: int
    prev: dict[str, Any] | None = None


class Backend(Protocol):
    """The narrow interface the API server uses; thread-safe in every implementation."""

    def revision(self) -> int:
        """The store's current revision (the last committed write)."""
        ...

    def get(self, key: str) -> KV | None:
        """The key, or None when it is not there."""
        ...

    def list(self, prefix: str) -> tuple[list[KV], int]:
        """Every key under ``prefix`` sorted by key, and the revision the snapshot was taken at."""
        ...

    def create(self, key: str, value: dict[str, Any]) -> int:
        """Store a new key; returns the new revision. :class:`KeyExists` if it is there."""
        ...

    def update(self, key: str, value: dict[str, Any],
               expected_revision: int | None = None) -> int:
        """Replace a key's value; returns the new revision. KeyNotFound / Conflict."""
        ...

    def delete(self, key: str,
               expected_revision: int | None = None) -> tuple[dict[str, Any], int]:
        """Remove a key; returns its last value and the new revision. KeyNotFound / Conflict."""
        ...

    def watch(self, prefix: str, from_revision: int) -> StoreWatch:
        """Every event under ``prefix`` with revision > ``from_revision``, in order."""
        ...

    def compact(self, revision: int) -> None:
        """Forget events with revision <= ``revision``."""
        ...

    def close(self) -> None:
        """Close watches and files; further calls raise StoreError."""
        ...
