"""The control plane without a node, for the tests that need no root.

An API server (:mod:`tests.apiserver`: a free port of 127.0.0.1, its SQLite store in the
test's temporary directory), and components (controller manager, scheduler, hollow nodes)
started on top of it and stopped in reverse order. Also the polling helpers the
control-plane tests share.

    with api_server(tmp_path / "store.db") as client:
        with started(ControllerManager(client), Scheduler(client)):
            wait_for("2 pods", lambda: len(live_pods(client, "web")) == 2)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from minikube_py.client import Client
from tests.apiserver import api_server

__all__ = ["api_server", "started", "wait_for", "live_pods"]

Obj = dict[str, Any]


class Component(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@contextmanager
def started(*components: Component) -> Iterator[None]:
    """Start ``components`` in order; stop the started ones in reverse order."""
    stack: list[Component] = []
    try:
        for component in components:
            component.start()
            stack.append(component)
        yield
    finally:
        for component in reversed(stack):
            component.stop()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` every 50 ms until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def live_pods(client: Client, app: str, namespace: str = "default") -> list[Obj]:
    """The pods labelled ``app=<app>`` that are not being deleted."""
    from minikube_py.controllers.base import resource

    items = client.list(resource("pods"), namespace, label_selector=f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]
