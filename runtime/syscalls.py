"""The handful of Linux system calls a container runtime needs, through ctypes.

Python 3.12 added ``os.unshare`` and ``os.setns``; we support 3.10+, and ``mount``,
``umount2`` and ``pivot_root`` have no ``os`` wrapper at all. This module is the one place
that talks to libc directly. Each function names its man page; each raises ``OSError`` with
the errno and a message naming what it tried, like the ``os`` module does.

Nothing here records an ``explain`` line: the callers know which shell command their call
corresponds to (``mount -t overlay ...``, ``nsenter --net=...``) and record that.
"""

from __future__ import annotations

import ctypes
import os


def _load_libc() -> ctypes.CDLL:
    # "libc.so.6" directly: ctypes.util.find_library would import subprocess and re, which
    # costs a shim ~20 ms of start-up on every container start.
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c"), use_errno=True)


_libc = _load_libc()

# Namespace flags, from <linux/sched.h> (clone(2), unshare(2), setns(2)).
CLONE_NEWNS = 0x00020000  # mount
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

#: The names used under /proc/<pid>/ns/ for each flag.
NAMESPACE_FILES = {
    CLONE_NEWNS: "mnt",
    CLONE_NEWUTS: "uts",
    CLONE_NEWIPC: "ipc",
    CLONE_NEWPID: "pid",
    CLONE_NEWNET: "net",
    CLONE_NEWCGROUP: "cgroup",
    CLONE_NEWUSER: "user",
}

# Mount flags, from <sys/mount.h> (mount(2)).
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_STRICTATIME = 1 << 24

# umount2(2) flags.
MNT_FORCE = 1
MNT_DETACH = 2


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """unshare(2): move the calling *thread* into new namespaces (``unshare --net ...``)."""
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare(0x{flags:x})")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): move the calling thread into the namespace open at ``fd`` (``nsenter``).

    ``nstype`` 0 accepts any type; pass a ``CLONE_NEW*`` flag to have the kernel check it.
    Joining a pid namespace only affects children forked afterwards.
    """
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), f"setns(fd={fd})")


def setns_path(path: str, nstype: int = 0) -> None:
    """setns(2) on a namespace file such as ``/run/netns/x`` or ``/proc/42/ns/net``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            setns(fd, nstype)
        except OSError as e:
            raise OSError(e.errno, f"setns({path}): {os.strerror(e.errno or 0)}") from e
    finally:
        os.close(fd)


def mount(
    source: str | None,
    target: str,
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    """mount(2): ``mount -t FSTYPE -o DATA SOURCE TARGET``."""
    result = _libc.mount(
        None if source is None else source.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    )
    _check(result, f"mount({source!r}, {target!r}, {fstype!r}, 0x{flags:x}, {data!r})")


def umount(target: str, flags: int = 0) -> None:
    """umount2(2): ``umount TARGET`` (``umount -l`` with ``MNT_DETACH``)."""
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount2({target!r})")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): make ``new_root`` the root of this mount namespace.

    glibc has no wrapper, so this goes through syscall(2) with the x86_64/aarch64 number.
    """
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {os.uname().machine}")
    _check(
        _libc.syscall(ctypes.c_long(number), new_root.encode(), put_old.encode()),
        f"pivot_root({new_root!r}, {put_old!r})",
    )


_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "armv7l": 218, "i686": 217}


def namespace_inode(pid: int | str, ns: str) -> int:
    """The inode number that identifies a namespace: ``readlink /proc/PID/ns/NS``."""
    return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
