"""The pod sandbox: the namespaces a pod's containers share, pinned without a pause process.

Kubernetes concept: a Pod is a group of containers sharing a network stack (one IP, one port
space, ``localhost`` between them), System V IPC, and a hostname (the pod name). The CRI
calls this shared environment the *pod sandbox*; it is created before any container
(RunPodSandbox) and removed after the last one. Classic runtimes keep the namespaces alive
with a sleeping "pause" container; CRI-O's ``pinns`` instead bind-mounts the namespace files,
which keeps them alive with no process at all. We do the same.

Kernel objects, per pod:

* a network namespace, ``/run/netns/<name>`` (``netns.ensure_netns``, so ``ip netns list``
  shows every pod);
* an IPC and a UTS namespace, created by a short-lived thread (unshare, sethostname),
  bind-mounted from ``/proc/self/task/<tid>/ns/{ipc,uts}`` onto the empty files
  ``<sandbox_dir>/ns/ipc`` and ``<sandbox_dir>/ns/uts``; the thread then exits and the
  mounts keep the namespaces alive. By hand, util-linux does the same in one command::

      touch DIR/ns/ipc DIR/ns/uts
      unshare --ipc=DIR/ns/ipc --uts=DIR/ns/uts hostname nginx-7d4b9

See them::

    findmnt -o TARGET,SOURCE | grep /ns/          # the pins (source nsfs[ipc:[...]])
    nsenter --uts=DIR/ns/uts hostname             # the pod's hostname
    ls -li DIR/ns/ /proc/self/ns/ipc              # inode = namespace id; differs from ours
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from contextlib import ExitStack
from dataclasses import dataclass

import explain
import netns
from explain.errors import MinikubeError
from runtime import syscalls

PINNED = ("ipc", "uts")


class SandboxError(MinikubeError):
    """The sandbox namespaces could not be created or deleted."""


@dataclass
class SandboxNamespaces:
    """Paths of the pinned namespace files of one pod (for setns / ``nsenter``)."""

    net: str
    ipc: str
    uts: str


def _ns_file(sandbox_dir: str, kind: str) -> str:
    return os.path.join(sandbox_dir, "ns", kind)


def _is_pinned(path: str) -> bool:
    """True when ``path`` is a bind mount of a namespace (lives on nsfs, like ours)."""
    try:
        return os.stat(path).st_dev == os.stat("/proc/self/ns/ipc").st_dev
    except OSError:
        return False


def unshare_ipc_uts(ipc_file: str, uts_file: str, hostname: str) -> None:
    """``unshare --ipc=IPC_FILE --uts=UTS_FILE hostname HOSTNAME``.

    A short-lived thread unshares new IPC and UTS namespaces (unshare(2) moves only the
    calling thread), sets the hostname in its UTS namespace, bind-mounts its own
    ``/proc/self/task/<tid>/ns/{ipc,uts}`` onto the two files and exits. The mounts keep
    the namespaces alive; the thread's ending takes nothing else with it.

    Why a thread and not a forked child: this runs in a process with many threads (the API
    server, controllers, kubelet). A forked child gets a copy of every lock another thread
    held at that instant, such as the dynamic loader's, and can wait on it forever.
    """
    explain.record(["unshare", f"--ipc={ipc_file}", f"--uts={uts_file}", "hostname", hostname])
    errors: list[BaseException] = []

    def pin() -> None:
        try:
            syscalls.unshare(syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS)
            socket.sethostname(hostname)
            task = f"/proc/self/task/{threading.get_native_id()}/ns"
            with ExitStack() as undo:
                for kind, target in (("ipc", ipc_file), ("uts", uts_file)):
                    syscalls.mount(f"{task}/{kind}", target, None, syscalls.MS_BIND)
                    undo.callback(syscalls.umount, target, syscalls.MNT_DETACH)
                undo.pop_all()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread below
            errors.append(e)

    thread = threading.Thread(target=pin, name=f"unshare-ipc-uts-{hostname}")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def umount_lazy(path: str) -> None:
    """``umount -l PATH``; a path that is not mounted (or gone) is fine."""
    explain.record(["umount", "-l", path])
    try:
        syscalls.umount(path, syscalls.MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise


def find_sandbox_namespaces(sandbox_dir: str, netns_name: str) -> SandboxNamespaces | None:
    """The sandbox's pinned namespaces, or None unless all three are there."""
    net = netns.find_netns(netns_name)
    ipc, uts = (_ns_file(sandbox_dir, kind) for kind in PINNED)
    if net is None or not _is_pinned(ipc) or not _is_pinned(uts):
        return None
    return SandboxNamespaces(net=net, ipc=ipc, uts=uts)


def create_sandbox_namespaces(
    sandbox_dir: str, netns_name: str, hostname: str
) -> SandboxNamespaces:
    """Create (or find) the pod's net, ipc and uts namespaces.

    Steps: 1. the netns under /run/netns  2. empty files to mount on
    3. new ipc + uts namespaces with the hostname, pinned on those files.
    A failure undoes what this call created.
    """
    found = find_sandbox_namespaces(sandbox_dir, netns_name)
    if found is not None:
        return found
    ipc, uts = (_ns_file(sandbox_dir, kind) for kind in PINNED)
    try:
        with ExitStack() as undo:
            # Step 1: the network namespace.
            existed = netns.find_netns(netns_name) is not None
            net = netns.ensure_netns(netns_name)
            if not existed:
                undo.callback(netns.delete_netns, netns_name)
            # Step 2: the mount points (a half-made earlier try is cleared first).
            os.makedirs(os.path.dirname(ipc), mode=0o755, exist_ok=True)
            for path in (ipc, uts):
                if os.path.exists(path):
                    umount_lazy(path)
                open(path, "w").close()
                undo.callback(_remove, path)
            # Step 3: ipc + uts, pinned.
            unshare_ipc_uts(ipc, uts, hostname)
            undo.pop_all()
    except (OSError, MinikubeError) as e:
        raise SandboxError.failed("create", "sandbox namespaces", sandbox_dir, e) from e
    return SandboxNamespaces(net=net, ipc=ipc, uts=uts)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def delete_sandbox_namespaces(sandbox_dir: str, netns_name: str) -> None:
    """Unpin and remove the ipc and uts files and delete the netns; safe to repeat."""
    try:
        for kind in PINNED:
            path = _ns_file(sandbox_dir, kind)
            if os.path.lexists(path):
                umount_lazy(path)
                explain.record(["rm", "-f", path])
                _remove(path)
        try:
            os.rmdir(os.path.join(sandbox_dir, "ns"))
        except OSError:  # gone already, or holds something that is not ours
            pass
        netns.delete_netns(netns_name)
    except (OSError, MinikubeError) as e:
        raise SandboxError.failed("delete", "sandbox namespaces", sandbox_dir, e) from e
