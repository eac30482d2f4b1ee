"""securityContext: who a container runs as, and what it may do.

A Pod says it at two levels; the container's own ``securityContext`` wins field by field
over the pod's (``spec.securityContext``), and some fields exist only at the pod level::

    spec:
      securityContext: {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000],
                        fsGroup: 2000, runAsNonRoot: true}
      containers:
      - securityContext: {runAsUser: 1001, readOnlyRootFilesystem: true,
                          capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}

What the kubelet hands the runtime (``runtime.container.ContainerConfig``):

- the **user**: ``runAsUser`` / ``runAsGroup``, else the image's ``USER`` (looked up in the
  image's /etc/passwd), and the supplementary groups ``supplementalGroups`` + ``fsGroup``;
- ``runAsNonRoot: true`` is checked *before* anything is created: a container that would run
  as uid 0, or whose image names its user only by a name (which cannot be checked), is not
  started — the pod shows ``CreateContainerConfigError`` with upstream's message;
- the **capabilities**: the runtime's default 14, minus ``drop``, plus ``add`` (``ALL`` works
  in both); ``privileged: true`` keeps every capability;
- ``readOnlyRootFilesystem``: the image overlay is remounted read-only;
- the **masked and read-only paths** (``/proc/kcore``, ``/proc/sys``...), dropped for
  ``privileged`` containers and ``procMount: Unmasked``.

See the result: ``minikube-py exec POD -- id``, ``grep -E 'Uid|Gid|Groups|Cap' /proc/1/status``
inside the container, ``capsh --decode=<CapBnd>`` on the host.
"""

from __future__ import annotations

from typing import Any

from minikube_py.errors import MinikubeError
from runtime import capabilities

Pod = dict[str, Any]

#: Fields a container's securityContext may set and that override the pod's.
OVERRIDABLE = ("runAsUser", "runAsGroup", "runAsNonRoot")


class ContainerConfigError(MinikubeError):
    """The container's configuration cannot be honoured (upstream: CreateContainerConfigError)."""


def effective_context(pod: Pod, container: dict[str, Any]) -> dict[str, Any]:
    """The container's securityContext with the pod-level values it does not override."""
    pod_context = pod["spec"].get("securityContext") or {}
    merged = {k: pod_context[k] for k in OVERRIDABLE if pod_context.get(k) is not None}
    merged.update({k: v for k, v in (container.get("securityContext") or {}).items()
                   if v is not None})
    return merged


def image_user(user: str) -> tuple[int | None, str]:
    """The image's ``USER`` as (numeric uid or None, the name if it is one)."""
    name = user.partition(":")[0]
    if not name:
        return 0, ""  # no USER: root
    return (int(name), "") if name.isdigit() else (None, name)


def pod_ref(pod: Pod) -> str:
    """How upstream names a pod in messages: ``name_namespace(uid)``."""
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', 'default')}({meta.get('uid', '')})"


def verify_run_as_non_root(pod: Pod, container: dict[str, Any], context: dict[str, Any],
                           image_user_field: str) -> None:
    """Upstream's verifyRunAsNonRoot: raise unless the container provably runs as non-root."""
    if not context.get("runAsNonRoot"):
        return
    where = f'(pod: "{pod_ref(pod)}", container: {container["name"]})'
    if context.get("runAsUser") is not None:
        if context["runAsUser"] == 0:
            raise ContainerConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    uid, name = image_user(image_user_field)
    if uid == 0:
        raise ContainerConfigError(f"container has runAsNonRoot and image will run as root "
                                   f"{where}")
    if uid is None:
        raise ContainerConfigError(f"container has runAsNonRoot and image has non-numeric user "
                                   f"({name}), cannot verify user is non-root {where}")


def runtime_settings(pod: Pod, container: dict[str, Any], image_user_field: str
                     ) -> dict[str, Any]:
    """Keyword arguments for ``ContainerConfig``: user, capabilities, read-only root, masks."""
    context = effective_context(pod, container)
    verify_run_as_non_root(pod, container, context, image_user_field)
    pod_context = pod["spec"].get("securityContext") or {}
    groups = [int(g) for g in pod_context.get("supplementalGroups") or []]
    if pod_context.get("fsGroup") is not None and int(pod_context["fsGroup"]) not in groups:
        groups.append(int(pod_context["fsGroup"]))
    user: dict[str, Any] = {"uid": context.get("runAsUser"), "gid": context.get("runAsGroup"),
                            "username": "" if context.get("runAsUser") is not None
                            else image_user_field, "additionalGids": groups}
    privileged = bool(context.get("privileged"))
    caps = context.get("capabilities") or {}
    try:
        kept = capabilities.all_capabilities() if privileged else capabilities.with_changes(
            list(caps.get("add") or []), list(caps.get("drop") or []))
    except ValueError as e:  # an unknown capability name
        raise ContainerConfigError(f"invalid securityContext.capabilities of container "
                                   f"{container['name']}: {e}") from e
    unmasked = privileged or context.get("procMount") == "Unmasked"
    return {"user": user, "capabilities": kept,
            "readonly_root": bool(context.get("readOnlyRootFilesystem")),
            "masked_paths": [] if unmasked else None,
            "readonly_paths": [] if unmasked else None}
