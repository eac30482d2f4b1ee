"""Crash recovery: what a kubelet does when it starts on a node where one died.

Kubernetes concept: the kubelet is not the parent of the containers. Each runs under its own
shim (``runtime/shim.py``, in its own session), which outlives a kubelet killed with
``kill -9``. A restarted kubelet therefore *re-adopts* what it finds: it reads every pod
back from ``<state>/pods/<uid>/`` and the kernel (``observe.py``) — running containers stay
running, a container that died meanwhile has its exit status in ``exit.json`` and is
restarted per ``restartPolicy``. Upstream does the same through the CRI (``ListContainers``,
``ListPodSandbox``) and garbage-collects what belongs to no pod.

What a crash can leave behind is swept here, once, before the first sync. Each kind of object
carries the node's names, and is kept only if a pod directory explains it:

- netns ``<prefix>-<pod>-<uid8>``: no pod directory records that sandbox (``ip netns list``);
- veth ``<prefix><uid hex>`` on our bridge: no pod directory has that UID (``bridge link``);
- IPAM file ``<state>/networks/<net>/<ip>``: its container id (the pod UID) has no pod
  directory (``grep -r . <state>/networks``);
- cgroup ``<parent>/pod<uid>``: no pod directory has that UID; cgroup
  ``pod<uid>/<name>-<attempt>``: that instance's bundle is gone
  (``ls /sys/fs/cgroup/pids/<parent>``);
- shim ``python -m runtime.shim BUNDLE``: BUNDLE is gone or names another shim
  (``ps -ef | grep runtime.shim``) — killing it kills its container too.

Pod directories whose pod is no longer wanted are not handled here: the first reconcile
kills them like any deleted pod (their sandbox pins, shims and IP go with them).

:func:`plan_orphans` is pure (unit-tested); :func:`find_orphans` reads the node;
:func:`remove_orphans` applies the plan and logs each removal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
from dataclasses import dataclass, field

import bridge
import explain
import netns
from bridge.ipam import allocations, release
from minikube_py.config import NodeConfig
from minikube_py.kubelet.observe import read_json
from runtime.cgroups import CgroupDriver

log = logging.getLogger(__name__)


@dataclass
class NodeObjects:
    """What the node has, as read by :func:`find_orphans` (input of :func:`plan_orphans`)."""

    #: pod UID -> the netns names its directory accounts for (sandbox.json, pod.json)
    pod_dirs: dict[str, set[str]] = field(default_factory=dict)
    netns: list[str] = field(default_factory=list)
    veths: list[str] = field(default_factory=list)  # on our bridge, named like ours
    ips: dict[str, tuple[str, str]] = field(default_factory=dict)  # ip -> (uid, ifname)
    pod_cgroups: list[str] = field(default_factory=list)  # "pod<uid>" under the parent
    #: "pod<uid>/<name>-<attempt>" -> does the instance's bundle exist?
    container_cgroups: dict[str, bool] = field(default_factory=dict)
    #: shim pid -> is it the live owner of its bundle (bundle and state.json agree)?
    shims: dict[int, bool] = field(default_factory=dict)


@dataclass
class Orphans:
    """The recovery plan: kernel objects that no pod explains."""

    netns: list[str] = field(default_factory=list)
    veths: list[str] = field(default_factory=list)
    ips: list[tuple[str, str, str]] = field(default_factory=list)  # (ip, uid, ifname)
    cgroups: list[str] = field(default_factory=list)  # relative to the cgroup parent
    shims: list[int] = field(default_factory=list)

    def describe(self) -> list[str]:
        return ([f"shim process {pid}" for pid in self.shims]
                + [f"network namespace {n}" for n in self.netns]
                + [f"veth {v}" for v in self.veths]
                + [f"IP {ip} of {uid}" for ip, uid, _ in self.ips]
                + [f"cgroup {c}" for c in self.cgroups])


def plan_orphans(objects: NodeObjects, prefix: str) -> Orphans:
    """Decide which objects no pod directory explains. Pure."""
    uids = set(objects.pod_dirs)
    named_netns = set().union(*objects.pod_dirs.values()) if objects.pod_dirs else set()
    own_veths = {bridge.veth_name(prefix, uid) for uid in uids}
    return Orphans(
        netns=sorted(n for n in objects.netns
                     if n.startswith(f"{prefix}-") and n not in named_netns),
        veths=sorted(v for v in objects.veths if v not in own_veths),
        ips=sorted((ip, uid, ifname) for ip, (uid, ifname) in objects.ips.items()
                   if uid not in uids),
        cgroups=sorted(
            [c for c in objects.pod_cgroups if c.removeprefix("pod") not in uids]
            + [c for c, has_bundle in objects.container_cgroups.items()
               if not has_bundle and c.split("/")[0].removeprefix("pod") in uids]),
        shims=sorted(pid for pid, owner in objects.shims.items() if not owner),
    )


# -- reading the node -------------------------------------------------------------------------
def _pod_dirs(config: NodeConfig) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    root = config.pods_dir
    for uid in os.listdir(root) if os.path.isdir(root) else []:
        names: set[str] = set()
        sandbox = read_json(os.path.join(root, uid, "sandbox", "sandbox.json"))
        if sandbox and sandbox.get("netns"):
            names.add(sandbox["netns"])
        pod = read_json(os.path.join(root, uid, "pod.json"))
        if pod and (pod.get("metadata") or {}).get("name"):
            names.add(config.netns_name(pod["metadata"]["name"], uid))
        found[uid] = names
    return found


def _our_veths(config: NodeConfig) -> list[str]:
    """Links named ``<prefix><hex>`` (a pod's host veth) that are ports of our bridge."""
    pattern = re.compile(rf"^{re.escape(config.prefix)}[0-9a-f]+$")
    veths = []
    for link in os.listdir("/sys/class/net"):
        if not pattern.match(link):
            continue
        with contextlib.suppress(OSError):
            master = os.path.basename(os.readlink(f"/sys/class/net/{link}/master"))
            if master == config.bridge:
                veths.append(link)
    return veths


def _cgroups(config: NodeConfig, cgroups: CgroupDriver
             ) -> tuple[list[str], dict[str, bool]]:
    pods: set[str] = set()
    containers: dict[str, bool] = {}
    for directory in cgroups.paths(config.cgroup_parent).values():
        for pod in os.listdir(directory) if os.path.isdir(directory) else []:
            if not pod.startswith("pod") or not os.path.isdir(os.path.join(directory, pod)):
                continue
            pods.add(pod)
            for child in os.listdir(os.path.join(directory, pod)):
                name, _, attempt = child.rpartition("-")
                if name and attempt.isdigit() and os.path.isdir(
                        os.path.join(directory, pod, child)):
                    bundle = os.path.join(config.pods_dir, pod.removeprefix("pod"),
                                          "containers", name, attempt)
                    containers[f"{pod}/{child}"] = os.path.isdir(bundle)
    return sorted(pods), containers


def _shims(config: NodeConfig) -> dict[int, bool]:
    """Shim processes of this node's bundles: pid -> does its bundle still name it?"""
    root = config.pods_dir + "/"
    shims: dict[int, bool] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"runtime.shim" not in argv or argv.index(b"runtime.shim") + 1 >= len(argv):
            continue
        bundle = argv[argv.index(b"runtime.shim") + 1].decode(errors="replace")
        if not bundle.startswith(root):
            continue
        state = read_json(os.path.join(bundle, "state.json"))
        shims[int(entry)] = state is not None and state.get("shim_pid") == int(entry)
    return shims


def find_orphans(config: NodeConfig, cgroups: CgroupDriver) -> Orphans:
    """Read the node's objects and plan what to remove."""
    pod_cgroups, container_cgroups = _cgroups(config, cgroups)
    objects = NodeObjects(
        pod_dirs=_pod_dirs(config),
        netns=netns.list_netns(),
        veths=_our_veths(config),
        ips=allocations(config.network) if os.path.isdir(config.network.ipam_dir) else {},
        pod_cgroups=pod_cgroups,
        container_cgroups=container_cgroups,
        shims=_shims(config),
    )
    return plan_orphans(objects, config.prefix)


def kill_shim(pid: int) -> None:
    """``kill -KILL PID``: the container init dies with it (PDEATHSIG), the pid ns with it."""
    explain.record(f"kill -KILL {pid}")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def remove_orphans(config: NodeConfig, cgroups: CgroupDriver) -> Orphans:
    """Find and remove what a crashed kubelet left behind; returns what was removed."""
    orphans = find_orphans(config, cgroups)
    for pid in orphans.shims:
        kill_shim(pid)
    for name in orphans.netns:
        netns.delete_netns(name)
    for veth in orphans.veths:
        bridge.detach(config.network, "", veth)  # deletes a veth only, never another kind
    for _ip, uid, ifname in orphans.ips:
        release(config.network, uid, ifname)
    for cgroup in orphans.cgroups:
        path = f"{config.cgroup_parent}/{cgroup}"
        cgroups.kill_all(path)
        cgroups.delete(path)
    for line in orphans.describe():
        log.info("Removed orphan object=%r", line)
    return orphans
