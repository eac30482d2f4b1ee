"""Shared test set-up: the ``root`` marker, unique name prefixes and the leak sweep.

Root tests (``@pytest.mark.root``) touch real kernel objects; they are skipped when not run
as root. Every kernel object a test creates carries a name from the ``test_names`` fixture
(interfaces and netns start with ``mt``; cgroups live under ``minikube-py-test-*``; nft tables
are named ``minikube_py_test_*``), so that the sweep at the end of the run can find anything
left behind. If it finds something, it removes it and fails the run.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import pytest

from tests import leaks

IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root: touches real kernel objects")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@dataclass(frozen=True)
class TestNames:
    """Names for one test's kernel objects; all carry the same random tag."""

    tag: str  # 4 hex chars

    @property
    def prefix(self) -> str:
        """Interface / netns prefix, e.g. ``mt3f2a`` (6 chars: leaves 9 for a suffix)."""
        return f"mt{self.tag}"

    @property
    def bridge(self) -> str:
        return f"mt{self.tag}br"

    @property
    def cgroup_parent(self) -> str:
        return f"minikube-py-test-{self.tag}"

    @property
    def nft_table(self) -> str:
        return f"minikube_py_test_{self.tag}"


#: Tags handed out in this run: the sweep only looks at objects carrying one of them.
_TAGS: set[str] = set()


@pytest.fixture
def test_names() -> TestNames:
    tag = secrets.token_hex(2)
    _TAGS.add(tag)
    return TestNames(tag)


def pytest_sessionstart(session: pytest.Session) -> None:
    leaks.SCOPE["tags"] = _TAGS
    basetemp = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    leaks.SCOPE["basetemp"] = str(basetemp) + "/"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not IS_ROOT or os.environ.get("MINIKUBE_PY_NO_SWEEP"):
        return
    found = leaks.sweep()
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  - {item}" for item in found)
        message = f"LEAK SWEEP: the tests left kernel objects behind (now removed):\n{lines}\n"
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
