"""Image pull secrets: the user names and passwords a kubelet hands over for a private registry.

A pod names Secrets of type ``kubernetes.io/dockerconfigjson`` in ``spec.imagePullSecrets``
(or its ServiceAccount does, in its own ``imagePullSecrets``: upstream's admission copies them
into the pod; we read them from the account when the pod has none). Each holds the file
``docker login`` writes, ``~/.docker/config.json``::

    {"auths": {"localhost:5000": {"username": "lab", "password": "s3cret",
                                  "auth": "<base64 of lab:s3cret>"}}}

``kubectl create secret docker-registry NAME --docker-server=localhost:5000
--docker-username=lab --docker-password=s3cret`` makes one. When the kubelet pulls an image it
looks up the image's registry host among the ``auths`` keys (Docker Hub is
``https://index.docker.io/v1/``) and the runtime answers the registry's challenge with that
user name and password. A Secret that is not there gives a ``FailedToRetrieveImagePullSecret``
event and an anonymous try, as upstream. An image already on the node is used without asking
the registry (``imagePullPolicy: IfNotPresent``): credentials protect the pull, not the node.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from minikube_py.api.configdata import secret_bytes
from minikube_py.kubelet.sources import ObjectGetter
from runtime.images.registry import Credentials


def docker_config_auths(secret: dict[str, Any]) -> Credentials:
    """The credentials in a ``dockerconfigjson`` (or legacy ``dockercfg``) Secret."""
    data = secret_bytes(secret)
    try:
        if secret.get("type") == "kubernetes.io/dockercfg":
            auths = json.loads(data.get(".dockercfg") or b"{}")
        else:
            auths = json.loads(data.get(".dockerconfigjson") or b"{}").get("auths") or {}
    except (ValueError, AttributeError):
        return {}
    found: Credentials = {}
    for host, entry in auths.items() if isinstance(auths, dict) else ():
        if not isinstance(entry, dict):
            continue
        user, password = entry.get("username"), entry.get("password")
        if not (user and password) and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
        if user and password:
            found[str(host)] = (str(user), str(password))
    return found


def pull_credentials(pod: dict[str, Any], get_secret: ObjectGetter | None,
                     get_account: ObjectGetter | None, warn: Callable[[str], None]) -> Credentials:
    """Every credential the pod's (or else its ServiceAccount's) pull secrets hold."""
    namespace = pod["metadata"].get("namespace", "default")
    refs = pod["spec"].get("imagePullSecrets") or []
    if not refs and get_account is not None:
        account = get_account(namespace, pod["spec"].get("serviceAccountName") or "default")
        refs = (account or {}).get("imagePullSecrets") or []
    names = [str(ref.get("name")) for ref in refs if isinstance(ref, dict) and ref.get("name")]
    found: Credentials = {}
    missing = []
    for name in names:
        secret = get_secret(namespace, name) if get_secret is not None else None
        if secret is None:
            missing.append(name)
        else:
            found.update(docker_config_auths(secret))
    if missing:
        warn(f"Unable to retrieve some image pull secrets ({', '.join(missing)}); attempting "
             "to pull the image may not succeed.")
    return found
