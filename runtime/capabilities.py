"""Linux capabilities: what "root in a container" may and may not do.

Root on the host holds ~40 capabilities (``CAP_SYS_ADMIN``, ``CAP_NET_ADMIN``...). A container
process runs as uid 0 too, but a container runtime shrinks its *bounding set* — the upper
limit of what any program it executes can ever gain — to a short default list. Kubernetes
inherits that list from the runtime (Docker, containerd and CRI-O all use the same 14), and
a Pod adds or drops from it with ``securityContext.capabilities``.

Kernel objects: the five capability sets of a thread (see capabilities(7)). We drop from the
*bounding* set with ``prctl(PR_CAPBSET_DROP)`` and limit the *inheritable*, *permitted* and
*effective* sets; when uid 0 then calls execve(2), the kernel gives the new program
``permitted = inheritable | bounding``, so it runs with exactly the default set. Then
``no_new_privs`` (``prctl(PR_SET_NO_NEW_PRIVS)``) makes sure no setuid binary or file
capability can raise it again.

See it::

    grep Cap /proc/<container pid>/status      # CapBnd: 00000000a80425fb
    capsh --decode=00000000a80425fb
    grep NoNewPrivs /proc/<container pid>/status

This module runs inside the shim and the exec helper, so it imports only the standard
library at module level (``prctl`` is imported when a drop really happens).
"""

from __future__ import annotations

#: Docker's default capability set, also used by containerd and CRI-O.
DEFAULT_CAPABILITIES: list[str] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

#: Capability numbers from <linux/capability.h>.
CAPABILITY_NUMBERS: dict[str, int] = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}


def normalize(name: str) -> str:
    """``"net_admin"`` or ``"NET_ADMIN"`` -> ``"CAP_NET_ADMIN"``; unknown names raise."""
    upper = name.upper()
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    if full not in CAPABILITY_NUMBERS:
        raise ValueError(f"unknown capability {name!r}")
    return full


def capability_mask(names: list[str]) -> int:
    """The bit mask ``/proc/PID/status`` prints for a set (``CapBnd: 00000000a80425fb``)."""
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITY_NUMBERS[normalize(name)]
    return mask


def last_cap() -> int:
    """The highest capability this kernel knows (``cat /proc/sys/kernel/cap_last_cap``)."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def dropped(keep: list[str]) -> list[str]:
    """The capabilities a drop to ``keep`` removes, in number order, as capsh spells them."""
    kept = {normalize(n) for n in keep}
    top = last_cap()
    return [n.lower() for n, i in sorted(CAPABILITY_NUMBERS.items(), key=lambda kv: kv[1])
            if i <= top and n not in kept]


def capsh_command(keep: list[str]) -> str:
    """The shell line that does what :func:`drop_capabilities` does: ``capsh --drop=...``."""
    return f"capsh --drop={','.join(dropped(keep))} --"


def all_capabilities() -> list[str]:
    """Every capability this kernel knows: what ``privileged: true`` keeps."""
    top = last_cap()
    return [n for n, i in sorted(CAPABILITY_NUMBERS.items(), key=lambda kv: kv[1]) if i <= top]


def with_changes(add: list[str], drop: list[str], base: list[str] | None = None) -> list[str]:
    """``securityContext.capabilities``: the default set (or ``base``) minus ``drop``, plus
    ``add``. ``ALL`` in ``drop`` starts from nothing, ``ALL`` in ``add`` gives everything;
    names may omit the ``CAP_`` prefix (``NET_ADMIN``), as Kubernetes writes them."""
    kept = list(DEFAULT_CAPABILITIES if base is None else base)
    if any(d.upper() == "ALL" for d in drop):
        kept = []
    dropped_names = {normalize(d) for d in drop if d.upper() != "ALL"}
    kept = [c for c in kept if c not in dropped_names]
    if any(a.upper() == "ALL" for a in add):
        return all_capabilities()
    for name in (normalize(a) for a in add):
        if name not in kept:
            kept.append(name)
    return kept


def drop_capabilities(keep: list[str]) -> None:
    """Shrink this thread's bounding, inheritable, permitted and effective sets to ``keep``."""
    drop_bounding(keep)
    limit_sets(keep)


def drop_bounding(keep: list[str]) -> None:
    """Shrink the bounding set: the limit of what any program exec'd later can gain.

    It goes first: dropping from it needs ``CAP_SETPCAP``, which the permitted set may be
    about to lose. Numbers this python-prctl build does not know are dropped by number
    through ``PR_CAPBSET_DROP``.
    """
    import prctl

    keep_numbers = {CAPABILITY_NUMBERS[normalize(n)] for n in keep}
    for number in range(last_cap() + 1):
        if number not in keep_numbers:
            prctl.capbset_drop(number)


def limit_sets(keep: list[str]) -> None:
    """Limit the inheritable, effective and permitted sets to ``keep``."""
    import prctl

    keep_numbers = {CAPABILITY_NUMBERS[normalize(n)] for n in keep}
    known = set(prctl.ALL_CAPS)
    kept = [n for n in keep_numbers if n in known]
    # The ambient set (empty for root here) loses whatever leaves permitted or inheritable.
    for capset in (prctl.cap_inheritable, prctl.cap_effective, prctl.cap_permitted):
        capset.limit(*kept)


def set_no_new_privs() -> None:
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)`` — setpriv --no-new-privs; inherited, irreversible."""
    import prctl

    prctl.set_no_new_privs(1)
