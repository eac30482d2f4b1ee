"""The PersistentVolume controller: claims bound to volumes, volumes made and reclaimed.

Upstream's ``persistentvolume-binder`` (in the controller manager) plus a host-path
provisioner (minikube's ``storage-provisioner``), as one control loop:

1. a claim with no class (``storageClassName`` unset) gets the default StorageClass's name
   (upstream's "retroactive default class assignment");
2. a Pending claim is **bound** to the smallest Available volume that fits: same class and
   volume mode, every access mode it asks for, at least the storage it requests (or the
   volume its ``volumeName`` names). Binding writes both sides: the volume's
   ``spec.claimRef`` and ``status.phase: Bound``, the claim's ``spec.volumeName`` and its
   ``status`` (phase, capacity, access modes);
3. if none fits and the claim's class is provisioned here (``minikube-py.io/hostpath``,
   the ``standard`` class), a volume is **provisioned**: a directory
   ``<state>/persistent-volumes/pvc-<claim uid>`` and a PV for it, already bound to the
   claim; otherwise an event says why the claim waits;
4. a volume whose claim is gone is **reclaimed** by its policy: ``Retain`` -> ``Released``
   (the data stays; an administrator decides), ``Delete`` -> the directory and the PV go
   (only for volumes this provisioner made; others fail, as upstream's hostPath does);
5. a claim being deleted keeps its ``kubernetes.io/pvc-protection`` finalizer while a pod
   that is not finished uses it (``kubectl get pvc`` shows ``Terminating``), and a volume
   its ``kubernetes.io/pv-protection`` while a claim is bound to it.

Events drive it; every 15 s it also looks at every volume and claim again (upstream's
resync period), so nothing an event missed stays undone. Watch it: ``kubectl get pv,pvc
-w``; ``kubectl describe pvc data`` shows the events.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from typing import Any

from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import Controller, record_event, resource
from minikube_py.controllers.pv_binding import (
    PROVISIONER,
    best_volume,
    claim_in_use,
    claim_ref,
    class_of,
    default_class,
    fits,
    standard_class,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
RESYNC_SECONDS = 15.0
COMPONENT = "persistentvolume-controller"
PVS, PVCS = resource("persistentvolumes"), resource("persistentvolumeclaims")


# -- the controller -------------------------------------------------------------------------------
class PersistentVolumeController(Controller):
    name = "persistentvolume-controller"

    def __init__(self, client: Client, volumes_dir: str | None = None, workers: int = 1) -> None:
        super().__init__(client, workers)
        #: where provisioned volumes' directories go; None: provision nothing
        self.volumes_dir = volumes_dir
        self._stopping = threading.Event()
        self._resync: threading.Thread | None = None
        self.claims = self.informer("persistentvolumeclaims", self._on_claim)
        self.volumes = self.informer("persistentvolumes", self._on_volume)
        self.classes = self.informer("storageclasses", self._on_class)
        self.pods = self.informer("pods", self._on_pod)

    def start(self) -> None:
        """First the default class ``standard`` (minikube's default-storageclass addon), if
        this controller provisions: a claim that names no class then gets a volume."""
        if self.volumes_dir is not None:
            try:
                self.client.create(resource("storageclasses"), standard_class())
                log.info("Created default StorageClass name=standard provisioner=%s",
                         PROVISIONER)
            except ApiError as e:
                if e.reason != "AlreadyExists":
                    raise
        super().start()
        self._resync = threading.Thread(target=self._resync_loop, daemon=True,
                                        name=f"{self.name}-resync")
        self._resync.start()

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def _resync_loop(self) -> None:
        """Every volume and claim again every 15 s (upstream's resync period): whatever an
        event missed is caught up."""
        while not self._stopping.wait(RESYNC_SECONDS):
            for volume in self.volumes.list():
                self._on_volume("SYNC", volume, None)
            for claim in self.claims.list():
                self._on_claim("SYNC", claim, None)

    # -- events -> keys ---------------------------------------------------------------------
    def _on_claim(self, kind: str, claim: Obj, old: Obj | None) -> None:
        meta = claim["metadata"]
        self.queue.add(f"claim/{meta.get('namespace')}/{meta['name']}")
        if kind == "DELETED":  # its volume, even one provisioned but not yet bound
            for volume in self.volumes.list():
                if ((volume.get("spec") or {}).get("claimRef") or {}).get("uid") == \
                        meta.get("uid"):
                    self.queue.add(f"volume/{volume['metadata']['name']}")

    def _on_volume(self, kind: str, volume: Obj, old: Obj | None) -> None:
        self.queue.add(f"volume/{volume['metadata']['name']}")
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        if ref.get("name"):
            self.queue.add(f"claim/{ref.get('namespace')}/{ref['name']}")
        elif kind != "DELETED":  # a volume free to bind: claims waiting may fit it now
            for claim in self.claims.list():
                if (claim.get("status") or {}).get("phase") != "Bound":
                    self.queue.add(f"claim/{claim['metadata'].get('namespace')}/"
                                   f"{claim['metadata']['name']}")

    def _on_class(self, kind: str, storage_class: Obj, old: Obj | None) -> None:
        for claim in self.claims.list():
            if (claim.get("status") or {}).get("phase") != "Bound":
                self._on_claim("MODIFIED", claim, None)

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        namespace = pod["metadata"].get("namespace")
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if name:
                self.queue.add(f"claim/{namespace}/{name}")

    def reconcile(self, key: str) -> None:
        kind, _, rest = key.partition("/")
        if kind == "claim":
            namespace, _, name = rest.partition("/")
            claim = self.claims.get(name, namespace)
            if claim is not None:
                self.sync_claim(claim)
        else:
            volume = self.volumes.get(rest)
            if volume is not None:
                self.sync_volume(volume)

    # -- claims -----------------------------------------------------------------------------
    def sync_claim(self, claim: Obj) -> None:
        meta, spec = claim["metadata"], claim.get("spec") or {}
        if meta.get("deletionTimestamp"):
            self._release_protection(claim)
            return
        if spec.get("storageClassName") is None:
            found = default_class(self.classes.list())
            if found is not None:  # the update brings the claim back to this queue
                claim = dict(claim, spec=dict(spec, storageClassName=found["metadata"]["name"]))
                self.client.update(PVCS, claim)
                return
        volume = self._volume_for(claim)
        phase = (claim.get("status") or {}).get("phase")
        if volume is not None:
            self._bind(volume, claim)
        elif phase == "Bound" and spec.get("volumeName"):  # its volume was deleted
            self.client.update(PVCS, dict(claim, status=dict(claim["status"], phase="Lost")),
                               subresource="status")
            self._event(claim, "ClaimLost", "Bound claim has lost reference to "
                        "PersistentVolume. Data on the volume is lost!")
        elif phase not in ("Bound", "Lost"):
            self._provision_or_wait(claim)

    def _volume_for(self, claim: Obj) -> Obj | None:
        """The volume bound (or pre-bound) to this claim, else the best that fits."""
        uid = claim["metadata"].get("uid")
        wanted = (claim.get("spec") or {}).get("volumeName")
        for volume in self.volumes.list():
            ref = (volume.get("spec") or {}).get("claimRef") or {}
            pre_bound = (not ref.get("uid") and ref.get("name") == claim["metadata"]["name"]
                         and ref.get("namespace") == claim["metadata"].get("namespace"))
            if ref.get("uid") == uid or pre_bound or (
                    wanted == volume["metadata"]["name"] and not ref and fits(volume, claim)):
                return volume
        if wanted:
            return None  # its volume is not there (yet), or belongs to someone else
        return best_volume(self.volumes.list(), claim)

    def _bind(self, volume: Obj, claim: Obj) -> None:
        """Both halves of a binding, each only if not written yet."""
        vmeta, vspec = volume["metadata"], volume.get("spec") or {}
        if (vspec.get("claimRef") or {}).get("uid") != claim["metadata"].get("uid"):
            annotations = dict(vmeta.get("annotations") or {})
            if not vspec.get("claimRef"):
                annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
            volume = dict(volume, metadata=dict(vmeta, annotations=annotations),
                          spec=dict(vspec, claimRef=claim_ref(claim)))
            volume = self.client.update(PVS, volume)
        if (volume.get("status") or {}).get("phase") != "Bound":
            volume = self.client.update(PVS, dict(volume, status={"phase": "Bound"}),
                                        subresource="status")
        cmeta, cspec = claim["metadata"], claim.get("spec") or {}
        if cspec.get("volumeName") != volume["metadata"]["name"]:
            annotations = dict(cmeta.get("annotations") or {})
            annotations.update({"pv.kubernetes.io/bind-completed": "yes",
                                "pv.kubernetes.io/bound-by-controller": "yes"})
            claim = self.client.update(PVCS, dict(
                claim, metadata=dict(cmeta, annotations=annotations),
                spec=dict(cspec, volumeName=volume["metadata"]["name"])))
        status = {"phase": "Bound", "accessModes": volume["spec"].get("accessModes") or [],
                  "capacity": dict(volume["spec"].get("capacity") or {})}
        if claim.get("status") != status:
            self.client.update(PVCS, dict(claim, status=status), subresource="status")
            log.info("Bound claim claim=%s/%s volume=%s", cmeta.get("namespace"),
                     cmeta["name"], volume["metadata"]["name"])

    def _provision_or_wait(self, claim: Obj) -> None:
        name = class_of(claim)
        found = self.classes.get(name) if name else None
        if not name:
            self._event(claim, "FailedBinding", "no persistent volumes available for this "
                        "claim and no storage class is set")
        elif found is None:
            self._event(claim, "ProvisioningFailed",
                        f'storageclass.storage.k8s.io "{name}" not found')
        elif found.get("provisioner") != PROVISIONER or self.volumes_dir is None:
            self._event(claim, "ExternalProvisioning", "Waiting for a volume to be created "
                        f'either by the external provisioner "{found.get("provisioner")}" '
                        "or manually by the system administrator.", normal=True)
        else:
            self._provision(claim, found)

    def _provision(self, claim: Obj, storage_class: Obj) -> None:
        """A directory and a PV for it, bound in advance to this claim."""
        assert self.volumes_dir is not None
        meta, spec = claim["metadata"], claim.get("spec") or {}
        name = f"pvc-{meta['uid']}"
        path = os.path.join(self.volumes_dir, name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)  # as the hostpath provisioners: any container user may write
        volume = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER}},
            "spec": {"capacity": {"storage": spec["resources"]["requests"]["storage"]},
                     "accessModes": spec.get("accessModes") or [],
                     "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy",
                                                                        "Delete"),
                     "storageClassName": storage_class["metadata"]["name"],
                     "volumeMode": spec.get("volumeMode", "Filesystem"),
                     "hostPath": {"path": path, "type": ""}, "claimRef": claim_ref(claim)}}
        try:
            self.client.create(PVS, volume)
        except ApiError as e:
            if e.reason != "AlreadyExists":
                raise
            return
        log.info("Provisioned volume volume=%s claim=%s/%s path=%s", name,
                 meta.get("namespace"), meta["name"], path)
        self._event(claim, "ProvisioningSucceeded",
                    f"Successfully provisioned volume {name} using {PROVISIONER}", normal=True)

    def _release_protection(self, claim: Obj) -> None:
        finalizers = claim["metadata"].get("finalizers") or []
        if PVC_PROTECTION not in finalizers or claim_in_use(claim, self.pods.list()):
            return
        # The cache may not have a pod created a moment ago: ask the API server, as upstream.
        live = self.client.list(resource("pods"), claim["metadata"].get("namespace"))
        if claim_in_use(claim, live.get("items") or []):
            return
        self._remove_finalizer(PVCS, claim, PVC_PROTECTION)

    # -- volumes ----------------------------------------------------------------------------
    def sync_volume(self, volume: Obj) -> None:
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        if self._bound(volume):
            return  # bound, or being bound: the claim's sync does it
        if volume["metadata"].get("deletionTimestamp"):
            self._remove_finalizer(PVS, volume, PV_PROTECTION)  # deleted: gone once unbound
        elif not ref or not ref.get("uid"):  # free, or pre-bound by hand to a claim to come
            self._set_phase(volume, "Available")
        else:
            self._reclaim(volume)

    def _bound(self, volume: Obj) -> bool:
        """Is a claim that still exists bound (or being bound) to this volume?"""
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        claim = self.claims.get(ref.get("name", ""), ref.get("namespace")) if ref else None
        return claim is not None and ref.get("uid") in (None, "", claim["metadata"]["uid"])

    def _remove_finalizer(self, kind: Any, obj: Obj, finalizer: str) -> None:
        """Let the API server finish deleting ``obj`` (if ``finalizer`` was its last)."""
        finalizers = obj["metadata"].get("finalizers") or []
        if finalizer not in finalizers:
            return
        meta = dict(obj["metadata"], finalizers=[f for f in finalizers if f != finalizer])
        try:
            self.client.update(kind, dict(obj, metadata=meta))
        except ApiError as e:
            if e.code != 404:
                raise

    def _set_phase(self, volume: Obj, phase: str, **status: str) -> None:
        """Write ``status.phase`` (and its ``reason``/``message``) unless it says so already."""
        if (volume.get("status") or {}).get("phase") != phase or status:
            self.client.update(PVS, dict(volume, status={"phase": phase, **status}),
                               subresource="status")

    def _reclaim(self, volume: Obj) -> None:
        """The claim is gone: keep the data (Retain) or remove the volume (Delete)."""
        name, spec = volume["metadata"]["name"], volume.get("spec") or {}
        policy = spec.get("persistentVolumeReclaimPolicy", "Retain")
        phase = (volume.get("status") or {}).get("phase")
        path = self._provisioned_directory(volume)
        if policy == "Delete" and path is not None:
            try:
                shutil.rmtree(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                self._delete_failed(volume, f"failed to remove {path}: {e}")
                return
            try:
                self.client.delete(PVS, name)
            except ApiError as e:
                if e.code != 404:
                    raise
            log.info("Deleted volume volume=%s path=%s", name, path)
        elif policy == "Delete" and phase != "Failed":
            self._delete_failed(volume, "no deletable volume plugin matched: minikube-py "
                                "deletes only the directories it provisioned")
        elif policy == "Retain" and phase != "Released":
            self._set_phase(volume, "Released")
            log.info("Released volume volume=%s", name)

    def _provisioned_directory(self, volume: Obj) -> str | None:
        """The directory this provisioner made for the volume's claim, if that is what the
        volume points at: name, path and claim agree, and no other volume uses the path.
        Anything else is not ours to remove."""
        name, spec = volume["metadata"]["name"], volume.get("spec") or {}
        if self.volumes_dir is None or \
                (volume["metadata"].get("annotations") or {}).get(PROVISIONED_BY) != PROVISIONER:
            return None
        if name != f"pvc-{(spec.get('claimRef') or {}).get('uid') or ''}":
            return None
        path = os.path.realpath((spec.get("hostPath") or {}).get("path", ""))
        if path != os.path.join(os.path.realpath(self.volumes_dir), name):
            return None
        for other in self.volumes.list():
            other_path = ((other.get("spec") or {}).get("hostPath") or {}).get("path", "")
            if other["metadata"]["name"] != name and os.path.realpath(other_path) == path:
                return None
        return path

    def _delete_failed(self, volume: Obj, message: str) -> None:
        self._set_phase(volume, "Failed", reason="VolumeFailedDelete", message=message)
        record_event(self.client, dict(volume, kind="PersistentVolume", apiVersion="v1"),
                     "Warning", "VolumeFailedDelete", message, COMPONENT)

    def _event(self, claim: Obj, reason: str, message: str, normal: bool = False) -> None:
        record_event(self.client, dict(claim, kind="PersistentVolumeClaim", apiVersion="v1"),
                     "Normal" if normal else "Warning", reason, message, COMPONENT)
