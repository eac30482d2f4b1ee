"""Container logs: reading the CRI log files the shim writes.

Every line a container prints is stored by its shim in
``/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`` in the CRI format
that kubelet, containerd and CRI-O share::

    2026-11-26T00:17:09.669794202Z stdout F hello world
    <RFC 3339 time, nanoseconds>   <stream> <F = full line, P = partial> <text>

``kubectl logs`` is just this file with the first three fields removed. Look yourself:
``cat /var/log/pods/default_web_*/nginx/0.log``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from minikube_py.config import NodeConfig
from minikube_py.errors import MinikubeError


def parse_cri_line(line: str) -> tuple[str, str, str, str] | None:
    """``(time, stream, tag, text)`` of one CRI log line, or None if it is not one."""
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("F", "P"):
        return None
    return parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else ""


def pick_container(pod: dict[str, Any], container: str | None) -> str:
    spec = pod["spec"]
    names = [c["name"] for c in (spec.get("initContainers") or []) + spec["containers"]]
    if container is None:
        if len(spec["containers"]) == 1:
            return str(spec["containers"][0]["name"])
        raise MinikubeError(
            f"a container name must be specified for pod {pod['metadata']['name']}, "
            f"choose one of: [{' '.join(names)}]"
        )
    if container not in names:
        raise MinikubeError(
            f"container {container} is not valid for pod {pod['metadata']['name']}"
        )
    return container


def instance_dirs(config: NodeConfig, uid: str, name: str) -> list[str]:
    """The bundle directories of a container's instances, newest first."""
    root = os.path.join(config.pod_dir(uid), "containers", name)
    if not os.path.isdir(root):
        return []
    attempts = sorted((int(a) for a in os.listdir(root) if a.isdigit()), reverse=True)
    return [os.path.join(root, str(a)) for a in attempts]


def log_path_for(config: NodeConfig, pod: dict[str, Any], container: str | None,
                 previous: bool = False) -> tuple[str, str]:
    """``(log file, bundle directory)`` of the current (or previous) instance."""
    name = pick_container(pod, container)
    bundles = instance_dirs(config, pod["metadata"]["uid"], name)
    index = 1 if previous else 0
    if len(bundles) <= index:
        what = "previous terminated" if previous else "any"
        raise MinikubeError(
            f'container "{name}" in pod "{pod["metadata"]["name"]}" has no {what} log yet'
        )
    with open(os.path.join(bundles[index], "labels.json")) as f:
        return str(json.load(f)["log_path"]), bundles[index]


def _format(parsed: tuple[str, str, str, str], timestamps: bool) -> str:
    ts, _stream, tag, text = parsed
    out = text + ("\n" if tag == "F" else "")
    return f"{ts} {out}" if timestamps else out


def follow_log(path: str, follow: bool = False, timestamps: bool = False,
               still_running: Callable[[], bool] | None = None,
               poll: float = 0.1) -> Iterator[str]:
    """Yield a log file's text; with ``follow``, keep yielding new lines until the writer
    (the container's shim) is gone and ``still_running()`` says False."""
    try:
        f = open(path)
    except FileNotFoundError:
        if not follow:
            return
        while not os.path.exists(path):
            if still_running is not None and not still_running():
                return
            time.sleep(poll)
        f = open(path)
    with f:
        pending = ""
        while True:
            chunk = f.readline()
            if chunk:
                pending += chunk
                if not pending.endswith("\n"):
                    continue
                parsed = parse_cri_line(pending)
                pending = ""
                if parsed is not None:
                    yield _format(parsed, timestamps)
                continue
            if not follow or (still_running is not None and not still_running()):
                return
            time.sleep(poll)
