"""Registry pulls and pushes over the OCI distribution API, as ``docker pull``/``push`` do.

Kubernetes concept: before it creates a container the kubelet asks the runtime to *pull* the
image (CRI ``PullImage``); containerd then talks HTTP to the registry the reference names.
Every object in a registry is addressed by the sha256 of its bytes, so the client checks
each one it receives. The whole conversation, for ``127.0.0.1:5000/lab/busybox:1`` (try it
with curl against any registry)::

    GET /v2/                                -> 200, or 401 with
                                               WWW-Authenticate: Bearer realm=R,service=S
    GET R?service=S&scope=repository:lab/busybox:pull
                                            -> {"token": "..."}, sent as
                                               "Authorization: Bearer ..." from then on
    GET /v2/lab/busybox/manifests/1         Accept: the four manifest media types below
        an *index* (one manifest per platform): pick linux/<our arch>, GET it by digest
        a *manifest*: the config's and each layer's digest, size and media type
    GET /v2/lab/busybox/blobs/sha256:C      the image config; C is the image ID
    GET /v2/lab/busybox/blobs/sha256:L      a layer: a tar, usually gzipped; Docker Hub
                                            answers with a redirect to its CDN

A push runs the same conversation backwards: ``HEAD`` each blob (skip what is there),
``POST /v2/<name>/blobs/uploads/`` for an upload URL, ``PUT <url>?digest=sha256:...`` with
the bytes, and last ``PUT /v2/<name>/manifests/<tag>``.

Where an image comes from: a name with a registry host (``registry.example/x``,
``localhost:5000/x``) from that host; a Docker Hub name (``redis``, ``bitnami/redis``) from
``registry-1.docker.io``, under ``library/`` for official images. Like the Docker daemon,
we speak plain HTTP to a registry on ``localhost`` or a loopback address and HTTPS to every
other. A registry that wants a login gets the user name and password of an image pull
secret (``minikube_py/kubelet/pullsecrets.py``): sent to its token realm, or as HTTP Basic.

See for yourself::

    curl -s http://127.0.0.1:5000/v2/_catalog
    curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \\
        http://127.0.0.1:5000/v2/lab/busybox/manifests/1     # Docker-Content-Digest
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPResponse
from typing import Any

import explain
from runtime.images.layers import CHUNK, tar_extract
from runtime.images.model import PendingLayer, host_architecture
from runtime.images.refs import DIGEST_RE, ImageError, ImageNotFound, Reference

log = logging.getLogger(__name__)

DOCKER_HUB = "registry-1.docker.io"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
#: Layers we can unpack: plain or gzipped tars, in OCI's and Docker's spelling.
LAYER_TYPES = {OCI_LAYER_GZIP, "application/vnd.oci.image.layer.v1.tar",
               "application/vnd.docker.image.rootfs.diff.tar.gzip",
               "application/vnd.docker.image.rootfs.diff.tar"}
INDEX_TYPES = {OCI_INDEX, DOCKER_LIST}
MANIFEST_TYPES = {OCI_MANIFEST, DOCKER_MANIFEST}
TIMEOUT = 30.0
MAX_MANIFEST = 4 << 20  # the distribution registry's own limit for a manifest
Progress = Callable[[str], None]


class RegistryError(ImageError):
    """The registry refused, failed, or sent something that is not what it should be."""


@dataclass(frozen=True)
class Descriptor:
    """What a manifest says about one blob: its media type, digest and size."""

    media_type: str
    digest: str
    size: int

    @classmethod
    def parse(cls, data: Any, where: str) -> Descriptor:
        try:
            digest, size = data["digest"], int(data["size"])
            media_type = data.get("mediaType", "")
        except (TypeError, KeyError, ValueError) as e:
            raise RegistryError(f"{where}: not a descriptor ({e})") from e
        if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
            raise RegistryError(f"{where}: unsupported digest {digest!r} (want sha256)")
        return cls(media_type, digest, size)


#: registry host (as in a dockerconfigjson's ``auths``) -> (user name, password)
Credentials = dict[str, tuple[str, str]]
#: The names Docker Hub goes by in ``auths`` (``docker login`` writes the first).
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                   "registry-1.docker.io")


def auth_host(key: str) -> str:
    """``https://host:5000/v2/`` or ``host:5000`` -> ``host:5000`` (how kubelets match
    ``auths`` keys to an image's registry)."""
    key = key.strip()
    if "://" in key:
        key = urllib.parse.urlsplit(key).netloc
    return key.split("/", 1)[0]


def credentials_for(base: str, credentials: Credentials) -> tuple[str, str] | None:
    """The user name and password for the registry at ``base``, if a pull secret has them."""
    host = urllib.parse.urlsplit(base).netloc
    keys = DOCKER_HUB_KEYS if host == DOCKER_HUB else (host,)
    for key, pair in credentials.items():
        if auth_host(key) in {auth_host(k) for k in keys}:
            return pair
    return None


def registry_for(reference: Reference) -> tuple[str, str]:
    """``(base URL, repository)`` for a reference: where ``/v2/<repository>/...`` lives."""
    domain = reference.domain
    if domain is None:
        path = reference.name if "/" in reference.name else "library/" + reference.name
        return f"https://{DOCKER_HUB}", path
    scheme = "http" if is_local_registry(domain) else "https"
    return f"{scheme}://{domain}", reference.name[len(domain) + 1:]


def is_local_registry(domain: str) -> bool:
    """``localhost[:port]`` or a loopback address: plain HTTP, as the Docker daemon allows."""
    host = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """One repository in one registry, over HTTP(S): Bearer tokens from the registry's
    realm (anonymous, or for the pull secret's user), or HTTP Basic."""

    def __init__(self, base: str, repository: str, timeout: float = TIMEOUT,
                 credentials: tuple[str, str] | None = None) -> None:
        self.base = base.rstrip("/")
        self.repository = repository
        self.timeout = timeout
        #: (user name, password) from an image pull secret; None = anonymous
        self.credentials = credentials
        self._token: str | None = None
        self._basic = False  # the registry asked for Basic authentication
        host = urllib.parse.urlsplit(self.base).netloc
        # A registry on this machine is reached directly, never through an http_proxy.
        self._opener = (urllib.request.build_opener(urllib.request.ProxyHandler({}))
                        if is_local_registry(host) else urllib.request.build_opener())

    @classmethod
    def for_reference(cls, reference: Reference,
                      credentials: Credentials | None = None) -> Registry:
        base, repository = registry_for(reference)
        return cls(base, repository, credentials=credentials_for(base, credentials or {}))

    def _basic_header(self) -> str:
        assert self.credentials is not None
        pair = f"{self.credentials[0]}:{self.credentials[1]}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    @property
    def where(self) -> str:
        return f"{self.base}/v2/{self.repository}"

    # -- HTTP ---------------------------------------------------------------------------
    def request(self, method: str, url: str, *, data: bytes | Any = None,
                headers: dict[str, str] | None = None, scope: str = "pull") -> HTTPResponse:
        """Send one request; on a challenge (401) answer it once and send it again: a Bearer
        challenge with a token from its realm, a Basic one with the pull secret's user name
        and password.

        Credentials go in an *unredirected* header: a blob's redirect to a CDN must not
        carry them (the CDN's signed URL refuses a second credential, and they are not theirs).
        """
        if not url.startswith(("http://", "https://")):
            url = self.base + url
        for attempt in (1, 2):
            if attempt == 2 and hasattr(data, "seek"):
                data.seek(0)  # a file body the first try already read
            request = urllib.request.Request(url, data=data, method=method,
                                             headers=headers or {})
            if self._token:
                request.add_unredirected_header("Authorization", f"Bearer {self._token}")
            elif self._basic and self.credentials:
                request.add_unredirected_header("Authorization", self._basic_header())
            try:
                return self._opener.open(request, timeout=self.timeout)  # type: ignore[no-any-return]
            except urllib.error.HTTPError as e:
                if e.code == 401 and attempt == 1 and self._answer_challenge(
                        e.headers.get("WWW-Authenticate", ""), scope):
                    e.close()
                    continue
                raise RegistryError(self._describe(method, url, e)) from e
            except (OSError, ValueError, http.client.HTTPException) as e:  # refused, DNS,
                raise RegistryError(f"{method} {url}: {e}") from e        # TLS, timeout
        raise AssertionError("unreachable")

    def _answer_challenge(self, challenge: str, scope: str) -> bool:
        """Get ready to answer a 401's challenge; False if there is nothing to answer with."""
        kind = challenge.split(" ", 1)[0].lower()
        if kind == "bearer":
            self._token = self._fetch_token(challenge, scope)
            return True
        if kind == "basic" and self.credentials and not self._basic:
            self._basic = True
            return True
        return False

    def _fetch_token(self, challenge: str, scope: str) -> str:
        """Ask the challenge's realm for a token (the Docker token protocol): anonymous, or
        for the credentials' user."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.get("realm", "")
        scheme = urllib.parse.urlsplit(realm).scheme
        local = is_local_registry(urllib.parse.urlsplit(self.base).netloc)
        if scheme != "https" and not (scheme == "http" and local):
            raise RegistryError(f"{self.where}: the Bearer challenge's realm {realm!r} is not "
                                "an https:// URL (http:// only for a registry on this machine)")
        query = {"scope": f"repository:{self.repository}:{scope}"}
        if "service" in params:
            query["service"] = params["service"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        explain.record(["curl", "-s", *(["-u", f"{self.credentials[0]}:..."]
                                         if self.credentials else []), url])
        request = urllib.request.Request(url)
        if self.credentials:  # the token server decides what this user may pull
            request.add_unredirected_header("Authorization", self._basic_header())
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as e:
            raise RegistryError(self._describe("GET", url, e)) from e
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise RegistryError(f"GET {url}: {e}") from e
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"GET {url}: the answer holds no token")
        return token

    @staticmethod
    def _describe(method: str, url: str, error: urllib.error.HTTPError) -> str:
        """``GET URL: 404 Not Found (MANIFEST_UNKNOWN: manifest unknown)``."""
        detail = ""
        try:
            errors = json.loads(error.read(65536) or b"{}").get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError, OSError):
            pass
        finally:
            error.close()
        return f"{method} {url}: {error.code} {error.reason}" + (f" ({detail})" if detail
                                                               else "")

    # -- pulling ------------------------------------------------------------------------
    def get_manifest(self, ref: str) -> tuple[str, bytes, str]:
        """``(media type, bytes, digest)`` of the manifest or index a tag or digest names."""
        url = f"/v2/{self.repository}/manifests/{ref}"
        accept = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
        explain.record(["curl", "-s", "-H", f"Accept: {accept}", self.base + url])
        with self.request("GET", url, headers={"Accept": accept}) as answer:
            try:
                body = answer.read(MAX_MANIFEST + 1)
            except (OSError, http.client.HTTPException) as e:
                raise RegistryError(f"GET {self.base}{url}: {e}") from e
            media_type = answer.headers.get_content_type()
        if len(body) > MAX_MANIFEST:
            raise RegistryError(f"{self.where}/manifests/{ref}: larger than "
                                f"{MAX_MANIFEST} bytes, refused")
        digest = sha256(body)
        if ref.startswith("sha256:") and digest != ref:
            raise RegistryError(f"{self.where}/manifests/{ref}: the content's digest is "
                                f"{digest}")
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise RegistryError(f"{self.where}/manifests/{ref}: not JSON ({e})") from e
        if not isinstance(doc, dict):
            raise RegistryError(f"{self.where}/manifests/{ref}: not a JSON object")
        media_type = doc.get("mediaType") or media_type
        return media_type, body, digest

    def get_blob(self, descriptor: Descriptor, path: str) -> None:
        """Download a blob to ``path``, checking its size and digest on the way."""
        url = f"/v2/{self.repository}/blobs/{descriptor.digest}"
        explain.record(["curl", "-sL", "-o", path, self.base + url])
        h, size = hashlib.sha256(), 0
        with self.request("GET", url) as answer, open(path, "wb") as out:
            try:
                while chunk := answer.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    if size > descriptor.size:
                        break
                    out.write(chunk)
            except (OSError, http.client.HTTPException) as e:  # the connection dropped
                raise RegistryError(f"GET {self.base}{url}: {e}") from e
        got = "sha256:" + h.hexdigest()
        if size != descriptor.size or got != descriptor.digest:
            raise RegistryError(f"{self.where}/blobs/{descriptor.digest}: got {size} bytes "
                                f"with digest {got}, the manifest says {descriptor.size}")

    # -- pushing ------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        try:
            with self.request("HEAD", f"/v2/{self.repository}/blobs/{digest}",
                              scope="pull,push"):
                return True
        except RegistryError as e:
            if isinstance(e.__cause__, urllib.error.HTTPError) and e.__cause__.code == 404:
                return False
            raise

    def put_blob(self, path: str, digest: str) -> None:
        """Upload a blob in one piece (a *monolithic* upload): POST, then PUT the bytes."""
        if self.has_blob(digest):
            return
        explain.record(["curl", "-s", "-X", "POST", f"{self.where}/blobs/uploads/"])
        with self.request("POST", f"/v2/{self.repository}/blobs/uploads/", data=b"",
                          scope="pull,push") as answer:
            location = answer.headers.get("Location")
        if not location:
            raise RegistryError(f"POST {self.where}/blobs/uploads/: no upload Location")
        url = urllib.parse.urljoin(self.base + "/", location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        explain.record(["curl", "-s", "-X", "PUT", "--data-binary", f"@{path}", url])
        with open(path, "rb") as f:
            headers = {"Content-Type": "application/octet-stream",
                       "Content-Length": str(os.fstat(f.fileno()).st_size)}
            self.request("PUT", url, data=f, headers=headers, scope="pull,push").close()

    def put_manifest(self, tag: str, media_type: str, body: bytes) -> None:
        url = f"/v2/{self.repository}/manifests/{tag}"
        explain.record(["curl", "-s", "-X", "PUT", "-H", f"Content-Type: {media_type}",
                        "--data-binary", "@manifest.json", self.base + url])
        self.request("PUT", url, data=body, headers={"Content-Type": media_type},
                     scope="pull,push").close()


# -- an image from a registry -----------------------------------------------------------------
#: The usual ``variant`` of an architecture, preferred when an index offers several.
_VARIANTS = {"arm64": "v8", "arm": "v7"}


def _platform_manifest(registry: Registry, index: dict[str, Any], ref: str) -> str:
    """The digest of the index's manifest for linux on this machine's architecture."""
    arch = host_architecture()
    offered, matches = [], []
    for item in index.get("manifests") or []:
        platform = (item.get("platform") if isinstance(item, dict) else None) or {}
        offered.append(f"{platform.get('os')}/{platform.get('architecture')}")
        if (platform.get("os") == "linux" and platform.get("architecture") == arch
                and item.get("mediaType", OCI_MANIFEST) in MANIFEST_TYPES):
            matches.append(item)
    if not matches:
        raise RegistryError(f"{registry.where}/manifests/{ref}: no image for linux/{arch} "
                            f"(the index offers {', '.join(offered) or 'nothing'})")
    best = next((m for m in matches if m["platform"].get("variant") == _VARIANTS.get(arch)),
                matches[0])
    return Descriptor.parse(best, f"{registry.where}/manifests/{ref}").digest


def resolve(registry: Registry, reference: Reference) -> tuple[dict[str, Any], str]:
    """This machine's image manifest, and the *repo digest*: the digest of what the
    reference names (the index, for a multi-platform image), as containerd records it."""
    ref = reference.digest or reference.tag or "latest"
    media_type, body, repo_digest = registry.get_manifest(ref)
    if media_type in INDEX_TYPES:
        media_type, body, _ = registry.get_manifest(
            _platform_manifest(registry, json.loads(body), ref))
    if media_type not in MANIFEST_TYPES:
        raise RegistryError(f"{registry.where}/manifests/{ref}: unsupported manifest type "
                            f"{media_type!r} (want {OCI_MANIFEST} or {DOCKER_MANIFEST})")
    return json.loads(body), repo_digest


def _diff_ids(config_bytes: bytes, where: str) -> list[str]:
    """The config's ``rootfs.diff_ids``, each a well-formed sha256 digest (they become
    directory names in the store), and a ``config`` object if any."""
    try:
        doc = json.loads(config_bytes)
        diff_ids = doc["rootfs"]["diff_ids"]
        ok = (isinstance(diff_ids, list) and isinstance(doc.get("config") or {}, dict)
              and all(isinstance(d, str) and DIGEST_RE.fullmatch(d) for d in diff_ids))
    except (ValueError, KeyError, TypeError) as e:
        raise RegistryError(f"{where}: no rootfs.diff_ids ({e})") from e
    if not ok:
        raise RegistryError(f"{where}: rootfs.diff_ids must be sha256 digests and config an "
                            "object")
    return list(diff_ids)


def _fetch_config(registry: Registry, manifest: dict[str, Any], work: str) -> bytes:
    """The image config the manifest names (its digest checked on the way)."""
    descriptor = Descriptor.parse(manifest.get("config"), f"{registry.where} config")
    path = os.path.join(work, "config.json")
    registry.get_blob(descriptor, path)
    with open(path, "rb") as f:
        return f.read()


def _fetch_layer(registry: Registry, layer: Descriptor, diff_id: str, target: str) -> str:
    """Download a layer blob, then unpack it into ``target`` in one pass that also hashes
    its tar: the content must be what the config's diff_id says (the digest of the gzipped
    bytes is checked already)."""
    if layer.media_type and layer.media_type not in LAYER_TYPES:
        raise RegistryError(f"{registry.where} layer {layer.digest}: unsupported media "
                            f"type {layer.media_type!r} (zstd and foreign layers are not)")
    os.mkdir(target)
    blob = target + ".blob"
    registry.get_blob(layer, blob)
    uncompressed = hashlib.sha256()
    tar_extract(blob, target, hash_into=uncompressed)
    os.unlink(blob)
    if "sha256:" + uncompressed.hexdigest() != diff_id:
        raise RegistryError(f"{registry.where} layer {layer.digest}: its content does "
                            f"not match diff_id {diff_id} of the config")
    return target


def pull(reference: Reference, work: str, have_layer: Callable[[str], bool],
         report: Progress, credentials: Credentials | None = None
         ) -> tuple[bytes, list[PendingLayer], str]:
    """Fetch an image into ``work``: ``(config bytes, layers, manifest digest)``, ready for
    the store.

    Steps: 1. resolve the reference to this machine's manifest; 2. fetch the config (its
    digest is the image ID); 3. fetch and unpack each layer the store lacks, checking both
    its digest and its diff_id against the config.
    """
    registry = Registry.for_reference(reference, credentials)
    try:
        # Step 1: the manifest.
        manifest, manifest_digest = resolve(registry, reference)
    except RegistryError as e:
        cause = e.__cause__
        named = registry.where + (f"@{reference.digest}" if reference.digest
                                  else f":{reference.tag}")
        if isinstance(cause, urllib.error.HTTPError) and cause.code in (401, 403, 404):
            raise ImageNotFound(f"failed to resolve reference {named}: {e}") from e
        raise
    report(f"manifest {manifest_digest} from {registry.where}")
    # Step 2: the config.
    config_bytes = _fetch_config(registry, manifest, work)
    diff_ids = _diff_ids(config_bytes, f"{registry.where} config")
    if not isinstance(manifest.get("layers") or [], list):
        raise RegistryError(f"{registry.where}: the manifest's layers is not a list")
    layers = [Descriptor.parse(d, f"{registry.where} layer") for d in
              manifest.get("layers") or []]
    if len(layers) != len(diff_ids):
        raise RegistryError(f"{registry.where}: the manifest has {len(layers)} layers, the "
                            f"config {len(diff_ids)} diff_ids")
    # Step 3: the layers.
    pending = []
    for i, (layer, diff_id) in enumerate(zip(layers, diff_ids, strict=True), 1):
        if have_layer(diff_id):  # shared with an image we have: no download
            report(f"layer {i}/{len(layers)} {diff_id[:19]} already present")
            pending.append(PendingLayer(diff_id, "", f"pulled {layer.digest}"))
            continue
        report(f"layer {i}/{len(layers)} {layer.digest[:19]} ({layer.size} bytes)")
        target = _fetch_layer(registry, layer, diff_id, os.path.join(work, f"layer{i}"))
        pending.append(PendingLayer(diff_id, target, f"pulled {layer.digest}"))
    return config_bytes, pending, manifest_digest
