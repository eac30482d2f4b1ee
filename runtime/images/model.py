"""What an image is, in memory: its config (how to run it) and its layers (what it holds).

An OCI image has three parts: layers (filesystem tarballs), a *config* (JSON: the default
command, environment, working directory, user, exposed ports, and the list of layer digests
``rootfs.diff_ids``) and, in a registry, a manifest tying them together. The image *ID* that
``docker images`` / ``crictl images`` print is the sha256 of the config JSON; since the config
lists the layer digests, the ID names the whole content.

Kubernetes reads the config when it starts a container: ``command`` replaces the image's
``Entrypoint``, ``args`` replaces its ``Cmd``, ``env`` is appended to ``Env``, and
``workingDir`` overrides ``WorkingDir``.

See a stored config with ``cat <root>/configs/<hex>.json``.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def host_architecture() -> str:
    """The OCI name of this machine's architecture (``amd64``, ``arm64``...)."""
    machine = platform.machine()
    return _ARCHES.get(machine, machine)


@dataclass
class ImageConfig:
    """The part of an OCI image config that says how to run a container from it."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=lambda: [DEFAULT_PATH])
    working_dir: str = ""
    user: str = ""
    exposed_ports: list[str] = field(default_factory=list)  # ["80/tcp"]
    stop_signal: str = ""  # "SIGQUIT" for nginx; "" means SIGTERM

    def to_oci(self) -> dict[str, Any]:
        """The ``config`` object of an OCI image config (Docker's capitalised keys)."""
        out: dict[str, Any] = {
            "Entrypoint": self.entrypoint or None,
            "Cmd": self.cmd or None,
            "Env": self.env,
            "WorkingDir": self.working_dir,
            "User": self.user,
        }
        if self.exposed_ports:
            out["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        return out

    @classmethod
    def from_oci(cls, data: dict[str, Any]) -> ImageConfig:
        """Read the ``config`` object of an OCI image config; missing keys get defaults."""
        return cls(
            entrypoint=list(data.get("Entrypoint") or []),
            cmd=list(data.get("Cmd") or []),
            env=list(data.get("Env") or []),
            working_dir=data.get("WorkingDir") or "",
            user=data.get("User") or "",
            exposed_ports=sorted((data.get("ExposedPorts") or {}).keys()),
            stop_signal=data.get("StopSignal") or "",
        )


def oci_image_config(config: ImageConfig, diff_ids: list[str],
                     history: list[str]) -> dict[str, Any]:
    """A whole OCI image config document (``application/vnd.oci.image.config.v1+json``).

    No ``created`` timestamp: the same recipe on the same host gives the same image ID.
    """
    return {
        "architecture": host_architecture(),
        "os": "linux",
        "config": config.to_oci(),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created_by": line} for line in history],
    }


@dataclass
class Image:
    """An image in the local store, ready to become a container's root filesystem."""

    ref: str  # normalised, "busybox:latest"
    id: str  # "sha256:<hex>" of the config JSON
    layers: list[str]  # absolute directories, bottom layer first
    config: ImageConfig


@dataclass
class PendingLayer:
    """A layer a recipe has unpacked in the store's tmp/ and that is not committed yet."""

    diff_id: str  # "sha256:<hex>"
    path: str  # renamed to <root>/layers/<hex> on commit (or dropped if already there)
    created_by: str  # one history line: the shell command that made it
