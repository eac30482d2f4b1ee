"""Finding the API server: ``--server``, ``MINIKUBE_PY_SERVER``, or the kubeconfig.

kubectl learns where the cluster is from a *kubeconfig* file (``~/.kube/config``, or the file
named by ``KUBECONFIG``). It holds three lists joined by names: ``clusters`` (the server URL
and the CA certificate that signs it), ``users`` (a bearer token or a client certificate) and
``contexts`` (a cluster + a user + a default namespace); ``current-context`` picks one.

``minikube-py up`` writes such a file at ``<state-dir>/kubeconfig``, so the real kubectl can
use the same cluster::

    kubectl --kubeconfig /var/lib/minikube-py/kubeconfig get pods
    kubectl config view --kubeconfig /var/lib/minikube-py/kubeconfig

The minikube-py commands read it here, unless ``--server URL`` or the environment variable
``MINIKUBE_PY_SERVER`` names the server directly (plain HTTP, no credentials: handy in tests).
Certificates given inline (``certificate-authority-data``, base64 PEM) are written to a
private temporary directory, because Python's ``ssl`` module loads certificates from files.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import yaml

from minikube_py.client import Client
from minikube_py.errors import MinikubeError

SERVER_ENV = "MINIKUBE_PY_SERVER"


class KubeconfigError(MinikubeError):
    """The kubeconfig is missing or does not say where the server is."""


@dataclass
class Target:
    """Where to send requests, and as whom."""

    server: str
    namespace: str = "default"
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


def kubeconfig_path(state_dir: str) -> str:
    return os.path.join(state_dir, "kubeconfig")


def _named(entries: Any, name: str, what: str, path: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(what)
            return body if isinstance(body, dict) else {}
    raise KubeconfigError.failed("read", "kubeconfig", path, f'no {what} named "{name}"')


def _materialize(section: dict[str, Any], key: str, tmpdir: list[str]) -> str | None:
    """The file holding ``key`` (given as ``key`` or inline as ``key-data``), or None."""
    if section.get(key):
        return str(section[key])
    data = section.get(f"{key}-data")
    if not data:
        return None
    if not tmpdir:
        tmpdir.append(tempfile.mkdtemp(prefix="minikube-py-kubeconfig-"))
        atexit.register(shutil.rmtree, tmpdir[0], True)
    path = os.path.join(tmpdir[0], key)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(base64.b64decode(data))
    return path


def parse_kubeconfig(text: str, path: str = "kubeconfig") -> Target:
    """The target of the current context of a kubeconfig document."""
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise KubeconfigError.failed("read", "kubeconfig", path, e) from e
    if not isinstance(config, dict):
        raise KubeconfigError.failed("read", "kubeconfig", path, "not a mapping")
    name = config.get("current-context")
    contexts = config.get("contexts") or []
    if not name and len(contexts) == 1:
        name = contexts[0].get("name")
    if not name:
        raise KubeconfigError.failed("read", "kubeconfig", path, "current-context is not set")
    context = _named(contexts, name, "context", path)
    cluster = _named(config.get("clusters"), context.get("cluster", ""), "cluster", path)
    user: dict[str, Any] = {}
    if context.get("user"):
        user = _named(config.get("users"), context["user"], "user", path)
    if not cluster.get("server"):
        raise KubeconfigError.failed("read", "kubeconfig", path, "the cluster has no server")
    tmp: list[str] = []
    return Target(server=str(cluster["server"]),
                  namespace=str(context.get("namespace") or "default"),
                  token=user.get("token"),
                  ca_file=_materialize(cluster, "certificate-authority", tmp),
                  cert_file=_materialize(user, "client-certificate", tmp),
                  key_file=_materialize(user, "client-key", tmp))


def find_target(state_dir: str, server: str | None = None) -> Target:
    """``--server``, else ``$MINIKUBE_PY_SERVER``, else ``<state-dir>/kubeconfig``."""
    server = server or os.environ.get(SERVER_ENV)
    if server:
        return Target(server=server)
    path = kubeconfig_path(state_dir)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError as e:
        raise KubeconfigError.failed(
            "read", "kubeconfig", path,
            f"no such file (start a cluster with `minikube-py up`, or pass --server or set "
            f"{SERVER_ENV})") from e
    except OSError as e:
        raise KubeconfigError.failed("read", "kubeconfig", path, e) from e
    return parse_kubeconfig(text, path)


def make_client(target: Target) -> Client:
    return Client(target.server, token=target.token, ca_file=target.ca_file,
                  cert_file=target.cert_file, key_file=target.key_file,
                  user_agent="minikube-py-kubectl")
