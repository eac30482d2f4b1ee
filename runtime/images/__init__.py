"""Container images, kept unpacked on local disk: the runtime's image service.

In Kubernetes the kubelet asks the container runtime (over CRI) to ``PullImage`` before it
creates a container, and then stacks the image's layers into the container's root
filesystem. This package is that image service for minikube-py:

* ``refs``     -- image references: ``nginx`` means ``nginx:latest`` from Docker Hub;
* ``model``    -- :class:`Image` and :class:`ImageConfig` (the OCI image config: Entrypoint,
  Cmd, Env, WorkingDir, User, ExposedPorts);
* ``layers``   -- unpacking layer tarballs safely, layer digests;
* ``store``    -- :class:`ImageStore`, the on-disk store (layout below);
* ``builders`` -- built-in recipes for ``busybox`` and ``nginx``;
* ``registry`` -- pulls over the OCI distribution API (every other image);
* ``push``     -- pushes, the same conversation backwards.

Layout of the store (default root ``/var/lib/minikube-py/images``), all readable with
``ls`` and ``cat``, and shaped like an OCI image so that registry pulls and multi-layer
images fit without changing it::

    layers/<hex>/               an unpacked layer; <hex> = sha256 of its uncompressed tar
    configs/<hex>.json          OCI image config; <hex> = image ID; its rootfs.diff_ids
                                name the layers, bottom first
    refs/<name>/<tag>           holds "sha256:<image ID>" (refs/busybox/latest,
                                refs/registry.example/x/y/v1)
    digests/<name>/<hex>        the same, for a pulled image's repo digest
    locks/, tmp/                flock files; builds in progress

A container's root is then an overlay mount over the layer directories::

    mount -t overlay overlay -o lowerdir=<layer N>:...:<layer 1>,upperdir=...,workdir=... root
"""

from __future__ import annotations

from runtime.images.model import DEFAULT_PATH, Image, ImageConfig
from runtime.images.refs import ImageError, ImageNotFound, Reference, normalize_ref, parse_ref
from runtime.images.store import DEFAULT_ROOT, ImageStore


def can_provide(ref: str) -> bool:
    """True if ``ensure_image(ref)`` could build the image from a built-in recipe.

    Raises ImageError for a reference that is not valid at all.
    """
    from runtime.images.builders import recipe_for

    parsed = parse_ref(ref)
    return parsed.digest is None and recipe_for(parsed.name) is not None

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_ROOT",
    "Image",
    "ImageConfig",
    "ImageError",
    "ImageNotFound",
    "ImageStore",
    "Reference",
    "can_provide",
    "normalize_ref",
    "parse_ref",
]
