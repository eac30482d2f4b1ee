"""The pod sandbox: everything a pod's containers share, created before any of them.

A sandbox is SyncPod's step 4. For one pod it is:

- a **network namespace** pinned at ``/run/netns/<prefix>-<pod>-<uid8>`` (``ip netns list``);
- its **IPC and UTS namespaces**, pinned under ``<state>/pods/<uid>/sandbox/ns/`` (the UTS
  namespace carries the pod's hostname);
- a **veth pair**: ``eth0`` inside the netns with the pod IP and a default route via the
  bridge's gateway, and ``<prefix><uid>`` on the host, plugged into ``br0`` (``bridge link``);
- the pod's **cgroup** ``<parent>/pod<uid>`` with the pod-wide pids limit;
- the files every container sees: ``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf``.

We do not run a pause process: bind mounts keep the namespaces alive, as CRI-O's ``pinns``
does. Creation undoes itself if any step fails (see ``create_pod_sandbox``); deletion may run
any number of times.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

import bridge
from minikube_py.config import NodeConfig
from runtime import sandbox as runtime_sandbox
from runtime.cgroups import CgroupDriver, Resources

log = logging.getLogger(__name__)

#: Test hook: called with the step name after each step; raising there simulates a failure.
fail_after_step = None


@dataclass
class SandboxInfo:
    """What ``sandbox.json`` records about a pod's sandbox (``cat`` it)."""

    netns: str
    netns_path: str
    host_veth: str
    ip: str
    address: str
    gateway: str
    ipc: str
    uts: str
    cgroup: str
    created_at: float


def sandbox_dir(config: NodeConfig, uid: str) -> str:
    return os.path.join(config.pod_dir(uid), "sandbox")


def find_pod_sandbox(config: NodeConfig, uid: str) -> SandboxInfo | None:
    """The recorded sandbox, if its network namespace is still there."""
    path = os.path.join(sandbox_dir(config, uid), "sandbox.json")
    try:
        with open(path) as f:
            info = SandboxInfo(**json.load(f))
    except (OSError, ValueError, TypeError):
        return None
    if not os.path.exists(info.netns_path):
        return None
    return info


def _step_done(name: str) -> None:
    if fail_after_step is not None:
        fail_after_step(name)


def _pod_files(config: NodeConfig, pod: dict[str, Any], ip: str) -> dict[str, str]:
    """Contents of the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf."""
    meta = pod["metadata"]
    hostname = pod["spec"].get("hostname") or meta["name"]
    hosts = (
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        f"{ip}\t{hostname}\n"
    )
    if config.cluster_dns:
        ns = meta.get("namespace", "default")
        domain = config.cluster_domain
        resolv = (
            f"search {ns}.svc.{domain} svc.{domain} {domain}\n"
            f"nameserver {config.cluster_dns}\noptions ndots:5\n"
        )
    else:
        try:
            with open("/etc/resolv.conf") as f:
                resolv = f.read()
        except OSError:
            resolv = ""
    return {"hosts": hosts, "hostname": hostname + "\n", "resolv.conf": resolv}


def create_pod_sandbox(
    config: NodeConfig, pod: dict[str, Any], cgroups: CgroupDriver
) -> SandboxInfo:
    """Create the pod's namespaces, network, cgroup and files; undo them all on failure.

    Steps:
    1. the IPC, UTS and network namespaces (hostname = pod name)
    2. the veth pair into the bridge, with an IP from the node's pod CIDR
    3. the pod cgroup
    4. /etc/hosts, /etc/hostname, /etc/resolv.conf
    """
    meta = pod["metadata"]
    uid, name = meta["uid"], meta["name"]
    sdir = sandbox_dir(config, uid)
    netns_name = config.netns_name(name, uid)
    hostname = pod["spec"].get("hostname") or name
    os.makedirs(sdir, exist_ok=True)
    with ExitStack() as undo:
        # Step 1: the namespaces.
        ns = runtime_sandbox.create_sandbox_namespaces(sdir, netns_name, hostname[:63])
        undo.callback(runtime_sandbox.delete_sandbox_namespaces, sdir, netns_name)
        _step_done("namespaces")

        # Step 2: the network.
        net = config.network
        host_veth = bridge.veth_name(config.prefix, uid)
        attachment = bridge.attach(net, ns.net, uid, host_veth)
        undo.callback(bridge.detach, net, uid, host_veth)
        _step_done("network")

        # Step 3: the pod cgroup.
        cgroup = config.pod_cgroup(uid)
        cgroups.ensure(cgroup, Resources(pids_limit=config.pod_pids_limit))
        undo.callback(cgroups.delete, cgroup)
        _step_done("cgroup")

        # Step 4: the files the containers share.
        etc = os.path.join(sdir, "etc")
        os.makedirs(etc, exist_ok=True)
        for filename, content in _pod_files(config, pod, attachment.ip).items():
            with open(os.path.join(etc, filename), "w") as f:
                f.write(content)
        info = SandboxInfo(
            netns=netns_name,
            netns_path=ns.net,
            host_veth=host_veth,
            ip=attachment.ip,
            address=attachment.address,
            gateway=attachment.gateway,
            ipc=ns.ipc,
            uts=ns.uts,
            cgroup=cgroup,
            created_at=time.time(),
        )
        tmp = os.path.join(sdir, "sandbox.json.tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(info), f, indent=2)
        os.replace(tmp, os.path.join(sdir, "sandbox.json"))
        _step_done("files")
        undo.pop_all()
    log.info("Created pod sandbox pod=%s netns=%s ip=%s veth=%s", name, netns_name,
             info.ip, host_veth)
    return info


def pod_files(config: NodeConfig, uid: str) -> dict[str, str]:
    """Container path -> host file, for bind-mounting the pod's shared /etc files."""
    etc = os.path.join(sandbox_dir(config, uid), "etc")
    return {f"/etc/{n}": os.path.join(etc, n) for n in ("hosts", "hostname", "resolv.conf")}


def delete_pod_sandbox(
    config: NodeConfig, uid: str, pod_name: str, cgroups: CgroupDriver
) -> None:
    """Tear the sandbox down: network, namespaces, cgroup, files. Safe to run twice."""
    sdir = sandbox_dir(config, uid)
    bridge.detach(config.network, uid, bridge.veth_name(config.prefix, uid))
    runtime_sandbox.delete_sandbox_namespaces(sdir, config.netns_name(pod_name, uid))
    cgroup = config.pod_cgroup(uid)
    cgroups.kill_all(cgroup)
    cgroups.delete(cgroup)
    shutil.rmtree(sdir, ignore_errors=True)
    log.info("Deleted pod sandbox pod=%s uid=%s", pod_name, uid)
