"""The shim: the small process that owns one container, like conmon or containerd-shim.

Kubernetes concept: the kubelet may be restarted at any time, but the containers it started
must keep running, their output must keep reaching the log file and their exit code must not
be lost. So between the kubelet and each container sits a *monitor* process that lives on its
own (its own session; reparented to PID 1 when its creator exits).

What ``python -m runtime.shim BUNDLE SYNC_FD`` does:

1. forks and lets the first process exit (a double fork: the kubelet never has to reap it);
   ``setsid``; ``PR_SET_CHILD_SUBREAPER``;
2. ``unshare(CLONE_NEWPID)`` and forks the container **init**, pid 1 of a new pid namespace.
   The init joins the sandbox's net/ipc/uts namespaces (``setns``), unshares a mount
   namespace, builds the rootfs (:mod:`runtime.rootfs`), takes stdout/stderr from two pipes,
   tells the shim "created" and **blocks** reading ``<bundle>/start.fifo`` (runc's exec.fifo);
3. writes ``state.json`` and tells the creator (one JSON line on SYNC_FD), or reports the
   init's error there and exits;
4. when ``start`` writes to the fifo, the init drops capabilities, sets no_new_privs and
   execve()s the command; an exec failure comes back on a close-on-exec pipe (exit 127/126);
5. meanwhile copies both pipes into the CRI log (:mod:`runtime.crilog`; SIGUSR1 reopens it),
   reaps the init and writes ``exit.json`` (atomically) before it exits itself.

See it: ``ps -o pid,ppid,sid,cmd -C python3``; ``cat <bundle>/state.json <bundle>/exit.json``;
``ls -l /proc/<init pid>/ns``. Only the standard library, :mod:`runtime.syscalls`,
:mod:`runtime.rootfs`, :mod:`runtime.crilog`, :mod:`runtime.capabilities` and ``prctl`` are
imported: start-up time is part of every container start.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import signal
import sys
import time

from runtime import capabilities, crilog, rootfs, syscalls
from runtime.user import ProcessUser, switch_user

CONFIG, STATE, EXIT, FIFO = "config.json", "state.json", "exit.json", "start.fifo"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NAMESPACE_FLAGS = {"ipc": syscalls.CLONE_NEWIPC, "uts": syscalls.CLONE_NEWUTS,
                   "network": syscalls.CLONE_NEWNET}
CREATE_TIMEOUT = 30.0  # how long the creator waits for the shim's answer
DRAIN_SECONDS = 2.0  # after the init exits, how long to wait for the pipes to close


def write_json_atomic(path: str, data: dict) -> None:
    """Write ``path`` so that a reader sees the old file or the whole new one, never half."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def proc_start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat``: tells a process from a later one with the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2:].split()[19])


def find_executable(name: str, env: list[str]) -> str:
    """Resolve ``args[0]`` with the container's own ``$PATH``; raise a runc-style message."""
    if "/" in name:
        if not os.path.exists(name):
            raise ExecFailure(127, f'exec: "{name}": stat {name}: no such file or directory')
        return name
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ExecFailure(127, f'exec: "{name}": executable file not found in $PATH')


class ExecFailure(Exception):
    """The command of a container could not be executed; ``code`` is 126 or 127."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def exec_container_process(args: list[str], env: list[str], process: dict) -> None:
    """The last steps of every container process (init or exec): the bounding set, the user
    (setgroups, setgid, setuid), the other capability sets, no_new_privs, execve.

    Never returns; raises :class:`ExecFailure` with the exit code 126/127 runc would use.
    """
    caps = process["capabilities"]["bounding"]
    user = process.get("user") or {}
    capabilities.drop_bounding(caps)  # needs CAP_SETPCAP: first
    switch_user(ProcessUser(user.get("uid", 0), user.get("gid", 0),
                            user.get("additionalGids") or []))
    capabilities.limit_sets(caps)  # after a switch to uid != 0 the kernel emptied them already
    capabilities.set_no_new_privs()
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; execve keeps that
        signal.signal(signum, signal.SIG_DFL)
    binary = find_executable(args[0], env)
    try:
        os.execve(binary, args, dict(e.split("=", 1) for e in env if "=" in e))
    except OSError as e:
        code = 127 if e.errno == 2 else 126
        raise ExecFailure(code, f'exec: "{args[0]}": {(e.strerror or str(e)).lower()}') from e


def container_init(bundle: str, cfg: dict, pipes: dict[str, int]) -> None:
    """Runs in the forked child, pid 1 of the new pid namespace. Never returns."""
    import prctl

    prctl.set_pdeathsig(signal.SIGKILL)  # the shim dies -> the container dies
    for ns in cfg["linux"]["namespaces"]:
        if ns.get("path") and ns["type"] in NAMESPACE_FLAGS:
            syscalls.setns_path(ns["path"], NAMESPACE_FLAGS[ns["type"]])
    syscalls.unshare(syscalls.CLONE_NEWNS)
    fifo = os.open(os.path.join(bundle, FIFO), os.O_RDWR | os.O_CLOEXEC)
    for step in rootfs.config_plan(bundle, cfg):
        try:
            step.run()
        except OSError as e:
            raise RuntimeError(f"{step.shell}: {e.strerror or e}") from e
    process = cfg["process"]
    os.makedirs(process["cwd"], exist_ok=True)
    os.chdir(process["cwd"])
    os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
    os.dup2(pipes["stdout_w"], 1)
    os.dup2(pipes["stderr_w"], 2)
    os.write(pipes["ready_w"], b"ok")
    os.close(pipes["ready_w"])
    os.read(fifo, 1)  # blocks until `start` writes to <bundle>/start.fifo
    try:
        exec_container_process(process["args"], process["env"], process)
        code, message = 1, "execve returned"
    except ExecFailure as e:
        code, message = e.code, str(e)
    except Exception as e:
        code, message = 1, f"start container process: {e}"
    os.write(pipes["exec_w"], message.encode())
    os.write(2, f"{message}\n".encode())
    os._exit(code)


def create(bundle: str, sync_fd: int) -> tuple[int, dict[str, int]]:
    """Fork the container init; return its pid and the shim's ends of the pipes."""
    with open(os.path.join(bundle, CONFIG)) as f:
        cfg = json.load(f)
    pipes: dict[str, int] = {}
    pipes["stdout_r"], pipes["stdout_w"] = os.pipe2(os.O_CLOEXEC)
    pipes["stderr_r"], pipes["stderr_w"] = os.pipe2(os.O_CLOEXEC)
    pipes["ready_r"], pipes["ready_w"] = os.pipe2(os.O_CLOEXEC)
    pipes["exec_r"], pipes["exec_w"] = os.pipe2(os.O_CLOEXEC)
    syscalls.unshare(syscalls.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        try:  # never fall back into shim code from here: always os._exit
            os.close(sync_fd)
            for name in ("stdout_r", "stderr_r", "ready_r", "exec_r"):
                os.close(pipes[name])
            container_init(bundle, cfg, pipes)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.write(pipes["ready_w"], f"error: {e}".encode())
        finally:
            os._exit(1)
    for name in ("stdout_w", "stderr_w", "ready_w", "exec_w"):
        os.close(pipes.pop(name))
    message = b""
    while chunk := os.read(pipes["ready_r"], 4096):
        message += chunk
    if message != b"ok":
        os.waitpid(pid, 0)
        text = message.decode(errors="replace").removeprefix("error: ")
        raise RuntimeError(text or "container init exited during setup")
    return pid, pipes


def monitor(bundle: str, pid: int, pipes: dict[str, int], writer: crilog.CriLogWriter) -> None:
    """Copy output to the CRI log until the init exits; then write exit.json."""
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGUSR1, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(pipes["stdout_r"], selectors.EVENT_READ, "stdout")
    sel.register(pipes["stderr_r"], selectors.EVENT_READ, "stderr")
    sel.register(pipes["exec_r"], selectors.EVENT_READ, "exec")
    sel.register(wake_r, selectors.EVENT_READ, "signal")
    sel.register(os.pidfd_open(pid), selectors.EVENT_READ, "exit")
    status: int | None = None
    reason, deadline, open_streams, finished_at = "", 0.0, 2, 0.0
    while status is None or (open_streams and time.monotonic() < deadline):
        timeout = None if status is None else max(0.0, deadline - time.monotonic())
        for key, _ in sel.select(timeout):
            fd = key.fd
            if key.data == "exit":
                status, finished_at = os.waitpid(pid, 0)[1], time.time()
                deadline = time.monotonic() + DRAIN_SECONDS
                sel.unregister(fd)
            elif key.data == "signal":
                os.read(fd, 64)
                writer.reopen()
            elif data := os.read(fd, 65536):
                if key.data == "exec":
                    reason += data.decode(errors="replace")
                else:
                    writer.write(key.data, data)
            else:
                sel.unregister(fd)
                if key.data != "exec":
                    writer.close_stream(key.data)
                    open_streams -= 1
    writer.close()
    reap_orphans()
    signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = 128 + signum if signum is not None else os.WEXITSTATUS(status)
    write_json_atomic(os.path.join(bundle, EXIT), {"exit_code": code, "signal": signum,
                                                   "finished_at": finished_at,
                                                   "reason": reason})


def reap_orphans() -> None:
    """As a subreaper we inherit what the container leaves behind; collect it."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def launch(bundle: str, project_root: str) -> dict:
    """Creator side: run ``python -S -m runtime.shim BUNDLE FD``; return its JSON reply.

    The reply is ``{"pid", "shim_pid", ...}`` (the state) or ``{"error": text}``. ``-S``
    skips site.py (about 15 ms here); the project root and python-prctl's directory go on
    PYTHONPATH instead. The command returns as soon as the shim has double-forked.
    """
    import importlib.util
    import subprocess

    spec = importlib.util.find_spec("prctl")
    paths = [project_root] + ([os.path.dirname(spec.origin)] if spec and spec.origin else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        with open(os.path.join(bundle, "shim.log"), "ab") as log:
            subprocess.run([sys.executable, "-S", "-m", "runtime.shim", bundle, str(write_fd)],
                           pass_fds=(write_fd,), cwd=project_root, env=env,
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True)
        os.close(write_fd)
        write_fd = -1
        return _read_reply(read_fd, bundle)
    except (OSError, subprocess.CalledProcessError) as e:
        return {"error": f"shim: {e}"}
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


#: How long a creator waits for a shim that reported an error to exit.
SHIM_GONE_TIMEOUT = 5.0


def _read_reply(fd: int, bundle: str) -> dict:
    data, deadline = b"", time.monotonic() + CREATE_TIMEOUT
    while not data.endswith(b"\n"):
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            return {"error": f"shim did not answer within {CREATE_TIMEOUT:.0f}s"}
        chunk = os.read(fd, 4096)
        if not chunk:
            with open(os.path.join(bundle, "shim.log"), errors="replace") as f:
                tail = f.read()[-500:].strip()
            return {"error": f"shim exited without an answer: {tail}"}
        data += chunk
    reply: dict = json.loads(data)
    if "error" in reply:  # a failed create leaves no process: wait for the shim to be gone
        end = time.monotonic() + SHIM_GONE_TIMEOUT
        while select.select([fd], [], [], max(0.0, end - time.monotonic()))[0]:
            if not os.read(fd, 4096):  # EOF: every holder of the pipe has exited
                break
    return reply


def main(argv: list[str]) -> int:
    bundle, sync_fd = os.path.abspath(argv[1]), int(argv[2])
    if os.fork() != 0:
        os._exit(0)  # the creator reaps this first process; the shim is orphaned on purpose
    os.setsid()
    import prctl

    prctl.set_child_subreaper(1)
    try:
        pid, pipes = create(bundle, sync_fd)
    except Exception as e:
        os.write(sync_fd, (json.dumps({"error": str(e)}) + "\n").encode())
        return 1
    try:
        with open(os.path.join(bundle, CONFIG)) as f:
            writer = crilog.CriLogWriter(json.load(f).get("logPath", ""))
    except OSError as e:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.write(sync_fd, (json.dumps({"error": f"open log: {e}"}) + "\n").encode())
        return 1
    state = {"pid": pid, "shim_pid": os.getpid(), "created_at": time.time(),
             "started_at": None, "pid_start_time": proc_start_time(pid),
             "shim_start_time": proc_start_time(os.getpid())}
    write_json_atomic(os.path.join(bundle, STATE), state)
    os.write(sync_fd, (json.dumps(state) + "\n").encode())
    os.close(sync_fd)
    monitor(bundle, pid, pipes, writer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
