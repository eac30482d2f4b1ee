"""Fixtures for root tests that run a whole node through the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.node.nodeharness import TestNode


@pytest.fixture(scope="session")
def shared_image_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One image store for the session (busybox is built once, nginx at most once)."""
    return str(tmp_path_factory.mktemp("images"))


@pytest.fixture
def node(tmp_path, test_names, shared_image_store) -> Iterator[TestNode]:
    n = TestNode(str(tmp_path), test_names, shared_image_store)
    try:
        yield n
    finally:
        n.close()
        assert not os.path.exists(os.path.join(n.state, "pods")), "node reset left pods/"
