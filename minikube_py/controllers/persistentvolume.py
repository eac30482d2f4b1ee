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
from decimal import Decimal
from typing import Any

from minikube_py.api.names import selector_matches
from minikube_py.api.quantity import parse_quantity
from minikube_py.api.storage import DEFAULT_CLASS_ANNOTATION
from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import Controller, record_event, resource

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PROVISIONER = "minikube-py.io/hostpath"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
RESYNC_SECONDS = 15.0
COMPONENT = "persistentvolume-controller"
PVS, PVCS = resource("persistentvolumes"), resource("persistentvolumeclaims")


# -- pure decisions -----------------------------------------------------------------------------
def storage_of(obj: Obj, where: str) -> Decimal:
    """``spec.capacity.storage`` of a PV or ``spec.resources.requests.storage`` of a claim."""
    spec = obj.get("spec") or {}
    value = ((spec.get("capacity") or {}) if where == "capacity"
             else ((spec.get("resources") or {}).get("requests") or {})).get("storage", "0")
    return parse_quantity(value)


def class_of(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def fits(volume: Obj, claim: Obj) -> bool:
    """Could this Available volume serve this claim?"""
    spec, want = volume.get("spec") or {}, claim.get("spec") or {}
    labels = (volume.get("metadata") or {}).get("labels") or {}
    return (not spec.get("claimRef") and not volume["metadata"].get("deletionTimestamp")
            and (volume.get("status") or {}).get("phase") in ("Available", "Pending")
            and class_of(volume) == class_of(claim)
            and spec.get("volumeMode", "Filesystem") == want.get("volumeMode", "Filesystem")
            and set(want.get("accessModes") or []) <= set(spec.get("accessModes") or [])
            and storage_of(volume, "capacity") >= storage_of(claim, "request")
            and selector_matches(want.get("selector") or {}, labels))


def best_volume(volumes: list[Obj], claim: Obj) -> Obj | None:
    """The smallest volume that fits (upstream picks the smallest, to waste least)."""
    candidates = [v for v in volumes if fits(v, claim)]
    return min(candidates, key=lambda v: (storage_of(v, "capacity"), v["metadata"]["name"]),
               default=None)


def default_class(classes: list[Obj]) -> Obj | None:
    marked = [c for c in classes
              if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    return max(marked, key=lambda c: c["metadata"].get("creationTimestamp", ""), default=None)


def claim_in_use(claim: Obj, pods: list[Obj]) -> bool:
    """Does a pod that has not finished name this claim among its volumes?"""
    meta = claim["metadata"]
    for pod in pods:
        if pod["metadata"].get("namespace") != meta.get("namespace"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName") == meta["name"]:
                return True
    return False


def claim_ref(claim: Obj) -> Obj:
    meta = claim["metadata"]
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace":
            meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion")}


def standard_class() -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "standard", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate"}


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
        meta = dict(claim["metadata"], finalizers=[f for f in finalizers if f != PVC_PROTECTION])
        try:
            self.client.update(PVCS, dict(claim, metadata=meta))
        except ApiError as e:
            if e.code != 404:
                raise

    # -- volumes ----------------------------------------------------------------------------
    def sync_volume(self, volume: Obj) -> None:
        spec, status = volume.get("spec") or {}, volume.get("status") or {}
        ref = spec.get("claimRef") or {}
        if volume["metadata"].get("deletionTimestamp") and not self._bound(volume):
            self._release_volume_protection(volume)  # kubectl delete pv: gone once unbound
            return
        if not ref:
            if status.get("phase") != "Available":
                self.client.update(PVS, dict(volume, status={"phase": "Available"}),
                                   subresource="status")
            return
        claim = self.claims.get(ref.get("name", ""), ref.get("namespace"))
        if claim is not None and (not ref.get("uid") or ref["uid"] == claim["metadata"]["uid"]):
            return  # bound, or being bound: the claim's sync does it
        if claim is None and not ref.get("uid"):  # pre-bound by hand to a claim to come
            if (volume.get("status") or {}).get("phase") != "Available":
                self.client.update(PVS, dict(volume, status={"phase": "Available"}),
                                   subresource="status")
            return
        self._reclaim(volume)

    def _bound(self, volume: Obj) -> bool:
        """Is a claim that still exists bound (or being bound) to this volume?"""
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        claim = self.claims.get(ref.get("name", ""), ref.get("namespace")) if ref else None
        return claim is not None and ref.get("uid") in (None, "", claim["metadata"]["uid"])

    def _release_volume_protection(self, volume: Obj) -> None:
        finalizers = volume["metadata"].get("finalizers") or []
        if PV_PROTECTION not in finalizers:
            return
        meta = dict(volume["metadata"], finalizers=[f for f in finalizers if f != PV_PROTECTION])
        try:
            self.client.update(PVS, dict(volume, metadata=meta))
        except ApiError as e:
            if e.code != 404:
                raise

    def _reclaim(self, volume: Obj) -> None:
        """The claim is gone: keep the data (Retain) or remove the volume (Delete)."""
        name, spec = volume["metadata"]["name"], volume.get("spec") or {}
        policy = spec.get("persistentVolumeReclaimPolicy", "Retain")
        phase = (volume.get("status") or {}).get("phase")
        ours = (volume["metadata"].get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER
        path = os.path.realpath((spec.get("hostPath") or {}).get("path", ""))
        uid = ((spec.get("claimRef") or {}).get("uid") or "")
        # Only the directory this provisioner made for that very claim: name, path and
        # claim agree, and no other volume uses the path.
        deletable = (ours and self.volumes_dir is not None and name == f"pvc-{uid}"
                     and path == os.path.join(os.path.realpath(self.volumes_dir), name)
                     and not any(os.path.realpath(((v.get("spec") or {}).get("hostPath") or {})
                                                  .get("path", "")) == path
                                 for v in self.volumes.list()
                                 if v["metadata"]["name"] != name))
        if policy == "Delete" and deletable:
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
            self.client.update(PVS, dict(volume, status={"phase": "Released"}),
                               subresource="status")
            log.info("Released volume volume=%s", name)

    def _delete_failed(self, volume: Obj, message: str) -> None:
        self.client.update(PVS, dict(volume, status={"phase": "Failed",
                                                     "reason": "VolumeFailedDelete",
                                                     "message": message}),
                           subresource="status")
        record_event(self.client, dict(volume, kind="PersistentVolume", apiVersion="v1"),
                     "Warning", "VolumeFailedDelete", message, COMPONENT)

    def _event(self, claim: Obj, reason: str, message: str, normal: bool = False) -> None:
        record_event(self.client, dict(claim, kind="PersistentVolumeClaim", apiVersion="v1"),
                     "Normal" if normal else "Warning", reason, message, COMPONENT)
