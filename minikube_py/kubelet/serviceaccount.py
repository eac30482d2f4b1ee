"""The pod's service account token, where its containers find it.

Upstream adds a *projected volume* ``kube-api-access-xxxxx`` to every pod and the kubelet
fills it: a token of the pod's ServiceAccount (asked for with a TokenRequest bound to the pod,
valid an hour, renewed after 80 % of that), the cluster's CA certificate, and the namespace.
Every container sees them read-only at::

    /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}

Client libraries (``rest.InClusterConfig()``, ``kubernetes.config.load_incluster_config()``)
read exactly these, with ``KUBERNETES_SERVICE_HOST``/``_PORT``. Here the files live in
``<state>/pods/<uid>/serviceaccount/``, a directory bind-mounted read-only into each container
(no volume object is added to the pod); a renewed token replaces the file atomically (write,
then rename), so a reader never sees half of one. ``automountServiceAccountToken: false`` on
the pod (or on its ServiceAccount) leaves them out.

Look: ``minikube-py exec POD -- cat /var/run/secrets/kubernetes.io/serviceaccount/namespace``;
the token's claims: ``cut -d. -f2 .../token | base64 -d``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from minikube_py.config import NodeConfig

log = logging.getLogger(__name__)

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
EXPIRATION = 3607  # what upstream's kubelet asks for (an hour, and a few seconds)
RENEW_AT = 0.8  # of the lifetime

Pod = dict[str, Any]
#: pod -> (token, expiry as a Unix time), or None when its ServiceAccount says
#: ``automountServiceAccountToken: false``; raises when the API server says no
TokenRequester = Callable[[Pod], "tuple[str, float] | None"]


def account_dir(config: NodeConfig, uid: str) -> str:
    return os.path.join(config.pod_dir(uid), "serviceaccount")


def wants_token(pod: Pod) -> bool:
    return pod["spec"].get("automountServiceAccountToken") is not False


def token_request(pod: Pod) -> dict[str, Any]:
    """The TokenRequest the kubelet POSTs: bound to the pod, for an hour."""
    meta = pod["metadata"]
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": EXPIRATION,
                     "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                        "name": meta["name"], "uid": meta["uid"]}}}


def _write(path: str, data: str, mode: int = 0o644) -> None:
    """Replace the file atomically: the directory is what containers see, so the new name
    appears at once, never a half-written file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_token_files(config: NodeConfig, pod: Pod, request: TokenRequester,
                       ca_file: str | None, now: float | None = None) -> bool:
    """Write (or renew) the pod's token files; True if they were (re)written."""
    moment = now if now is not None else time.time()
    directory = account_dir(config, pod["metadata"]["uid"])
    meta_path = directory + ".json"  # beside the directory: containers see only the three
    try:
        with open(meta_path) as f:
            renew_at = float(json.load(f)["renew_at"])
        if moment < renew_at:
            return False
    except (OSError, ValueError, KeyError):
        pass
    answer = request(pod)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    if answer is None:  # the ServiceAccount opts out: never ask again for this pod
        _write(meta_path, json.dumps({"expires": None, "renew_at": float("inf")}))
        return False
    token, expires = answer
    # Only root may walk to the pods' files on the node; inside the containers the bound
    # directory itself is readable by any user, as upstream's 0644 token file.
    os.chmod(os.path.dirname(config.pod_dir(pod["metadata"]["uid"])), 0o750)
    _write(os.path.join(directory, "token"), token)
    _write(os.path.join(directory, "namespace"), pod["metadata"].get("namespace", "default"))
    if ca_file:
        with open(ca_file) as f:
            _write(os.path.join(directory, "ca.crt"), f.read())
    renew_at = moment + (expires - moment) * RENEW_AT
    _write(meta_path, json.dumps({"expires": expires, "renew_at": renew_at}))
    log.info("Wrote service account token pod=%s account=%s expires_in=%.0fs",
             pod["metadata"]["name"], pod["spec"].get("serviceAccountName"), expires - moment)
    return True


def token_volume(config: NodeConfig, uid: str) -> list[tuple[str, str, bool]]:
    """The read-only bind of the token directory, once it holds a token (else nothing)."""
    directory = account_dir(config, uid)
    if not os.path.exists(os.path.join(directory, "token")):
        return []
    return [(MOUNT, directory, True)]
