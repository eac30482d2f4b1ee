"""The local image store: image references -> configs -> unpacked layers, on disk.

This is what ``crictl images`` lists on a real node (containerd keeps the same three kinds
of object in its content store). The layout, under the store root
(``/var/lib/minikube-py/images`` by default)::

    layers/<hex>/               one unpacked layer; <hex> is its diff_id (sha256 of the
                                uncompressed layer tar); shared by every image that uses it
    configs/<hex>.json          an OCI image config; <hex> = sha256 of this file = image ID
    refs/<name>/<tag>           a text file holding the image ID, e.g.
                                refs/busybox/latest, refs/registry.example/x/y/v1
    digests/<name>/<hex>        the same for a pulled image's *repo digest* (the sha256
                                of its manifest): what ``name@sha256:<hex>`` finds
    locks/                      flock(2) files: store.lock and one per reference being built
    tmp/                        work directories of builds in progress

Every write is atomic: a layer is unpacked in ``tmp/`` and renamed into ``layers/``; configs
and refs are written to a temporary file and renamed. Builds of the same reference take that
reference's lock, so two callers of :meth:`ImageStore.ensure_image` get one image. Commits
and garbage collection take ``store.lock``.

See for yourself::

    ls /var/lib/minikube-py/images/refs/*                  # the tags
    cat /var/lib/minikube-py/images/refs/busybox/latest    # -> sha256:<id>
    jq .rootfs.diff_ids /var/lib/minikube-py/images/configs/<id>.json
    ls /var/lib/minikube-py/images/layers/<hex>/bin | head

A registry pull (``runtime.images.registry``) fetches the manifest, the config and each
layer blob the store lacks (checking their digests), unpacks the layers into ``tmp/`` and
commits them like a recipe's, keeping the registry's config byte for byte, so the image ID
is the one the registry names. Whether a store may pull at all is the caller's choice
(``registries=``, ``docker_hub=``): tests keep their stores off the network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator

import explain
from runtime.images import builders, registry
from runtime.images.layers import cp_archive, digest_of_dir, sha256_of_stream, tar_extract
from runtime.images.model import Image, ImageConfig, PendingLayer, oci_image_config
from runtime.images.push import push as push_image
from runtime.images.refs import DIGEST_RE, ImageError, ImageNotFound, Reference, parse_ref
from runtime.syscalls import MNT_DETACH, umount

log = logging.getLogger(__name__)

DEFAULT_ROOT = "/var/lib/minikube-py/images"
Progress = Callable[[str], None]


def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def rm_rf(path: str) -> None:
    """``rm -rf PATH``, after ``umount -l`` of anything still mounted below it."""
    explain.record(["rm", "-rf", path])
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    for point in sorted((p for p in points if p.startswith(real + "/")), reverse=True):
        explain.record(["umount", "-l", point])
        with contextlib.suppress(OSError):
            umount(point, MNT_DETACH)
    shutil.rmtree(path, ignore_errors=True)


class ImageStore:
    """Images on local disk; see the module docstring for the layout."""

    def __init__(self, root: str = DEFAULT_ROOT, *, registries: bool = False,
                 docker_hub: bool = False) -> None:
        self.root = os.path.abspath(root)
        #: May images be pulled from a registry a reference names (``host[:port]/name``)?
        self.registries = registries
        #: ... and Docker Hub names (``redis``) from Docker Hub, when no recipe makes them?
        self.docker_hub = docker_hub
        for sub in ("layers", "configs", "refs", "digests", "locks", "tmp"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)

    # -- paths and locks ------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def _ref_path(self, reference: Reference) -> str:
        return self._path("refs", reference.name, reference.tag or "latest")

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        with open(self._path("locks", safe + ".lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # per open file: also excludes other threads
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def workdir(self, purpose: str) -> Iterator[str]:
        """A fresh directory under ``tmp/``, removed (mounts and all) when the block ends."""
        path = tempfile.mkdtemp(prefix=purpose + "-", dir=self._path("tmp"))
        os.chmod(path, 0o755)  # apt's _apt user must reach mmdebstrap's download dir
        try:
            yield path
        finally:
            rm_rf(path)

    # -- reading --------------------------------------------------------------------------
    def _load(self, ref: str, image_id: str) -> Image | None:
        hexdigest = image_id.removeprefix("sha256:")
        try:
            with open(self._path("configs", hexdigest + ".json"), "rb") as f:
                doc = json.load(f)
        except FileNotFoundError:
            return None
        try:
            diff_ids = doc["rootfs"]["diff_ids"]
            config = ImageConfig.from_oci(doc.get("config") or {})
        except (KeyError, TypeError, AttributeError):
            return None
        if not all(isinstance(d, str) and DIGEST_RE.fullmatch(d) for d in diff_ids):
            return None  # only digests name layer directories
        layers = [self._path("layers", d.removeprefix("sha256:")) for d in diff_ids]
        if not all(os.path.isdir(p) for p in layers):
            return None
        return Image(ref, "sha256:" + hexdigest, layers, config)

    def _refs(self) -> dict[str, str]:
        """Every stored reference -> image ID, read from ``refs/``."""
        found: dict[str, str] = {}
        refs_dir = self._path("refs")
        for dirpath, _dirs, files in os.walk(refs_dir):
            for tag in files:
                if tag.startswith("."):
                    continue  # a temporary file being written
                name = os.path.relpath(dirpath, refs_dir)
                with open(os.path.join(dirpath, tag)) as f:
                    found[f"{name}:{tag}"] = f.read().strip()
        return found

    def _digest_path(self, name: str, digest: str) -> str:
        return self._path("digests", name, digest.removeprefix("sha256:"))

    def _digests(self) -> dict[str, str]:
        """Every stored repo digest (``name@sha256:...``) -> image ID."""
        found: dict[str, str] = {}
        root = self._path("digests")
        for dirpath, _dirs, files in os.walk(root):
            for hexdigest in files:
                if not hexdigest.startswith("."):
                    with open(os.path.join(dirpath, hexdigest)) as f:
                        found[f"{os.path.relpath(dirpath, root)}@sha256:{hexdigest}"] = \
                            f.read().strip()
        return found

    def find_image(self, ref: str) -> Image | None:
        """The image a reference names, or None. ``name@sha256:<hex>`` matches a pulled
        image's repo digest, or else an image ID."""
        reference = parse_ref(ref)
        if reference.digest:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                with open(self._digest_path(reference.name, reference.digest)) as f:
                    return self._load(str(reference), f.read().strip())
            for stored, image_id in self._refs().items():
                if stored.rsplit(":", 1)[0] == reference.name and image_id == reference.digest:
                    return self._load(str(reference), image_id)
            return None
        try:
            with open(self._ref_path(reference)) as f:
                image_id = f.read().strip()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return self._load(str(reference), image_id)

    def repo_digest(self, image: Image) -> str | None:
        """``name@sha256:<manifest digest>`` of a pulled image (what a pod's status shows as
        its ``imageID``); None for an image built or imported here."""
        name = parse_ref(image.ref).name
        for digest, image_id in sorted(self._digests().items()):
            if digest.rsplit("@", 1)[0] == name and image_id == image.id:
                return digest
        return None

    def list_images(self) -> list[Image]:
        """Every tagged image, sorted by reference."""
        images = (self._load(ref, image_id) for ref, image_id in sorted(self._refs().items()))
        return [image for image in images if image is not None]

    # -- writing --------------------------------------------------------------------------
    def commit(self, reference: Reference, layers: list[PendingLayer],
               config: ImageConfig) -> Image:
        """Store a recipe's layers under an image config made from ``config``."""
        doc = oci_image_config(config, [p.diff_id for p in layers],
                               [p.created_by for p in layers])
        return self.commit_config(reference, layers,
                                  (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    def commit_config(self, reference: Reference, layers: list[PendingLayer],
                      data: bytes, repo_digest: str | None = None) -> Image:
        """Move pending layers into ``layers/``, write the config bytes, then point the ref
        (and a pulled image's repo digest) at them. A pending layer with no path is one the
        store already holds."""
        if reference.digest and reference.digest != repo_digest:
            raise ImageError(f"failed to tag image {reference}: cannot store a digest "
                             "reference, use name:tag")
        hexdigest = hashlib.sha256(data).hexdigest()
        ref_path = self._ref_path(reference)
        with self._lock("store"):
            for pending in layers:
                target = self._path("layers", pending.diff_id.removeprefix("sha256:"))
                if os.path.isdir(target):
                    if pending.path:
                        rm_rf(pending.path)  # same content already stored
                elif not pending.path:
                    raise ImageError(f"failed to store image {reference}: layer "
                                     f"{pending.diff_id} was removed meanwhile; try again")
                else:
                    explain.record(["mv", pending.path, target])
                    os.chmod(pending.path, os.stat(pending.path).st_mode | 0o555)
                    os.rename(pending.path, target)
            _write_atomic(self._path("configs", hexdigest + ".json"), data)
            if repo_digest:
                digest_path = self._digest_path(reference.name, repo_digest)
                os.makedirs(os.path.dirname(digest_path), exist_ok=True)
                _write_atomic(digest_path, f"sha256:{hexdigest}\n".encode())
            write_tag = not reference.digest  # pulled by digest: no tag to write
            if write_tag and os.path.isdir(ref_path):
                raise ImageError(f"failed to tag image {reference}: {ref_path} is a directory "
                                 "(a longer image name uses it)")
            if write_tag:
                os.makedirs(os.path.dirname(ref_path), exist_ok=True)
                explain.record(f"echo sha256:{hexdigest} > {ref_path}")
                _write_atomic(ref_path, f"sha256:{hexdigest}\n".encode())
        log.info("Stored image ref=%s id=sha256:%s layers=%d", reference, hexdigest[:12],
                 len(layers))
        image = self._load(str(reference), hexdigest)
        if image is None:
            raise ImageError(f"failed to store image {reference}: its config does not name "
                             "its layers")
        return image

    def can_pull(self, reference: Reference) -> bool:
        """Would :meth:`ensure_image` try a registry for this reference?"""
        return self.registries if reference.domain else self.docker_hub

    def pulls_from_registry(self, ref: str) -> bool:
        """Does this reference come from a registry this store may pull from (not a
        built-in recipe, not pinned by digest)? Only those can be pulled *again*."""
        reference = parse_ref(ref)
        return (reference.digest is None and builders.recipe_for(reference.name) is None
                and self.can_pull(reference))

    def refresh_image(self, ref: str, progress: Progress | None = None,
                      credentials: registry.Credentials | None = None) -> Image:
        """``imagePullPolicy: Always``: ask the registry what the tag names now; pull it if
        that is not the image stored (the manifest's digest tells), else keep ours."""
        reference = parse_ref(ref)
        report = progress or (lambda line: log.info("Image pull progress: %s", line))
        found = self.find_image(str(reference))
        if found is None or not self.pulls_from_registry(str(reference)):
            return self.ensure_image(ref, progress, credentials)
        if self.repo_digest(found) is None:
            return found  # imported here: there is no registry to ask about it
        try:
            _, digest = registry.resolve(
                registry.Registry.for_reference(reference, credentials), reference)
        except ImageError as e:
            raise ImageError(f"failed to pull image {reference}: {e}") from e
        if self.repo_digest(found) == f"{reference.name}@{digest}":
            report(f"{reference} is up to date ({digest})")
            return found
        with self._lock("build-" + str(reference)):
            return self._pull(reference, report, credentials)

    def ensure_image(self, ref: str, progress: Progress | None = None,
                     credentials: registry.Credentials | None = None) -> Image:
        """Return the image: stored, else built with a built-in recipe, else pulled.

        Steps: 1. look it up; 2. take the reference's build lock and look again (another
        caller may have made it meanwhile); 3. pick a recipe, or pull from the registry the
        reference names (``registry.pull``, then commit), or raise ImageNotFound; 4. run the
        recipe in a work directory under tmp/; 5. commit layers, config and ref.
        """
        report = progress or (lambda line: log.info("Image build progress: %s", line))
        reference = parse_ref(ref)
        # Step 1: already here?
        if (image := self.find_image(str(reference))) is not None:
            return image
        # Step 2: one builder per reference.
        with self._lock("build-" + str(reference)):
            if (image := self.find_image(str(reference))) is not None:
                return image
            # Step 3: a recipe, a registry, or the error a kubelet shows as ErrImagePull.
            recipe = None if reference.digest else builders.recipe_for(reference.name)
            if recipe is None and self.can_pull(reference):
                return self._pull(reference, report, credentials)
            if recipe is None:
                raise ImageNotFound(builders.not_found_message(
                    str(reference), pulls_off="docker_hub" if not reference.domain
                    and self.registries else "all"))
            # Step 4: build in tmp/ (removed even on failure).
            with self.workdir("build") as work:
                try:
                    layers, config = recipe(work, report)
                except (ImageError, OSError, ValueError, subprocess.SubprocessError) as e:
                    raise ImageError(f"failed to build image {reference}: {e}") from e
                # Step 5: commit.
                return self.commit(reference, layers, config)

    def _pull(self, reference: Reference, report: Progress,
              credentials: registry.Credentials | None = None) -> Image:
        """Pull from the registry into a work directory, then commit (caller holds the
        reference's lock)."""
        def have_layer(diff_id: str) -> bool:
            return os.path.isdir(self._path("layers", diff_id.removeprefix("sha256:")))

        with self.workdir("pull") as work:
            try:
                config, layers, digest = registry.pull(reference, work, have_layer, report,
                                                       credentials)
                return self.commit_config(reference, layers, config, repo_digest=digest)
            except ImageError as e:
                raise type(e)(f"failed to pull image {reference}: {e}") from e
            except OSError as e:
                raise ImageError(f"failed to pull image {reference}: {e}") from e

    def push(self, ref: str, destination: str, progress: Progress | None = None,
             credentials: registry.Credentials | None = None) -> str:
        """Push a stored (or built-in) image to the registry ``destination`` names; its
        manifest digest."""
        report = progress or (lambda line: log.info("Image push progress: %s", line))
        image = self.find_image(ref)
        if image is None and parse_ref(ref).tag and builders.recipe_for(parse_ref(ref).name):
            image = self.ensure_image(ref, report)  # a built-in image not built yet
        if image is None:
            raise ImageNotFound(f"failed to push image {ref}: not in the local store")
        target = parse_ref(destination)
        if target.digest:
            raise ImageError(f"failed to push image {target}: push to a tag, not a digest")
        with open(self._path("configs", image.id.removeprefix("sha256:") + ".json"),
                  "rb") as f:
            config = f.read()
        with self.workdir("push") as work:
            try:
                digest, _ = push_image(config, image.layers, target, work, report,
                                       credentials)
            except ImageError as e:
                raise ImageError(f"failed to push image {target}: {e}") from e
        log.info("Pushed image ref=%s to=%s digest=%s", image.ref, target, digest)
        return digest

    def import_rootfs(self, ref: str, source: str, config: ImageConfig | None = None) -> Image:
        """Store a root filesystem (a directory, or a tar / tar.gz / tar.xz) as a one-layer image.

        Replaces whatever the reference pointed at before (like ``docker import``).
        """
        reference = parse_ref(ref)
        if not os.path.exists(source):
            raise ImageError(f"failed to import image {reference}: {source} does not exist")
        with self.workdir("import") as work:
            layer = os.path.join(work, "layer")
            os.mkdir(layer)
            if os.path.isdir(source):
                cp_archive(source, layer)
                diff_id = digest_of_dir(layer)
                created_by = explain.shell_join(["cp", "-a", source + "/.", "/"])
            else:
                diff_id = sha256_of_stream(source)
                tar_extract(source, layer)
                created_by = explain.shell_join(["tar", "-xf", source, "-C", "/"])
            pending = PendingLayer(diff_id, layer, created_by)
            return self.commit(reference, [pending], config or ImageConfig())

    def delete_image(self, ref: str) -> None:
        """Remove the reference; configs and layers no other reference uses go too.

        ``name@sha256:<hex>`` removes that repo digest, or every tag of the name holding that
        image ID; removing a tag also drops the repo digests of that name and image.
        """
        reference = parse_ref(ref)
        with self._lock("store"):
            tags = self._refs()
            if reference.digest:
                found = self.find_image(str(reference))
                image_ids = {found.id} if found else set()
            else:
                image_ids = {tags[str(reference)]} if str(reference) in tags else set()
            doomed = [self._ref_path(parse_ref(r)) for r, image_id in tags.items()
                      if r.rsplit(":", 1)[0] == reference.name and image_id in image_ids
                      and (reference.digest or r == str(reference))]
            # Repo digests of that name go with the last tag of the name holding the image.
            kept = {image_id for r, image_id in tags.items() if r.rsplit(":", 1)[0]
                    == reference.name and self._ref_path(parse_ref(r)) not in doomed}
            doomed += [self._digest_path(reference.name, d.rsplit("@", 1)[1])
                       for d, image_id in self._digests().items()
                       if d.rsplit("@", 1)[0] == reference.name and image_id in image_ids
                       and (image_id not in kept or d == str(reference))]
            for path in doomed:
                explain.record(["rm", "-f", path])
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            if doomed:
                self._remove_unused()

    def _remove_unused(self) -> None:
        """Garbage-collect configs and layers no reference reaches (caller holds store.lock)."""
        live_configs: set[str] = set()
        live_layers: set[str] = set()
        for image_id in [*self._refs().values(), *self._digests().values()]:
            hexdigest = image_id.removeprefix("sha256:")
            live_configs.add(hexdigest + ".json")
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                with open(self._path("configs", hexdigest + ".json")) as f:
                    diff_ids = json.load(f)["rootfs"]["diff_ids"]
                live_layers.update(d.removeprefix("sha256:") for d in diff_ids)
        for name in set(os.listdir(self._path("configs"))) - live_configs:
            explain.record(["rm", "-f", self._path("configs", name)])
            os.unlink(self._path("configs", name))
        for name in set(os.listdir(self._path("layers"))) - live_layers:
            # Rename first, so nobody sees a half-deleted layer.
            trash = tempfile.mkdtemp(prefix="delete-", dir=self._path("tmp"))
            explain.record(["mv", self._path("layers", name), trash])
            os.rename(self._path("layers", name), os.path.join(trash, name))
            rm_rf(trash)
