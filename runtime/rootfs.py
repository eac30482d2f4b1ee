"""The container's root filesystem: an overlay of image layers, plus /proc, /dev and /sys.

Kubernetes concept: every container of a Pod sees its *image* as ``/``, can write to it
without changing the image (the writes vanish with the container), and gets the files the
kubelet manages — ``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf`` — mounted over the
image's own.

Kernel objects, all created inside the container's own mount namespace (so they vanish
with it, and the host's ``mount`` never lists them):

- an **overlay** mount: read-only image layers (``lowerdir``, top layer first), a per-container
  ``upperdir`` that receives the writes and overlayfs' scratch ``workdir``;
- a fresh **proc** (it shows the container's pid namespace), a small **tmpfs** ``/dev`` with
  the host's harmless devices bind-mounted in, a private **devpts** instance for terminals,
  **tmpfs** ``/dev/shm``, a read-only **sysfs**;
- read-only **bind mounts** of the kubelet's files;
- **masked paths**: kernel files a container has no business reading (``/proc/kcore``,
  ``/proc/keys``, ``/sys/firmware``...) covered by ``/dev/null`` or an empty read-only tmpfs,
  and **read-only paths** (``/proc/sys``, ``/proc/sysrq-trigger``...) remounted read-only —
  the list containerd and CRI-O apply to every non-privileged container;
- **pivot_root** into the overlay, then a lazy unmount of the old root: the host's files are
  no longer reachable from inside.

See them: ``nsenter -t <pid> -m cat /proc/self/mountinfo`` or ``cat /proc/<pid>/mountinfo``.

:func:`rootfs_plan` turns a bundle into an ordered list of :class:`Step` — each a shell line
and the function that does the same. The caller records the lines with ``explain`` (and in
``<bundle>/commands.sh``); the container init, in another process, runs the functions. One
list, so the transcript cannot drift from what really happens. This module runs in the shim:
standard library and :mod:`runtime.syscalls` only.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable
from typing import Any

from runtime import syscalls

#: Host devices every container gets (bind-mounted, like runc does in a user namespace).
DEVICES = ["null", "zero", "full", "random", "urandom", "tty"]

#: Links every Linux program expects under /dev.
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}

#: Covered in every non-privileged container (containerd's default OCI spec).
MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
    "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
]
#: Read-only in every non-privileged container.
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

_NOSUID_NODEV_NOEXEC = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC


class Step:
    """One kernel action of the plan: its shell equivalent and the call that does it."""

    __slots__ = ("shell", "run")

    def __init__(self, shell: str, run: Callable[[], None]) -> None:
        self.shell = shell
        self.run = run

    def __repr__(self) -> str:
        return f"Step({self.shell!r})"


def mount_make_rprivate() -> None:
    """``mount --make-rprivate /``: nothing we mount propagates back to the host."""
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def mount_overlay(layers: list[str], upper: str, work: str, target: str) -> None:
    """``mount -t overlay overlay -o lowerdir=TOP:...:BOTTOM,upperdir=U,workdir=W TARGET``."""
    syscalls.mount("overlay", target, "overlay", 0, overlay_options(layers, upper, work))


def overlay_options(layers: list[str], upper: str, work: str) -> str:
    """overlayfs lists the *top* layer first; images list the bottom one first."""
    return f"lowerdir={':'.join(reversed(layers))},upperdir={upper},workdir={work}"


def mount_proc(target: str) -> None:
    """``mount -t proc -o nosuid,nodev,noexec proc TARGET``."""
    os.makedirs(target, exist_ok=True)
    syscalls.mount("proc", target, "proc", _NOSUID_NODEV_NOEXEC)


def mount_tmpfs(source: str, target: str, flags: int, options: str) -> None:
    """``mount -t tmpfs -o OPTIONS SOURCE TARGET``."""
    os.makedirs(target, exist_ok=True)
    syscalls.mount(source, target, "tmpfs", flags, options)


def mount_devpts(target: str) -> None:
    """``mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts TARGET``."""
    os.makedirs(target, exist_ok=True)
    syscalls.mount("devpts", target, "devpts", syscalls.MS_NOSUID | syscalls.MS_NOEXEC,
                   "newinstance,ptmxmode=0666,mode=0620,gid=5")


def mount_sysfs(target: str) -> None:
    """``mount -t sysfs -o ro,nosuid,nodev,noexec sysfs TARGET``."""
    os.makedirs(target, exist_ok=True)
    syscalls.mount("sysfs", target, "sysfs", syscalls.MS_RDONLY | _NOSUID_NODEV_NOEXEC)


def secure_join(root: str, path: str) -> str:
    """``root`` + ``path``, with every symlink met on the way resolved *inside* ``root``.

    The image decides what its paths are: in a Debian image ``/var/run`` is a symlink to
    ``/run``. Before pivot_root, following it naively from the host would land in the host's
    own ``/run``. Like runc's securejoin, an absolute link target restarts from ``root`` and
    ``..`` never climbs above it.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            links += 1
            if links > 40:
                raise OSError(errno.ELOOP, "too many symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def make_dir_in(root: str, path: str) -> None:
    """``mkdir -p`` of a path of the container's root, resolved by :func:`secure_join`."""
    os.makedirs(secure_join(root, path), exist_ok=True)


def bind_into(root: str, source: str, path: str, readonly: bool) -> None:
    """Bind ``source`` at ``path`` of the container's root, resolved by :func:`secure_join`
    when the mount is made (the overlay is mounted by then)."""
    mount_bind(source, secure_join(root, path), readonly)


def mount_bind(source: str, target: str, readonly: bool) -> None:
    """``mount --bind [-o ro] SOURCE TARGET``; a missing target (a file, or a directory for a
    directory) is created first.

    A symlink at the target is replaced by a plain file or directory: following it would
    resolve on the host side, not inside the container (runc guards against this with
    securejoin).
    """
    if os.path.islink(target):
        os.unlink(target)
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    syscalls.mount(source, target, None, syscalls.MS_BIND | syscalls.MS_REC)
    if readonly:  # a bind mount only becomes read-only with a second, remount call
        flags = syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY
        syscalls.mount(None, target, None, flags)


def mask_path(target: str) -> None:
    """``mount --bind /dev/null FILE`` or ``mount -t tmpfs -o ro tmpfs DIR``; absent: nothing."""
    if os.path.isdir(target):
        syscalls.mount("tmpfs", target, "tmpfs", syscalls.MS_RDONLY)
    elif os.path.exists(target):
        syscalls.mount("/dev/null", target, None, syscalls.MS_BIND)


def readonly_path(target: str) -> None:
    """``mount --bind PATH PATH && mount -o remount,bind,ro PATH``; absent: nothing."""
    if os.path.exists(target):
        syscalls.mount(target, target, None, syscalls.MS_BIND | syscalls.MS_REC)
        syscalls.mount(None, target, None,
                       syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)


def remount_root_readonly() -> None:
    """``mount -o remount,bind,ro /``: ``readOnlyRootFilesystem: true``. Only the overlay
    becomes read-only; /dev, /proc, /dev/shm and the kubelet's files are mounts of their own."""
    syscalls.mount(None, "/", None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)


def ln_s(target: str, link: str) -> None:
    """``ln -s TARGET LINK``."""
    os.symlink(target, link)


def pivot_root(rootfs: str) -> None:
    """``cd ROOTFS && pivot_root . . && umount -l .``: swap roots, then drop the old one.

    ``pivot_root(".", ".")`` stacks the old root under the new one at the same place; the
    lazy unmount of ``.`` then detaches it, so the host tree is gone from this namespace.
    """
    os.chdir(rootfs)
    syscalls.pivot_root(".", ".")
    syscalls.umount(".", syscalls.MNT_DETACH)
    os.chdir("/")


def rootfs_plan(bundle_dir: str, layers: list[str], files: dict[str, str],
                masked: list[str] | None = None, readonly: list[str] | None = None,
                readonly_root: bool = False, cwd: str = "/",
                volumes: list[tuple[str, str, bool]] | None = None) -> list[Step]:
    """Every mount of a container, in order, for the rootfs at ``<bundle>/rootfs``.

    ``masked`` and ``readonly`` default to :data:`MASKED_PATHS` and :data:`READONLY_PATHS`
    (a privileged container passes ``[]``); ``readonly_root`` makes the overlay read-only
    once ``cwd`` exists in it. ``volumes``: (container path, host path, read-only) bind
    mounts of the pod's volumes, parents before children.
    """
    root = os.path.join(bundle_dir, "rootfs")
    upper, work = os.path.join(bundle_dir, "upper"), os.path.join(bundle_dir, "work")
    dev = root + "/dev"
    dev_opts = "mode=755,size=65536k"
    shm_opts = "mode=1777,size=65536k"
    steps = [
        Step("mount --make-rprivate /", mount_make_rprivate),
        Step(f"mount -t overlay overlay -o {overlay_options(layers, upper, work)} {root}",
             lambda: mount_overlay(layers, upper, work, root)),
        Step(f"mount -t proc -o nosuid,nodev,noexec proc {root}/proc",
             lambda: mount_proc(root + "/proc")),
        Step(f"mount -t tmpfs -o nosuid,strictatime,{dev_opts} tmpfs {dev}",
             lambda: mount_tmpfs("tmpfs", dev, syscalls.MS_NOSUID | syscalls.MS_STRICTATIME,
                                 dev_opts)),
    ]
    for name in DEVICES:
        steps.append(Step(f"mount --bind /dev/{name} {dev}/{name}",
                          functools.partial(mount_bind, f"/dev/{name}", f"{dev}/{name}", False)))
    steps += [
        Step(f"mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts {dev}/pts",
             lambda: mount_devpts(dev + "/pts")),
        Step(f"mount -t tmpfs -o nosuid,nodev,noexec,{shm_opts} shm {dev}/shm",
             lambda: mount_tmpfs("shm", dev + "/shm", _NOSUID_NODEV_NOEXEC, shm_opts)),
    ]
    for name, target in DEV_LINKS.items():
        steps.append(Step(f"ln -s {target} {dev}/{name}",
                          functools.partial(ln_s, target, f"{dev}/{name}")))
    steps.append(Step(f"mount -t sysfs -o ro,nosuid,nodev,noexec sysfs {root}/sys",
                      lambda: mount_sysfs(root + "/sys")))
    for path, source, ro in sorted(volumes or [], key=lambda v: v[0].rstrip("/").count("/")):
        target = root + "/" + path.lstrip("/")
        steps.append(Step(f"mount --rbind{' -o ro' if ro else ''} {source} {target}",
                          functools.partial(bind_into, root, source, path, ro)))
    for path, source in sorted(files.items()):
        target = root + "/" + path.lstrip("/")
        steps.append(Step(f"mount --bind -o ro {source} {target}",
                          functools.partial(bind_into, root, source, path, True)))
    for path in MASKED_PATHS if masked is None else masked:
        target = root + path
        steps.append(Step(f"mount --bind /dev/null {target}  # or a read-only tmpfs if a "
                          "directory", functools.partial(mask_path, target)))
    for path in READONLY_PATHS if readonly is None else readonly:
        target = root + path
        steps.append(Step(f"mount --bind {target} {target} && mount -o remount,bind,ro "
                          f"{target}", functools.partial(readonly_path, target)))
    if readonly_root:
        workdir = root + "/" + cwd.lstrip("/")
        steps.append(Step(f"mkdir -p {workdir}", functools.partial(make_dir_in, root, cwd)))
    steps.append(Step(f"cd {root} && pivot_root . . && umount -l .", lambda: pivot_root(root)))
    if readonly_root:
        steps.append(Step("mount -o remount,bind,ro /", remount_root_readonly))
    return steps


def config_plan(bundle_dir: str, config: dict[str, Any]) -> list[Step]:
    """:func:`rootfs_plan` for a ``config.json``: what the shim's init runs and what
    ``commands.sh`` shows, from the same data."""
    files = {m["destination"]: m["source"] for m in config["mounts"] if not m.get("volume")}
    volumes = [(m["destination"], m["source"], "ro" in m.get("options", []))
               for m in config["mounts"] if m.get("volume")]
    return rootfs_plan(
        bundle_dir, config["root"]["layers"], files,
        masked=config["linux"].get("maskedPaths"), readonly=config["linux"].get("readonlyPaths"),
        readonly_root=bool(config["root"].get("readonly")), cwd=config["process"]["cwd"],
        volumes=volumes)
