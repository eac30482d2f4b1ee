"""Which user a container process runs as: its uid, gid and supplementary groups.

A container's processes are ordinary processes of the host, with ordinary user ids. "root in
a container" is uid 0 on the host too (only the capabilities it lost make it weaker). An image
can name another user (``USER nginx`` in a Dockerfile: the image config's ``User``), and a
Pod can override it (``securityContext.runAsUser`` / ``runAsGroup`` / ``supplementalGroups``).

The names are looked up in the **image's** ``/etc/passwd`` and ``/etc/group`` — not the
host's: user ``nginx`` may be 101 in the image and absent on the host. As containerd does, the
lookup happens when the container is created, in the image layers (the top-most layer that
has the file), and the container's ``config.json`` carries plain numbers:
``"user": {"uid": 101, "gid": 101, "additionalGids": []}``.

The switch itself is three system calls, in this order (each needs the capability of the
next-to-last identity): ``setgroups`` (supplementary groups), ``setgid``, ``setuid``. Once the
uid is not 0 the kernel clears the permitted and effective capability sets, so a non-root
container process holds no capabilities at all (``grep Cap /proc/<pid>/status``). By hand::

    setpriv --reuid=1000 --regid=3000 --groups=3000,4000 -- id
    ps -o user,group,supgrp -p <pid>            # from the host
    cat /proc/<pid>/status | grep -E 'Uid|Gid|Groups'

:func:`switch_user` runs inside the shim and the exec helper: standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


class UserError(Exception):
    """The requested user or group does not exist in the container."""


@dataclass
class ProcessUser:
    uid: int = 0
    gid: int = 0
    groups: list[int] = field(default_factory=list)  # supplementary

    def setpriv(self) -> str:
        """The shell line that switches to this user (util-linux ``setpriv``)."""
        groups = ",".join(str(g) for g in self.groups) or "-"
        if groups == "-":
            return f"setpriv --reuid={self.uid} --regid={self.gid} --clear-groups --"
        return f"setpriv --reuid={self.uid} --regid={self.gid} --groups={groups} --"


def _entries(path: str) -> list[list[str]]:
    """The colon-separated lines of a passwd or group file ([] if there is none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f
                    if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def layer_file(layers: list[str], path: str) -> str:
    """The file as the container will see it: from the top-most layer that has it."""
    for layer in layers:  # top layer first, as overlayfs' lowerdir
        candidate = os.path.join(layer, path.lstrip("/"))
        if os.path.lexists(candidate):
            return candidate
    return os.path.join(layers[-1] if layers else "/nonexistent", path.lstrip("/"))


def resolve_user(spec: dict[str, Any] | None, layers: list[str]) -> ProcessUser:
    """The uid, gid and groups ``spec`` asks for, looked up in the image ``layers``.

    ``spec``: ``{"uid": 1000 | None, "gid": 3000 | None, "username": "nginx[:group]" | "",
    "additionalGids": [...]}``. ``uid`` (runAsUser) wins over ``username`` (the image's
    USER); without a gid the user's primary group from /etc/passwd is used, else 0.
    """
    spec = spec or {}
    passwd = _entries(layer_file(layers, "etc/passwd"))
    group = _entries(layer_file(layers, "etc/group"))
    name, _, group_name = str(spec.get("username") or "").partition(":")
    uid, gid = spec.get("uid"), spec.get("gid")
    entry = None
    if uid is None and name:
        if name.isdigit():
            uid = int(name)
        else:
            entry = next((e for e in passwd if len(e) > 3 and e[0] == name), None)
            if entry is None:
                raise UserError(f"unable to find user {name}: no matching entries in passwd "
                                "file")
            uid = int(entry[2])
    if uid is None:
        uid = 0
    if entry is None:
        entry = next((e for e in passwd if len(e) > 3 and e[2] == str(uid)), None)
    if gid is None and group_name:
        if group_name.isdigit():
            gid = int(group_name)
        else:
            found = next((e for e in group if len(e) > 2 and e[0] == group_name), None)
            if found is None:
                raise UserError(f"unable to find group {group_name}: no matching entries in "
                                "group file")
            gid = int(found[2])
    if gid is None:
        gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    groups: list[int] = []
    if entry is not None:  # groups that list the user as a member
        groups = [int(e[2]) for e in group
                  if len(e) > 3 and e[2].isdigit() and entry[0] in e[3].split(",")]
    for extra in spec.get("additionalGids") or []:
        if int(extra) not in groups:
            groups.append(int(extra))
    return ProcessUser(int(uid), int(gid), groups)


def switch_user(user: ProcessUser) -> None:
    """setgroups, setgid, setuid — real, effective and saved ids alike."""
    os.setgroups(user.groups)
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
