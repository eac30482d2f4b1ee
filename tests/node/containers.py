"""Fixtures for container tests: a busybox rootfs, pod namespaces, containers cleaned up.

Use them from a test module with ``pytest_plugins = ["tests.node.containers"]`` (and do
not import this module directly: pytest could then not rewrite its asserts).
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterator

import pytest

from runtime import crilog
from runtime.container import (
    ContainerConfig,
    ContainerState,
    container_state,
    create_container,
    delete_container,
    exit_fd,
    start_container,
)

BUSYBOX = "/bin/busybox"


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image layer: /bin/busybox plus one symlink per applet, and a few empty dirs."""
    root = tmp_path_factory.mktemp("busybox") / "layer"
    for sub in ("bin", "etc", "mnt", "tmp", "root"):
        (root / sub).mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(open(BUSYBOX, "rb").read())
    (root / "bin" / "busybox").chmod(0o755)
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return str(root)


@pytest.fixture
def pod_namespaces(test_names, tmp_path) -> Iterator[dict[str, str]]:
    """A netns (``ip netns add``) and uts + ipc namespaces pinned on files, hostname set."""
    netns, ns_dir = f"{test_names.prefix}c", tmp_path / "ns"
    ns_dir.mkdir()
    pinned = [str(ns_dir / "uts"), str(ns_dir / "ipc")]
    for path in pinned:
        open(path, "w").close()
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["unshare", f"--uts={pinned[0]}", f"--ipc={pinned[1]}",
                        "hostname", f"{test_names.prefix}-pod"], check=True)
        yield {"net": f"/run/netns/{netns}", "uts": pinned[0], "ipc": pinned[1]}
    finally:
        for path in pinned:
            subprocess.run(["umount", path], capture_output=True)
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True)


class Containers:
    """Makes containers in one test's tmp_path and deletes them all at the end."""

    def __init__(self, tmp_path, layer: str, namespaces: dict[str, str]) -> None:
        self.tmp_path, self.layer, self.namespaces = tmp_path, layer, namespaces
        self.bundles: list[str] = []
        self.project_root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

    def config(self, args: list[str], **overrides) -> ContainerConfig:
        n = len(self.bundles)
        self.bundles.append(str(self.tmp_path / f"bundle{n}"))
        values = dict(id=f"ctr{n}", name=f"ctr{n}", bundle_dir=self.bundles[-1],
                      layers=[self.layer], args=args, env=["PATH=/bin", "HOME=/root"],
                      namespaces=self.namespaces,
                      log_path=str(self.tmp_path / "logs" / f"ctr{n}" / "0.log"))
        values.update(overrides)
        return ContainerConfig(**values)  # type: ignore[arg-type]

    def start(self, args: list[str], **overrides) -> ContainerConfig:
        cfg = self.config(args, **overrides)
        create_container(cfg)
        start_container(cfg.bundle_dir)
        return cfg

    def run(self, args: list[str], timeout: float = 10, **overrides) -> tuple[
            ContainerState, list[tuple[str, str, bytes]]]:
        """Create, start, wait for the exit; return the state and (stream, tag, line)s."""
        cfg = self.start(args, **overrides)
        state = wait_exit(cfg.bundle_dir, timeout)
        return state, log_lines(cfg.log_path)

    @staticmethod
    def log_lines(path: str) -> list[tuple[str, str, bytes]]:
        return log_lines(path)

    @staticmethod
    def wait_for_log(path: str, text: bytes, timeout: float = 5) -> None:
        wait_for_log(path, text, timeout)

    def delete_all(self) -> None:
        for bundle in self.bundles:
            delete_container(bundle)


def wait_exit(bundle: str, timeout: float = 10) -> ContainerState:
    fd = exit_fd(container_state(bundle))
    try:
        assert select.select([fd], [], [], timeout)[0], "container did not exit in time"
    finally:
        os.close(fd)
    return container_state(bundle)


def log_lines(path: str) -> list[tuple[str, str, bytes]]:
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return [crilog.parse_line(line)[1:] for line in f]


def wait_for_log(path: str, text: bytes, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in content for _s, _t, content in log_lines(path)):
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


@pytest.fixture
def containers(tmp_path, busybox_rootfs, pod_namespaces) -> Iterator[Containers]:
    made = Containers(tmp_path, busybox_rootfs, pod_namespaces)
    try:
        yield made
    finally:
        made.delete_all()
