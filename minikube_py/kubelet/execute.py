"""``kubectl exec`` on the node: "switch into the target namespaces" (the study note).

Running a command in a container means entering the namespaces its process lives in —
mount (so ``/`` is the container's root), pid, net, ipc, uts — and its cgroups, with the
same capability limits. By hand that is::

    nsenter --target <PID> --mount --uts --ipc --net --pid -- /bin/sh

where ``<PID>`` is the container's main process (``minikube-py node inspect POD`` shows it).
The runtime does it in ``runtime/exec.py``; this module picks the container and relays the
terminal.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty as ttymod
from typing import Any

from minikube_py.config import NodeConfig
from minikube_py.errors import MinikubeError
from minikube_py.kubelet.logs import instance_dirs
from runtime import container as rt
from runtime.exec import exec_in_container


def running_bundle(config: NodeConfig, pod: dict[str, Any], container: str | None) -> str:
    """The bundle of the container's running instance (first container by default)."""
    spec = pod["spec"]
    name = container or spec["containers"][0]["name"]
    names = [c["name"] for c in (spec.get("initContainers") or []) + spec["containers"]]
    if name not in names:
        raise MinikubeError(f"container {name} is not valid for pod {pod['metadata']['name']}")
    for bundle in instance_dirs(config, pod["metadata"]["uid"], name)[:1]:
        if rt.container_state(bundle).status == "running":
            return bundle
    raise MinikubeError(
        f"unable to upgrade connection: container {name} not found in pod "
        f"{pod['metadata']['name']} (it is not running)"
    )


def exec_command(config: NodeConfig, pod: dict[str, Any], container: str | None,
                 argv: list[str], interactive: bool, tty: bool) -> int:
    """Run ``argv`` in the container; relay stdin/stdout; return the command's exit code."""
    bundle = running_bundle(config, pod, container)
    if not tty:
        proc = exec_in_container(bundle, argv, stdin=sys.stdin if interactive else
                                 open(os.devnull), stdout=sys.stdout, stderr=sys.stderr)
        return int(proc.wait())
    proc = exec_in_container(bundle, argv, tty=True)
    return _relay_tty(proc, interactive)


def _relay_tty(proc: Any, interactive: bool) -> int:
    master = proc.master_fd
    stdin_fd = sys.stdin.fileno()
    saved = None
    if interactive and os.isatty(stdin_fd):
        saved = termios.tcgetattr(stdin_fd)
        ttymod.setraw(stdin_fd)
    try:
        watch = [master] + ([stdin_fd] if interactive else [])
        while True:
            ready, _, _ = select.select(watch, [], [], 0.1)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if stdin_fd in ready:
                data = os.read(stdin_fd, 65536)
                if not data:
                    watch.remove(stdin_fd)
                else:
                    os.write(master, data)
            if not ready and proc.poll() is not None:
                break
    finally:
        if saved is not None:
            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
    return int(proc.wait())
