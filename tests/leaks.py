"""Find, and remove, kernel objects that tests left behind.

Tests name everything they create with a recognisable prefix (see ``conftest.TestNames``).
:func:`sweep` lists what is still there — network namespaces and links starting with ``mt``,
mounts under pytest's temporary directories or ``/run/netns/mt*``, cgroups named
``minikube-py-test-*``, nftables tables named ``minikube_py_test_*`` and processes living in
those cgroups or running a shim from a test directory — removes it, and returns a description
of each item, so the run can be failed.

:func:`snapshot` counts the same things, for tests that compare before and after.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time

CGROUP_ROOT = "/sys/fs/cgroup"
TEST_CGROUP_GLOB = "minikube-py-test-*"
TEST_TABLE_PREFIX = "minikube_py_test_"
TEST_LINK_PREFIX = "mt"


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


#: When set (by conftest), only objects carrying one of these tags, or living under this
#: directory, count: a run never sweeps away what a concurrent run is still using.
SCOPE: dict[str, object] = {"tags": None, "basetemp": "/pytest-of-"}


def _tagged(name: str, prefix: str) -> bool:
    if not name.startswith(prefix):
        return False
    tags = SCOPE["tags"]
    if tags is None:
        return True
    rest = name[len(prefix):]
    return any(rest.startswith(str(tag)) for tag in tags)  # type: ignore[attr-defined]


def test_netns() -> list[str]:
    if not os.path.isdir("/run/netns"):
        return []
    return sorted(n for n in os.listdir("/run/netns") if _tagged(n, TEST_LINK_PREFIX))


def test_links() -> list[str]:
    names = []
    for line in _run(["ip", "-o", "link", "show"]).splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if _tagged(name, TEST_LINK_PREFIX):
            names.append(name)
    return sorted(names)


def test_mounts() -> list[str]:
    points = []
    base = str(SCOPE["basetemp"])
    with open("/proc/self/mounts") as f:
        for line in f:
            point = line.split()[1].replace("\\040", " ")
            if base in point or _tagged(point, "/run/netns/" + TEST_LINK_PREFIX):
                points.append(point)
    return points


def test_cgroups() -> list[str]:
    found = glob.glob(f"{CGROUP_ROOT}/*/{TEST_CGROUP_GLOB}") + glob.glob(
        f"{CGROUP_ROOT}/{TEST_CGROUP_GLOB}"
    )
    return sorted(p for p in found
                  if os.path.isdir(p) and _tagged(os.path.basename(p), "minikube-py-test-"))


def test_tables() -> list[str]:
    tables = []
    for line in _run(["nft", "list", "tables"]).splitlines():
        parts = line.split()
        if len(parts) == 3 and _tagged(parts[2], TEST_TABLE_PREFIX):
            tables.append(f"{parts[1]} {parts[2]}")
    return tables


def test_processes() -> list[int]:
    """PIDs in test cgroups, or shims, kubelets and ``up`` processes of the project started
    with a state directory under pytest's temporary directory."""
    pids: set[int] = set()
    base = str(SCOPE["basetemp"]).encode()
    for cg in test_cgroups():
        for procs in glob.glob(f"{cg}/**/cgroup.procs", recursive=True):
            try:
                with open(procs) as f:
                    pids.update(int(p) for p in f.read().split())
            except OSError:
                pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if base in cmdline and (b"runtime." in cmdline or b"minikube_py" in cmdline):
            pids.add(int(entry))
    return sorted(pids)


def snapshot() -> dict[str, list]:
    """What test-named kernel objects exist right now, by kind."""
    return {
        "netns": test_netns(),
        "links": test_links(),
        "mounts": test_mounts(),
        "cgroups": test_cgroups(),
        "nft tables": test_tables(),
        "processes": test_processes(),
    }


def sweep() -> list[str]:
    """Remove every leftover test object; return one description per item found."""
    found = [f"{kind}: {item}" for kind, items in snapshot().items() for item in items]
    if not found:
        return []
    for pid in test_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    for point in reversed(test_mounts()):
        _run(["umount", "-l", point])
    for name in test_netns():
        _run(["ip", "netns", "delete", name])
    for name in test_links():
        _run(["ip", "link", "delete", name])
    for table in test_tables():
        _run(["nft", "delete", "table", *table.split()])
    for cg in sorted(test_cgroups(), key=len, reverse=True):
        for sub, _dirs, _files in sorted(os.walk(cg), key=lambda w: -len(w[0])):
            try:
                os.rmdir(sub)
            except OSError:
                pass
    return found
