"""Control groups: how the node enforces a container's CPU, memory and process limits.

A Kubernetes container's ``resources.requests`` and ``resources.limits`` end up as numbers
in files under ``/sys/fs/cgroup``. The kubelet gives every pod a cgroup and every container
a cgroup inside it; we use ``minikube-py/pod<uid>/<container>``. The kernel then:

- shares CPU time by weight (the request) and caps it per 100 ms period (the limit);
- OOM-kills a process of the cgroup that goes over its memory limit (exit code 137);
- refuses ``fork()`` once the cgroup holds ``pids.max`` tasks;
- counts CPU time, memory and OOM kills, which ``kubectl top`` and ``inspect`` show.

Two kernel interfaces exist. :class:`V1Driver` (``runtime/cgroups/v1.py``) drives cgroup v1,
one hierarchy per controller, through the cgroupspy library; :class:`V2Driver`
(``v2.py``) drives the unified v2 tree by reading and writing its files. :func:`detect_driver`
picks the one the machine uses. Shapes, conversions and the recorded kernel actions are in
``common.py``.

See them by hand::

    mount -t cgroup,cgroup2                        # which hierarchies are mounted where
    cat /proc/self/cgroup                          # the cgroups of your shell
    ls /sys/fs/cgroup/memory/minikube-py/          # v1: our pods, in the memory hierarchy
    ls /sys/fs/cgroup/minikube-py/                 # v2: our pods, in the unified tree
"""

from __future__ import annotations

import os

from runtime.cgroups.common import (
    CgroupDriver,
    CgroupError,
    CgroupStats,
    Resources,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    shares_to_weight,
)
from runtime.cgroups.v1 import V1Driver
from runtime.cgroups.v2 import V2Driver

__all__ = [
    "DEFAULT_ROOT",
    "CgroupDriver",
    "CgroupError",
    "CgroupStats",
    "Resources",
    "V1Driver",
    "V2Driver",
    "cgroup_version",
    "detect_driver",
    "milli_cpu_to_quota",
    "milli_cpu_to_shares",
    "shares_to_weight",
]

DEFAULT_ROOT = "/sys/fs/cgroup"


def cgroup_version(root: str = DEFAULT_ROOT) -> str:
    """``"v2"`` if ``root`` itself is a cgroup2 tree with controllers, else ``"v1"``.

    A v2 root has ``cgroup.controllers``. A hybrid machine (v1 controllers plus an empty
    cgroup2 at ``<root>/unified``) counts as v1: that cgroup2 holds no useful controllers.
    """
    return "v2" if os.path.isfile(os.path.join(root, "cgroup.controllers")) else "v1"


def detect_driver(root: str = DEFAULT_ROOT, version: str | None = None) -> CgroupDriver:
    """The driver for the cgroups at ``root``; ``version`` ("v1"/"v2") forces a choice."""
    chosen = version or cgroup_version(root)
    if chosen in ("v2", "2"):
        return V2Driver(root)
    if chosen in ("v1", "1"):
        return V1Driver(root)
    raise CgroupError.failed("choose", "cgroup driver", repr(chosen), "want 'v1' or 'v2'")
