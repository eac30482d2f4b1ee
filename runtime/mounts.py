"""Mount points below a directory: find them, and take them down before removing the tree.

``rm -rf`` does not stop at a mount point: it empties the mounted filesystem and then fails to
remove the directory it is mounted on, leaving the mount behind. So whoever deletes a tree
that may hold mounts (a pod's directory with a ``medium: Memory`` emptyDir, a state
directory) first unmounts everything below it, deepest first. The kernel's list is
``/proc/self/mountinfo`` (the 5th field is the mount point, with spaces written ``\\040``)::

    findmnt -R /var/lib/minikube-py          # what is mounted below the state directory
    umount -l /var/lib/minikube-py/pods/<uid>/volumes/kubernetes.io~empty-dir/cache
"""

from __future__ import annotations

import os

from explain import record
from runtime import syscalls


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    top = os.path.realpath(path).rstrip("/") or "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = _unescape(line.split()[4])
            if point == top or point.startswith(top + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_under(path: str) -> list[str]:
    """``umount -l`` every mount point at or below ``path``; the ones taken down."""
    done = []
    for point in mounts_under(path):
        record(f"umount -l {point}")
        try:
            syscalls.umount(point, syscalls.MNT_DETACH)
            done.append(point)
        except OSError:
            pass  # already gone
    return done
