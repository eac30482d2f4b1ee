"""Pods: validation and defaulting, as the API server does them on create.

A Pod is the smallest thing Kubernetes runs: one or more containers sharing a network,
IPC and UTS namespace (on this node: one ``ip netns`` per pod, see ``ip netns list``), each
container with its own mount and PID namespace and its own cgroup.

Before a pod is stored, the API server first *defaults* it (fills in ``restartPolicy:
Always``, ``dnsPolicy: ClusterFirst``, ``imagePullPolicy``... — compare your manifest with
``kubectl get pod x -o yaml``) and then *validates* it, rejecting the whole object with every
field problem listed. :func:`default_pod` and :func:`validate_pod` do the same, so the
standalone kubelet can run a manifest exactly as a cluster would store it.

:func:`validate_pod_spec` is also used for the pod *template* inside Deployments and
ReplicaSets (with paths such as ``spec.template.spec.containers[0].image``).
"""

from __future__ import annotations

from typing import Any

from minikube_py.api import container as c
from minikube_py.api import fields as f
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
    namespaced_copy,
    validate_labels,
    validate_object_meta,
)
from minikube_py.api.quantity import memory_bytes
from minikube_py.errors import ValidationError

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def validate_container(ctr: Any, path: FieldPath, volumes: set[str], grace: int | None,
                       init: bool) -> list[FieldError]:
    """Every rule for one container (its name's uniqueness is checked by the caller)."""
    errs: list[FieldError] = []
    ctr = f.expect_dict(ctr, path, errs)
    errs += c.validate_container_name(ctr, path)
    errs += c.validate_image(ctr, path)
    for key in ("command", "args"):
        f.expect_str_list(ctr.get(key), path.child(key), errs)
    if ctr.get("workingDir") is not None:
        f.expect_str(ctr["workingDir"], path.child("workingDir"), errs)
    errs += c.validate_ports(ctr.get("ports"), path.child("ports"))
    errs += c.validate_env(ctr.get("env"), path.child("env"))
    errs += c.validate_env_from(ctr.get("envFrom"), path.child("envFrom"))
    errs += c.validate_resources(ctr.get("resources"), path.child("resources"))
    errs += _validate_volume_mounts(ctr.get("volumeMounts"), path.child("volumeMounts"), volumes)
    for key, choices in (("imagePullPolicy", PULL_POLICIES),
                         ("terminationMessagePolicy", MESSAGE_POLICIES)):
        if key in ctr and ctr[key] not in choices:
            errs.append(f.not_supported(path.child(key), ctr[key], choices))
    sidecar = ctr.get("restartPolicy") == "Always"
    for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
        if ctr.get(key) is None:
            continue
        if init and not sidecar:
            errs.append(f.forbidden(path.child(key), "may not be set for init containers "
                                                     "without restartPolicy=Always"))
        elif key == "lifecycle":
            errs += c.validate_lifecycle(ctr[key], path.child(key), grace)
        else:
            errs += c.validate_probe(ctr[key], path.child(key), key != "readinessProbe")
    return errs


def _validate_volume_mounts(mounts: Any, path: FieldPath, volumes: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, mount in enumerate(f.expect_list(mounts, path, errs)):
        p = path.index(i)
        mount = f.expect_dict(mount, p, errs)
        if not mount.get("name"):
            errs.append(f.required(p.child("name")))
        elif mount["name"] not in volumes:
            errs.append(f.not_found(p.child("name"), mount["name"]))
        mount_path = mount.get("mountPath")
        if not mount_path:
            errs.append(f.required(p.child("mountPath")))
        elif mount_path in seen:
            errs.append(f.invalid(p.child("mountPath"), mount_path, "must be unique"))
        else:
            seen.add(str(mount_path))
            errs += _path_errors(p.child("mountPath"), mount_path, absolute=True)
        if mount.get("subPath"):
            errs += _path_errors(p.child("subPath"), mount["subPath"], absolute=False)
    return errs


def _path_errors(path: FieldPath, value: Any, absolute: bool) -> list[FieldError]:
    """A mount path must be absolute, a sub-path relative; neither may climb with ``..``."""
    text = str(value)
    if absolute and not text.startswith("/"):
        return [f.invalid(path, value, "must be an absolute path")]
    if not absolute and text.startswith("/"):
        return [f.invalid(path, value, "must be a relative path")]
    if ".." in text.split("/"):
        return [f.invalid(path, value, "must not contain '..'")]
    return []


#: The volume sources minikube-py's kubelet can set up (see minikube_py/kubelet/volumes.py).
VOLUME_SOURCES = ("configMap", "emptyDir", "hostPath", "persistentVolumeClaim", "secret")
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                   "CharDevice", "BlockDevice")


def _validate_volume_source(volume: dict[str, Any], p: FieldPath) -> list[FieldError]:
    sources = [k for k in volume if k != "name"]
    if not sources:
        return [f.required(p, "must specify a volume type")]
    if len(sources) > 1:
        return [f.forbidden(p.child(sources[1]), "may not specify more than 1 volume type")]
    kind = sources[0]
    if kind not in VOLUME_SOURCES:
        return [f.not_supported(p, kind, VOLUME_SOURCES)]
    errs: list[FieldError] = []
    source = f.expect_dict(volume[kind], p.child(kind), errs)
    q = p.child(kind)
    if kind == "hostPath":
        if not source.get("path"):
            errs.append(f.required(q.child("path")))
        else:
            errs += _path_errors(q.child("path"), source["path"], absolute=True)
        if str(source.get("type") or "") not in HOST_PATH_TYPES:
            errs.append(f.not_supported(q.child("type"), source.get("type"),
                                        [t for t in HOST_PATH_TYPES if t]))
    elif kind == "emptyDir":
        if source.get("medium") not in (None, "", "Memory"):
            errs.append(f.not_supported(q.child("medium"), source.get("medium"),
                                        ["", "Memory"]))
        if source.get("sizeLimit") is not None:
            try:
                memory_bytes(str(source["sizeLimit"]))
            except ValueError as e:
                errs.append(f.invalid(q.child("sizeLimit"), source["sizeLimit"], str(e)))
    elif kind == "persistentVolumeClaim":
        if not source.get("claimName"):
            errs.append(f.required(q.child("claimName")))
    elif kind in ("configMap", "secret"):
        name_field = "name" if kind == "configMap" else "secretName"
        if not source.get(name_field):
            errs.append(f.required(q.child(name_field)))
        _check_mode(source.get("defaultMode"), q.child("defaultMode"), errs)
        for i, item in enumerate(f.expect_list(source.get("items"), q.child("items"), errs)):
            item = f.expect_dict(item, q.child("items").index(i), errs)
            if not item.get("key"):
                errs.append(f.required(q.child("items").index(i).child("key")))
            _check_mode(item.get("mode"), q.child("items").index(i).child("mode"), errs)
            if not item.get("path"):
                errs.append(f.required(q.child("items").index(i).child("path")))
            else:
                errs += _path_errors(q.child("items").index(i).child("path"), item["path"],
                                     absolute=False)
    return errs


def _check_mode(mode: Any, path: FieldPath, errs: list[FieldError]) -> None:
    """A file mode for a volume's files: 0-0777, so no setuid, setgid or sticky bit."""
    if mode is not None and (not isinstance(mode, int) or isinstance(mode, bool)
                             or not 0 <= mode <= 0o777):
        errs.append(f.invalid(path, mode, "must be a number between 0 and 0777 (octal), both "
                              "inclusive"))


def _validate_volumes(volumes: Any, path: FieldPath, errs: list[FieldError]) -> set[str]:
    names: set[str] = set()
    for i, volume in enumerate(f.expect_list(volumes, path, errs)):
        p = path.index(i)
        volume = f.expect_dict(volume, p, errs)
        name = volume.get("name")
        if not name:
            errs.append(f.required(p.child("name")))
            continue
        if f.expect_str(name, p.child("name"), errs) is None:
            continue
        errs += [f.invalid(p.child("name"), name, m) for m in is_dns1123_label(name)]
        if name in names:
            errs.append(f.duplicate(p.child("name"), name))
        names.add(name)
        errs += _validate_volume_source(volume, p)
    return names


def _validate_tolerations(tolerations: Any, path: FieldPath) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, tol in enumerate(f.expect_list(tolerations, path, errs)):
        p = path.index(i)
        tol = f.expect_dict(tol, p, errs)
        key, op = tol.get("key") or "", tol.get("operator") or "Equal"
        if key:
            errs += [f.invalid(p.child("key"), key, m) for m in is_qualified_name(str(key))]
        elif op != "Exists":
            errs.append(f.invalid(p.child("operator"), op, "operator must be Exists when `key` "
                                  "is empty, which means \"match all values and all keys\""))
        if op == "Exists" and tol.get("value"):
            errs.append(f.invalid(p.child("operator"), op,
                                  "value must be empty when `operator` is 'Exists'"))
        elif op == "Equal" and tol.get("value"):
            value = str(tol["value"])
            errs += [f.invalid(p.child("value"), value, m) for m in is_label_value(value)]
        elif op not in ("Equal", "Exists"):
            errs.append(f.not_supported(p.child("operator"), op, ["Equal", "Exists"]))
        effect = tol.get("effect")
        if effect and effect not in TAINT_EFFECTS:
            errs.append(f.not_supported(p.child("effect"), effect, TAINT_EFFECTS))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(f.invalid(p.child("effect"), effect, "effect must be 'NoExecute' when "
                                  "`tolerationSeconds` is set"))
    return errs


def validate_pod_spec(spec: Any, path: FieldPath) -> list[FieldError]:
    """Upstream ``ValidatePodSpec``: containers, volumes, policies, scheduling fields."""
    errs: list[FieldError] = []
    spec = f.expect_dict(spec, path, errs)
    volumes = _validate_volumes(spec.get("volumes"), path.child("volumes"), errs)
    grace = spec.get("terminationGracePeriodSeconds")
    f.nonnegative(grace, path.child("terminationGracePeriodSeconds"), errs)
    grace = grace if f.is_int(grace) else None
    if not spec.get("containers"):
        errs.append(f.required(path.child("containers")))
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, ctr in enumerate(f.expect_list(spec.get(key), path.child(key), errs)):
            p = path.child(key).index(i)
            errs += validate_container(ctr, p, volumes, grace, key == "initContainers")
            name = ctr.get("name") if isinstance(ctr, dict) else None
            if isinstance(name, str) and name:
                if name in seen:
                    errs.append(f.duplicate(p.child("name"), name))
                seen.add(name)
    for key, choices in (("restartPolicy", RESTART_POLICIES), ("dnsPolicy", DNS_POLICIES)):
        if key in spec and spec[key] not in choices:
            errs.append(f.not_supported(path.child(key), spec[key], choices))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not (f.is_int(deadline) and 1 <= deadline <= 2**31 - 1):
        errs.append(f.invalid(path.child("activeDeadlineSeconds"), deadline,
                              "must be between 1 and 2147483647, inclusive"))
    errs += validate_labels(spec.get("nodeSelector"), path.child("nodeSelector"))
    errs += _validate_tolerations(spec.get("tolerations"), path.child("tolerations"))
    for key, check in (("hostname", is_dns1123_label), ("subdomain", is_dns1123_label),
                       ("nodeName", is_dns1123_subdomain), ("schedulerName", is_dns1123_subdomain),
                       ("serviceAccountName", is_dns1123_subdomain)):
        value = spec.get(key)
        if value and f.expect_str(value, path.child(key), errs) is not None:
            errs += [f.invalid(path.child(key), value, m) for m in check(value)]
    for key in ("hostNetwork", "hostPID", "hostIPC", "enableServiceLinks"):
        if spec.get(key) is not None:
            f.expect_bool(spec[key], path.child(key), errs)
    return errs


def validate_type_meta(obj: dict[str, Any], api_version: str, kind: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if obj.get("apiVersion") != api_version:
        errs.append(f.not_supported(FieldPath("apiVersion"), obj.get("apiVersion"), [api_version]))
    if obj.get("kind") != kind:
        errs.append(f.not_supported(FieldPath("kind"), obj.get("kind"), [kind]))
    return errs


def validate_pod(obj: Any) -> list[FieldError]:
    """Every problem of a Pod manifest, each with its field path; ``[]`` when valid."""
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "Pod")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"))
    errs += validate_pod_spec(obj.get("spec"), FieldPath("spec"))
    return errs


def check_pod(obj: Any) -> None:
    """Raise :class:`ValidationError` (``Pod "x" is invalid: ...``) if the pod is invalid."""
    errs = validate_pod(obj)
    if errs:
        raise ValidationError.for_object(obj, errs)


# --- defaults ---------------------------------------------------------------------------

def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or an untagged image, else ``IfNotPresent`` (upstream)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(probe: dict[str, Any]) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _default_handler(probe)


def _default_handler(handler: dict[str, Any]) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def default_container(ctr: dict[str, Any], host_network: bool = False) -> None:
    """Fill in one container's defaults, in place."""
    if isinstance(ctr.get("image"), str):
        ctr.setdefault("imagePullPolicy", image_pull_policy(ctr["image"]))
    ctr.setdefault("terminationMessagePath", "/dev/termination-log")
    ctr.setdefault("terminationMessagePolicy", "File")
    if not isinstance(ctr.get("resources"), dict):
        ctr["resources"] = {}
    for port in ctr.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if host_network and not port.get("hostPort"):
                port["hostPort"] = port.get("containerPort")
    for var in ctr.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("fieldRef") if isinstance(var, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(ctr.get(key), dict):
            _default_probe(ctr[key])
    for hook in (ctr.get("lifecycle") or {}).values():
        if isinstance(hook, dict):
            _default_handler(hook)


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Fill in PodSpec defaults in place (also right for pod templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    for key in ("initContainers", "containers"):
        for ctr in spec.get(key) or []:
            if isinstance(ctr, dict):
                default_container(ctr, bool(spec.get("hostNetwork")))
    for volume in spec.get("volumes") or []:
        for source in ("secret", "configMap"):
            if isinstance(volume, dict) and isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 0o644)


def default_pod(obj: dict[str, Any]) -> dict[str, Any]:
    """A new dict with the API server's defaults applied; ``status`` is left alone.

    As upstream's ``SetDefaults_Pod``: a resource with only a limit gets the same request.
    """
    pod = namespaced_copy(obj)
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return pod
    default_pod_spec(spec)
    # Upstream's ServiceAccount admission: a pod runs as an account; ``serviceAccount`` is
    # the deprecated spelling, kept equal.
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    for key in ("initContainers", "containers"):
        for ctr in spec.get(key) or []:
            resources = ctr.get("resources") if isinstance(ctr, dict) else None
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                requests = resources.setdefault("requests", {})
                if not isinstance(requests, dict):
                    continue  # validation reports it
                for name, limit in resources["limits"].items():
                    requests.setdefault(name, limit)
    return pod
