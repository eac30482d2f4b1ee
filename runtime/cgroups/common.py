"""What both cgroup drivers share: the data shapes, the unit conversions, the kernel actions.

Kubernetes describes a container's resources as *requests* (what the scheduler reserves)
and *limits* (what the kernel enforces). The kubelet turns them into cgroup files:

==========================  =====================================  =========================
Kubernetes                   cgroup v1 file                          cgroup v2 file
==========================  =====================================  =========================
``requests.cpu: 250m``       ``cpu.shares`` = 250*1024/1000 = 256    ``cpu.weight`` = 10
``limits.cpu: 200m``         ``cpu.cfs_quota_us`` = 20000            ``cpu.max`` = ``20000 100000``
                             (over ``cpu.cfs_period_us`` = 100000)
``limits.memory: 20Mi``      ``memory.limit_in_bytes``               ``memory.max``
(pod pids limit)             ``pids.max``                            ``pids.max``
==========================  =====================================  =========================

The conversions are upstream's (``MilliCPUToShares``, ``MilliCPUToQuota`` in the kubelet
and runc's ``ConvertCPUSharesToCgroupV2Value``), so the numbers match a real node's.

Every change to the cgroup filesystem goes through one of the small functions at the end of
this module, each named after the shell command that does the same by hand
(``cgroup_mkdir`` -> ``mkdir``, ``cgroup_write`` -> ``echo VALUE > FILE``, ``cgroup_rmdir`` ->
``rmdir``, ``kill_process`` -> ``kill -KILL PID``) and recording that command with
:func:`explain.record` first.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import explain
from explain.errors import MinikubeError

#: The CFS period every container gets, in microseconds (the kubelet's default, 100 ms).
CPU_PERIOD_US = 100_000
MIN_SHARES = 2  # the kernel's minimum cpu.shares; also what a BestEffort pod gets upstream
MAX_SHARES = 262_144
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller cfs_quota_us
KILL_TIMEOUT_S = 5.0
RMDIR_BUSY_TIMEOUT_S = 2.0


class CgroupError(MinikubeError):
    """A cgroup could not be created, configured, read, emptied or removed."""


@dataclass(frozen=True)
class Resources:
    """What to enforce on one cgroup; ``None`` leaves the kernel's current value alone."""

    cpu_request_millis: int | None = None  # -> cpu.shares (v1) / cpu.weight (v2)
    cpu_limit_millis: int | None = None  # -> cfs quota over a 100000us period
    memory_limit_bytes: int | None = None
    pids_limit: int | None = None


@dataclass
class CgroupStats:
    """Usage counters of one cgroup (and everything below it), as ``kubectl top`` needs."""

    cpu_usage_ns: int
    memory_usage_bytes: int
    memory_working_set_bytes: int  # usage minus inactive file cache, like cAdvisor
    pids_current: int
    oom_kills: int


class CgroupDriver(ABC):
    """One way of driving cgroups (v1: a hierarchy per controller; v2: one unified tree).

    ``path`` is always relative to the driver's root, e.g. ``minikube-py/pod<uid>/<ctr>``.
    """

    version: str = ""

    def __init__(self, root: str = "/sys/fs/cgroup") -> None:
        self.root = root

    @abstractmethod
    def ensure(self, path: str, resources: Resources | None = None) -> None:
        """Create the cgroup (and its parents) if needed and apply ``resources``."""

    @abstractmethod
    def add_process(self, path: str, pid: int) -> None:
        """Move ``pid`` into the cgroup (``echo PID > cgroup.procs``)."""

    @abstractmethod
    def pids(self, path: str) -> list[int]:
        """The processes in exactly this cgroup; [] if it does not exist."""

    @abstractmethod
    def stats(self, path: str) -> CgroupStats:
        """Usage counters of the cgroup and its descendants."""

    @abstractmethod
    def kill_all(self, path: str) -> None:
        """SIGKILL every process in the cgroup and below; wait until they are gone."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove the cgroup and its descendants (children first); idempotent."""

    @abstractmethod
    def paths(self, path: str) -> dict[str, str]:
        """Controller (or "unified") -> absolute directory, for ``inspect``."""

    @abstractmethod
    def limits(self, path: str) -> dict[str, str]:
        """Limit file name -> its content, for ``inspect``; files not there are left out."""

    def exists(self, path: str) -> bool:
        """True if any directory of the cgroup is still there."""
        return any(os.path.isdir(d) for d in self.paths(path).values())


def milli_cpu_to_shares(millis: int) -> int:
    """``requests.cpu`` in millicores -> ``cpu.shares`` (upstream ``MilliCPUToShares``)."""
    shares = millis * 1024 // 1000
    return max(MIN_SHARES, min(MAX_SHARES, shares))


def milli_cpu_to_quota(millis: int, period_us: int = CPU_PERIOD_US) -> int:
    """``limits.cpu`` in millicores -> microseconds of CPU per period (``MilliCPUToQuota``)."""
    return max(MIN_QUOTA_US, millis * period_us // 1000)


def shares_to_weight(shares: int) -> int:
    """v1 ``cpu.shares`` [2..262144] -> v2 ``cpu.weight`` [1..10000], as runc converts it."""
    return 1 + ((shares - 2) * 9999) // 262142


def check_relative_path(path: str) -> list[str]:
    """Split ``minikube-py/pod1/ctr`` into parts; refuse "", "/x", ".." (never the root!)."""
    parts = path.strip("/").split("/") if path else []
    if not parts or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise CgroupError.failed("use", "cgroup path", repr(path), "want a relative path a/b/c")
    return parts


def read_text(path: str) -> str | None:
    """The stripped content of a cgroup file, or None if the file (or cgroup) is not there."""
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def parse_keyed(text: str | None) -> dict[str, int]:
    """``"usage_usec 12\\nuser_usec 7"`` (cpu.stat, memory.stat, memory.events) -> a dict."""
    result: dict[str, int] = {}
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("-").isdigit():
            result[fields[0]] = int(fields[1])
    return result


def read_procs(directory: str) -> list[int]:
    """PIDs listed in ``<directory>/cgroup.procs`` (``cat .../cgroup.procs``); [] if gone."""
    text = read_text(os.path.join(directory, "cgroup.procs"))
    return [int(p) for p in (text or "").split()]


def subtree_dirs(directory: str) -> list[str]:
    """``directory`` and every cgroup below it, deepest first (the order rmdir needs)."""
    if not os.path.isdir(directory):
        return []
    return [d for d, _subdirs, _files in os.walk(directory, topdown=False)]


def kill_until_empty(name: str, list_pids: Callable[[], list[int]]) -> None:
    """SIGKILL whatever ``list_pids()`` returns until it returns nothing (bounded wait).

    A loop, because a process may fork between our read of cgroup.procs and our kill.
    """
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while pids := list_pids():
        if time.monotonic() > deadline:
            cause = f"{len(pids)} processes still there after {KILL_TIMEOUT_S}s: {pids[:10]}"
            raise CgroupError.failed("empty", "cgroup", name, cause)
        for pid in pids:
            if pid != os.getpid():
                kill_process(pid)
        time.sleep(0.02)


# --- The kernel actions: one shell command each. ---------------------------------------


def cgroup_mkdir(directory: str, create: Callable[[], object] | None = None) -> None:
    """``mkdir DIR``: the kernel fills a new cgroup directory with its interface files.

    ``create`` does the actual mkdir when given (the v1 driver passes cgroupspy's
    ``Node.create_cgroup``); an existing directory is fine.
    """
    explain.record(["mkdir", directory])
    try:
        if create is not None:
            create()
        else:
            os.mkdir(directory)
    except FileExistsError:
        pass
    except OSError as e:
        raise CgroupError.failed("create", "cgroup", directory, e) from e


def cgroup_write(
    directory: str, filename: str, value: object, write: Callable[[], object] | None = None
) -> None:
    """``echo VALUE > DIR/FILE``: one write to one cgroup interface file.

    ``write`` does the write when given (cgroupspy's controller properties, for v1);
    otherwise the file is opened and written directly, as ``echo`` would.
    """
    path = os.path.join(directory, filename)
    explain.record(f"echo {value} > {path}")
    try:
        if write is not None:
            write()
        else:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
    except OSError as e:
        raise CgroupError.failed("write", "cgroup file", path, f"{e} (value {value!r})") from e


def cgroup_rmdir(directory: str) -> None:
    """``rmdir DIR``: remove an empty cgroup; retried briefly while it is still busy.

    A cgroup whose last process was just killed can stay busy for a moment (EBUSY).
    Not there any more is fine (delete may run twice).
    """
    explain.record(["rmdir", directory])
    deadline = time.monotonic() + RMDIR_BUSY_TIMEOUT_S
    while True:
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError.failed("delete", "cgroup", directory, e) from e
            time.sleep(0.05)


def kill_process(pid: int) -> None:
    """``kill -KILL PID``; a process that is already gone is fine."""
    explain.record(["kill", "-KILL", str(pid)])
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
