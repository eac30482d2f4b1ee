"""Where the kubelet's pods come from, and where their status and events go.

Upstream's kubelet merges pods from several sources (the API server, a static-pod
directory, an HTTP URL). Ours has two, behind one small interface:

- :class:`ManifestSource` — the standalone node: pod manifests in
  ``<state>/manifests/*.json`` (``node run`` writes them), status in
  ``<state>/pods/<uid>/status.json``, events in ``events.jsonl`` next to it;
- ``apisource.ApiSource`` — the cluster node: pods bound to this node through the API
  server (a watch with ``fieldSelector=spec.nodeName=<node>``), status written back with
  ``PATCH pods/<name>/status``, events as Event objects.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from minikube_py.config import NodeConfig

#: (namespace, name) -> an object read from the API server (a ConfigMap, Secret,
#: ServiceAccount...), None if it does not exist. None instead of a getter: a standalone
#: node, with no API server to ask.
ObjectGetter = Callable[[str, str], "dict[str, Any] | None"]

log = logging.getLogger(__name__)

Pod = dict[str, Any]


class PodSource(Protocol):
    def start(self, wake: Callable[[], None]) -> None:
        """Begin delivering pods; call ``wake()`` whenever the desired pods may have changed."""

    def stop(self) -> None: ...

    def desired(self) -> dict[str, Pod]:
        """Pods that should exist on this node, by UID (a pod being deleted is included,
        with ``metadata.deletionTimestamp`` set)."""

    def report_status(self, pod: Pod, status: dict[str, Any]) -> None: ...

    def record_event(self, pod: Pod, kind: str, reason: str, message: str) -> None: ...

    def removed(self, pod: Pod) -> None:
        """The pod is gone from the node (after a deletion): finish it at the source."""


def append_event(config: NodeConfig, pod: Pod, kind: str, reason: str, message: str) -> None:
    """Keep a pod's events in ``<state>/pods/<uid>/events.jsonl`` (standalone mode)."""
    event = {"type": kind, "reason": reason, "message": message, "time": time.time(),
             "source": {"component": "kubelet", "host": config.node_name}}
    path = os.path.join(config.pod_dir(pod["metadata"]["uid"]), "events.jsonl")
    try:
        with open(path, "a") as f:
            f.write(json.dumps(event) + "\n")
    except OSError:
        pass


class ManifestSource:
    """Static pods: the JSON manifests in ``<state>/manifests``."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config

    def start(self, wake: Callable[[], None]) -> None:
        os.makedirs(self.config.manifests_dir, exist_ok=True)

    def stop(self) -> None:
        pass

    def desired(self) -> dict[str, Pod]:
        pods: dict[str, Pod] = {}
        root = self.config.manifests_dir
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(root, name)) as f:
                    pod = json.load(f)
                pods[pod["metadata"]["uid"]] = pod
            except (OSError, ValueError, KeyError) as e:
                log.warning("Skipped unreadable manifest file=%s err=%s", name, e)
        return pods

    def report_status(self, pod: Pod, status: dict[str, Any]) -> None:
        pass  # sync_pod already wrote status.json, which `node pods` reads

    def record_event(self, pod: Pod, kind: str, reason: str, message: str) -> None:
        append_event(self.config, pod, kind, reason, message)
        log.info("Event pod=%s type=%s reason=%s message=%r", pod["metadata"]["name"], kind,
                 reason, message)

    def removed(self, pod: Pod) -> None:
        pass
