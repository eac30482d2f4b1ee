"""An API server for tests: real HTTP on a free port of 127.0.0.1, a temporary SQLite store.

No root and no kernel object: the unit tests of the API server and the control-plane tests
(controllers, scheduler, hollow nodes) talk to it with the project's REST client, exactly
as kubectl and the components do in a running cluster.

    with api_server(tmp_path / "store.db") as client:
        client.create(must("pods"), pod, "default")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from minikube_py.client import Client


@contextmanager
def api_server(db_path: Path) -> Iterator[Client]:
    """A running API server (its store at ``db_path``); yields a client of it."""
    from minikube_py.apiserver.server import APIServer

    server = APIServer(str(db_path), port=0)
    server.start()
    try:
        yield Client(server.url)
    finally:
        server.stop()
