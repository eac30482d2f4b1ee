"""Image pulls from a registry on 127.0.0.1: what the client costs over the raw download.

A real registry (``.venv/bin/docker-registry``, Docker's distribution) runs on a free
loopback port with its storage in a temporary directory. Two images are pushed to it:

1. ``busybox`` (one ~1 MB layer, ~400 entries): the time of a whole pull into an empty store
   (manifest, config, layer: download, digest checks, unpack, commit), median of 10;
2. a 64 MiB single-file layer (incompressible bytes): the pull's rate, against fetching the
   same blob with a plain HTTP GET and no checks (the baseline), median of 5 each.

No target: a pull is done once per image and node; the report shows where the time goes
(two sha256 passes and the unpack, against the bytes on the wire).

Run as root:  .venv/bin/python bench/image_pull.py
Everything lives under /tmp/minikube-py-bench-* and is removed at the end.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import summary  # noqa: E402
from runtime.images import ImageStore  # noqa: E402
from runtime.images import registry as reg  # noqa: E402
from runtime.images.model import host_architecture  # noqa: E402
from tests.registry import DIRECT, run_registry  # noqa: E402

BIG = 64 * 1024 * 1024


def push_big_image(work: str, client: reg.Registry) -> str:
    """A one-layer image holding BIG random bytes; the layer blob's digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = BIG
        tar.addfile(info, io.BytesIO(os.urandom(BIG)))
    blob = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    path = os.path.join(work, "big.tar.gz")
    with open(path, "wb") as f:
        f.write(blob)
    client.put_blob(path, digest)
    config = json.dumps({"architecture": host_architecture(), "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [
                             "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]}}).encode()
    config_path = os.path.join(work, "config.json")
    with open(config_path, "wb") as f:
        f.write(config)
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    client.put_blob(config_path, config_digest)
    manifest = {"schemaVersion": 2, "mediaType": reg.OCI_MANIFEST,
                "config": {"mediaType": reg.OCI_CONFIG, "digest": config_digest,
                           "size": len(config)},
                "layers": [{"mediaType": reg.OCI_LAYER_GZIP, "digest": digest,
                            "size": len(blob)}]}
    client.put_manifest("1", reg.OCI_MANIFEST, json.dumps(manifest).encode())
    return digest


def timed_pull(work: str, ref: str) -> float:
    store_dir = tempfile.mkdtemp(dir=work)
    start = time.monotonic()
    ImageStore(store_dir, registries=True).ensure_image(ref)
    elapsed = time.monotonic() - start
    shutil.rmtree(store_dir)
    return elapsed


def main() -> None:
    work = tempfile.mkdtemp(prefix="minikube-py-bench-")
    try:
        with run_registry(os.path.join(work, "registry")) as registry:
            local = ImageStore(os.path.join(work, "local"))
            local.push("busybox", f"{registry.host}/bench/busybox:1")
            small = [timed_pull(work, f"{registry.host}/bench/busybox:1") for _ in range(10)]
            print(f"busybox pull into an empty store: {summary(small)}")

            client = reg.Registry(registry.url, "bench/big")
            digest = push_big_image(work, client)
            pulls = [timed_pull(work, f"{registry.host}/bench/big:1") for _ in range(5)]
            raw = []
            for _ in range(5):
                start = time.monotonic()
                with DIRECT.open(f"{registry.url}/v2/bench/big/blobs/{digest}") as r:
                    while r.read(1 << 20):
                        pass
                raw.append(time.monotonic() - start)
            mb = BIG / 1e6
            print(f"64 MiB layer, whole pull:     {summary(pulls)}  "
                  f"({mb / statistics.median(pulls):.0f} MB/s)")
            print(f"64 MiB blob, plain GET:       {summary(raw)}  "
                  f"({mb / statistics.median(raw):.0f} MB/s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
