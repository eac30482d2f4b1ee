"""Network namespaces, made and pinned the way ``ip netns add`` does it.

Kubernetes concept: every Pod gets its own network stack — its own ``lo``, its own ``eth0``,
its own routing table and its own port space — shared by all containers of the Pod. In the
kernel that stack is a *network namespace* (netns). The CRI runtime creates it for the pod
sandbox and the CNI plugin (our ``bridge`` package) wires it to the node.

Kernel objects: a network namespace lives as long as something refers to it — a process, an
open file descriptor, or a *bind mount* of its ``nsfs`` file. ``ip netns add NAME`` does::

    mkdir -p /run/netns
    mount --make-shared /run/netns          # (bind-mounting it onto itself first if needed)
    touch /run/netns/NAME
    unshare --net                           # in a throw-away thread
    mount --bind /proc/self/task/<tid>/ns/net /run/netns/NAME

and this module does exactly the same through a few ctypes system calls, so the pods'
namespaces appear in ``ip netns list`` and work with ``ip netns exec NAME ...``.

See them::

    ip netns list                           # every pod's netns
    ls -li /run/netns                       # the pinned files, inode = namespace id
    findmnt -o TARGET,SOURCE /run/netns     # the bind mounts (nsfs)
    ip netns exec NAME ip addr              # look inside

Entering a namespace (``setns(2)``) changes only the calling *thread*; :func:`enter_netns` is
the one place in the project that does it, and it always switches back.

This package uses only ``explain`` and the standard library (no ``runtime.syscalls``: the
layering puts ``netns`` below ``runtime``), hence its own small ctypes wrappers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import explain
from explain.errors import MinikubeError

NETNS_DIR = "/run/netns"

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MS_REC = 16384
_MS_SHARED = 1 << 20
_MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class NetnsError(MinikubeError):
    """A network namespace could not be created, found, entered or deleted."""


# --- the system calls (man 2 unshare, setns, mount, umount2) ---------------------------------


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare_net() -> None:
    _check(_libc.unshare(ctypes.c_int(_CLONE_NEWNET)), "unshare(CLONE_NEWNET)")


def _setns(fd: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(_CLONE_NEWNET)), f"setns(fd={fd})")


def _mount(source: str, target: str, flags: int) -> None:
    result = _libc.mount(source.encode(), target.encode(), b"none", ctypes.c_ulong(flags), None)
    _check(result, f"mount({source!r}, {target!r}, 0x{flags:x})")


def _umount_detach(target: str) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(_MNT_DETACH)), f"umount2({target!r})")


# --- helpers named after the shell commands they mirror --------------------------------------


def mount_make_shared_netns_dir() -> None:
    """``mount --make-shared /run/netns``, bind-mounting the directory onto itself first if it
    is not a mount point yet (EINVAL) — what iproute2 does, so that a netns mounted later
    also shows up in mount namespaces copied from ours."""
    os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
    if _is_shared_mount(NETNS_DIR):
        return
    explain.record(f"mount --make-shared {NETNS_DIR}")
    try:
        _mount("", NETNS_DIR, _MS_SHARED | _MS_REC)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        explain.record(f"mount --bind {NETNS_DIR} {NETNS_DIR}")
        _mount(NETNS_DIR, NETNS_DIR, _MS_BIND | _MS_REC)
        _mount("", NETNS_DIR, _MS_SHARED | _MS_REC)


def ip_netns_add(name: str) -> None:
    """``ip netns add NAME``: a new netns, pinned by a bind mount on ``/run/netns/NAME``.

    The namespace is unshared by a short-lived thread (unshare(CLONE_NEWNET) only moves the
    calling thread), which bind-mounts its own ``/proc/self/task/<tid>/ns/net`` and exits.
    """
    explain.record(["ip", "netns", "add", name])
    mount_make_shared_netns_dir()
    path = netns_path(name)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    errors: list[BaseException] = []

    def pin() -> None:
        try:
            _unshare_net()
            _mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, _MS_BIND)
        except BaseException as e:  # handed to the caller's thread below
            errors.append(e)

    thread = threading.Thread(target=pin, name=f"netns-add-{name}")
    thread.start()
    thread.join()
    if errors:
        os.unlink(path)
        raise errors[0]


def ip_netns_delete(name: str) -> None:
    """``ip netns delete NAME``: unmount the pin and remove the file. The namespace itself
    goes away when nothing else (a process, an open fd) refers to it."""
    explain.record(["ip", "netns", "delete", name])
    path = netns_path(name)
    try:
        _umount_detach(path)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --- the public API ----------------------------------------------------------------------------


def netns_path(name: str) -> str:
    """``"/run/netns/<name>"``; a value that already is a path is returned unchanged."""
    if "/" in name:
        return name
    if not name or name in (".", ".."):
        raise NetnsError(f"invalid netns name {name!r}")
    return os.path.join(NETNS_DIR, name)


def _is_shared_mount(point: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == point and any(o.startswith("shared:") for o in fields[6:]):
                return True
    return False


def _is_pinned_netns(path: str) -> bool:
    """True when ``path`` is a bind mount of a network namespace (an ``nsfs`` file)."""
    try:
        st = os.stat(path)
        own = os.stat("/proc/self/ns/net")
    except OSError:
        return False
    # Every namespace file lives on the one nsfs superblock: the st_dev of our own netns.
    return st.st_dev == own.st_dev


def find_netns(name: str) -> str | None:
    """The path of the pinned netns ``name`` (or path), or None if there is none."""
    path = netns_path(name)
    return path if _is_pinned_netns(path) else None


def ensure_netns(name: str) -> str:
    """Create the netns ``name`` (``ip netns add NAME``) unless it exists; return its path.

    A leftover empty file (from a crash between ``touch`` and ``mount``) is replaced.
    """
    path = netns_path(name)
    if find_netns(name):
        return path
    if os.path.exists(path):
        ip_netns_delete(name)
    try:
        ip_netns_add(name)
    except FileExistsError as e:  # somebody else created it right now: fine if it is real
        if find_netns(name):
            return path
        raise NetnsError.failed("create", "netns", name, "file exists but is no netns") from e
    except OSError as e:
        raise NetnsError.failed("create", "netns", name, e) from e
    return path


def delete_netns(name: str) -> None:
    """Delete the netns ``name`` (``ip netns delete NAME``); nothing to do if it is gone."""
    if not os.path.lexists(netns_path(name)):
        return
    try:
        ip_netns_delete(name)
    except OSError as e:
        raise NetnsError.failed("delete", "netns", name, e) from e


def list_netns() -> list[str]:
    """Names of the pinned namespaces in /run/netns, sorted (``ip netns list``)."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _is_pinned_netns(os.path.join(NETNS_DIR, n)))


@contextmanager
def enter_netns(name_or_path: str) -> Iterator[None]:
    """Run the ``with`` block with this thread inside the netns (``nsenter --net=PATH``).

    The only context manager in the project that calls setns(2). It keeps a file descriptor
    on the thread's original netns and always switches back, even when the block raises.
    Sockets opened inside the block stay in the namespace after it ends.
    """
    path = netns_path(name_or_path)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetnsError.failed("enter", "netns", name_or_path, e) from e
    original = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        try:
            _setns(target)
        except OSError as e:
            raise NetnsError.failed("enter", "netns", name_or_path, e) from e
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)


def run_in_netns(
    name_or_path: str, argv: Sequence[str], **subprocess_kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """Run ``argv`` inside the netns and wait for it: ``ip netns exec NAME argv...``.

    A name under /run/netns goes through ``ip netns exec`` itself (which also remounts /sys
    for the namespace); any other path, such as ``/proc/PID/ns/net``, through
    ``nsenter --net=PATH``. Keyword arguments go to :func:`subprocess.run`.
    """
    path = netns_path(name_or_path)
    if find_netns(path) is None:
        raise NetnsError.failed("run in", "netns", name_or_path, "no such network namespace")
    if os.path.dirname(path) == NETNS_DIR:
        full = ["ip", "netns", "exec", os.path.basename(path), *argv]
    else:
        full = ["nsenter", f"--net={path}", *argv]
    explain.record(full)
    return subprocess.run(full, **subprocess_kwargs)
