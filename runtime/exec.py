"""Run a command inside a running container: ``kubectl exec``, ``runc exec``, ``nsenter``.

Kubernetes concept: ``kubectl exec POD -- cmd`` starts a *new* process that sees what the
container sees. Nothing is copied into the container; the new process just *switches into*
the container's namespaces (mount, pid, net, ipc, uts), its root directory, its cgroups, and
gives up the same capabilities the container gave up.

Kernel objects: the init's ``/proc/<pid>/ns/*`` files (setns(2) into each), its
``/proc/<pid>/root`` (chroot), its ``/proc/<pid>/cgroup`` (we write our pid into the same
cgroups' ``cgroup.procs``, as runc exec does), and with a TTY a fresh pseudo-terminal from the
*container's* devpts instance, so ``tty`` inside prints ``/dev/pts/0``. By hand::

    echo $$ > /sys/fs/cgroup/<controller>/<path>/cgroup.procs     # each controller
    nsenter -t <pid> -m -u -i -n -p -r -w capsh --drop=... -- -c 'cat /etc/hostname'

Joining a pid namespace only applies to children, so the work happens in a helper process,
``python -m runtime.exec BUNDLE [--tty-socket FD] [--env K=V]... -- ARGV``, which enters
everything, forks the command and exits with its exit code (128+N for signal N).

:func:`exec_in_container` returns an :class:`ExecProcess` (a ``subprocess.Popen``). Without a
TTY its stdin/stdout/stderr are what you passed (``subprocess.PIPE`` works). With
``tty=True`` the helper sends back the pty *master* over a unix socket (SCM_RIGHTS):
``proc.master_fd`` is that fd, and ``proc.stdin`` / ``proc.stdout`` are unbuffered binary
files on it (``proc.stdout`` owns it: ``with proc:`` or ``proc.stdout.close()`` closes it).
Reading it raises ``OSError(EIO)`` once the command has exited and closed its side.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import termios
from typing import Any

from explain import record, shell_join
from runtime import capabilities, shim, syscalls
from runtime.container import ContainerError, container_state

#: setns order: everything that needs host paths first, the mount namespace last.
JOIN_ORDER = [("ipc", syscalls.CLONE_NEWIPC), ("uts", syscalls.CLONE_NEWUTS),
              ("net", syscalls.CLONE_NEWNET), ("pid", syscalls.CLONE_NEWPID),
              ("mnt", syscalls.CLONE_NEWNS)]


class ExecProcess(subprocess.Popen):  # type: ignore[type-arg]
    """The helper process; its exit code is the command's. ``master_fd`` is set with a TTY."""

    master_fd: int | None = None


def cgroup_procs_files(pid: int) -> list[str]:
    """The ``cgroup.procs`` files of ``pid``'s cgroups that differ from our own."""
    mounts: list[tuple[str, str, set[str]]] = []  # (mount root, mount point, options)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _source, super_options = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                fields = left.split()
                mounts.append((fields[3], fields[4], set(super_options.split(",")) | {fstype}))

    def table(p: int | str) -> dict[tuple[str, str], str]:
        with open(f"/proc/{p}/cgroup") as f:
            rows = [line.rstrip("\n").split(":", 2) for line in f if line.strip()]
        return {(h, c): path for h, c, path in rows}

    theirs, ours = table(pid), table("self")
    files = []
    for (hierarchy, controllers), path in theirs.items():
        if ours.get((hierarchy, controllers)) == path:
            continue
        wanted = {"cgroup2"} if hierarchy == "0" else set(controllers.split(",")) | {"cgroup"}
        for root, point, options in mounts:
            if wanted <= options and (path + "/").startswith(root.rstrip("/") + "/"):
                files.append(f"{point}{path[len(root.rstrip('/')):]}/cgroup.procs")
                break
    return files


def _helper_env() -> dict[str, str]:
    import importlib.util

    spec = importlib.util.find_spec("prctl")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [root] + ([os.path.dirname(spec.origin)] if spec and spec.origin else [])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def exec_in_container(bundle_dir: str, argv: list[str], tty: bool = False,
                      env: list[str] | None = None, stdin: Any = None, stdout: Any = None,
                      stderr: Any = None) -> ExecProcess:
    """Start ``argv`` inside the container of ``bundle_dir``; see the module docstring."""
    bundle = os.path.abspath(bundle_dir)
    state = container_state(bundle)
    if state.status != "running" or state.pid is None:
        raise ContainerError.failed("exec in", "container", state.id, f"it is {state.status}")
    with open(os.path.join(bundle, shim.CONFIG)) as f:
        process = json.load(f)["process"]
    for path in cgroup_procs_files(state.pid):
        record(f"echo $$ > {path}")
    record(f"nsenter -t {state.pid} -m -u -i -n -p -r -w -- {shell_join(argv)}")
    record(capabilities.capsh_command(process["capabilities"]["bounding"]))
    command = [sys.executable, "-S", "-m", "runtime.exec", bundle]
    for entry in env or []:
        command += ["--env", entry]
    if not tty:
        return ExecProcess(command + ["--", *argv], stdin=stdin, stdout=stdout, stderr=stderr,
                           env=_helper_env())
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        proc = ExecProcess(command + ["--tty-socket", str(theirs.fileno()), "--", *argv],
                           pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=stderr, env=_helper_env())
        theirs.close()
        _msg, fds, _flags, _addr = socket.recv_fds(ours, 16, 1)
    if not fds:
        code = proc.wait()
        raise ContainerError.failed("exec in", "container", state.id,
                                    f"the exec helper exited with code {code} before a tty")
    proc.master_fd = fds[0]
    proc.stdin = open(fds[0], "wb", buffering=0, closefd=False)
    proc.stdout = open(fds[0], "rb", buffering=0)
    return proc


def enter(pid: int, start_time: int | None) -> None:
    """Join ``pid``'s cgroups, namespaces and root (``nsenter -t PID -a -r``), in that order."""
    if shim.proc_start_time(pid) != start_time:
        raise RuntimeError(f"container process {pid} is gone")
    for path in cgroup_procs_files(pid):
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    fds = [(os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC), flag)
           for ns, flag in JOIN_ORDER]
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for fd, flag in fds:
        syscalls.setns(fd, flag)
        os.close(fd)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)


def _child(argv: list[str], env: list[str], process: dict[str, Any], slave: int | None
           ) -> None:
    if slave is not None:  # the pty becomes our controlling terminal and stdio
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for target in (0, 1, 2):
            os.dup2(slave, target)
    try:
        shim.exec_container_process(argv, env, process)
        code, message = 1, "execve returned"
    except shim.ExecFailure as e:
        code, message = e.code, str(e)
    except Exception as e:
        code, message = 1, f"exec: {e}"
    os.write(2, f"{message}\n".encode())
    os._exit(code)


def main(args: list[str]) -> int:
    """The helper: ``python -m runtime.exec BUNDLE [--tty-socket FD] [--env K=V]... -- ARGV``."""
    split = args.index("--")
    options, argv, bundle = args[2:split], args[split + 1:], args[1]
    env = [options[i + 1] for i, o in enumerate(options) if o == "--env"]
    tty_socket = next((int(options[i + 1]) for i, o in enumerate(options)
                       if o == "--tty-socket"), None)
    with open(os.path.join(bundle, shim.CONFIG)) as f:
        process = json.load(f)["process"]
    with open(os.path.join(bundle, shim.STATE)) as f:
        state = json.load(f)
    env = env or list(process["env"])
    import prctl  # noqa: F401  (imported before the chroot: it is not in the container)

    try:
        enter(state["pid"], state["pid_start_time"])
        os.chdir(process["cwd"])
    except OSError as e:
        print(f"exec: {e}", file=sys.stderr)
        return 126
    slave = None
    if tty_socket is not None:
        if not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        master, slave = os.openpty()  # /dev/ptmx of the container's own devpts
        with socket.socket(fileno=tty_socket) as sock:
            socket.send_fds(sock, [b"m"], [master])
        os.close(master)
    child = os.fork()
    if child == 0:
        _child(argv, env, process, slave)
    if slave is not None:
        os.close(slave)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda n, _f: os.kill(child, n))
    status = os.waitpid(child, 0)[1]
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

