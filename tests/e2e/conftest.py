"""Fixtures for whole-cluster tests (root: the kubelet creates real kernel objects)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.clusterharness import TestCluster


@pytest.fixture(scope="session")
def e2e_image_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("e2e-images"))


@pytest.fixture
def cluster(tmp_path, test_names, e2e_image_store) -> Iterator[TestCluster]:
    c = TestCluster(str(tmp_path), test_names, e2e_image_store)
    c.up()
    try:
        yield c
    finally:
        c.close()
