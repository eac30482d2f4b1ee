"""The kubelet's usage summary (``GET /stats/summary``): what ``kubectl top`` is built from.

A real kubelet serves ``/stats/summary`` on port 10250: for the node and for each pod and
container it reports *cumulative* counters read from the kernel — CPU time used since the
start (``usageCoreNanoSeconds``) and the memory **working set** (``workingSetBytes``: memory
in use minus the page cache the kernel could drop, which is what the OOM killer looks at).
metrics-server scrapes it from every node and turns two samples into a rate; our API server
does the same (``minikube_py/apiserver/metrics.py``).

Where the numbers come from:

- a container: its cgroup (``<cgroup parent>/pod<uid>/<name>-<restart>``). On cgroup v1
  ``cpuacct.usage`` (ns) and ``memory.usage_in_bytes`` minus ``total_inactive_file`` of
  ``memory.stat``; on v2 ``cpu.stat`` ``usage_usec`` and ``memory.current`` minus
  ``inactive_file``;
- a pod: the same files of its pod cgroup (``<cgroup parent>/pod<uid>``);
- the node: ``/proc/stat`` (the ``cpu`` line: user+nice+system+irq+softirq+steal, in clock
  ticks of 1/``getconf CLK_TCK`` s) and ``/proc/meminfo`` (working set = MemTotal -
  MemAvailable).

See them yourself::

    curl -s http://<node ip>:<kubelet port>/stats/summary | python3 -m json.tool
    cat /sys/fs/cgroup/cpuacct/minikube-py/pod<uid>/<ctr>-0/cpuacct.usage     # v1
    cat /sys/fs/cgroup/memory/minikube-py/pod<uid>/<ctr>-0/memory.usage_in_bytes
    head -1 /proc/stat; grep -E 'MemTotal|MemAvailable' /proc/meminfo
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from minikube_py.config import NodeConfig
from minikube_py.kubelet.logs import instance_dirs
from runtime import container as rt
from runtime.cgroups import CgroupDriver, CgroupStats

log = logging.getLogger(__name__)

Pod = dict[str, Any]
PodLookup = Callable[[str, str], "Pod | None"]
#: The /proc/stat ``cpu`` columns that count as "busy" (guest time is already in user).
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)  # user nice system [idle iowait] irq softirq steal


def rfc3339(t: float) -> str:
    """``2025-01-02T03:04:05.123456Z``: sample times need sub-second precision for rates."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_proc_stat_cpu_ns(text: str, clock_ticks: int) -> int:
    """CPU time the whole machine spent busy, in nanoseconds, from ``/proc/stat``."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            busy = sum(values[i] for i in BUSY_COLUMNS if i < len(values))
            return busy * 1_000_000_000 // clock_ticks
    raise ValueError("no cpu line in /proc/stat")


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes: ``{"MemTotal": 8232321024, ...}``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[key.strip()] = int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
    return out


def node_usage(proc: str = "/proc") -> dict[str, Any]:
    """The node's ``cpu`` and ``memory`` blocks of the summary."""
    with open(os.path.join(proc, "stat")) as f:
        cpu_ns = parse_proc_stat_cpu_ns(f.read(), os.sysconf("SC_CLK_TCK"))
    stamp = rfc3339(time.time())
    with open(os.path.join(proc, "meminfo")) as f:
        mem = parse_meminfo(f.read())
    total, available = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
    return {"cpu": {"time": stamp, "usageCoreNanoSeconds": cpu_ns},
            "memory": {"time": stamp, "availableBytes": available,
                       "usageBytes": total - mem.get("MemFree", 0),
                       "workingSetBytes": max(0, total - available)}}


def usage_blocks(stats: CgroupStats, t: float) -> dict[str, Any]:
    """A cgroup's counters as the summary's ``cpu`` and ``memory`` blocks."""
    stamp = rfc3339(t)
    return {"cpu": {"time": stamp, "usageCoreNanoSeconds": stats.cpu_usage_ns},
            "memory": {"time": stamp, "usageBytes": stats.memory_usage_bytes,
                       "workingSetBytes": stats.memory_working_set_bytes}}


def pod_ref_from_log_path(log_path: str) -> tuple[str, str, str] | None:
    """(namespace, name, uid) from ``.../<ns>_<pod>_<uid>/<ctr>/<n>.log`` (names have no _)."""
    parts = os.path.basename(os.path.dirname(os.path.dirname(log_path))).split("_")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def running_containers(config: NodeConfig, uid: str) -> list[dict[str, Any]]:
    """labels.json (+ ``started_at``) of each running container instance of a pod."""
    root = os.path.join(config.pod_dir(uid), "containers")
    found = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        for bundle in instance_dirs(config, uid, name)[:1]:
            try:
                state = rt.container_state(bundle)
                with open(os.path.join(bundle, "labels.json")) as f:
                    labels = json.load(f)
            except (OSError, ValueError, rt.ContainerNotFound):
                continue
            if state.status == "running":
                found.append(dict(labels, started_at=state.started_at))
    return found


def pod_summary(config: NodeConfig, cgroups: CgroupDriver, uid: str,
                lookup: PodLookup | None) -> dict[str, Any] | None:
    """One pod's entry (None if no container runs or the pod is no longer wanted here)."""
    containers = running_containers(config, uid)
    if not containers:
        return None
    ref = pod_ref_from_log_path(containers[0].get("log_path", ""))
    if ref is None or ref[2] != uid:
        return None
    namespace, name, _ = ref
    if lookup is not None:
        wanted = lookup(namespace, name)
        if wanted is None or wanted["metadata"].get("uid") != uid:
            return None
    entries = []
    for labels in containers:
        try:
            stats = cgroups.stats(labels["cgroup"])
        except Exception as e:  # the container just exited: its cgroup is gone
            log.debug("Skipped container stats cgroup=%s err=%s", labels["cgroup"], e)
            continue
        started = labels.get("started_at")
        entries.append({"name": labels["container"],
                        "startTime": rfc3339(started) if started else None,
                        **usage_blocks(stats, time.time())})
    if not entries:
        return None
    entry: dict[str, Any] = {"podRef": {"name": name, "namespace": namespace, "uid": uid},
                             "containers": entries}
    try:
        entry.update(usage_blocks(cgroups.stats(config.pod_cgroup(uid)), time.time()))
    except Exception as e:
        log.debug("Skipped pod stats uid=%s err=%s", uid, e)
    return entry


def summary(config: NodeConfig, cgroups: CgroupDriver, lookup: PodLookup | None = None
            ) -> dict[str, Any]:
    """The whole ``/stats/summary`` document: the node, then every running pod."""
    pods = []
    root = config.pods_dir
    for uid in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        entry = pod_summary(config, cgroups, uid, lookup)
        if entry is not None:
            pods.append(entry)
    return {"node": {"nodeName": config.node_name, **node_usage()}, "pods": pods}
