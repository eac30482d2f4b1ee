"""From what runs on the node to a Kubernetes PodStatus.

The kubelet reports, for every pod, the fields ``kubectl get pods`` and ``describe`` show:
``phase`` (Pending, Running, Succeeded, Failed), the conditions Initialized /
ContainersReady / Ready / PodScheduled, ``podIP``, and per container its ``state`` — exactly
one of ``waiting`` (with a reason such as ContainerCreating or CrashLoopBackOff), ``running``
or ``terminated`` (exit code, reason Completed / Error / OOMKilled) — its ``lastState``,
``restartCount``, ``started`` and ``ready``. This module is pure: spec + observed state + probe
results in, status out.

Readiness: a running container is ``ready`` once its startup probe (if any) and then its
readiness probe (if any) have succeeded; a container without probes is ready as soon as it
runs. The pod is Ready (and ContainersReady) when all its containers are ready — that is
what takes a pod out of a Service's endpoints while its readiness probe fails.

``STATUS`` column of ``node pods`` / ``kubectl get pods`` follows kubectl's printer: the
phase, or a container's waiting/terminated reason, or ``Init:N/M`` while init containers run.
"""

from __future__ import annotations

import time
from typing import Any

from minikube_py.kubelet.plan import (
    NO_RESULTS,
    ObservedContainer,
    ObservedPod,
    Pod,
    ProbeResults,
    Waiting,
    is_ready,
    is_started,
    should_restart,
)


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _terminated(c: ObservedContainer) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": c.exit_code if c.exit_code is not None else 255,
        "reason": c.reason or ("Completed" if c.exit_code == 0 else "Error"),
        "startedAt": rfc3339(c.started_at),
        "finishedAt": rfc3339(c.finished_at),
        "containerID": f"minikube://{c.name}-{c.attempt}",
    }
    if c.signal:
        state["signal"] = c.signal
    if c.message:
        state["message"] = c.message
    return state


def container_status(
    container: dict[str, Any],
    instances: list[ObservedContainer],
    backing_off: float | None,
    pod_name: str,
    waiting_reason: str = "ContainerCreating",
    probes: ProbeResults = NO_RESULTS,
    waiting: Waiting | None = None,
) -> dict[str, Any]:
    """The ``containerStatuses[]`` entry of one container."""
    name = container["name"]
    status: dict[str, Any] = {
        "name": name,
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": waiting_reason}},
        "lastState": {},
    }
    if waiting is not None and not (instances and instances[0].running):
        status["state"] = {"waiting": _failed_try(container, waiting, backing_off)}
        if instances and instances[0].exited:
            status["restartCount"] = instances[0].attempt
            status["lastState"] = {"terminated": _terminated(instances[0])}
        return status
    if not instances:
        return status
    latest = instances[0]
    status["restartCount"] = latest.attempt
    status["containerID"] = f"minikube://{name}-{latest.attempt}"
    status["imageID"] = latest.image_id
    if len(instances) > 1 and instances[1].exited:
        status["lastState"] = {"terminated": _terminated(instances[1])}
    if latest.running:
        status["state"] = {"running": {"startedAt": rfc3339(latest.started_at)}}
        status["ready"] = is_ready(container, probes)
        status["started"] = is_started(container, probes)
    elif latest.exited:
        if backing_off is not None:
            status["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {backing_off:.0f}s restarting failed "
                    f"container={name} pod={pod_name}",
                }
            }
            status["lastState"] = {"terminated": _terminated(latest)}
        else:
            status["state"] = {"terminated": _terminated(latest)}
    return status


def _failed_try(container: dict[str, Any], waiting: Waiting, backing_off: float | None
                ) -> dict[str, str]:
    """``ErrImagePull`` right after a failed pull, ``ImagePullBackOff`` while waiting for the
    next one (upstream's pair); other reasons as they are."""
    if waiting.reason == "ErrImagePull" and backing_off is not None and \
            not waiting.fresh(time.time()):
        return {"reason": "ImagePullBackOff",
                "message": f'Back-off pulling image "{container.get("image", "")}"'}
    return {"reason": waiting.reason, "message": waiting.message}


def pod_phase(pod: Pod, observed: ObservedPod, init_failed: bool) -> str:
    """Upstream's getPhase, in short."""
    spec = pod["spec"]
    policy = spec.get("restartPolicy", "Always")
    if init_failed:
        return "Failed"
    for init in spec.get("initContainers") or []:
        last = observed.latest(init["name"])
        if last is None or not (last.exited and last.exit_code == 0):
            return "Pending"
    running = waiting = failed = stopped = 0
    for c in spec["containers"]:
        last = observed.latest(c["name"])
        if last is None or last.status == "created":
            waiting += 1
        elif last.running:
            running += 1
        else:
            stopped += 1
            if last.exit_code != 0:
                failed += 1
            elif should_restart(policy, last):
                running += 1  # about to restart
    if waiting:
        return "Pending"
    if running and policy != "Never" or running and stopped < len(spec["containers"]):
        return "Running"
    if stopped == len(spec["containers"]):
        if policy == "Always":
            return "Running"
        if policy == "OnFailure" and failed:
            return "Running"
        return "Failed" if failed else "Succeeded"
    return "Running"


def pod_status(
    pod: Pod,
    observed: ObservedPod,
    backing_off: dict[str, float],
    init_failed: str | None,
    host_ip: str,
    start_time: float | None,
    probes: dict[str, ProbeResults] | None = None,
) -> dict[str, Any]:
    """The whole ``status`` of a pod, Kubernetes-shaped. ``probes``: container name -> the
    probe results of its newest instance."""
    probes = probes or {}
    spec = pod["spec"]
    name = pod["metadata"]["name"]
    inits = spec.get("initContainers") or []
    init_statuses = [
        container_status(c, observed.containers.get(c["name"], []), backing_off.get(c["name"]),
                         name, "ContainerCreating", NO_RESULTS, observed.waiting.get(c["name"]))
        for c in inits
    ]
    initialized = all(
        (s := observed.latest(c["name"])) is not None and s.exited and s.exit_code == 0
        for c in inits
    )
    waiting_reason = "ContainerCreating" if initialized else "PodInitializing"
    statuses = [
        container_status(c, observed.containers.get(c["name"], []), backing_off.get(c["name"]),
                         name, waiting_reason, probes.get(c["name"], NO_RESULTS),
                         observed.waiting.get(c["name"]))
        for c in spec["containers"]
    ]
    phase = pod_phase(pod, observed, init_failed is not None)
    ready = phase == "Running" and all(s["ready"] for s in statuses)
    now = rfc3339(time.time())

    def condition(kind: str, ok: bool) -> dict[str, Any]:
        return {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": now}

    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            condition("Initialized", initialized),
            condition("Ready", ready),
            condition("ContainersReady", all(s["ready"] for s in statuses)),
            condition("PodScheduled", True),
        ],
        "hostIP": host_ip,
        "startTime": rfc3339(start_time),
        "containerStatuses": statuses,
    }
    if inits:
        status["initContainerStatuses"] = init_statuses
    if observed.ip:
        status["podIP"] = observed.ip
        status["podIPs"] = [{"ip": observed.ip}]
    return status


def display_status(pod: Pod, status: dict[str, Any]) -> str:
    """The STATUS column, as kubectl prints it."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    inits = status.get("initContainerStatuses") or []
    for i, s in enumerate(inits):
        term = s["state"].get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            return f"Init:{term.get('reason', 'Error')}"
        waiting = s["state"].get("waiting")
        if waiting and waiting.get("reason") not in (None, "PodInitializing",
                                                    "ContainerCreating"):
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{len(inits)}"
    reason = status.get("phase", "Pending")
    for s in status.get("containerStatuses") or []:
        waiting = s["state"].get("waiting")
        term = s["state"].get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif term and reason in ("Running", "Pending", "Succeeded", "Failed"):
            reason = term.get("reason") or reason
    return reason
