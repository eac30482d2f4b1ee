"""``node reset``: remove everything the node created, and nothing else.

In order: stop the kubelet; kill every pod (containers, sandboxes, veths, IPs, cgroups,
logs); delete the bridge, the project's nftables table and kube-proxy's; remove the cgroup
parent; sweep network namespaces and veths that carry the node's prefix but belong to no
pod (left by a crash); remove the state directory. The image cache survives unless
``--images`` is given, because building the nginx image takes half a minute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator

import bridge
import netns
from minikube_py import node as nodelib
from minikube_py.config import NodeConfig
from minikube_py.kubelet.kubelet import node_pod_uids
from minikube_py.kubelet.sources import append_event
from minikube_py.kubelet.sync import NodeContext, kill_pod
from minikube_py.proxy import delete_proxy_table, proxy_table
from runtime.cgroups import detect_driver
from runtime.mounts import unmount_under


def _pod_name(config: NodeConfig, uid: str) -> tuple[str, str]:
    try:
        with open(os.path.join(config.pod_dir(uid), "pod.json")) as f:
            meta = json.load(f)["metadata"]
        return meta["name"], meta.get("namespace", "default")
    except (OSError, ValueError, KeyError):
        return "unknown", "default"


def reset_node(config: NodeConfig, remove_images: bool = False,
               keep: set[str] | None = None) -> Iterator[str]:
    """Undo the node, step by step, yielding one line per step for the CLI to print."""
    if nodelib.stop_kubelet(config):
        yield "stopped the kubelet"
    cgroups = detect_driver()
    ctx = NodeContext(config=config, images=config.open_image_store(), cgroups=cgroups,
                      events=lambda pod, *a: append_event(config, pod, *a))
    for uid in node_pod_uids(config):
        name, namespace = _pod_name(config, uid)
        kill_pod(ctx, uid, name, grace=0, namespace=namespace)
        yield f"deleted pod {namespace}/{name}"
    bridge.delete_bridge(config.network)
    yield f"deleted bridge {config.bridge} and nftables table {config.nft_table}"
    if delete_proxy_table(proxy_table(config.nft_table)):
        yield f"deleted kube-proxy's nftables table {proxy_table(config.nft_table)}"
    cgroups.kill_all(config.cgroup_parent)
    cgroups.delete(config.cgroup_parent)
    yield f"deleted cgroup {config.cgroup_parent}"
    for name in netns.list_netns():
        if name.startswith(f"{config.prefix}-"):
            netns.delete_netns(name)
            yield f"deleted leftover network namespace {name}"
    veth = re.compile(rf"^{re.escape(config.prefix)}[0-9a-f]+$")
    for link in sorted(os.listdir("/sys/class/net")):
        if veth.match(link):
            bridge.detach(config.network, "", link)  # only ever deletes a veth
            yield f"deleted leftover veth {link}"
    if os.path.isdir(config.state_dir):
        for point in unmount_under(config.state_dir):  # before rm -rf: see runtime.mounts
            yield f"unmounted leftover {point}"
    keep = set(keep or ()) | ({"images"} if not remove_images else set())
    if os.path.isdir(config.state_dir):
        for entry in os.listdir(config.state_dir):
            if entry not in keep:
                path = os.path.join(config.state_dir, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
    if remove_images and config.image_store:
        shutil.rmtree(config.image_store, ignore_errors=True)
    kept = sorted(k for k in keep if os.path.exists(os.path.join(config.state_dir, k)))
    yield f"removed {config.state_dir}" + (f" (kept {', '.join(kept)})" if kept else "")
