"""computePodActions: compare a Pod's spec with what runs on the node, and make a plan.

This is the first of the study note's SyncPod steps ("compute sandbox and container
changes"), done exactly the way upstream's kubelet does it in
``pkg/kubelet/kuberuntime/kuberuntime_manager.go``: a *pure* function from (desired pod,
observed state, time) to a ``PodActions`` plan. It touches nothing, so it is unit-tested
without root, and ``minikube-py node run --dry-run`` prints the plan it would apply.

The rules, in order:

1. No sandbox (netns + network + ipc/uts)? Kill whatever is left of the pod and create a new
   sandbox; then start the first init container, or all containers if there are none.
2. Init containers run one at a time, in order. The next one starts only after the previous
   exited 0. A failed init container is restarted (with back-off) unless the pod's
   restartPolicy is Never, in which case the pod has failed.
3. Each regular container that is not running is started if the restart policy says so
   (Always: always; OnFailure: only after a non-zero exit; Never: only the first time), once
   its crash-loop back-off has expired. A container that could not even be created (its
   image could not be pulled, its securityContext cannot be honoured) waits out a back-off
   of its own before the next try. A running container whose spec changed is killed and
   started again; so is one whose liveness probe failed, or whose startup probe gave up
   (the probe results come from ``probes.py``; :func:`is_ready` and :func:`is_started` read
   them for the status).
4. If nothing runs and nothing is to be started, the pod is done: kill the pod (which tears
   down its sandbox and frees its IP).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from minikube_py.kubelet.backoff import backoff_delay, next_step

Pod = dict[str, Any]


@dataclass
class ObservedContainer:
    """One instance (attempt) of a container, as the runtime reports it."""

    name: str
    attempt: int
    bundle_dir: str
    status: str  # "created" | "running" | "exited" | "unknown"
    spec_hash: str = ""
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None  # Completed | Error | OOMKilled | ContainerCannotRun
    message: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    backoff_step: int = 0
    pid: int | None = None
    image_id: str = ""  # the status's imageID: name@sha256:<repo digest>, or sha256:<id>

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def exited(self) -> bool:
        return self.status in ("exited", "unknown")


@dataclass
class Waiting:
    """Why a container has no new instance: the last try failed before it was created
    (``ErrImagePull``, ``CreateContainerConfigError``); ``step`` counts the failed tries."""

    reason: str
    message: str
    at: float
    step: int = 1

    #: For this long after a failed try its status says so (``ErrImagePull``); then the
    #: back-off shows (``ImagePullBackOff``).
    FRESH = 1.0

    def left(self, now: float) -> float:
        """Seconds until the next try is due: 1 s, 2 s, 4 s ... up to 60 s."""
        return max(0.0, self.at + backoff_delay(self.step + 1) - now)

    def fresh(self, now: float) -> bool:
        return now - self.at < self.FRESH


@dataclass
class ObservedPod:
    """What the node has for one pod: its sandbox and every container instance."""

    sandbox_ready: bool = False
    ip: str | None = None
    #: container name -> instances, newest first.
    containers: dict[str, list[ObservedContainer]] = field(default_factory=dict)
    #: container name -> why its last try failed before an instance existed.
    waiting: dict[str, Waiting] = field(default_factory=dict)

    def latest(self, name: str) -> ObservedContainer | None:
        instances = self.containers.get(name)
        return instances[0] if instances else None


@dataclass(frozen=True)
class ProbeResults:
    """The prober's verdicts for one container instance: "success", "failure" or None (no
    verdict yet). A verdict changes only after ``successThreshold`` / ``failureThreshold``
    probes in a row agree; see ``probes.py``."""

    liveness: str | None = None
    readiness: str | None = None
    startup: str | None = None


NO_RESULTS = ProbeResults()


def is_started(container: dict[str, Any], results: ProbeResults) -> bool:
    """``started``: the startup probe has succeeded (a container without one: at once)."""
    return not container.get("startupProbe") or results.startup == "success"


def is_ready(container: dict[str, Any], results: ProbeResults) -> bool:
    """``ready`` of a running container: started, and its readiness probe has succeeded.
    Before the first verdict a container with a readiness probe is not ready (upstream)."""
    if not is_started(container, results):
        return False
    return not container.get("readinessProbe") or results.readiness == "success"


def failed_probe(container: dict[str, Any], results: ProbeResults) -> str | None:
    """"liveness" or "startup" when that probe's verdict says: kill the container."""
    if container.get("livenessProbe") and results.liveness == "failure":
        return "liveness"
    if container.get("startupProbe") and results.startup == "failure":
        return "startup"
    return None


@dataclass
class PodActions:
    """The plan for one pod, printable with :meth:`describe`."""

    kill_pod: bool = False
    create_sandbox: bool = False
    init_container_to_start: str | None = None
    containers_to_start: list[str] = field(default_factory=list)
    #: container name -> why it must be killed first
    containers_to_kill: dict[str, str] = field(default_factory=dict)
    #: container name -> seconds left in its crash-loop back-off
    backing_off: dict[str, float] = field(default_factory=dict)
    init_failed: str | None = None

    def is_empty(self) -> bool:
        return not (
            self.kill_pod
            or self.create_sandbox
            or self.init_container_to_start
            or self.containers_to_start
            or self.containers_to_kill
        )

    def describe(self) -> str:
        """The plan as the numbered SyncPod steps it will run."""
        steps = ["1. compute sandbox and container changes: done"]
        steps.append(f"2. kill the sandbox: {'yes' if self.kill_pod else 'no'}")
        kills = ", ".join(f"{n} ({why})" for n, why in self.containers_to_kill.items())
        steps.append(f"3. kill containers that should not run: {kills or 'none'}")
        steps.append(f"4. create the sandbox: {'yes' if self.create_sandbox else 'no'}")
        steps.append(f"5. start init container: {self.init_container_to_start or 'none'}")
        starts = ", ".join(self.containers_to_start)
        steps.append(f"6. start containers: {starts or 'none'}")
        for name, left in self.backing_off.items():
            steps.append(f"   {name}: in back-off for {left:.1f}s more")
        if self.init_failed:
            steps.append(f"   init container {self.init_failed} failed: the pod has failed")
        return "\n".join(steps)


def container_hash(container: dict[str, Any]) -> str:
    """A short hash of a container's spec: a change means "restart it" (upstream: hash)."""
    text = json.dumps(container, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def should_restart(policy: str, last: ObservedContainer) -> bool:
    """restartPolicy semantics for a container that has exited."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return last.exit_code != 0
    return False


def pod_finished(pod: Pod, observed: ObservedPod) -> bool:
    """True when no container of the pod will ever run again (Succeeded or Failed)."""
    spec = pod["spec"]
    policy = spec.get("restartPolicy", "Always")
    if not observed.containers:
        return False
    for init in spec.get("initContainers") or []:
        last = observed.latest(init["name"])
        if last is not None and last.exited and last.exit_code != 0 and policy == "Never":
            return True
    for container in spec["containers"]:
        last = observed.latest(container["name"])
        if last is None or not last.exited or should_restart(policy, last):
            return False
    return True


def _ran_for(last: ObservedContainer, now: float) -> float | None:
    if last.started_at is None:
        return None
    return (last.finished_at if last.finished_at is not None else now) - last.started_at


def _backoff_left(last: ObservedContainer, now: float) -> float:
    """Seconds until the next instance may start (0 after a long, stable run: reset)."""
    if last.finished_at is None:
        return 0.0
    delay = backoff_delay(next_step(last.backoff_step, _ran_for(last, now)))
    return max(0.0, last.finished_at + delay - now)


def compute_pod_actions(pod: Pod, observed: ObservedPod, now: float,
                        probes: dict[str, ProbeResults] | None = None) -> PodActions:
    """Decide what SyncPod must do to bring ``observed`` to the pod's spec. No side effects.

    ``probes`` maps a container name to the probe results of its newest (running) instance.
    """
    probes = probes or {}
    spec = pod["spec"]
    policy = spec.get("restartPolicy", "Always")
    inits = spec.get("initContainers") or []
    containers = spec["containers"]
    actions = PodActions()

    # Rule 1: no sandbox -> start from scratch (unless the pod has finished for good).
    if not observed.sandbox_ready:
        if pod_finished(pod, observed) or (observed.containers and policy == "Never"):
            actions.kill_pod = any(
                i.running or i.status == "created"
                for instances in observed.containers.values() for i in instances
            )
            return actions
        actions.create_sandbox = True
        actions.kill_pod = any(observed.containers.values())
        if inits:
            actions.init_container_to_start = inits[0]["name"]
        else:
            actions.containers_to_start = [c["name"] for c in containers]
        return actions

    # Rule 2: init containers, one at a time.
    for init in inits:
        last = observed.latest(init["name"])
        waiting = observed.waiting.get(init["name"])
        if waiting is not None and waiting.left(now) > 0:
            actions.backing_off[init["name"]] = waiting.left(now)
            return actions
        if last is None:
            actions.init_container_to_start = init["name"]
            return actions
        if last.running or last.status == "created":
            return actions
        if last.exit_code == 0:
            continue
        if policy == "Never":
            actions.init_failed = init["name"]
            actions.kill_pod = True
            return actions
        left = _backoff_left(last, now)
        if left > 0:
            actions.backing_off[init["name"]] = left
        else:
            actions.init_container_to_start = init["name"]
        return actions

    # Rule 3: regular containers.
    keep = 0
    for container in containers:
        name = container["name"]
        last = observed.latest(name)
        waiting = observed.waiting.get(name)
        if waiting is not None and (last is None or not last.running):
            if waiting.left(now) > 0:
                actions.backing_off[name] = waiting.left(now)
            else:
                actions.containers_to_start.append(name)
        elif last is None:
            actions.containers_to_start.append(name)
        elif last.status == "created":
            actions.containers_to_kill[name] = "created but never started"
            actions.containers_to_start.append(name)
        elif last.running:
            failed = failed_probe(container, probes.get(name, NO_RESULTS))
            if last.spec_hash and last.spec_hash != container_hash(container):
                actions.containers_to_kill[name] = "container spec changed"
                actions.containers_to_start.append(name)
            elif failed:
                # Upstream's wording; OnFailure restarts too: a failed probe is a failure.
                restart = policy != "Never"
                message = f"Container {name} failed {failed} probe"
                actions.containers_to_kill[name] = message + (", will be restarted"
                                                              if restart else "")
                step = next_step(last.backoff_step, _ran_for(last, now))
                if restart and backoff_delay(step) == 0:
                    actions.containers_to_start.append(name)
                # else: the next sync sees it exited (back-off, or the pod has finished).
                keep += 1
            else:
                keep += 1
        elif should_restart(policy, last):
            left = _backoff_left(last, now)
            if left > 0:
                actions.backing_off[name] = left
            else:
                actions.containers_to_start.append(name)

    # Rule 4: nothing left to run -> the pod is finished; tear its sandbox down.
    if keep == 0 and not actions.containers_to_start and not actions.backing_off:
        actions.kill_pod = True
    return actions
