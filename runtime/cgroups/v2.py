"""cgroup v2: one unified tree, driven by reading and writing its files.

In cgroup v2 there is a single hierarchy (``/sys/fs/cgroup`` on current distributions) and
every controller works on the same directories:

    /sys/fs/cgroup/minikube-py/pod<uid>/<ctr>/
        cpu.weight     relative CPU share, 1..10000 (from the request)
        cpu.max        "<quota> <period>", e.g. "20000 100000" for 200m
        memory.max     bytes, or "max"
        pids.max       a number, or "max"
        cgroup.procs   the processes inside
        cgroup.kill    write 1 to SIGKILL everything inside (kernel 5.14+)

A controller only appears in a child after its parent lists it in ``cgroup.subtree_control``
(``echo +cpu +memory +pids > .../cgroup.subtree_control``), so :meth:`V2Driver.ensure`
enables them level by level from the root down. v2's "no internal processes" rule means only
leaves (containers) hold processes; the pod level only groups them.

The driver reads the root's ``cgroup.controllers`` once and otherwise only creates
directories, writes files and reads files: no statfs, no ioctl. That keeps it testable
against a plain directory laid out like cgroupfs (the unit tests override :meth:`_mkdir`
and :meth:`_rmdir` to add and remove the interface files the kernel would).

See it by hand::

    cat /sys/fs/cgroup/cgroup.subtree_control
    cat /sys/fs/cgroup/minikube-py/pod<uid>/<ctr>/{cpu.max,memory.max,pids.max}
    cat /sys/fs/cgroup/minikube-py/pod<uid>/<ctr>/memory.events      # oom_kill N
"""

from __future__ import annotations

import os

from runtime.cgroups.common import (
    CPU_PERIOD_US,
    CgroupDriver,
    CgroupError,
    CgroupStats,
    Resources,
    cgroup_mkdir,
    cgroup_rmdir,
    cgroup_write,
    check_relative_path,
    kill_until_empty,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    parse_keyed,
    read_procs,
    read_text,
    shares_to_weight,
    subtree_dirs,
)

#: The controllers a container gets (when the root offers them).
CONTROLLERS = ("cpu", "memory", "pids")
LIMIT_FILES = ("cpu.weight", "cpu.max", "memory.max", "pids.max")


class V2Driver(CgroupDriver):
    """The unified cgroup v2 hierarchy at ``root``."""

    version = "v2"

    def _dir(self, path: str) -> str:
        return os.path.join(self.root, *check_relative_path(path))

    def _mkdir(self, directory: str) -> None:
        """Create one cgroup directory (the kernel adds its files)."""
        cgroup_mkdir(directory)

    def _rmdir(self, directory: str) -> None:
        """Remove one empty cgroup directory."""
        cgroup_rmdir(directory)

    def available_controllers(self) -> list[str]:
        """Ours among the root's ``cgroup.controllers``."""
        offered = (read_text(os.path.join(self.root, "cgroup.controllers")) or "").split()
        return [c for c in CONTROLLERS if c in offered]

    def _enable_controllers(self, directory: str, wanted: list[str]) -> None:
        """``echo +cpu +memory +pids > DIR/cgroup.subtree_control`` for the missing ones."""
        text = read_text(os.path.join(directory, "cgroup.subtree_control")) or ""
        enabled = {word.lstrip("+") for word in text.split()}
        missing = [c for c in wanted if c not in enabled]
        if missing:
            cgroup_write(directory, "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))

    def ensure(self, path: str, resources: Resources | None = None) -> None:
        """Create each level, enabling our controllers in every parent, then set limits.

        ``None`` fields leave the kernel's value alone.
        """
        parts = check_relative_path(path)
        wanted = self.available_controllers()
        directory = self.root
        for part in parts:
            self._enable_controllers(directory, wanted)
            directory = os.path.join(directory, part)
            if not os.path.isdir(directory):
                self._mkdir(directory)
        if resources is not None:
            self._apply(directory, resources)

    def _apply(self, directory: str, res: Resources) -> None:
        if res.cpu_request_millis is not None:
            weight = shares_to_weight(milli_cpu_to_shares(res.cpu_request_millis))
            cgroup_write(directory, "cpu.weight", weight)
        if res.cpu_limit_millis is not None:
            quota = milli_cpu_to_quota(res.cpu_limit_millis)
            cgroup_write(directory, "cpu.max", f"{quota} {CPU_PERIOD_US}")
        if res.memory_limit_bytes is not None:
            cgroup_write(directory, "memory.max", res.memory_limit_bytes)
        if res.pids_limit is not None:
            cgroup_write(directory, "pids.max", res.pids_limit)

    def add_process(self, path: str, pid: int) -> None:
        cgroup_write(self._dir(path), "cgroup.procs", pid)

    def pids(self, path: str) -> list[int]:
        return sorted(read_procs(self._dir(path)))

    def _subtree_pids(self, path: str) -> list[int]:
        found: set[int] = set()
        for directory in subtree_dirs(self._dir(path)):
            found.update(read_procs(directory))
        return sorted(found)

    def stats(self, path: str) -> CgroupStats:
        """cpu.stat usage_usec, memory.current, memory.stat, memory.events, pids.current."""
        directory = self._dir(path)
        if not os.path.isdir(directory):
            raise CgroupError.failed("read", "cgroup stats", directory, "no such cgroup")

        def read(name: str) -> str:
            return read_text(os.path.join(directory, name)) or ""

        try:
            cpu_usec = parse_keyed(read("cpu.stat")).get("usage_usec", 0)
            usage = int(read("memory.current") or 0)
            inactive = parse_keyed(read("memory.stat")).get("inactive_file", 0)
            oom_kills = parse_keyed(read("memory.events")).get("oom_kill", 0)
            pids_current = int(read("pids.current") or 0)
        except (OSError, ValueError) as e:
            raise CgroupError.failed("read", "cgroup stats", directory, e) from e
        return CgroupStats(
            cpu_usage_ns=cpu_usec * 1000,
            memory_usage_bytes=usage,
            memory_working_set_bytes=max(0, usage - inactive),
            pids_current=pids_current,
            oom_kills=oom_kills,
        )

    def kill_all(self, path: str) -> None:
        """``echo 1 > cgroup.kill`` when the kernel has it, then SIGKILL any stragglers."""
        directory = self._dir(path)
        if not os.path.isdir(directory):
            return
        if os.path.exists(os.path.join(directory, "cgroup.kill")):
            cgroup_write(directory, "cgroup.kill", 1)
        kill_until_empty(directory, lambda: self._subtree_pids(path))

    def delete(self, path: str) -> None:
        for directory in subtree_dirs(self._dir(path)):
            self._rmdir(directory)

    def paths(self, path: str) -> dict[str, str]:
        return {"unified": self._dir(path)}

    def limits(self, path: str) -> dict[str, str]:
        result: dict[str, str] = {}
        for filename in LIMIT_FILES:
            text = read_text(os.path.join(self._dir(path), filename))
            if text is not None:
                result[filename] = text
        return result
