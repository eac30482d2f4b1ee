"""Fixtures shared by the unit tests.

``api`` is a fresh API server per test (see :mod:`tests.apiserver`); modules that need a
richer set-up (a stand-in kubelet, TLS) define their own ``api`` fixture, which takes
precedence over this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py.client import Client
from tests.apiserver import api_server


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[Client]:
    with api_server(tmp_path / "store.db") as client:
        yield client
