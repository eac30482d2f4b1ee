"""SyncPod: make one pod on the node look like its spec, in the study note's six steps.

``sync_pod`` is called whenever something about a pod may have changed: the pod was added
or edited, a container exited, a back-off expired. It reads what is on the node, computes a
plan (``plan.compute_pod_actions``), logs the plan, and applies it:

1. compute sandbox and container changes
2. kill the sandbox if it must be recreated (or the pod has finished)
3. kill containers that should not run
4. create the sandbox if needed
5. start the next init container
6. start the regular containers

Every kernel action taken on the way is appended, as a shell command, to
``<state>/pods/<uid>/commands.sh`` — replay it by hand to build the same pod yourself.
``kill_pod`` tears a pod down completely (``node delete``). Containers are stopped in
parallel, each with its preStop hook, SIGTERM, the grace period, then SIGKILL
(``containers.kill_container``); a container killed for a failed liveness or startup probe
gets the same treatment.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import explain
from minikube_py.config import NodeConfig
from minikube_py.kubelet import containers as ctr
from minikube_py.kubelet.backoff import next_step
from minikube_py.kubelet.envsources import EnvSources
from minikube_py.kubelet.envvars import ServiceLister, pod_service_env
from minikube_py.kubelet.observe import observe_pod, record_waiting
from minikube_py.kubelet.plan import (
    NO_RESULTS,
    ObservedContainer,
    ObservedPod,
    PodActions,
    ProbeResults,
    compute_pod_actions,
)
from minikube_py.kubelet.podsandbox import (
    create_pod_sandbox,
    delete_pod_sandbox,
    find_pod_sandbox,
)
from minikube_py.kubelet.security import ContainerConfigError
from minikube_py.kubelet.serviceaccount import TokenRequester, ensure_token_files, wants_token
from minikube_py.kubelet.sources import ObjectGetter
from minikube_py.kubelet.status import pod_status
from minikube_py.kubelet.volumes import (
    ClaimGetter,
    setup_volumes,
    teardown_volumes,
)
from runtime.cgroups import CgroupDriver
from runtime.images import ImageStore

log = logging.getLogger(__name__)

#: Seconds before trying again when a pod's token or volumes could not be set up: 1 s,
#: doubling with each failure in a row, up to a minute (upstream's volume manager backs off
#: from 0.5 s to 2 min), so a ConfigMap that never comes is not asked for every second.
MOUNT_RETRY = 1.0
MOUNT_RETRY_MAX = 60.0

Pod = dict[str, Any]
#: (pod, type, reason, message) -> records an Event about the pod
EventRecorder = Callable[[Pod, str, str, str], None]


@dataclass
class NodeContext:
    """What SyncPod needs from the node: where things go, the image store, the cgroups."""

    config: NodeConfig
    images: ImageStore
    cgroups: CgroupDriver
    events: EventRecorder
    host_ip: str = "127.0.0.1"
    #: (uid, container, attempt) -> the prober's verdicts; None: no prober (all "no verdict")
    probe_results: Callable[[str, str, int], ProbeResults] | None = None
    #: services(namespace) -> that namespace's Services, for containers' environment
    #: variables (:mod:`.envvars`); None on a standalone node: no Services, no variables
    services: ServiceLister | None = None
    #: pod -> a service account token for it (:mod:`.serviceaccount`); None on a
    #: standalone node: no API server, no tokens
    tokens: TokenRequester | None = None
    ca_file: str | None = None
    #: (namespace, name) -> a ConfigMap, for configMap volumes and env; None on a standalone
    #: node (no API server)
    config_maps: ObjectGetter | None = None
    #: (namespace, name) -> a Secret, for secret volumes, env and image pull secrets; None on
    #: a standalone node
    secrets: ObjectGetter | None = None
    #: (namespace, name) -> a ServiceAccount, for its imagePullSecrets
    service_accounts: ObjectGetter | None = None
    #: (namespace, claim) -> (claim, PersistentVolume), for persistentVolumeClaim volumes
    claims: ClaimGetter | None = None
    #: pod uid -> failed tries in a row to set up its token and volumes (the back-off)
    mount_failures: dict[str, int] = field(default_factory=dict)


@dataclass
class SyncResult:
    """What the caller should watch after a sync: PIDs to wait on, when to sync again."""

    status: dict[str, Any]
    running_pids: list[int] = field(default_factory=list)
    resync_after: float | None = None
    actions: PodActions | None = None
    #: running instances for the prober: (container, attempt, bundle, started_at)
    running: list[tuple[str, int, str, float]] = field(default_factory=list)
    pod_ip: str = ""


def grace_period(pod: Pod) -> float:
    return float(pod["spec"].get("terminationGracePeriodSeconds", 30))


def _append_transcript(config: NodeConfig, uid: str, lines: list[str]) -> None:
    if not lines:
        return
    path = os.path.join(config.pod_dir(uid), "commands.sh")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("#!/bin/sh\n# Shell equivalents of what the node did for this pod.\n")
        f.write(f"\n# sync at {time.strftime('%H:%M:%S')}\n")
        f.writelines(line + "\n" for line in lines)


def _all_specs(pod: Pod) -> dict[str, dict[str, Any]]:
    spec = pod["spec"]
    return {c["name"]: c for c in (spec.get("initContainers") or []) + spec["containers"]}


def _start(ctx: NodeContext, pod: Pod, name: str, observed: ObservedPod,
           volume_paths: dict[str, str] | None = None) -> None:
    container = _all_specs(pod)[name]
    last = observed.latest(name)
    attempt = 0 if last is None else last.attempt + 1
    step = 0
    if last is not None:
        ran = None  # (a probe-killed instance was running until now)
        if last.started_at is not None:
            ran = (last.finished_at or time.time()) - last.started_at
        step = next_step(last.backoff_step, ran)
    sandbox = find_pod_sandbox(ctx.config, pod["metadata"]["uid"])
    if sandbox is None:
        return
    try:
        ctr.start_container(
            ctx.config, pod, container, sandbox, attempt, step, ctx.images, ctx.cgroups,
            lambda kind, reason, msg: ctx.events(pod, kind, reason, msg),
            service_env=pod_service_env(pod, ctx.services), volume_paths=volume_paths,
            env_sources=EnvSources(ctx.config_maps, ctx.secrets, ctx.host_ip,
                                   ctx.service_accounts),
        )
    except (ctr.ImagePullError, ContainerConfigError) as e:  # no instance: a waiting reason
        reason = e.reason if isinstance(e, ctr.ImagePullError) else \
            "CreateContainerConfigError"
        record_waiting(ctx.config, pod["metadata"]["uid"], name, reason, str(e), time.time())
        log.warning("Failed to start container pod=%s container=%s reason=%s err=%s",
                    pod["metadata"]["name"], name, reason, e)
    except Exception as e:  # recorded as a failed instance; back-off retries it
        log.warning("Failed to start container pod=%s container=%s err=%s",
                    pod["metadata"]["name"], name, e)
    _prune_instances(ctx.config, pod["metadata"]["uid"], name, keep=2)


def _prune_instances(config: NodeConfig, uid: str, name: str, keep: int) -> None:
    """Keep the newest ``keep`` instances of a container (the dead one feeds lastState)."""
    root = os.path.join(config.pod_dir(uid), "containers", name)
    attempts = sorted((int(a) for a in os.listdir(root) if a.isdigit()), reverse=True)
    for attempt in attempts[keep:]:
        shutil.rmtree(os.path.join(root, str(attempt)), ignore_errors=True)


def _kill(ctx: NodeContext, pod: Pod | None, inst: ObservedContainer, grace: float,
          pod_ip: str) -> None:
    """Stop one instance: its preStop hook (if the spec has one), SIGTERM, grace, SIGKILL."""
    spec = _all_specs(pod).get(inst.name) if pod else None
    ctr.kill_container(inst.bundle_dir, grace, ctx.cgroups, spec, pod_ip,
                       (lambda kind, reason, msg: ctx.events(pod, kind, reason, msg))
                       if pod else None)


def _kill_containers(ctx: NodeContext, observed: ObservedPod, grace: float,
                     pod: Pod | None = None) -> None:
    """Stop every live instance of the pod, all at once (their grace periods overlap)."""
    live = [inst for instances in observed.containers.values() for inst in instances
            if inst.running or inst.status == "created"]
    if len(live) <= 1:
        for inst in live:
            _kill(ctx, pod, inst, grace, observed.ip or "")
        return
    with ThreadPoolExecutor(max_workers=len(live), thread_name_prefix="kill") as pool:
        for future in [pool.submit(_kill, ctx, pod, i, grace, observed.ip or "") for i in live]:
            future.result()


def _probe_results(ctx: NodeContext, uid: str, observed: ObservedPod) -> dict[str, ProbeResults]:
    if ctx.probe_results is None:
        return {}
    results = {}
    for name, instances in observed.containers.items():
        latest = instances[0]
        results[name] = (ctx.probe_results(uid, name, latest.attempt) if latest.running
                         else NO_RESULTS)
    return results


def _prepare_mounts(ctx: NodeContext, pod: Pod, actions: PodActions) -> dict[str, str] | None:
    """The service account token files and the pod's volumes, before a container needs
    them: volume name -> path on the node. On failure (an API error, a missing ConfigMap, a
    hostPath of the wrong type) a FailedMount event, nothing started this time, and None:
    the pod waits in ContainerCreating and is tried again, as upstream."""
    if actions.kill_pod and not actions.create_sandbox:
        return {}
    volume = "kube-api-access"
    try:
        if ctx.tokens is not None and wants_token(pod):
            ensure_token_files(ctx.config, pod, ctx.tokens, ctx.ca_file)
        volume = ""
        return setup_volumes(ctx.config, pod, ctx.config_maps, ctx.secrets, ctx.claims)
    except Exception as e:  # noqa: BLE001 - told to the user, tried again soon
        message = f'MountVolume.SetUp failed for volume "{volume}": {e}' if volume \
            else str(e)
        ctx.events(pod, "Warning", "FailedMount", message)
        actions.init_container_to_start = None
        actions.containers_to_start = []
        return None


def sync_pod(ctx: NodeContext, pod: Pod, dry_run: bool = False) -> SyncResult:
    """Bring one pod to its spec. See the module docstring for the steps."""
    meta = pod["metadata"]
    uid = meta["uid"]
    os.makedirs(ctx.config.pod_dir(uid), exist_ok=True)
    with explain.capture() as lines:
        # Step 1: compute sandbox and container changes.
        observed = observe_pod(ctx.config, uid, ctx.cgroups)
        actions = compute_pod_actions(pod, observed, time.time(),
                                      _probe_results(ctx, uid, observed))
        if dry_run:
            return SyncResult(status={}, actions=actions)
        if not actions.is_empty():
            log.info("Computed pod actions pod=%s plan=%s", meta["name"],
                     actions.describe().replace("\n", "; "))

        # Step 2: kill the sandbox (all containers first) if needed.
        if actions.kill_pod:
            _kill_containers(ctx, observed, grace_period(pod), pod)
            delete_pod_sandbox(ctx.config, uid, meta["name"], ctx.cgroups)
            if actions.init_failed:
                ctx.events(pod, "Warning", "Failed",
                           f"Init container {actions.init_failed} failed")

        # Step 3: kill containers that should not run.
        for name, why in actions.containers_to_kill.items():
            latest = observed.latest(name)
            if latest is not None:
                message = why if why.startswith(f"Container {name} ") else (
                    f"Stopping container {name}: {why}")
                ctx.events(pod, "Normal", "Killing", message)
                _kill(ctx, pod, latest, grace_period(pod), observed.ip or "")

        # Step 4: create the sandbox.
        if actions.create_sandbox:
            try:
                create_pod_sandbox(ctx.config, pod, ctx.cgroups)
            except Exception as e:
                ctx.events(pod, "Warning", "FailedCreatePodSandBox",
                           f"Failed to create pod sandbox: {e}")
                raise

        # Step 4b: the service account token files and the pod's volumes, before a
        # container needs them.
        paths = _prepare_mounts(ctx, pod, actions)

        # Step 5: the next init container.
        if actions.init_container_to_start:
            _start(ctx, pod, actions.init_container_to_start, observed, paths)

        # Step 6: the regular containers.
        for name in actions.containers_to_start:
            _start(ctx, pod, name, observed, paths)
        for name in actions.backing_off:
            waiting = observed.waiting.get(name)
            if waiting is None:
                ctx.events(pod, "Warning", "BackOff",
                           f"Back-off restarting failed container {name}")
            elif waiting.reason == "ErrImagePull":
                ctx.events(pod, "Normal", "BackOff",
                           f'Back-off pulling image "{_all_specs(pod)[name]["image"]}"')
    _append_transcript(ctx.config, uid, lines)

    # Report: read the node again and write the status.
    observed = observe_pod(ctx.config, uid, ctx.cgroups)
    probes = _probe_results(ctx, uid, observed)
    after = compute_pod_actions(pod, observed, time.time(), probes)
    status = pod_status(pod, observed, after.backing_off, actions.init_failed or after.init_failed,
                        ctx.host_ip, _start_time(ctx.config, uid), probes)
    _carry_over(status, read_status(ctx.config, uid))
    write_status(ctx.config, uid, status)
    pids = [i.pid for inst in observed.containers.values() for i in inst[:1]
            if i.running and i.pid]
    resync = min(after.backing_off.values()) if after.backing_off else None
    if paths is None:
        tries = ctx.mount_failures[uid] = ctx.mount_failures.get(uid, 0) + 1
        resync = min(MOUNT_RETRY * 2 ** (tries - 1), MOUNT_RETRY_MAX)
    else:
        ctx.mount_failures.pop(uid, None)
    now = time.time()
    for waiting in observed.waiting.values():  # flip ErrImagePull to ImagePullBackOff
        if waiting.fresh(now):
            flip = waiting.at + waiting.FRESH - now + 0.05
            resync = flip if resync is None else min(resync, flip)
    if not after.is_empty() and resync is None:
        resync = 0.05
    running = [(i.name, i.attempt, i.bundle_dir, i.started_at or time.time())
               for inst in observed.containers.values() for i in inst[:1] if i.running]
    return SyncResult(status=status, running_pids=pids, resync_after=resync, actions=actions,
                      running=running, pod_ip=observed.ip or "")


def _carry_over(status: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Keep what must not change between syncs: a finished pod's IP, and the time each
    condition last changed (``lastTransitionTime`` moves only when the condition does)."""
    if not previous:
        return
    if not status.get("podIP") and previous.get("podIP"):
        status["podIP"], status["podIPs"] = previous["podIP"], previous.get("podIPs")
    before = {c["type"]: c for c in previous.get("conditions") or []}
    for condition in status.get("conditions") or []:
        old = before.get(condition["type"])
        if old is not None and old.get("status") == condition["status"]:
            condition["lastTransitionTime"] = old.get("lastTransitionTime")


def _start_time(config: NodeConfig, uid: str) -> float:
    path = os.path.join(config.pod_dir(uid), "pod.json")
    try:
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


def write_status(config: NodeConfig, uid: str, status: dict[str, Any]) -> None:
    path = os.path.join(config.pod_dir(uid), "status.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(status, f, indent=2)
    os.replace(tmp, path)


def read_status(config: NodeConfig, uid: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(config.pod_dir(uid), "status.json")) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def kill_pod(ctx: NodeContext, uid: str, pod_name: str, grace: float,
             namespace: str = "default", pod: Pod | None = None) -> None:
    """Remove a pod from the node entirely: containers (preStop hooks when ``pod`` is given,
    SIGTERM, ``grace``, SIGKILL), sandbox, logs, state. Idempotent."""
    ctx.mount_failures.pop(uid, None)
    with explain.capture() as lines:
        observed = observe_pod(ctx.config, uid, ctx.cgroups)
        _kill_containers(ctx, observed, grace, pod)
        for instances in observed.containers.values():
            for inst in instances:
                ctr.kill_container(inst.bundle_dir, 0, ctx.cgroups)
                _delete_bundle(inst.bundle_dir)
        delete_pod_sandbox(ctx.config, uid, pod_name, ctx.cgroups)
        teardown_volumes(ctx.config, uid)
    _append_transcript(ctx.config, uid, lines)
    shutil.rmtree(ctx.config.pod_dir(uid), ignore_errors=True)
    shutil.rmtree(ctx.config.pod_log_dir(namespace, pod_name, uid), ignore_errors=True)
    log.info("Killed pod pod=%s uid=%s", pod_name, uid)


def _delete_bundle(bundle: str) -> None:
    from runtime import container as rt

    rt.delete_container(bundle)
    shutil.rmtree(bundle, ignore_errors=True)
