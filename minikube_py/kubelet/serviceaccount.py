"""The pod's service account token, where its containers find it.

Upstream adds a *projected volume* ``kube-api-access-xxxxx`` to every pod and the kubelet
fills it: a token of the pod's ServiceAccount (asked for with a TokenRequest bound to the pod,
valid an hour, renewed after 80 % of that), the cluster's CA certificate, and the namespace.
Every container sees them read-only at::

    /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}

Client libraries (``rest.InClusterConfig()``, ``kubernetes.config.load_incluster_config()``)
read exactly these, with ``KUBERNETES_SERVICE_HOST``/``_PORT``. Here the files live in
``<state>/pods/<uid>/serviceaccount/`` and are bind-mounted into each container like
``/etc/hosts`` (no volume object is added to the pod). ``automountServiceAccountToken:
false`` on the pod (or its ServiceAccount) leaves them out.

Look: ``minikube-py exec POD -- cat /var/run/secrets/kubernetes.io/serviceaccount/namespace``;
the token's claims: ``cut -d. -f2 .../token | base64 -d``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from minikube_py.config import NodeConfig

log = logging.getLogger(__name__)

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
FILES = ("token", "ca.crt", "namespace")
EXPIRATION = 3607  # what upstream's kubelet asks for (an hour, and a few seconds)
RENEW_AT = 0.8  # of the lifetime

Pod = dict[str, Any]
#: pod -> (token, expiry as a Unix time); raises when the API server says no
TokenRequester = Callable[[Pod], tuple[str, float]]


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


def _write(path: str, data: str) -> None:
    """Rewrite in place: the file is bind-mounted, a rename would leave containers the old
    inode."""
    with open(path, "w") as f:
        f.write(data)


def ensure_token_files(config: NodeConfig, pod: Pod, request: TokenRequester,
                       ca_file: str | None, now: float | None = None) -> bool:
    """Write (or renew) the pod's token files; True if they were (re)written."""
    moment = now if now is not None else time.time()
    directory = account_dir(config, pod["metadata"]["uid"])
    meta_path = os.path.join(directory, "token.json")
    try:
        with open(meta_path) as f:
            renew_at = float(json.load(f)["renew_at"])
        if moment < renew_at:
            return False
    except (OSError, ValueError, KeyError):
        pass
    token, expires = request(pod)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    _write(os.path.join(directory, "token"), token)
    _write(os.path.join(directory, "namespace"), pod["metadata"].get("namespace", "default"))
    if ca_file:
        shutil.copyfile(ca_file, os.path.join(directory, "ca.crt"))
    renew_at = moment + (expires - moment) * RENEW_AT
    _write(meta_path, json.dumps({"expires": expires, "renew_at": renew_at}))
    log.info("Wrote service account token pod=%s account=%s expires_in=%.0fs",
             pod["metadata"]["name"], pod["spec"].get("serviceAccountName"), expires - moment)
    return True


def token_files(config: NodeConfig, uid: str) -> dict[str, str]:
    """Container path -> host file, for the files that exist (none without a token)."""
    directory = account_dir(config, uid)
    return {f"{MOUNT}/{name}": os.path.join(directory, name) for name in FILES
            if os.path.exists(os.path.join(directory, name))}
