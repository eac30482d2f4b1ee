"""What is actually on the node for a pod (upstream: the runtime's PodStatus, via PLEG).

The kubelet never keeps this in memory only: it reads it back from the kernel and from the
files the runtime writes, so a restarted kubelet sees exactly what was running before it
died. For a pod with UID ``u``:

- sandbox: ``<state>/pods/u/sandbox/sandbox.json`` and the netns it names;
- containers: every instance directory ``<state>/pods/u/containers/<name>/<attempt>/``,
  with the runtime's ``state.json`` / ``exit.json`` and the kubelet's ``labels.json``;
- ``<state>/pods/u/containers/<name>/waiting.json`` when the last try failed before an
  instance existed (image pull, securityContext): reason, message, time, try count.

When an instance is first seen exited, :func:`finalize_exit` decides its reason (OOMKilled
if its cgroup counted an OOM kill, else Completed or Error), writes ``result.json`` and frees
its cgroup.
"""

from __future__ import annotations

import json
import os
from typing import Any

from minikube_py.config import NodeConfig
from minikube_py.kubelet.plan import ObservedContainer, ObservedPod, Waiting
from minikube_py.kubelet.podsandbox import find_pod_sandbox
from runtime import container as rt
from runtime.cgroups import CgroupDriver

WAITING = "waiting.json"


def read_json(path: str) -> dict[str, Any] | None:
    """A JSON object from ``path``; None if it is missing, unreadable or not an object."""
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def finalize_exit(bundle: str, labels: dict[str, Any], state: rt.ContainerState,
                  cgroups: CgroupDriver) -> dict[str, Any]:
    """Decide why an exited instance stopped, remember it, and free its cgroup."""
    result = read_json(os.path.join(bundle, "result.json"))
    if result is not None:
        return result
    cgroup = labels.get("cgroup")
    oom = 0
    if cgroup:
        try:
            oom = cgroups.stats(cgroup).oom_kills
        except Exception:
            oom = 0
    if oom and state.signal == 9 or oom and state.exit_code == 137:
        reason = "OOMKilled"
    elif state.status == "unknown":
        reason = "Unknown"
    else:
        reason = "Completed" if state.exit_code == 0 else "Error"
    result = {"reason": reason, "message": None}
    tmp = os.path.join(bundle, "result.json.tmp")
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, os.path.join(bundle, "result.json"))
    if cgroup:
        cgroups.kill_all(cgroup)
        cgroups.delete(cgroup)
    return result


def observe_container(bundle: str, cgroups: CgroupDriver) -> ObservedContainer | None:
    labels = read_json(os.path.join(bundle, "labels.json"))
    if labels is None:
        return None
    try:
        state = rt.container_state(bundle)
    except rt.ContainerNotFound:
        return None  # labelled, never created (a kubelet died right then): start it anew
    observed = ObservedContainer(
        name=labels["container"],
        attempt=int(labels["attempt"]),
        bundle_dir=bundle,
        status=state.status,
        spec_hash=labels.get("hash", ""),
        backoff_step=int(labels.get("backoff_step", 0)),
        image_id=labels.get("image_id", ""),
        started_at=state.started_at,
        pid=state.pid,
    )
    if state.status in ("exited", "unknown"):
        result = finalize_exit(bundle, labels, state, cgroups)
        observed.exit_code = state.exit_code if state.exit_code is not None else 255
        observed.signal = state.signal
        observed.finished_at = state.finished_at or state.started_at or state.created_at
        observed.reason = result.get("reason")
        observed.message = result.get("message")
        if observed.started_at is None:
            observed.started_at = observed.finished_at
    return observed


def observe_pod(config: NodeConfig, uid: str, cgroups: CgroupDriver) -> ObservedPod:
    """Read the sandbox and all container instances of a pod back from the node."""
    sandbox = find_pod_sandbox(config, uid)
    pod = ObservedPod(sandbox_ready=sandbox is not None, ip=sandbox.ip if sandbox else None)
    root = os.path.join(config.pod_dir(uid), "containers")
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        instances = []
        for attempt in os.listdir(os.path.join(root, name)):
            if attempt.isdigit():
                found = observe_container(os.path.join(root, name, attempt), cgroups)
                if found is not None:
                    instances.append(found)
        instances.sort(key=lambda c: c.attempt, reverse=True)
        if instances:
            pod.containers[name] = instances
        waiting = read_json(os.path.join(root, name, WAITING))
        if waiting is not None:
            pod.waiting[name] = Waiting(str(waiting.get("reason")), str(waiting.get("message")),
                                        float(waiting.get("at", 0)), int(waiting.get("step", 1)))
    return pod


def record_waiting(config: NodeConfig, uid: str, name: str, reason: str, message: str,
                   now: float) -> None:
    """Remember a try that failed before an instance existed (one more back-off step)."""
    directory = os.path.join(config.pod_dir(uid), "containers", name)
    os.makedirs(directory, exist_ok=True)
    previous = read_json(os.path.join(directory, WAITING)) or {}
    step = int(previous.get("step", 0)) + 1
    tmp = os.path.join(directory, WAITING + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"reason": reason, "message": message, "at": now, "step": step}, f)
    os.replace(tmp, os.path.join(directory, WAITING))


def clear_waiting(config: NodeConfig, uid: str, name: str) -> None:
    """An instance was created: the pre-create failures are over."""
    try:
        os.unlink(os.path.join(config.pod_dir(uid), "containers", name, WAITING))
    except FileNotFoundError:
        pass
