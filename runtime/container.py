"""Containers: create, start, watch, stop and delete one process tree, like runc + conmon.

Kubernetes concept: the kubelet starts a container in two moves (the CRI's CreateContainer
and StartContainer). *Create* prepares everything — namespaces, root filesystem, a process
waiting to run — so the kubelet can put that process into the Pod's cgroup *before* the
application runs a single instruction. *Start* lets it go. A container's life is then told by
files in its **bundle** directory (the OCI term), readable with ``cat``::

    <bundle>/config.json    what to run: process, root layers, namespaces to join, mounts
    <bundle>/commands.sh    the shell equivalent of every kernel action taken for it
    <bundle>/state.json     pid (init, host pid namespace), shim_pid, created_at, started_at
    <bundle>/start.fifo     exists while the container is "created" (runc's exec.fifo)
    <bundle>/exit.json      exit_code, signal, finished_at, reason — written by the shim
    <bundle>/upper, work    the overlay's writable layer; rootfs/ is where it is mounted

Kernel objects: the shim process (:mod:`runtime.shim`), the container init — pid 1 of its
own pid namespace, in its own mount namespace, in the net/ipc/uts namespaces it was told to
join — and the mounts of :mod:`runtime.rootfs`, which exist only inside that mount
namespace. ``ls -l /proc/<pid>/ns``, ``cat /proc/<pid>/mountinfo``, ``grep Cap
/proc/<pid>/status`` show them; ``nsenter -t <pid> -a`` walks in (see :mod:`runtime.exec`).

Exit notification: :func:`exit_fd` returns a pidfd of the **shim**, not of the init. The shim
exits right after writing ``exit.json``, so once the fd is readable :func:`container_state`
is guaranteed to report "exited" with the code (an init pidfd would wake the caller while the
shim may still be draining the log pipes).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import explain
from explain.errors import MinikubeError
from runtime import capabilities, rootfs, shim
from runtime.user import ProcessUser, UserError, resolve_user

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM_EXIT_TIMEOUT = 10.0
#: config.json annotation with the first signal of a stop (containerd's label name).
STOP_SIGNAL = "io.containerd.image.config.stop-signal"


class ContainerError(MinikubeError):
    """A container could not be created, started, stopped or read."""


class ContainerNotFound(ContainerError):
    """The bundle holds no container (no ``state.json``)."""


@dataclass
class ContainerConfig:
    id: str
    name: str
    bundle_dir: str
    layers: list[str]
    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    namespaces: dict[str, str] = field(default_factory=dict)  # {"net"|"ipc"|"uts": path}
    log_path: str = ""
    files: dict[str, str] = field(default_factory=dict)  # container path -> host file
    #: the pod's volumes: (container path, host file or directory, read-only)
    volumes: list[tuple[str, str, bool]] = field(default_factory=list)
    capabilities: list[str] | None = None  # None = capabilities.DEFAULT_CAPABILITIES
    #: Who runs it: {"uid": int | None, "gid": int | None, "username": "name[:group]",
    #: "additionalGids": [...]}, resolved to numbers in the image's /etc/passwd at create.
    user: dict[str, Any] = field(default_factory=dict)
    readonly_root: bool = False
    stop_signal: str = ""  # the image's StopSignal ("SIGQUIT" for nginx); "" = SIGTERM
    masked_paths: list[str] | None = None    # None = rootfs.MASKED_PATHS
    readonly_paths: list[str] | None = None  # None = rootfs.READONLY_PATHS


@dataclass
class ContainerState:
    id: str
    status: str  # "created" | "running" | "exited" | "unknown"
    pid: int | None = None
    shim_pid: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    reason: str = ""  # exec failures ("exec: \"x\": executable file not found in $PATH")


_OCI_NS = {"net": "network", "ipc": "ipc", "uts": "uts"}


def oci_config(cfg: ContainerConfig, user: ProcessUser | None = None) -> dict:
    """The small subset of the OCI runtime spec that ``config.json`` holds."""
    user = user or ProcessUser()
    caps = [capabilities.normalize(c) for c in (cfg.capabilities or
                                                capabilities.DEFAULT_CAPABILITIES)]
    namespaces: list[dict[str, str]] = [{"type": "mount"}, {"type": "pid"}]
    for kind, path in sorted(cfg.namespaces.items()):
        if kind not in _OCI_NS:
            raise ContainerError.failed("create", "container", cfg.name,
                                        f"cannot join a {kind!r} namespace")
        namespaces.append({"type": _OCI_NS[kind], "path": path})
    return {
        "ociVersion": "1.0.2", "id": cfg.id, "name": cfg.name,
        "process": {"args": cfg.args, "env": cfg.env, "cwd": cfg.cwd, "noNewPrivileges": True,
                    "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.groups},
                    "capabilities": {k: caps for k in ("bounding", "effective",
                                                       "inheritable", "permitted")}},
        "root": {"path": "rootfs", "layers": cfg.layers, "readonly": cfg.readonly_root},
        "mounts": [{"destination": d, "type": "bind", "source": s, "options": ["rbind", "ro"]}
                   for d, s in sorted(cfg.files.items())]
        + [{"destination": d, "type": "bind", "source": s, "volume": True,
            "options": ["rbind", "ro" if ro else "rw"]} for d, s, ro in cfg.volumes],
        "linux": {"namespaces": namespaces,
                  "maskedPaths": rootfs.MASKED_PATHS if cfg.masked_paths is None
                  else cfg.masked_paths,
                  "readonlyPaths": rootfs.READONLY_PATHS if cfg.readonly_paths is None
                  else cfg.readonly_paths},
        "logPath": cfg.log_path,
        "annotations": {STOP_SIGNAL: stop_signal_name(cfg.stop_signal)},
    }


def stop_signal_name(text: str) -> str:
    """``"SIGQUIT"``, ``"quit"``, ``"3"`` or ``"SIGRTMIN+3"`` -> the number's name as
    ``kill -l`` knows it (``"SIGRTMIN+3"`` stays as it is); ``""`` -> ``"SIGTERM"``."""
    name = text.strip().upper()
    if not name:
        return "SIGTERM"
    if not name.startswith("SIG") and not name.isdigit():
        name = "SIG" + name
    try:
        number = int(name) if name.isdigit() else _signal_number(name)
        return _signal_name(number)
    except (KeyError, ValueError):
        raise ValueError(f"unknown stop signal {text!r}") from None


def _signal_number(name: str) -> int:
    if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
        base, _, offset = name.partition("+" if "+" in name else "-")
        sign = 1 if "+" in name else -1
        return int(signal.Signals[base]) + sign * int(offset)
    return int(signal.Signals[name])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        if int(signal.SIGRTMIN) < number < int(signal.SIGRTMAX):
            return f"SIGRTMIN+{number - int(signal.SIGRTMIN)}"
        raise


def record(bundle: str, line: str) -> None:
    """explain.record the line and append it to ``<bundle>/commands.sh``."""
    explain.record(line)
    with open(os.path.join(bundle, "commands.sh"), "a") as f:
        f.write(line + "\n")


def create_container(cfg: ContainerConfig) -> ContainerState:
    """Create the container: shim running, init blocked on the start fifo.

    Steps: 1. bundle directory and config.json  2. the start fifo  3. record the plan
    4. launch the shim and wait for its "created" (or its error). Undone on failure.
    """
    bundle = os.path.abspath(cfg.bundle_dir)
    if os.path.exists(os.path.join(bundle, shim.STATE)):
        raise ContainerError.failed("create", "container", cfg.name, f"{bundle} is in use")
    if not cfg.layers or not cfg.args:
        raise ContainerError.failed("create", "container", cfg.name, "no layers or no args")
    try:
        config = oci_config(cfg, resolve_user(cfg.user, cfg.layers))
    except (UserError, ValueError) as e:
        raise ContainerError.failed("create", "container", cfg.name, e) from e
    try:
        _create(cfg, bundle, config)
    except OSError as e:
        raise ContainerError.failed("create", "container", cfg.name, e) from e
    return container_state(bundle)


def _create(cfg: ContainerConfig, bundle: str, config: dict) -> None:
    with contextlib.ExitStack() as undo:
        # Step 1: bundle directory and config.json
        os.makedirs(bundle, exist_ok=True)
        undo.callback(shutil.rmtree, bundle, True)
        for sub in ("rootfs", "upper", "work"):
            os.makedirs(os.path.join(bundle, sub), exist_ok=True)
        shim.write_json_atomic(os.path.join(bundle, shim.CONFIG), config)
        # Step 2: the start fifo
        os.mkfifo(os.path.join(bundle, shim.FIFO), 0o600)
        # Step 3: the plan, recorded before the shim carries it out in its own processes
        with open(os.path.join(bundle, "commands.sh"), "w") as f:
            f.write(f"#!/bin/sh\n# container {cfg.name} ({cfg.id})\n")
        joins = " ".join(f"--{k}={p}" for k, p in sorted(cfg.namespaces.items()))
        if joins:
            record(bundle, f"nsenter {joins}")
        record(bundle, "unshare --mount --pid --fork")
        for step in rootfs.config_plan(bundle, config):
            record(bundle, step.shell)
        record(bundle, f"cd {cfg.cwd}")
        # Step 4: launch the shim
        reply = shim.launch(bundle, PROJECT_ROOT)
        if "error" in reply:
            raise ContainerError.failed("create", "container", cfg.name, reply["error"])
        undo.pop_all()


def start_container(bundle_dir: str) -> ContainerState:
    """Let the created init run: one byte into the start fifo (``runc start``)."""
    bundle = os.path.abspath(bundle_dir)
    state = container_state(bundle)
    if state.status != "created":
        raise ContainerError.failed("start", "container", state.id, f"it is {state.status}")
    with open(os.path.join(bundle, shim.CONFIG)) as f:
        process = json.load(f)["process"]
    fifo = os.path.join(bundle, shim.FIFO)
    record(bundle, f"echo > {fifo}")
    record(bundle, capabilities.capsh_command(process["capabilities"]["bounding"]))
    user = process.get("user") or {}
    record(bundle, ProcessUser(user.get("uid", 0), user.get("gid", 0),
                               user.get("additionalGids") or []).setpriv())
    record(bundle, f"setpriv --no-new-privs -- {explain.shell_join(process['args'])}")
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:  # ENXIO: nobody reads it any more — the init is gone
        raise ContainerError.failed("start", "container", state.id, e) from e
    try:
        os.write(fd, b"1")
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(fifo)
    with open(os.path.join(bundle, shim.STATE)) as f:
        saved = json.load(f)
    saved["started_at"] = time.time()
    shim.write_json_atomic(os.path.join(bundle, shim.STATE), saved)
    return container_state(bundle)


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _alive(pid: int | None, start_time: int | None) -> bool:
    """Is ``pid`` still the process we started (same start time) and not a zombie?"""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rindex(b")") + 2:].split()
    return fields[0] != b"Z" and (start_time is None or int(fields[19]) == start_time)


def _wait_fd(fd: int, timeout: float) -> bool:
    """Poll a pidfd; True when it became readable (the process exited) within ``timeout``."""
    return bool(select.select([fd], [], [], max(0.0, timeout))[0])


@contextlib.contextmanager
def _closing_fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def container_state(bundle_dir: str) -> ContainerState:
    """Classify the container from its bundle files and /proc; cheap, no side effects."""
    bundle = os.path.abspath(bundle_dir)
    state = _read_json(os.path.join(bundle, shim.STATE))
    config = _read_json(os.path.join(bundle, shim.CONFIG)) or {}
    cid = config.get("id", os.path.basename(bundle))
    if state is None:
        raise ContainerNotFound(f"failed to read container {cid}: no {shim.STATE} in {bundle}")
    result = ContainerState(id=cid, status="unknown", pid=state["pid"],
                            shim_pid=state["shim_pid"], created_at=state["created_at"],
                            started_at=state["started_at"])
    shim_alive = _alive(state["shim_pid"], state["shim_start_time"])
    init_alive = _alive(state["pid"], state["pid_start_time"])
    if shim_alive and not init_alive:  # the shim is writing exit.json right now
        with _closing_fd(exit_fd(result)) as fd:
            _wait_fd(fd, shim.DRAIN_SECONDS + 1.0)
    exited = _read_json(os.path.join(bundle, shim.EXIT))
    if exited is not None:
        result.status = "exited"
        result.exit_code, result.signal = exited["exit_code"], exited["signal"]
        result.finished_at, result.reason = exited["finished_at"], exited.get("reason", "")
    elif shim_alive and init_alive:
        result.status = "running" if state["started_at"] else "created"
    elif init_alive:
        result.reason = f"shim {state['shim_pid']} is gone; the container process still runs"
    else:
        result.status, result.exit_code = "exited", 255
        result.reason = f"shim {state['shim_pid']} exited without recording an exit status"
    return result


def exit_fd(state: ContainerState) -> int:
    """A file descriptor that becomes readable when the container has exited.

    It is a pidfd of the shim, which exits right after writing ``exit.json``; read the code
    with :func:`container_state`. Close it when done. If the shim is already gone, the fd
    is an empty pipe, readable at once.
    """
    if state.shim_pid:
        try:
            fd = os.pidfd_open(state.shim_pid)
        except OSError:
            fd = -1
        if fd >= 0:
            with contextlib.suppress(OSError), open(f"/proc/{state.shim_pid}/cmdline", "rb") as f:
                if b"runtime.shim" in f.read():
                    return fd
            os.close(fd)
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    os.close(write_fd)
    return read_fd


def _stop_signal(bundle: str) -> int:
    try:
        with open(os.path.join(bundle, shim.CONFIG)) as f:
            name = (json.load(f).get("annotations") or {}).get(STOP_SIGNAL) or "SIGTERM"
        return _signal_number(name)
    except (OSError, ValueError, KeyError):
        return int(signal.SIGTERM)


def _signal_init(bundle: str, state: ContainerState, signum: int, pidfd: int) -> None:
    record(bundle, f"kill -{signal.Signals(signum).name[3:]} {state.pid}")
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signum)


def stop_container(bundle_dir: str, grace_seconds: float) -> ContainerState:
    """SIGTERM the init, wait up to ``grace_seconds``, then SIGKILL; return the exited state.

    The first signal is the image's stop signal when it names one (nginx: SIGQUIT, its
    graceful shutdown), as containerd does; it is kept in config.json's annotations.

    A pid-namespace init ignores signals it has no handler for (except SIGKILL from outside),
    so a program without a SIGTERM handler sits out the whole grace period — as upstream.
    A container that was created but never started gets SIGKILL at once.
    """
    bundle = os.path.abspath(bundle_dir)
    state = container_state(bundle)
    if state.status == "exited" or state.pid is None:
        return state
    try:
        pidfd = os.pidfd_open(state.pid)
    except ProcessLookupError:
        return container_state(bundle)
    with _closing_fd(pidfd) as pidfd:
        if state.status == "running" and grace_seconds > 0:
            _signal_init(bundle, state, _stop_signal(bundle), pidfd)
            if not _wait_fd(pidfd, grace_seconds):
                _signal_init(bundle, state, signal.SIGKILL, pidfd)
        else:
            _signal_init(bundle, state, signal.SIGKILL, pidfd)
        _wait_fd(pidfd, SHIM_EXIT_TIMEOUT)
    with _closing_fd(exit_fd(state)) as fd:
        _wait_fd(fd, SHIM_EXIT_TIMEOUT)
    return container_state(bundle)


def delete_container(bundle_dir: str) -> None:
    """Stop the container if needed (no grace) and remove its bundle; may run twice."""
    bundle = os.path.abspath(bundle_dir)
    if not os.path.isdir(bundle):
        return
    with contextlib.suppress(ContainerNotFound):
        if container_state(bundle).status != "exited":
            stop_container(bundle, 0)
    explain.record(f"rm -rf {bundle}")
    shutil.rmtree(bundle, ignore_errors=True)
