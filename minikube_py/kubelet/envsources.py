"""Where a container's variables come from besides ``value``: ``valueFrom`` and ``envFrom``.

Upstream's kubelet builds a container's environment (``makeEnvironmentVariables``) from:

- ``envFrom``: every key of a ConfigMap or Secret, with an optional ``prefix``; keys that are
  not valid variable names are skipped with an ``InvalidEnvironmentVariableNames`` event;
- ``env[].valueFrom``:
  ``configMapKeyRef`` / ``secretKeyRef`` (one key; a missing object or key stops the
  container with ``CreateContainerConfigError`` unless ``optional: true``),
  ``fieldRef`` (the pod's own fields: ``metadata.name``, ``metadata.labels['app']``,
  ``status.podIP`` ...), ``resourceFieldRef`` (the container's requests and limits, divided by
  ``divisor`` and rounded up; a limit not set is the node's capacity).

Values are read when the container starts: editing the ConfigMap later does not change a
running container's environment (a volume's files do change). See them:
``minikube-py exec POD -- env``, or ``tr '\\0' '\\n' < /proc/PID/environ`` on the node.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minikube_py.api.configdata import secret_bytes
from minikube_py.api.names import is_env_var_name
from minikube_py.api.quantity import cpu_millis, memory_bytes, parse_quantity
from minikube_py.kubelet.security import ContainerConfigError
from minikube_py.kubelet.sources import ObjectGetter
from minikube_py.kubelet.stats import parse_meminfo

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


@dataclass
class EnvSources:
    """What a container's start may read from the API (None on a standalone node):
    ConfigMaps and Secrets for variables, pull secrets and ServiceAccounts for images; and
    the node's address and capacity (for unset limits)."""

    config_map: ObjectGetter | None = None
    secret: ObjectGetter | None = None
    host_ip: str = ""
    #: the pod's ServiceAccount, for its imagePullSecrets (``pullsecrets.py``)
    service_account: ObjectGetter | None = None
    #: the node's capacity; None = read from the node when a limit that is not set is asked
    #: for (rarely: not at every container start)
    node_cpu_millis: int | None = None
    node_memory: int | None = None
    node_storage: int | None = None

    def capacity(self, resource: str) -> int:
        """The node's ``cpu`` (millicores), ``memory`` or ``ephemeral-storage`` (bytes)."""
        if resource == "cpu":
            return self.node_cpu_millis or 1000 * (os.cpu_count() or 1)
        if resource == "memory":
            if self.node_memory is None:
                with open("/proc/meminfo") as f:
                    return parse_meminfo(f.read()).get("MemTotal", 0)
            return self.node_memory
        return self.node_storage or shutil.disk_usage("/").total


class Resolver:
    """Resolves one container's ``envFrom`` and ``valueFrom`` entries, reading each
    ConfigMap or Secret at most once."""

    def __init__(self, container: dict[str, Any], pod: dict[str, Any], pod_ip: str,
                 sources: EnvSources | None, warn: Callable[[str], None]) -> None:
        self.container, self.pod, self.pod_ip = container, pod, pod_ip
        self.sources = sources or EnvSources()
        self.warn = warn
        self.namespace = pod["metadata"].get("namespace", "default")
        self.cache: dict[tuple[str, str], dict[str, bytes] | None] = {}

    def data(self, kind: str, name: str, optional: bool) -> dict[str, bytes] | None:
        """The object's data; None if it does not exist and ``optional``; else an error.
        (A ConfigMap's ``binaryData`` is for volumes only, as upstream.)"""
        if (kind, name) not in self.cache:
            get = self.sources.config_map if kind == "ConfigMap" else self.sources.secret
            found = get(self.namespace, name) if get is not None else None
            self.cache[(kind, name)] = None if found is None else (
                {k: str(v).encode() for k, v in (found.get("data") or {}).items()}
                if kind == "ConfigMap" else secret_bytes(found))
        data = self.cache[(kind, name)]
        if data is None and not optional:
            raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
        return data

    def env_from(self) -> dict[str, str]:
        """The variables of ``envFrom``, in order (a later source wins)."""
        out: dict[str, str] = {}
        for source in self.container.get("envFrom") or []:
            kind, ref = (("ConfigMap", source["configMapRef"]) if source.get("configMapRef")
                         else ("Secret", source.get("secretRef") or {}))
            name = str(ref.get("name") or "")
            data = self.data(kind, name, bool(ref.get("optional")))
            prefix = str(source.get("prefix") or "")
            invalid = []
            for key, value in (data or {}).items():
                if is_env_var_name(prefix + key):  # a list of what is wrong with the name
                    invalid.append(prefix + key)
                    continue
                out[prefix + key] = value.decode(errors="replace")
            if invalid:
                self.warn(f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom "
                          f"{kind.lower()} {self.namespace}/{name} were skipped since they are "
                          "considered invalid environment variable names.")
        return out

    def value(self, source: dict[str, Any]) -> str | None:
        """One ``valueFrom``: its value; None for an optional key that is not there."""
        for kind, key_ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if source.get(key_ref):
                ref = source[key_ref]
                name, key = str(ref.get("name")), str(ref.get("key"))
                optional = bool(ref.get("optional"))
                data = self.data(kind, name, optional)
                if data is None or key not in data:
                    if optional:
                        return None
                    raise ContainerConfigError(f"couldn't find key {key} in {kind} "
                                               f"{self.namespace}/{name}")
                return data[key].decode(errors="replace")
        if source.get("fieldRef"):
            return field_value(str(source["fieldRef"].get("fieldPath", "")), self.pod,
                               self.pod_ip, self.sources.host_ip)
        if source.get("resourceFieldRef"):
            return resource_value(source["resourceFieldRef"], self.container, self.pod,
                                  self.sources)
        return ""


def field_value(path: str, pod: dict[str, Any], pod_ip: str, host_ip: str) -> str:
    """A ``fieldRef``: the downward API's view of the pod."""
    meta, spec = pod["metadata"], pod["spec"]
    match = _SUBSCRIPT.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "metadata.labels": _pairs(meta.get("labels")),
        "metadata.annotations": _pairs(meta.get("annotations")),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": host_ip, "status.hostIPs": host_ip,
        "status.podIP": pod_ip, "status.podIPs": pod_ip,
    }
    return str(values.get(path, ""))


def _pairs(values: Any) -> str:
    return "\n".join(f'{k}="{v}"' for k, v in sorted((values or {}).items()))


def resource_value(ref: dict[str, Any], container: dict[str, Any], pod: dict[str, Any],
                   sources: EnvSources) -> str:
    """A ``resourceFieldRef``: a request or limit of this (or a named) container, divided by
    ``divisor`` and rounded up, as upstream's ``ExtractContainerResourceValue``; a limit not
    set (or zero) is the node's capacity."""
    name = ref.get("containerName") or container["name"]
    target = next((c for c in (pod["spec"].get("initContainers") or [])
                   + pod["spec"]["containers"] if c["name"] == name), None)
    if target is None:
        raise ContainerConfigError(f"container {name} not found")
    which, _, resource = str(ref.get("resource", "")).partition(".")
    values = ((target.get("resources") or {}).get(which) or {})
    divisor = parse_quantity(str(ref.get("divisor") or "1"))
    if resource == "cpu":
        millis = cpu_millis(values["cpu"]) if "cpu" in values else 0
        if not millis and which == "limits":
            millis = sources.capacity("cpu")
        return str(math.ceil(millis / float(divisor * 1000)))
    amount = memory_bytes(values[resource]) if resource in values else 0
    if not amount and which == "limits":
        amount = sources.capacity(resource)
    return str(math.ceil(amount / math.ceil(divisor)))
