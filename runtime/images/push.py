"""Pushing an image from the store to a registry: what ``docker push`` does.

The conversation runs the pull's backwards: for each layer, ``HEAD`` its blob (skip what the
registry has), else ``POST /v2/<name>/blobs/uploads/`` for an upload URL and ``PUT
<url>?digest=sha256:...`` with the bytes; then the config the same way; last ``PUT
/v2/<name>/manifests/<tag>`` with a manifest naming them all (``runtime/images/registry.py``
holds the HTTP side). Each layer directory is written out as a tar (overlayfs whiteouts
turned back into ``.wh.`` entries) and gzipped, hashing both on the way.
"""

from __future__ import annotations

import gzip
import json
import os

import explain
from runtime.images.layers import HashingWriter, write_layer_tar
from runtime.images.refs import Reference
from runtime.images.registry import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Credentials,
    Progress,
    Registry,
    sha256,
)


def push(config_bytes: bytes, layer_dirs: list[str], destination: Reference, work: str,
         report: Progress, credentials: Credentials | None = None) -> tuple[str, bytes]:
    """Push an image from the store: ``(manifest digest, config bytes as pushed)``.

    Each layer directory is written as a gzipped tar; where its tar's sha256 differs from the
    stored diff_id (a layer unpacked from someone else's tar), the pushed config carries the
    new one, so the pushed image ID can differ from the local one.
    """
    registry = Registry.for_reference(destination, credentials)
    config = json.loads(config_bytes)
    descriptors, diff_ids = [], []
    for i, layer_dir in enumerate(layer_dirs, 1):
        tar_path = os.path.join(work, f"layer{i}.tar.gz")
        explain.record(f"tar --sort=name --numeric-owner -C {layer_dir} -c . | gzip -n "
                       f"> {tar_path}")
        with open(tar_path, "wb") as raw:
            compressed = HashingWriter(raw)
            with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
                uncompressed = HashingWriter(gz)
                write_layer_tar(layer_dir, uncompressed)
        diff_ids.append(uncompressed.digest)
        digest = compressed.digest
        size = os.path.getsize(tar_path)
        report(f"layer {i}/{len(layer_dirs)} {digest[:19]} ({size} bytes)")
        registry.put_blob(tar_path, digest)
        descriptors.append({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": size})
    if diff_ids != config["rootfs"]["diff_ids"]:
        config["rootfs"]["diff_ids"] = diff_ids
        config_bytes = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    config_path, config_digest = os.path.join(work, "config.json"), sha256(config_bytes)
    with open(config_path, "wb") as f:
        f.write(config_bytes)
    registry.put_blob(config_path, config_digest)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest,
                           "size": len(config_bytes)},
                "layers": descriptors}
    body = json.dumps(manifest, indent=2).encode()
    tag = destination.tag or "latest"
    registry.put_manifest(tag, OCI_MANIFEST, body)
    report(f"manifest {sha256(body)} to {registry.where}:{tag}")
    return sha256(body), config_bytes
