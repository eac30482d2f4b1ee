"""Pushes and pulls through a real registry (Docker's distribution) on 127.0.0.1.

What a learner checks by hand: an image pushed with ``minikube-py image push`` comes back by
``image pull`` with the same files and the registry's image ID; a pod whose image names the
registry runs; a later layer's whiteouts hide what lower layers hold; an index serves the
image for this machine's architecture; a corrupted blob, an unknown tag or a registry that
is not there are refused with a message saying which, and leave nothing in the store.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.images import ImageError, ImageNotFound, ImageStore, parse_ref
from runtime.images import registry as reg
from runtime.images.layers import write_layer_tar
from runtime.images.model import host_architecture
from tests.node.nodeharness import TestNode, busybox_pod
from tests.registry import RunningRegistry, htpasswd_auth, run_registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry(tmp_path) -> Iterator[RunningRegistry]:
    with run_registry(str(tmp_path / "registry")) as running:
        yield running


@pytest.fixture
def busybox_store(tmp_path) -> ImageStore:
    store = ImageStore(str(tmp_path / "local"))
    store.ensure_image("busybox")
    return store


def files_of(root: str) -> dict[str, bytes | str]:
    """Every path under ``root`` -> its bytes (files) or link target (symlinks)."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    found[rel] = f.read()
    return found


def test_a_pushed_image_pulls_back_with_the_same_files_and_the_registrys_id(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore):
    ref = f"{registry.host}/lab/busybox:1"
    digest = busybox_store.push("busybox", ref)
    assert digest.startswith("sha256:")

    puller = ImageStore(str(tmp_path / "other"), registries=True)
    lines: list[str] = []
    image = puller.ensure_image(ref, progress=lines.append)
    original = busybox_store.find_image("busybox")
    assert original is not None
    assert [files_of(p) for p in image.layers] == [files_of(p) for p in original.layers]
    assert image.config == original.config
    # The image ID is the digest of the config the registry holds, as containerd shows it.
    _, manifest_bytes, manifest_digest = reg.Registry(registry.url, "lab/busybox") \
        .get_manifest("1")
    assert manifest_digest == digest
    assert image.id == json.loads(manifest_bytes)["config"]["digest"]
    assert any("manifest" in line for line in lines)
    # A second pull finds it stored; a pull by digest names the same image.
    assert puller.ensure_image(ref).id == image.id
    assert ImageStore(str(tmp_path / "third"), registries=True).ensure_image(
        f"{registry.host}/lab/busybox@{digest}").id == image.id


def test_a_pod_whose_image_names_the_registry_runs(
        node: TestNode, registry: RunningRegistry, busybox_store: ImageStore):
    ref = f"{registry.host}/lab/hello:v1"
    busybox_store.push("busybox", ref)
    pod = busybox_pod("pulled", "echo pulled-and-running; exec sleep 1000",
                      container={"image": ref})
    node.run_pod(pod)
    node.wait_for("pulled", lambda p: p["status"].get("phase") == "Running")
    assert node.exec("pulled", "echo", "inside").stdout == "inside\n"
    assert node.cli("node", "logs", "pulled").stdout == "pulled-and-running\n"
    listed = node.cli("image", "ls").stdout
    assert f"{registry.host}/lab/hello:v1" in listed


# -- a hand-made image: whiteouts and an index ------------------------------------------
def tar_blob(entries: list[tuple[str, bytes | None]]) -> tuple[bytes, str]:
    """A gzipped layer tar of (name, content; None = directory), and its diff_id."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0), "sha256:" + hashlib.sha256(data).hexdigest()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_raw_image(tmp_path, registry: RunningRegistry, repository: str, tag: str,
                   base: ImageStore, extra_layers: list[bytes], extra_diff_ids: list[str],
                   architecture: str | None = None,
                   edit_config: Any = None) -> dict[str, Any]:
    """Push busybox plus hand-made layers as one image; its manifest descriptor."""
    client = reg.Registry(registry.url, repository)
    image = base.find_image("busybox")
    assert image is not None
    layers, diff_ids = [], []
    for i, layer_dir in enumerate(image.layers + [None] * len(extra_layers)):
        if layer_dir is None:
            blob = extra_layers[i - len(image.layers)]
            diff_ids.append(extra_diff_ids[i - len(image.layers)])
        else:
            out = io.BytesIO()
            write_layer_tar(layer_dir, out)
            diff_ids.append(sha(out.getvalue()))
            blob = gzip.compress(out.getvalue(), mtime=0)
        path = str(tmp_path / f"blob-{sha(blob)[7:19]}")
        with open(path, "wb") as f:
            f.write(blob)
        client.put_blob(path, sha(blob))
        layers.append({"mediaType": reg.OCI_LAYER_GZIP, "digest": sha(blob),
                       "size": len(blob)})
    doc = {"architecture": architecture or host_architecture(), "os": "linux",
           "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if edit_config:
        edit_config(doc)
    config = json.dumps(doc).encode()
    path = str(tmp_path / "config.json")
    with open(path, "wb") as f:
        f.write(config)
    client.put_blob(path, sha(config))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": reg.OCI_MANIFEST,
                           "config": {"mediaType": reg.OCI_CONFIG, "digest": sha(config),
                                      "size": len(config)},
                           "layers": layers}).encode()
    client.put_manifest(tag, reg.OCI_MANIFEST, manifest)
    return {"mediaType": reg.OCI_MANIFEST, "digest": sha(manifest), "size": len(manifest)}


def test_whiteouts_of_a_later_layer_hide_what_lower_layers_hold(
        tmp_path, node: TestNode, registry: RunningRegistry, busybox_store: ImageStore):
    lower, lower_id = tar_blob([("etc/keep", b"kept\n"), ("etc/gone", b"deleted above\n"),
                                ("opt", None), ("opt/old", None), ("opt/old/a", b"a\n")])
    upper, upper_id = tar_blob([("etc/.wh.gone", b""), ("opt/old/.wh..wh..opq", b""),
                                ("opt/old/b", b"b\n")])
    push_raw_image(tmp_path, registry, "lab/layers", "1", busybox_store,
                   [lower, upper], [lower_id, upper_id])
    ref = f"{registry.host}/lab/layers:1"
    pod = busybox_pod("layers", "exec sleep 1000", container={"image": ref})
    node.run_pod(pod)
    node.wait_for("layers", lambda p: p["status"].get("phase") == "Running")
    assert node.exec("layers", "cat", "/etc/keep").stdout == "kept\n"
    assert node.exec("layers", "ls", "/opt/old").stdout == "b\n"
    gone = node.exec("layers", "cat", "/etc/gone", check=False)
    assert gone.returncode != 0 and "No such file" in gone.stderr

    # In the store the upper layer holds overlayfs's marks; a push writes them back as
    # whiteout entries, the same bytes as the layer that was pulled.
    store = ImageStore(node.first[node.first.index("--image-store") + 1])
    image = store.find_image(ref)
    assert image is not None
    out = io.BytesIO()
    write_layer_tar(image.layers[-1], out)
    assert "./etc/.wh.gone" in tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames()
    assert "./opt/old/.wh..wh..opq" in tarfile.open(
        fileobj=io.BytesIO(out.getvalue())).getnames()


def test_an_index_serves_this_machines_platform_or_says_what_it_offers(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore):
    ours = push_raw_image(tmp_path, registry, "lab/multi", "ours", busybox_store, [], [])
    other_arch = "s390x" if host_architecture() != "s390x" else "riscv64"
    theirs = push_raw_image(tmp_path, registry, "lab/multi", "theirs", busybox_store, [], [],
                            architecture=other_arch)
    client = reg.Registry(registry.url, "lab/multi")

    def put_index(tag: str, entries: list[tuple[dict[str, Any], str]]) -> None:
        index = {"schemaVersion": 2, "mediaType": reg.OCI_INDEX, "manifests": [
            {**desc, "platform": {"os": "linux", "architecture": arch}}
            for desc, arch in entries]}
        client.put_manifest(tag, reg.OCI_INDEX, json.dumps(index).encode())

    put_index("both", [(theirs, other_arch), (ours, host_architecture())])
    put_index("foreign", [(theirs, other_arch)])
    store = ImageStore(str(tmp_path / "store"), registries=True)
    image = store.ensure_image(f"{registry.host}/lab/multi:both")
    with open(os.path.join(store.root, "configs", image.id[7:] + ".json")) as f:
        assert json.load(f)["architecture"] == host_architecture()
    # The repo digest is the index's (what was asked for), and a pull by it works too.
    _, _, index_digest = client.get_manifest("both")
    assert store.repo_digest(image) == f"{registry.host}/lab/multi@{index_digest}"
    by_digest = ImageStore(str(tmp_path / "digest"), registries=True).ensure_image(
        f"{registry.host}/lab/multi@{index_digest}")
    assert by_digest.id == image.id
    with pytest.raises(ImageError) as refused:
        store.ensure_image(f"{registry.host}/lab/multi:foreign")
    assert f"no image for linux/{host_architecture()} (the index offers " \
           f"linux/{other_arch})" in str(refused.value)


# -- failures ---------------------------------------------------------------------------
def leftovers(store: ImageStore) -> list[str]:
    return sorted(os.listdir(os.path.join(store.root, "tmp")))


def test_pull_failures_say_what_failed_and_store_nothing(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore):
    store = ImageStore(str(tmp_path / "store"), registries=True)
    with pytest.raises(ImageNotFound) as unknown:
        store.ensure_image(f"{registry.host}/lab/nothing:1")
    assert str(unknown.value).startswith(f"failed to pull image {registry.host}/lab/nothing:1:")
    assert "404 Not Found" in str(unknown.value) and "unknown" in str(unknown.value)

    # A registry that is not there (nothing listens on the port any more).
    with run_registry(str(tmp_path / "gone")) as gone:
        host = gone.host
    with pytest.raises(ImageError) as refused:
        store.ensure_image(f"{host}/lab/busybox:1")
    assert "Connection refused" in str(refused.value)

    # A blob whose bytes no longer match its digest: refused before it is unpacked.
    ref = f"{registry.host}/lab/corrupt:1"
    busybox_store.push("busybox", ref)
    blobs = os.path.join(registry.data, "docker/registry/v2/blobs/sha256")
    biggest = max((os.path.join(d, "data") for d in _blob_dirs(blobs)), key=os.path.getsize)
    with open(biggest, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    with pytest.raises(ImageError) as corrupt:
        store.ensure_image(ref)
    assert "with digest sha256:" in str(corrupt.value) and "the manifest says" in \
        str(corrupt.value)
    assert store.list_images() == [] and leftovers(store) == []
    assert os.listdir(os.path.join(store.root, "layers")) == []


@pytest.mark.parametrize("edit", ["escape", "not-a-digest", "config-not-object"])
def test_an_image_config_that_could_name_host_paths_is_refused(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore, edit: str):
    def change(doc: dict[str, Any]) -> None:
        if edit == "escape":
            doc["rootfs"]["diff_ids"][0] = "sha256:../../../../etc"
        elif edit == "not-a-digest":
            doc["rootfs"]["diff_ids"][0] = "/etc"
        else:
            doc["config"] = ["sh"]
    push_raw_image(tmp_path, registry, "lab/hostile", edit, busybox_store, [], [],
                   edit_config=change)
    store = ImageStore(str(tmp_path / "store"), registries=True)
    with pytest.raises(ImageError) as refused:
        store.ensure_image(f"{registry.host}/lab/hostile:{edit}")
    assert "rootfs.diff_ids must be sha256 digests" in str(refused.value)
    assert store.list_images() == [] and leftovers(store) == []


def test_a_layer_whose_content_is_not_its_configs_diff_id_is_refused(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore):
    layer, _ = tar_blob([("etc/motd", b"hello\n")])
    _, other_id = tar_blob([("etc/motd", b"something else\n")])
    push_raw_image(tmp_path, registry, "lab/mismatch", "1", busybox_store, [layer], [other_id])
    store = ImageStore(str(tmp_path / "store"), registries=True)
    with pytest.raises(ImageError) as refused:
        store.ensure_image(f"{registry.host}/lab/mismatch:1")
    assert f"does not match diff_id {other_id}" in str(refused.value)
    assert store.list_images() == [] and leftovers(store) == []


def test_a_config_without_a_config_object_is_an_image_with_defaults(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore):
    push_raw_image(tmp_path, registry, "lab/bare", "1", busybox_store, [], [],
                   edit_config=lambda doc: doc.pop("config"))
    store = ImageStore(str(tmp_path / "store"), registries=True)
    image = store.ensure_image(f"{registry.host}/lab/bare:1")
    assert image.config.cmd == [] and [i.ref for i in store.list_images()] == [image.ref]


def test_removing_one_tag_keeps_the_repo_digest_another_tag_still_holds(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore):
    for tag in ("1", "latest"):
        busybox_store.push("busybox", f"{registry.host}/lab/tags:{tag}")
    store = ImageStore(str(tmp_path / "store"), registries=True)
    one = store.ensure_image(f"{registry.host}/lab/tags:1")
    latest = store.ensure_image(f"{registry.host}/lab/tags:latest")
    digest = store.repo_digest(latest)
    assert digest is not None and one.id == latest.id
    store.delete_image(f"{registry.host}/lab/tags:1")
    assert store.repo_digest(latest) == digest
    store.delete_image(f"{registry.host}/lab/tags:latest")
    assert store.list_images() == [] and store.find_image(digest) is None
    assert os.listdir(os.path.join(store.root, "layers")) == []


def _blob_dirs(root: str) -> list[str]:
    return [os.path.join(root, a, b) for a in os.listdir(root)
            for b in os.listdir(os.path.join(root, a))]


def test_docker_hub_names_are_not_pulled_unless_the_store_may(tmp_path):
    closed = ImageStore(str(tmp_path / "a"))
    with pytest.raises(ImageNotFound) as off:
        closed.ensure_image("127.0.0.1:1/lab/x:1")
    assert "does not pull from registries" in str(off.value)
    no_hub = ImageStore(str(tmp_path / "b"), registries=True)
    with pytest.raises(ImageNotFound) as hub:
        no_hub.ensure_image("redis:7")
    assert "pulls from Docker Hub are off" in str(hub.value)
    assert no_hub.can_pull(parse_ref("127.0.0.1:5000/x")) and not no_hub.can_pull(
        parse_ref("redis"))
    assert reg.registry_for(parse_ref("redis")) == (f"https://{reg.DOCKER_HUB}",
                                                    "library/redis")
    assert reg.registry_for(parse_ref("localhost:5000/a/b:1")) == ("http://localhost:5000",
                                                                   "a/b")
    assert reg.registry_for(parse_ref("registry.example/a")) == ("https://registry.example",
                                                                 "a")


# -- a registry that wants a token ------------------------------------------------------
class TokenServer:
    """The Docker token protocol's server side: ``GET /token?service=S&scope=...`` ->
    an ES256 JWT whose ``x5c`` header carries a certificate the registry trusts."""

    def __init__(self, tmp: str, users: dict[str, str] | None = None) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token issuer")])
        now = time.time()
        import datetime

        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(datetime.datetime.fromtimestamp(now - 60, datetime.timezone.utc))
                .not_valid_after(datetime.datetime.fromtimestamp(now + 3600, datetime.timezone.utc))
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.bundle = os.path.join(tmp, "token-ca.pem")
        os.makedirs(tmp, exist_ok=True)
        with open(self.bundle, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.scopes: list[str] = []
        self.users = users  # None: anyone, anonymously; else Basic credentials required
        self.users_seen: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server convention
                from urllib.parse import parse_qs, urlparse

                query = parse_qs(urlparse(self.path).query)
                scope = query.get("scope", [""])[0]
                if server.users is not None:
                    header = self.headers.get("Authorization", "")
                    user, _, password = base64.b64decode(
                        header.removeprefix("Basic ") or b"").decode().partition(":")
                    if server.users.get(user) != password or not user:
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    server.users_seen.append(user)
                server.scopes.append(scope)
                body = json.dumps({"token": server.token(scope)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        _, repository, actions = scope.split(":")
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": "test-issuer", "sub": "", "aud": "test-registry", "iat": now,
                  "nbf": now - 10, "exp": now + 300, "jti": os.urandom(8).hex(),
                  "access": [{"type": "repository", "name": repository,
                              "actions": actions.split(",")}]}
        signing_input = (b64(json.dumps(header).encode()) + "." +
                         b64(json.dumps(claims).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_registry_that_wants_a_bearer_token_gets_one_from_its_realm(
        tmp_path, busybox_store: ImageStore):
    tokens = TokenServer(str(tmp_path / "tokens"))
    auth = (f"auth:\n  token:\n    realm: {tokens.url}\n    service: test-registry\n"
            f"    issuer: test-issuer\n    rootcertbundle: {tokens.bundle}\n")
    try:
        with run_registry(str(tmp_path / "registry"), auth=auth) as registry:
            ref = f"{registry.host}/lab/guarded:1"
            busybox_store.push("busybox", ref)
            assert "repository:lab/guarded:pull,push" in tokens.scopes
            image = ImageStore(str(tmp_path / "store"), registries=True).ensure_image(ref)
            assert image.ref == ref
            assert tokens.scopes[-1] == "repository:lab/guarded:pull"
    finally:
        tokens.close()


# -- a registry that wants a user name and password ----------------------------------------
def test_a_registry_behind_basic_auth_needs_the_pull_secrets_credentials(
        tmp_path, busybox_store: ImageStore):
    auth = htpasswd_auth(str(tmp_path / "auth"), "lab", "s3cret")
    with run_registry(str(tmp_path / "registry"), auth=auth) as registry:
        ref = f"{registry.host}/lab/private:1"
        good = {registry.host: ("lab", "s3cret")}
        with pytest.raises(ImageError) as anonymous:
            busybox_store.push("busybox", ref)
        assert "401 Unauthorized" in str(anonymous.value)
        busybox_store.push("busybox", ref, credentials=good)

        store = ImageStore(str(tmp_path / "store"), registries=True)
        with pytest.raises(ImageNotFound) as refused:
            store.ensure_image(ref)
        assert "401 Unauthorized" in str(refused.value)
        with pytest.raises(ImageNotFound):
            store.ensure_image(ref, credentials={registry.host: ("lab", "wrong")})
        # The key may be written as docker login writes it, with a scheme.
        image = store.ensure_image(ref, credentials={f"http://{registry.host}/v2/":
                                                     ("lab", "s3cret")})
        assert image.ref == ref and leftovers(store) == []


def test_a_token_realm_gets_the_credentials_too(tmp_path, busybox_store: ImageStore):
    tokens = TokenServer(str(tmp_path / "tokens"), users={"lab": "s3cret"})
    auth = (f"auth:\n  token:\n    realm: {tokens.url}\n    service: test-registry\n"
            f"    issuer: test-issuer\n    rootcertbundle: {tokens.bundle}\n")
    try:
        with run_registry(str(tmp_path / "registry"), auth=auth) as registry:
            ref = f"{registry.host}/lab/guarded:1"
            with pytest.raises(ImageError) as anonymous:
                busybox_store.push("busybox", ref)
            assert "401" in str(anonymous.value)
            busybox_store.push("busybox", ref, credentials={registry.host: ("lab", "s3cret")})
            assert tokens.users_seen[-1] == "lab"
    finally:
        tokens.close()


# -- imagePullPolicy ----------------------------------------------------------------------
def push_version(tmp_path, registry: RunningRegistry, base: ImageStore, version: str) -> None:
    layer, diff_id = tar_blob([("etc/version", f"{version}\n".encode())])
    push_raw_image(tmp_path, registry, "lab/app", "1", base, [layer], [diff_id])


def test_always_asks_the_registry_and_pulls_only_a_changed_tag(
        tmp_path, registry: RunningRegistry, busybox_store: ImageStore):
    ref = f"{registry.host}/lab/app:1"
    push_version(tmp_path, registry, busybox_store, "one")
    store = ImageStore(str(tmp_path / "store"), registries=True)
    first = store.ensure_image(ref)
    lines: list[str] = []
    assert store.refresh_image(ref, progress=lines.append).id == first.id
    assert any("up to date" in line for line in lines)
    push_version(tmp_path, registry, busybox_store, "two")
    second = store.refresh_image(ref)
    assert second.id != first.id
    with open(os.path.join(second.layers[-1], "etc", "version")) as f:
        assert f.read() == "two\n"
    assert store.find_image(ref).id == second.id  # the tag moved
    assert store.pulls_from_registry(ref) and not store.pulls_from_registry("busybox")


def test_a_pod_follows_its_pull_policy(tmp_path, node: TestNode, registry: RunningRegistry,
                                       busybox_store: ImageStore):
    ref = f"{registry.host}/lab/app:1"
    push_version(tmp_path, registry, busybox_store, "one")
    pod = busybox_pod("always", "cat /etc/version; exec sleep 1000",
                      container={"image": ref, "imagePullPolicy": "Always"})
    node.run_pod(pod)
    assert node.exec("always", "cat", "/etc/version").stdout == "one\n"
    push_version(tmp_path, registry, busybox_store, "two")
    main = next(c for c in node.inspect("always")["containers"] if c["name"] == "main")
    os.kill(main["pid"], 9)  # the next instance is made from what the tag names now
    node.wait_for("always", lambda p: p["status"]["containerStatuses"][0]["restartCount"] >= 1
                  and p["status"]["containerStatuses"][0].get("ready"))
    assert node.exec("always", "cat", "/etc/version").stdout == "two\n"

    never = busybox_pod("never", "sleep 1000", container={
        "image": f"{registry.host}/lab/absent:1", "imagePullPolicy": "Never"})
    node.run_pod(never, wait=False)
    waiting = node.wait_for("never", lambda p: (p["status"].get("containerStatuses") or [{}])[0]
                            .get("state", {}).get("waiting", {}).get("reason")
                            == "ErrImageNeverPull")
    assert waiting["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == \
        f'Container image "{registry.host}/lab/absent:1" is not present with pull policy of Never'


def test_an_imported_image_is_not_asked_of_a_registry_even_under_always(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "motd").write_text("imported\n")
    store = ImageStore(str(tmp_path / "store"), registries=True)
    ref = "127.0.0.1:9/lab/imported:latest"  # nothing listens there: asking would fail
    imported = store.import_rootfs(ref, str(rootfs))
    assert store.pulls_from_registry(ref)
    assert store.refresh_image(ref).id == imported.id
