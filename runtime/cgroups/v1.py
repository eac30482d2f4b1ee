"""cgroup v1: one directory tree per controller, driven through cgroupspy.

In cgroup v1 each controller is its own filesystem, mounted at
``/sys/fs/cgroup/<controller>``. A container's cgroup is therefore *several* directories
with the same relative path, one per controller we use:

    /sys/fs/cgroup/cpu/minikube-py/pod<uid>/<ctr>       cpu.shares, cpu.cfs_quota_us
    /sys/fs/cgroup/cpuacct/minikube-py/pod<uid>/<ctr>   cpuacct.usage (CPU time used, ns)
    /sys/fs/cgroup/memory/minikube-py/pod<uid>/<ctr>    memory.limit_in_bytes, oom_control
    /sys/fs/cgroup/pids/minikube-py/pod<uid>/<ctr>      pids.max, pids.current

and a process is placed in it by writing its PID to ``cgroup.procs`` in each of them.

cgroupspy (``cgroupspy.nodes.Node`` and its controllers) models these trees: we build the
node for each level, create missing levels with ``Node.create_cgroup`` and set values
through its controller properties (``node.controller.shares = 256``). cgroupspy has no
``pids`` controller, so ``pids.max``, ``pids.current`` and ``cgroup.procs`` of the pids
hierarchy are written and read as plain files. Removal is our own ``rmdir``, children first,
because we must retry while a just-killed cgroup is busy.

See it by hand::

    ls /sys/fs/cgroup/memory/minikube-py/
    cat /sys/fs/cgroup/memory/minikube-py/pod<uid>/<ctr>/memory.limit_in_bytes
    cat /sys/fs/cgroup/memory/minikube-py/pod<uid>/<ctr>/memory.oom_control   # oom_kill N
    cat /proc/<pid>/cgroup
"""

from __future__ import annotations

import functools
import os

from cgroupspy.nodes import Node

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
    read_procs,
    read_text,
    subtree_dirs,
)

#: The v1 controllers a container gets, in the order we create and fill them.
CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")

#: The files ``limits()`` shows, by controller.
LIMIT_FILES = {
    "cpu": ("cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"),
    "memory": ("memory.limit_in_bytes",),
    "pids": ("pids.max",),
}


class V1Driver(CgroupDriver):
    """cgroups v1 at ``root`` (``/sys/fs/cgroup``): cpu, cpuacct, memory and pids."""

    version = "v1"

    def __init__(self, root: str = "/sys/fs/cgroup") -> None:
        super().__init__(root)
        self.controllers = [c for c in CONTROLLERS if os.path.isdir(os.path.join(root, c))]

    # --- cgroupspy nodes -----------------------------------------------------------------

    def _node(self, controller: str, parts: list[str]) -> Node:
        """cgroupspy's node for ``<root>/<controller>/<parts...>`` (nothing is created)."""
        node = Node(self.root.encode())
        node = Node(controller.encode(), parent=node)
        for part in parts:
            node = Node(part.encode(), parent=node)
        return node

    def _dir(self, controller: str, path: str) -> str:
        return os.path.join(self.root, controller, *check_relative_path(path))

    def _ensure_node(self, controller: str, parts: list[str]) -> Node:
        """Create each missing level with ``Node.create_cgroup`` (``mkdir``); return the leaf."""
        node = self._node(controller, [])
        for part in parts:
            directory = os.path.join(os.fsdecode(node.full_path), part)
            if not os.path.isdir(directory):
                cgroup_mkdir(directory, functools.partial(node.create_cgroup, part))
            node = Node(part.encode(), parent=node)
        return node

    # --- the driver ----------------------------------------------------------------------

    def ensure(self, path: str, resources: Resources | None = None) -> None:
        """Create ``path`` in every controller, then write the limits that are set.

        ``None`` fields leave the kernel's value alone (an unset CPU request keeps the
        default 1024 shares rather than BestEffort's 2: we do not know the pod's QoS here).
        """
        parts = check_relative_path(path)
        nodes = {c: self._ensure_node(c, parts) for c in self.controllers}
        if resources is not None:
            self._apply(nodes, resources)

    def _apply(self, nodes: dict[str, Node], res: Resources) -> None:
        def set_(controller: str, attr: str, filename: str, value: int) -> None:
            node = nodes[controller]
            cgroup_write(
                os.fsdecode(node.full_path),
                filename,
                value,
                lambda: setattr(node.controller, attr, value),
            )

        if "cpu" in nodes and res.cpu_request_millis is not None:
            set_("cpu", "shares", "cpu.shares", milli_cpu_to_shares(res.cpu_request_millis))
        if "cpu" in nodes and res.cpu_limit_millis is not None:
            set_("cpu", "cfs_period_us", "cpu.cfs_period_us", CPU_PERIOD_US)
            quota = milli_cpu_to_quota(res.cpu_limit_millis)
            set_("cpu", "cfs_quota_us", "cpu.cfs_quota_us", quota)
        if "memory" in nodes and res.memory_limit_bytes is not None:
            set_("memory", "limit_in_bytes", "memory.limit_in_bytes", res.memory_limit_bytes)
        if "pids" in nodes and res.pids_limit is not None:
            # cgroupspy has no pids controller: a plain write.
            cgroup_write(os.fsdecode(nodes["pids"].full_path), "pids.max", res.pids_limit)

    def add_process(self, path: str, pid: int) -> None:
        """``echo PID > cgroup.procs`` in each controller (cgroupspy's ``controller.procs``)."""
        parts = check_relative_path(path)
        for controller in self.controllers:
            node = self._node(controller, parts)
            directory = os.fsdecode(node.full_path)
            setter = None  # pids: cgroupspy has no controller for it, a plain write
            if node.controller is not None:
                setter = functools.partial(setattr, node.controller, "procs", [pid])
            cgroup_write(directory, "cgroup.procs", pid, setter)

    def pids(self, path: str) -> list[int]:
        """PIDs in exactly this cgroup, in any of our controllers."""
        found: set[int] = set()
        for controller in self.controllers:
            found.update(read_procs(self._dir(controller, path)))
        return sorted(found)

    def _subtree_pids(self, path: str) -> list[int]:
        found: set[int] = set()
        for controller in self.controllers:
            for directory in subtree_dirs(self._dir(controller, path)):
                found.update(read_procs(directory))
        return sorted(found)

    def stats(self, path: str) -> CgroupStats:
        """cpuacct.usage, memory.usage_in_bytes, memory.stat, memory.oom_control, pids.current.

        Memory and CPU values are read through cgroupspy; ``pids.current`` directly.
        """
        parts = check_relative_path(path)
        try:
            cpu_ns = self._node("cpuacct", parts).controller.usage or 0
            memory = self._node("memory", parts).controller
            usage = memory.usage_in_bytes or 0
            inactive = memory.stat.get("total_inactive_file", 0)
            oom_kills = memory.oom_control.get("oom_kill", 0)
        except (OSError, ValueError) as e:
            raise CgroupError.failed("read", "cgroup stats", path, e) from e
        pids_text = read_text(os.path.join(self._dir("pids", path), "pids.current"))
        return CgroupStats(
            cpu_usage_ns=int(cpu_ns),
            memory_usage_bytes=int(usage),
            memory_working_set_bytes=max(0, int(usage) - int(inactive)),
            pids_current=int(pids_text or 0),
            oom_kills=int(oom_kills),
        )

    def kill_all(self, path: str) -> None:
        """SIGKILL every PID in ``cgroup.procs`` of the subtree until none is left."""
        kill_until_empty(self._dir("pids", path), lambda: self._subtree_pids(path))

    def delete(self, path: str) -> None:
        """``rmdir`` the cgroup and its children in every controller; idempotent."""
        for controller in self.controllers:
            for directory in subtree_dirs(self._dir(controller, path)):
                cgroup_rmdir(directory)

    def paths(self, path: str) -> dict[str, str]:
        return {c: self._dir(c, path) for c in self.controllers}

    def limits(self, path: str) -> dict[str, str]:
        result: dict[str, str] = {}
        for controller, files in LIMIT_FILES.items():
            if controller not in self.controllers:
                continue
            for filename in files:
                text = read_text(os.path.join(self._dir(controller, path), filename))
                if text is not None:
                    result[filename] = text
        return result
