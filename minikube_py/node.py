"""The node as the CLI sees it: find pods, admit new ones, start and stop the kubelet.

Standalone mode works like a kubelet with static pods: ``node run`` validates a Pod,
gives it a UID, writes it to ``<state>/manifests/<namespace>_<name>.json`` and wakes the
kubelet daemon (started on demand, ``<state>/kubelet.pid``, log in ``<state>/kubelet.log``).
Status comes back in ``<state>/pods/<uid>/status.json``.

The node's settings (bridge, pod CIDR, prefixes) are saved in ``<state>/node.json`` when the
kubelet first starts, so later commands only need the state directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from minikube_py.api.fields import FieldError
from minikube_py.api.pod import check_pod, default_pod
from minikube_py.config import NodeConfig
from minikube_py.errors import MinikubeError, ValidationError
from minikube_py.kubelet.kubelet import wake_kubelet
from minikube_py.kubelet.sync import read_status
from runtime.images import can_provide, parse_ref

Pod = dict[str, Any]


def load_config(state_dir: str, **overrides: Any) -> NodeConfig:
    """The saved node settings, or the defaults; explicit ``overrides`` win."""
    saved: dict[str, Any] = {}
    try:
        with open(os.path.join(state_dir, "node.json")) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        pass
    fields = {f.name for f in dataclasses.fields(NodeConfig)}
    values = {k: v for k, v in saved.items() if k in fields}
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["state_dir"] = state_dir
    return NodeConfig(**values)


def save_config(config: NodeConfig) -> None:
    os.makedirs(config.state_dir, exist_ok=True)
    with open(os.path.join(config.state_dir, "node.json"), "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=2)


def manifest_path(config: NodeConfig, namespace: str, name: str) -> str:
    return os.path.join(config.manifests_dir, f"{namespace}_{name}.json")


def find_pod(config: NodeConfig, name: str, namespace: str = "default") -> Pod | None:
    try:
        with open(manifest_path(config, namespace, name)) as f:
            pod: Pod = json.load(f)
            return pod
    except (OSError, ValueError):
        return None


def get_pod(config: NodeConfig, name: str, namespace: str = "default") -> Pod:
    pod = find_pod(config, name, namespace)
    if pod is None:
        raise MinikubeError(f'pods "{name}" not found in namespace {namespace}')
    return pod


def list_pods(config: NodeConfig) -> list[Pod]:
    pods = []
    root = config.manifests_dir
    for filename in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if filename.endswith(".json"):
            try:
                with open(os.path.join(root, filename)) as f:
                    pods.append(json.load(f))
            except (OSError, ValueError):
                continue
    return pods


def pod_status(config: NodeConfig, pod: Pod) -> dict[str, Any]:
    return read_status(config, pod["metadata"]["uid"]) or {"phase": "Pending"}


def admit_pod(config: NodeConfig, obj: Pod) -> tuple[Pod, bool]:
    """Validate and default a Pod, check its images; returns (pod, created). Creates nothing
    on the node: the kubelet does that once the manifest is written by :func:`submit_pod`."""
    if obj.get("kind") != "Pod":
        raise MinikubeError(
            f"failed to run {obj.get('kind', 'object')} "
            f"{(obj.get('metadata') or {}).get('name', '')}: the standalone node runs Pods "
            "only (kind: Pod); Deployments and Services need the control plane"
        )
    pod = default_pod(obj)
    check_pod(pod)
    _check_images(config, pod)
    meta = pod["metadata"]
    existing = find_pod(config, meta["name"], meta.get("namespace", "default"))
    meta["uid"] = existing["metadata"]["uid"] if existing else str(uuid.uuid4())
    meta.setdefault("creationTimestamp",
                    (existing or {}).get("metadata", {}).get("creationTimestamp")
                    or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    pod["spec"]["nodeName"] = config.node_name
    return pod, existing is None


def _check_images(config: NodeConfig, pod: Pod) -> None:
    store = config.open_image_store()
    errors = []
    spec = pod["spec"]
    for kind in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(kind) or []):
            if (store.find_image(c["image"]) is None and not can_provide(c["image"])
                    and not store.can_pull(parse_ref(c["image"]))):
                errors.append(FieldError.invalid(
                    f"spec.{kind}[{i}].image", c["image"],
                    "image not found in the local store, no built-in recipe for it, and "
                    "Docker Hub pulls are off (built in: busybox, nginx; or import one with "
                    "`minikube-py image import`)"))
    if errors:
        raise ValidationError("Pod", pod["metadata"]["name"], errors)


def submit_pod(config: NodeConfig, pod: Pod) -> None:
    os.makedirs(config.manifests_dir, exist_ok=True)
    meta = pod["metadata"]
    path = manifest_path(config, meta.get("namespace", "default"), meta["name"])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(pod, f, indent=2)
    os.replace(tmp, path)
    wake_kubelet(config)


def remove_pod(config: NodeConfig, pod: Pod) -> None:
    meta = pod["metadata"]
    try:
        os.unlink(manifest_path(config, meta.get("namespace", "default"), meta["name"]))
    except FileNotFoundError:
        pass
    wake_kubelet(config)


# -- the kubelet daemon ------------------------------------------------------------------------
def kubelet_pid(config: NodeConfig) -> int | None:
    try:
        with open(os.path.join(config.state_dir, "kubelet.pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"kubelet" not in f.read():
                return None
        return pid
    except (OSError, ValueError):
        return None


def ensure_kubelet(config: NodeConfig, verbose: bool = False) -> int:
    """Start the kubelet daemon if it is not running; its PID."""
    pid = kubelet_pid(config)
    if pid is not None:
        return pid
    save_config(config)
    sock = os.path.join(config.state_dir, "kubelet.sock")
    if os.path.exists(sock):  # left by a kubelet that was killed: not a sign of life
        os.unlink(sock)
    log_path = os.path.join(config.state_dir, "kubelet.log")
    project_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=project_root)
    argv = [sys.executable, "-m", "minikube_py", "--state-dir", config.state_dir,
            "kubelet"]
    if verbose:
        argv.insert(-1, "-v")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env=env, cwd="/")
    with open(os.path.join(config.state_dir, "kubelet.pid"), "w") as f:
        f.write(f"{proc.pid}\n")
    deadline = time.monotonic() + 15
    while not os.path.exists(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise MinikubeError(f"failed to start kubelet: see {log_path}")
        time.sleep(0.02)
    return proc.pid


def stop_kubelet(config: NodeConfig, timeout: float = 30.0) -> bool:
    """SIGTERM the kubelet daemon and wait for it; False if none was running."""
    pid = kubelet_pid(config)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.05)
    try:
        os.unlink(os.path.join(config.state_dir, "kubelet.pid"))
    except FileNotFoundError:
        pass
    return True
