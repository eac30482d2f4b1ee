"""Pod volumes: directories the kubelet prepares on the node and binds into containers.

A container's own files vanish with it (they live in its overlay's upper directory). A
**volume** belongs to the pod instead: every container that lists it in ``volumeMounts`` sees
the same files at its ``mountPath``, and they survive container restarts. Five kinds:

- ``emptyDir`` — an empty directory made when the pod starts, removed with the pod:
  ``<state>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>`` (upstream's path under
  ``/var/lib/kubelet``); ``medium: Memory`` mounts a tmpfs there (``sizeLimit`` caps it);
- ``hostPath`` — a file or directory of the node itself (``type`` says what must be there:
  ``Directory``, ``DirectoryOrCreate``, ``File``, ``FileOrCreate``, ``Socket`` ...);
- ``configMap`` — one file per key of a ConfigMap (or only ``items``, under their ``path``),
  written by the kubelet into ``.../kubernetes.io~configmap/<name>`` and kept up to date at
  each sync (cluster only: the standalone node has no API server);
- ``secret`` — the same for a Secret's (decoded) keys, in ``.../kubernetes.io~secret/<name>``,
  which is a tmpfs: a Secret's values live in memory, never on the node's disk;
- ``persistentVolumeClaim`` — the directory of the PersistentVolume bound to the claim
  (a ``hostPath`` PV, as the ``standard`` class provisions them); the scheduler holds a pod
  until its claims are bound (the kubelet checks again: ``FailedMount`` if not).

Each ``volumeMounts`` entry becomes a bind mount (``mount --rbind [-o ro] SRC DST``) made
inside the container's mount namespace, before pivot_root; ``subPath`` binds a sub-directory
of the volume. See them: ``nsenter -t <pid> -m findmnt``, ``ls <state>/pods/<uid>/volumes``.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Collection
from typing import Any

import explain
from minikube_py.api.configdata import config_map_bytes, secret_bytes
from minikube_py.api.quantity import memory_bytes
from minikube_py.config import NodeConfig
from minikube_py.errors import MinikubeError
from minikube_py.kubelet.sources import ObjectGetter
from runtime import mounts, syscalls

Pod = dict[str, Any]
#: (namespace, claim name) -> (the claim, the PersistentVolume bound to it), None if absent
ClaimGetter = Callable[[str, str], "tuple[dict[str, Any] | None, dict[str, Any] | None]"]

PLUGINS = {"emptyDir": "kubernetes.io~empty-dir", "configMap": "kubernetes.io~configmap",
           "secret": "kubernetes.io~secret"}
HOST_PATH_TYPES = {"": None, "DirectoryOrCreate": stat.S_ISDIR, "Directory": stat.S_ISDIR,
                   "FileOrCreate": stat.S_ISREG, "File": stat.S_ISREG,
                   "Socket": stat.S_ISSOCK, "CharDevice": stat.S_ISCHR,
                   "BlockDevice": stat.S_ISBLK}


class VolumeError(MinikubeError):
    """A volume could not be set up (upstream: the FailedMount event)."""


def volume_dir(config: NodeConfig, uid: str, kind: str, name: str) -> str:
    return os.path.join(config.pod_dir(uid), "volumes", PLUGINS[kind], name)


def _empty_dir(config: NodeConfig, uid: str, name: str, source: dict[str, Any]) -> str:
    path = volume_dir(config, uid, "emptyDir", name)
    if not os.path.isdir(path):
        os.makedirs(path)
        os.chmod(path, 0o777)  # as upstream: any user of any container may write
    if source.get("medium") == "Memory" and not mounts.mounts_under(path):
        limit = source.get("sizeLimit")
        options = f"mode=1777,size={memory_bytes(str(limit))}" if limit else "mode=1777"
        explain.record(f"mount -t tmpfs -o {options} tmpfs {path}")
        syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV,
                       options)
    return path


def _host_path(name: str, source: dict[str, Any]) -> str:
    path, kind = str(source.get("path") or ""), str(source.get("type") or "")
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        explain.record(f"mkdir -p {path}")
        os.makedirs(path, mode=0o755)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        explain.record(f"touch {path}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    check = HOST_PATH_TYPES.get(kind)
    if kind and check is not None:
        try:
            ok = check(os.stat(path).st_mode)
        except OSError:
            ok = False
        if not ok:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : hostPath type '
                              f"check failed: {path} is not a {kind.removesuffix('OrCreate')}")
    return path


def _config_map(config: NodeConfig, pod: Pod, name: str, source: dict[str, Any],
                get: ObjectGetter | None) -> str:
    """Write the ConfigMap's keys as files (again at every sync: edits reach the pod)."""
    return _keys_volume(config, pod, name, "configMap", str(source.get("name") or ""),
                        source, get)


def _secret(config: NodeConfig, pod: Pod, name: str, source: dict[str, Any],
            get: ObjectGetter | None) -> str:
    """The same for a Secret's decoded keys, on a tmpfs mounted for the volume."""
    return _keys_volume(config, pod, name, "secret", str(source.get("secretName") or ""),
                        source, get)


def _keys_volume(config: NodeConfig, pod: Pod, name: str, kind: str, wanted: str,
                 source: dict[str, Any], get: ObjectGetter | None) -> str:
    namespace = pod["metadata"].get("namespace", "default")
    found = get(namespace, wanted) if get is not None else None
    path = volume_dir(config, pod["metadata"]["uid"], kind, name)
    os.makedirs(path, exist_ok=True)
    if kind == "secret" and not mounts.mounts_under(path):  # in memory, never on disk
        explain.record(f"mount -t tmpfs -o mode=0755 tmpfs {path}")
        syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV,
                       "mode=0755")
    decode = secret_bytes if kind == "secret" else config_map_bytes
    _write_keys(path, name, kind.lower(), wanted, None if found is None else decode(found),
                source)
    return path


def _write_keys(path: str, volume: str, kind: str, wanted: str, data: dict[str, bytes] | None,
                source: dict[str, Any]) -> None:
    """One file per key (or per ``items`` entry, at its ``path``) with ``defaultMode`` or the
    item's ``mode``; files of keys no longer there are removed. ``data`` None = the object
    does not exist: an error unless ``optional``."""
    if data is None and not source.get("optional"):
        raise VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : {kind} '
                          f'"{wanted}" not found')
    data = data or {}
    items = source.get("items") or [{"key": k, "path": k} for k in sorted(data)]
    mode = int(source.get("defaultMode", 0o644))
    written = set()
    for item in items:
        key, rel = str(item.get("key")), posixpath.normpath(str(item.get("path") or ""))
        if key not in data:
            if not source.get("optional"):
                raise VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : {kind} '
                                  f"references non-existent {_KEY_WORD[kind]} key: {key}")
            continue
        _write_file(os.path.join(path, rel), data[key], int(item.get("mode", mode)))
        written.add(rel)
    for entry in os.listdir(path):  # keys removed from the object go away
        if entry not in {w.split("/")[0] for w in written} and \
                os.path.isfile(os.path.join(path, entry)):
            os.unlink(os.path.join(path, entry))


def _write_file(target: str, content: bytes, mode: int) -> None:
    """Write a key's file unless it already holds that content and mode: a new file renamed
    over the old one, so a reader sees the old or the new value, never half of one. Nothing
    here follows a symlink (the containers see these directories read-only anyway)."""
    try:
        st = os.lstat(target)
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode:
            with open(target, "rb") as f:
                if f.read() == content:
                    return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = os.path.join(os.path.dirname(target), f".tmp-{os.path.basename(target)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        os.write(fd, content)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, target)


#: Upstream's words in "configmap references non-existent config key: K".
_KEY_WORD = {"configmap": "config", "secret": "secret"}


def _claimed(pod: Pod, name: str, source: dict[str, Any], get: ClaimGetter | None) -> str:
    """The directory of the PersistentVolume bound to the claim (a ``hostPath`` PV)."""
    namespace = pod["metadata"].get("namespace", "default")
    claim_name = str(source.get("claimName") or "")
    claim, volume = get(namespace, claim_name) if get is not None else (None, None)
    if claim is None:
        raise VolumeError(f'persistentvolumeclaim "{claim_name}" not found')
    if claim["metadata"].get("deletionTimestamp"):
        raise VolumeError(f'persistentvolumeclaim "{claim_name}" is being deleted')
    if (claim.get("status") or {}).get("phase") != "Bound" or volume is None:
        raise VolumeError(f'persistentvolumeclaim "{claim_name}" is not bound')
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    if ref.get("uid") != claim["metadata"].get("uid"):
        raise VolumeError(f'persistentvolume "{volume["metadata"]["name"]}" is bound to '
                          f'another claim than "{claim_name}"')
    return _host_path(name, (volume.get("spec") or {}).get("hostPath") or {})


def setup_volumes(config: NodeConfig, pod: Pod, get_config_map: ObjectGetter | None,
                  get_secret: ObjectGetter | None = None,
                  get_claim: ClaimGetter | None = None) -> dict[str, str]:
    """Make every volume of the pod ready on the node; volume name -> host path."""
    uid, paths = pod["metadata"]["uid"], {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume["name"]
        if "emptyDir" in volume:
            paths[name] = _empty_dir(config, uid, name, volume.get("emptyDir") or {})
        elif "hostPath" in volume:
            paths[name] = _host_path(name, volume["hostPath"] or {})
        elif "configMap" in volume:
            paths[name] = _config_map(config, pod, name, volume["configMap"] or {},
                                      get_config_map)
        elif "secret" in volume:
            paths[name] = _secret(config, pod, name, volume["secret"] or {}, get_secret)
        elif "persistentVolumeClaim" in volume:
            paths[name] = _claimed(pod, name, volume["persistentVolumeClaim"] or {}, get_claim)
    return paths


def read_only_volumes(pod: Pod) -> set[str]:
    """Volumes every mount of which is read-only: configMap and secret volumes, as upstream
    (the kubelet rewrites their files; a container must not change or replace them), and a
    claim the pod names with ``readOnly: true``."""
    return {v["name"] for v in pod["spec"].get("volumes") or []
            if "configMap" in v or "secret" in v
            or (v.get("persistentVolumeClaim") or {}).get("readOnly")}


def container_volumes(container: dict[str, Any], paths: dict[str, str],
                      read_only: Collection[str] = ()) -> list[tuple[str, str, bool]]:
    """(mountPath, host path, read-only) for each of the container's volumeMounts; the
    volumes named in ``read_only`` are read-only whatever the mount says."""
    out = []
    for mount in container.get("volumeMounts") or []:
        source = paths[mount["name"]]
        sub = str(mount.get("subPath") or "")
        if sub:
            source = os.path.join(source, sub)
            if not os.path.exists(source):
                os.makedirs(source, mode=0o777)  # upstream creates a missing subPath
        out.append((str(mount["mountPath"]), source,
                    bool(mount.get("readOnly")) or mount["name"] in read_only))
    return out


def teardown_volumes(config: NodeConfig, uid: str) -> None:
    """Unmount what a pod's volumes mounted on the node (tmpfs emptyDirs and secret volumes)
    before removal."""
    mounts.unmount_under(os.path.join(config.pod_dir(uid), "volumes"))
