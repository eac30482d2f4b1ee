"""Image references: how ``nginx``, ``docker.io/library/nginx:1.25`` and ``x@sha256:...`` relate.

In a Pod spec, ``containers[].image`` is an image *reference*. Kubernetes passes it unchanged
to the container runtime, which normalises it the way Docker's ``distribution/reference``
package does:

* a name is ``[domain/]path`` where each path component is lower-case letters and digits,
  separated by ``.``, ``_``, ``__`` or dashes: ``nginx``, ``bitnami/redis``;
* the first component is a *domain* when it contains ``.`` or ``:`` or is ``localhost``
  (``registry.example``, ``localhost:5000``); without one the image comes from Docker Hub,
  whose official images live under ``library/``;
* a ``:tag`` (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``) defaults to ``latest``;
* ``@sha256:<64 hex>`` pins an exact content digest.

We write Docker Hub names the short way, as ``docker images`` shows them::

    busybox                          -> busybox:latest
    docker.io/library/nginx:1.25     -> nginx:1.25
    registry.example/x/y:tag         -> registry.example/x/y:tag
    nginx@sha256:<hex>               -> nginx@sha256:<hex>   (no tag added)

Nothing here touches the disk; see ``runtime.images.store`` for where references are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from explain.errors import MinikubeError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
COMPONENT_RE = re.compile(_COMPONENT)
DOMAIN_RE = re.compile(_DOMAIN)
TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
DOCKER_HUB_DOMAINS = ("docker.io", "index.docker.io", "registry-1.docker.io")
MAX_NAME_LENGTH = 255


class ImageError(MinikubeError):
    """Something went wrong with an image reference, the image store or an image build."""


class ImageNotFound(ImageError):
    """The image is neither in the local store nor buildable by a built-in recipe."""


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised image reference."""

    name: str  # "nginx", "registry.example/x/y"
    tag: str | None  # "latest"; None for a digest reference
    digest: str | None = None  # "sha256:<hex>"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}"

    @property
    def domain(self) -> str | None:
        """The registry host of the name, or None for a Docker Hub name."""
        first = self.name.split("/", 1)[0]
        return first if "/" in self.name and _is_domain(first) else None


def _is_domain(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _invalid(ref: str, cause: str) -> ImageError:
    return ImageError(f"failed to parse image reference {ref!r}: {cause}")


def parse_ref(ref: str) -> Reference:
    """Parse and normalise an image reference; raise :class:`ImageError` naming it if invalid."""
    if not isinstance(ref, str) or not ref.strip():
        raise _invalid(str(ref), "empty reference")
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST_RE.fullmatch(digest):
            raise _invalid(ref, f"invalid digest {digest!r} (want sha256:<64 lower-case hex>)")
    name, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:  # a tag; a colon before the last "/" is a registry port
        name, tag = rest.rsplit(":", 1)
        if not TAG_RE.fullmatch(tag):
            raise _invalid(ref, f"invalid tag {tag!r}")
    name = _normalize_name(ref, name)
    if digest:
        return Reference(name, None, digest)
    return Reference(name, tag or "latest")


def _normalize_name(ref: str, name: str) -> str:
    parts = name.split("/")
    domain = parts[0] if len(parts) > 1 and _is_domain(parts[0]) else None
    path = parts[1:] if domain else parts
    if domain is not None and not DOMAIN_RE.fullmatch(domain):
        raise _invalid(ref, f"invalid registry host {domain!r}")
    for component in path:
        if not COMPONENT_RE.fullmatch(component):
            raise _invalid(ref, f"invalid name component {component!r} "
                                "(lower-case letters, digits and . _ - separators)")
    if domain in DOCKER_HUB_DOMAINS:
        domain = None
        if len(path) == 2 and path[0] == "library":
            path = path[1:]
    elif domain is None and len(path) == 2 and path[0] == "library":
        path = path[1:]
    full = "/".join(([domain] if domain else []) + path)
    if len(full) > MAX_NAME_LENGTH:
        raise _invalid(ref, f"name longer than {MAX_NAME_LENGTH} characters")
    return full


def normalize_ref(ref: str) -> str:
    """``"busybox"`` -> ``"busybox:latest"``; ``docker.io/library/`` is stripped."""
    return str(parse_ref(ref))
