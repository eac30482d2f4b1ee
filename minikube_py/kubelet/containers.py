"""Starting and stopping one container: the study note's five steps.

``start_container`` follows upstream's ``startContainer`` and the note's "容器启动" list:

1. ensure the image (the image store builds or finds it; events Pulling / Pulled);
2. create the container: namespaces joined, root filesystem mounted, process waiting;
3. PreStart: put the waiting process into its cgroup with its CPU and memory limits;
4. start it: the process drops capabilities and execs the command;
5. run the postStart hook, if any; if the hook fails, the container is killed
   (reason ``FailedPostStartHook``), as upstream does.

A container instance lives in ``<state>/pods/<uid>/containers/<name>/<attempt>/`` (its
bundle: ``config.json``, ``state.json``, ``exit.json``, ``labels.json``), its cgroup is
``<parent>/pod<uid>/<name>-<attempt>`` and its log is
``/var/log/pods/<ns>_<pod>_<uid>/<name>/<attempt>.log``. ``attempt`` is the restart count.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from typing import Any

from minikube_py.api.quantity import cpu_millis, memory_bytes
from minikube_py.config import NodeConfig
from minikube_py.errors import MinikubeError
from minikube_py.kubelet import envsources
from minikube_py.kubelet.envsources import EnvSources
from minikube_py.kubelet.observe import clear_waiting
from minikube_py.kubelet.plan import container_hash
from minikube_py.kubelet.podsandbox import SandboxInfo, pod_files
from minikube_py.kubelet.probes import run_handler
from minikube_py.kubelet.pullsecrets import Credentials, pull_credentials
from minikube_py.kubelet.security import ContainerConfigError, runtime_settings
from minikube_py.kubelet.serviceaccount import token_volume
from minikube_py.kubelet.volumes import container_volumes, read_only_volumes
from runtime import container as rt
from runtime.cgroups import CgroupDriver, Resources
from runtime.exec import exec_in_container
from runtime.images import Image, ImageConfig, ImageStore

log = logging.getLogger(__name__)

EventSink = Callable[[str, str, str], None]  # (type, reason, message)

_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known variables are replaced, ``$$`` escapes ``$``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(repl, text)


def container_env(
    container: dict[str, Any], image: ImageConfig, pod: dict[str, Any], pod_ip: str,
    service_env: dict[str, str] | None = None, sources: EnvSources | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, str]:
    """Image env, HOSTNAME, the Services' variables (:mod:`.envvars`), ``envFrom``, then the
    container's ``env`` (later wins, ``$(VAR)`` known; ``valueFrom`` per :mod:`.envsources`).

    Raises ContainerConfigError for a ConfigMap, Secret or key that is not there."""
    env: dict[str, str] = {}
    for item in image.env:
        key, _, value = item.partition("=")
        env[key] = value
    env["HOSTNAME"] = pod["spec"].get("hostname") or pod["metadata"]["name"]
    env.update(service_env or {})
    resolver = envsources.Resolver(container, pod, pod_ip, sources, warn)
    env.update(resolver.env_from())
    for var in container.get("env") or []:
        if var.get("value"):
            env[var["name"]] = expand(str(var["value"]), env)
        elif var.get("valueFrom"):
            resolved = resolver.value(var["valueFrom"])
            if resolved is not None:  # None: an optional key that is not there, left unset
                env[var["name"]] = resolved
        else:  # neither: an empty value, as upstream
            env[var["name"]] = ""
    return env


def container_argv(container: dict[str, Any], image: ImageConfig, env: dict[str, str]) -> list[str]:
    """``command`` replaces the image's ENTRYPOINT, ``args`` replace its CMD."""
    command = container.get("command")
    args = container.get("args")
    if command:
        argv = list(command) + list(args or [])
    else:
        argv = list(image.entrypoint) + list(args if args is not None else image.cmd)
    if not argv:
        raise MinikubeError(
            f"failed to create container {container['name']}: no command given and the "
            f"image {container['image']} has no ENTRYPOINT or CMD"
        )
    return [expand(a, env) for a in argv]


def container_resources(container: dict[str, Any]) -> Resources:
    """spec.resources -> cgroup limits: requests.cpu -> shares, limits -> quota and memory."""
    res = container.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    return Resources(
        cpu_request_millis=cpu_millis(requests["cpu"]) if "cpu" in requests else None,
        cpu_limit_millis=cpu_millis(limits["cpu"]) if "cpu" in limits else None,
        memory_limit_bytes=memory_bytes(limits["memory"]) if "memory" in limits else None,
    )


def bundle_dir(config: NodeConfig, uid: str, name: str, attempt: int) -> str:
    return os.path.join(config.pod_dir(uid), "containers", name, str(attempt))


def container_cgroup(config: NodeConfig, uid: str, name: str, attempt: int) -> str:
    return f"{config.pod_cgroup(uid)}/{name}-{attempt}"


def start_container(
    config: NodeConfig,
    pod: dict[str, Any],
    container: dict[str, Any],
    sandbox: SandboxInfo,
    attempt: int,
    backoff_step: int,
    images: ImageStore,
    cgroups: CgroupDriver,
    event: EventSink,
    service_env: dict[str, str] | None = None,
    volume_paths: dict[str, str] | None = None,
    env_sources: EnvSources | None = None,
) -> rt.ContainerState:
    """Run the five steps for one container instance; undo steps 2-4 if a later one fails.

    ``volume_paths``: the pod's volumes on the node (``volumes.setup_volumes``)."""
    meta = pod["metadata"]
    uid, name = meta["uid"], container["name"]

    # Step 1: ensure the image; then what its securityContext asks of the runtime.
    sources = env_sources or EnvSources()

    def credentials() -> Credentials:  # read only if a registry is asked
        return pull_credentials(pod, sources.secret, sources.service_account, lambda message:
                                event("Warning", "FailedToRetrieveImagePullSecret", message))

    image = _ensure_image(images, container["image"], event, credentials,
                          str(container.get("imagePullPolicy") or "IfNotPresent"))
    try:
        security = runtime_settings(pod, container, image.config.user)
    except ContainerConfigError as e:
        event("Warning", "Failed", f"Error: {e}")
        raise

    # Step 2: create the container (process created, waiting to be started).
    try:
        env = container_env(container, image.config, pod, sandbox.ip, service_env, sources,
                            warn=lambda message: event("Warning",
                                                       "InvalidEnvironmentVariableNames",
                                                       message))
    except ContainerConfigError as e:
        event("Warning", "Failed", f"Error: {e}")
        raise
    bundle = bundle_dir(config, uid, name, attempt)
    shutil.rmtree(bundle, ignore_errors=True)
    os.makedirs(bundle)
    log_path = os.path.join(
        config.pod_log_dir(meta.get("namespace", "default"), meta["name"], uid),
        name, f"{attempt}.log",
    )
    labels = {
        "pod": meta["name"], "uid": uid, "container": name, "attempt": attempt,
        "hash": container_hash(container), "backoff_step": backoff_step,
        "image": container["image"], "image_id": images.repo_digest(image) or image.id,
        "log_path": log_path,
        "cgroup": container_cgroup(config, uid, name, attempt),
    }
    with open(os.path.join(bundle, "labels.json"), "w") as f:
        json.dump(labels, f, indent=2)
    try:
        argv = container_argv(container, image.config, env)
        state = rt.create_container(
            rt.ContainerConfig(
                id=f"{uid[:8]}-{name}-{attempt}",
                name=name,
                bundle_dir=bundle,
                layers=image.layers,
                args=argv,
                env=[f"{k}={v}" for k, v in env.items()],
                cwd=container.get("workingDir") or image.config.working_dir or "/",
                namespaces={"net": sandbox.netns_path, "ipc": sandbox.ipc, "uts": sandbox.uts},
                log_path=log_path,
                files=pod_files(config, uid),
                volumes=container_volumes(container, volume_paths or {}, read_only_volumes(pod))
                + token_volume(config, uid),
                stop_signal=image.config.stop_signal,
                **security,
            )
        )
    except MinikubeError as e:
        _record_create_failure(bundle, str(e))
        event("Warning", "Failed", f"Error: {e}")
        raise
    finally:
        clear_waiting(config, uid, name)  # this try got past the image and the config
    try:
        # Step 3: PreStart — the cgroup and its limits, before the process runs.
        cgroup = labels["cgroup"]
        cgroups.ensure(cgroup, container_resources(container))
        assert state.pid is not None
        cgroups.add_process(cgroup, state.pid)
        event("Normal", "Created", f"Created container {name}")

        # Step 4: start.
        state = rt.start_container(bundle)
        event("Normal", "Started", f"Started container {name}")
    except BaseException:
        rt.delete_container(bundle)
        cgroups.kill_all(labels["cgroup"])
        cgroups.delete(labels["cgroup"])
        raise

    # Step 5: the postStart hook.
    hook = ((container.get("lifecycle") or {}).get("postStart") or {}).get("exec")
    if hook:
        code = run_exec_hook(bundle, hook.get("command") or [])
        if code != 0:
            message = f"PostStartHook failed: exec {hook.get('command')} exited {code}"
            event("Warning", "FailedPostStartHook", message)
            state = rt.stop_container(bundle, 0)
            _write_result(bundle, "FailedPostStartHook", message)
    return state


def run_exec_hook(bundle: str, command: list[str], timeout: float = 30.0) -> int:
    """Run a lifecycle hook's ``exec.command`` inside the container; its exit code."""
    proc = exec_in_container(bundle, command, stdout=open(os.devnull, "wb"),
                             stderr=open(os.devnull, "wb"))
    try:
        return proc.wait(timeout=timeout)
    except Exception:
        proc.kill()
        return 137


class ImagePullError(MinikubeError):
    """The image could not be found or pulled (upstream: ErrImagePull, then ImagePullBackOff;
    ErrImageNeverPull when the policy forbids pulling)."""

    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason


def _ensure_image(images: ImageStore, ref: str, event: EventSink,
                  credentials: Callable[[], Credentials] = dict,
                  policy: str = "IfNotPresent") -> Image:
    """The image as ``imagePullPolicy`` says: ``IfNotPresent`` from the store or pulled,
    ``Never`` from the store only, ``Always`` checked with its registry each time (images
    built here, or with no registry to ask, are used as they are). Pull secrets are read only
    when a registry is asked."""
    found = images.find_image(ref)
    always = policy == "Always" and images.pulls_from_registry(ref)
    if found is not None and not always:
        event("Normal", "Pulled", f'Container image "{ref}" already present on machine')
        return found
    if found is None and policy == "Never":
        message = f'Container image "{ref}" is not present with pull policy of Never'
        event("Warning", "ErrImageNeverPull", message)
        raise ImagePullError(message, reason="ErrImageNeverPull")
    event("Normal", "Pulling", f'Pulling image "{ref}"')
    started = time.monotonic()
    try:
        pull = images.refresh_image if always else images.ensure_image
        image = pull(ref, progress=lambda line: log.info("image %s: %s", ref, line),
                     credentials=credentials())
    except MinikubeError as e:
        event("Warning", "Failed", f'Failed to pull image "{ref}": {e}')
        event("Warning", "Failed", "Error: ErrImagePull")
        raise ImagePullError(str(e)) from e
    event("Normal", "Pulled",
          f'Successfully pulled image "{ref}" in {time.monotonic() - started:.3f}s')
    return image


def _record_create_failure(bundle: str, message: str) -> None:
    """A container that could not even be created: remember it as exited 128, like Docker."""
    now = time.time()
    with open(os.path.join(bundle, "exit.json"), "w") as f:
        json.dump({"exit_code": 128, "signal": None, "finished_at": now}, f)
    _write_result(bundle, "ContainerCannotRun", message)


def _write_result(bundle: str, reason: str, message: str) -> None:
    with open(os.path.join(bundle, "result.json"), "w") as f:
        json.dump({"reason": reason, "message": message}, f)


#: Upstream's minimumGracePeriodInSeconds: what is left for SIGTERM after a long preStop.
MIN_GRACE_AFTER_PRE_STOP = 2.0


def kill_container(bundle: str, grace: float, cgroups: CgroupDriver,
                   container: dict[str, Any] | None = None, pod_ip: str = "",
                   event: EventSink | None = None) -> None:
    """Stop an instance and free its cgroup; keep its files.

    Steps (upstream ``killContainer``): 1. the preStop hook, if the container has one and
    runs, bounded by the grace period; 2. SIGTERM, wait what is left of the grace period
    (at least 2 s after a hook, as upstream), SIGKILL (``runtime.container.stop_container``);
    3. free the cgroup.
    """
    try:
        with open(os.path.join(bundle, "labels.json")) as f:
            cgroup = json.load(f)["cgroup"]
    except (OSError, ValueError, KeyError):
        cgroup = None
    state = rt.container_state(bundle)
    hook = ((container or {}).get("lifecycle") or {}).get("preStop")
    if state.status == "running" and grace > 0 and hook and container is not None:
        # Step 1: the preStop hook.
        took = run_pre_stop(hook, container, bundle, pod_ip, grace, event)
        grace = max(grace - took, MIN_GRACE_AFTER_PRE_STOP)
        state = rt.container_state(bundle)
    # Step 2: SIGTERM, grace, SIGKILL.
    if state.status in ("created", "running"):
        rt.stop_container(bundle, grace)
    # Step 3: the cgroup.
    if cgroup:
        cgroups.kill_all(cgroup)
        cgroups.delete(cgroup)


def run_pre_stop(hook: dict[str, Any], container: dict[str, Any], bundle: str, pod_ip: str,
                 grace: float, event: EventSink | None) -> float:
    """Run a preStop hook (exec, httpGet or sleep) for at most ``grace`` seconds; how long
    it took. A failed hook is reported (``FailedPreStopHook``) and the stop goes on."""
    started = time.monotonic()
    if "sleep" in hook:
        time.sleep(min(float(hook["sleep"].get("seconds") or 0), grace))
        return time.monotonic() - started
    ok, output = run_handler(hook, container, bundle, pod_ip, grace)
    if not ok:
        log.warning("Failed to run preStop hook container=%s err=%s", container["name"], output)
        if event is not None:
            event("Warning", "FailedPreStopHook",
                  f"PreStopHook failed: {output.strip() or 'exit status non-zero'}")
    return time.monotonic() - started
