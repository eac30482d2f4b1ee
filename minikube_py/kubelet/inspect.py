"""``node inspect POD``: every kernel object behind a pod, and how to see it yourself.

For a pod this collects, read-only:

- the network namespace (name, file, inode) — ``ip netns list``;
- the veth pair: host side name and ifindex, the pod side's ifindex (each side's ``iflink``
  is the other's index), the bridge it is plugged into and hairpin mode — ``ip link``,
  ``bridge link``;
- the pod's IP and routes inside the namespace — ``ip -n NETNS addr``, ``ip -n NETNS route``;
- the cgroups of the pod and of each container, with their limits — ``cat`` the files;
- each container's main PID, its shim's PID, and the inode of each of its namespaces — two
  processes share a namespace exactly when these numbers match (``ls -l /proc/PID/ns``).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from minikube_py.config import NodeConfig
from minikube_py.kubelet.logs import instance_dirs
from minikube_py.kubelet.podsandbox import find_pod_sandbox
from runtime import container as rt
from runtime.cgroups import detect_driver

NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup")


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _ip_json(argv: list[str]) -> Any:
    try:
        out = subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, timeout=5)
        return json.loads(out.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []


def _network(config: NodeConfig, uid: str) -> dict[str, Any] | None:
    sandbox = find_pod_sandbox(config, uid)
    if sandbox is None:
        return None
    veth = sandbox.host_veth
    sys_dir = f"/sys/class/net/{veth}"
    master = os.path.basename(os.path.realpath(f"{sys_dir}/master")) if os.path.exists(
        f"{sys_dir}/master") else None
    pod_links = _ip_json(["-n", sandbox.netns, "link", "show", "eth0"])
    return {
        "netns": sandbox.netns,
        "netns_file": sandbox.netns_path,
        "netns_inode": os.stat(sandbox.netns_path).st_ino,
        "host_veth": veth,
        "host_ifindex": _read(f"{sys_dir}/ifindex"),
        "host_peer_ifindex": _read(f"{sys_dir}/iflink"),
        "pod_ifname": "eth0",
        "pod_ifindex": pod_links[0].get("ifindex") if pod_links else None,
        "bridge": master,
        "hairpin": _read(f"{sys_dir}/brport/hairpin_mode") == "1",
        "ip": sandbox.ip,
        "address": sandbox.address,
        "gateway": sandbox.gateway,
        "routes": [
            " ".join(str(x) for x in (r.get("dst"), "via" if r.get("gateway") else "",
                                      r.get("gateway") or "", "dev", r.get("dev")) if x)
            for r in _ip_json(["-n", sandbox.netns, "route"])
        ],
        "ipc_ns_file": sandbox.ipc,
        "uts_ns_file": sandbox.uts,
    }


def _container(bundle: str, cgroups: Any) -> dict[str, Any]:
    state = rt.container_state(bundle)
    with open(os.path.join(bundle, "labels.json")) as f:
        labels = json.load(f)
    info: dict[str, Any] = {
        "name": labels["container"], "attempt": labels["attempt"], "status": state.status,
        "pid": state.pid, "shim_pid": state.shim_pid, "bundle": bundle,
        "log": labels.get("log_path"), "cgroup": labels.get("cgroup"),
        "exit_code": state.exit_code,
    }
    if state.status == "running" and state.pid:
        info["namespaces"] = {
            ns: os.readlink(f"/proc/{state.pid}/ns/{ns}") for ns in NAMESPACES
            if os.path.exists(f"/proc/{state.pid}/ns/{ns}")
        }
        try:
            info["cgroup_paths"] = cgroups.paths(labels["cgroup"])
            info["cgroup_limits"] = cgroups.limits(labels["cgroup"])
        except Exception:
            pass
    return info


def inspect_pod(config: NodeConfig, pod: dict[str, Any]) -> dict[str, Any]:
    """A JSON-ready report of the pod's kernel objects."""
    meta = pod["metadata"]
    uid = meta["uid"]
    cgroups = detect_driver()
    report: dict[str, Any] = {
        "pod": meta["name"], "namespace": meta.get("namespace", "default"), "uid": uid,
        "state_dir": config.pod_dir(uid), "network": _network(config, uid),
        "pod_cgroup": config.pod_cgroup(uid), "containers": [],
    }
    try:
        report["pod_cgroup_paths"] = cgroups.paths(config.pod_cgroup(uid))
        report["pod_cgroup_limits"] = cgroups.limits(config.pod_cgroup(uid))
    except Exception:
        pass
    spec = pod["spec"]
    for c in (spec.get("initContainers") or []) + spec["containers"]:
        for bundle in instance_dirs(config, uid, c["name"])[:1]:
            report["containers"].append(_container(bundle, cgroups))
    return report


def render_inspection(r: dict[str, Any]) -> str:
    """The report as text, each fact followed by the command that shows it."""
    out = [f"Pod {r['namespace']}/{r['pod']}  uid {r['uid']}", f"  state: {r['state_dir']}"]
    net = r.get("network")
    if net:
        ns = net["netns"]
        out += [
            "",
            "Network namespace",
            f"  {ns}  (file {net['netns_file']}, inode {net['netns_inode']})",
            "    $ ip netns list",
            "veth pair",
            f"  host side {net['host_veth']} (ifindex {net['host_ifindex']}, peer ifindex "
            f"{net['host_peer_ifindex']})  <->  pod side eth0 (ifindex {net['pod_ifindex']})",
            f"    $ ip link show {net['host_veth']}",
            f"    $ ip -n {ns} link show eth0",
            f"  bridge port of {net['bridge']}, hairpin {'on' if net['hairpin'] else 'off'}",
            f"    $ bridge link show dev {net['host_veth']}",
            "IP and routes (inside the pod)",
            f"  {net['address']}  gateway {net['gateway']}",
            *[f"  route: {route}" for route in net["routes"]],
            f"    $ ip -n {ns} addr show eth0",
            f"    $ ip -n {ns} route",
            f"    $ ip netns exec {ns} ping -c1 {net['gateway']}",
        ]
    else:
        out += ["", "Network: no sandbox (the pod is not running)"]
    out += ["", f"Pod cgroup {r['pod_cgroup']}"]
    for controller, path in (r.get("pod_cgroup_paths") or {}).items():
        out.append(f"  {controller}: {path}")
    for fname, value in (r.get("pod_cgroup_limits") or {}).items():
        out.append(f"  {fname} = {value}")
    for c in r["containers"]:
        out += ["", f"Container {c['name']} (restart {c['attempt']}): {c['status']}"]
        if c.get("pid"):
            out.append(f"  main PID {c['pid']} (host view), shim PID {c['shim_pid']}")
        for ns_name, link in (c.get("namespaces") or {}).items():
            out.append(f"  {ns_name:6} {link}")
        if c.get("namespaces"):
            out.append(f"    $ ls -l /proc/{c['pid']}/ns")
            out.append(f"    $ nsenter --target {c['pid']} --mount --uts --ipc --net --pid -- sh")
        for controller, path in (c.get("cgroup_paths") or {}).items():
            out.append(f"  cgroup {controller}: {path}")
            out.append(f"    $ cat {path}/cgroup.procs")
        for fname, value in (c.get("cgroup_limits") or {}).items():
            out.append(f"  {fname} = {value}")
        out.append(f"  log: {c['log']}")
        out.append(f"    $ cat {c['log']}")
    return "\n".join(out)
