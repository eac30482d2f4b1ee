"""Who ``up``'s components and users are: the PKI on disk, kubeconfigs, internal clients.

At its first start ``minikube-py up`` makes a CA and signs (see :mod:`minikube_py.pki`):

- ``apiserver.crt`` — the API server's serving certificate (127.0.0.1, localhost, the node
  name, 10.96.0.1, kubernetes.default.svc...);
- ``admin.crt`` — ``CN=kubernetes-admin, O=system:masters``: the kubeconfig's user;
- one client certificate per component, named as upstream names them
  (``system:kube-controller-manager``, ``system:kube-scheduler``, ``system:node:<node>``,
  ``system:kube-proxy``...). Ours are all in ``system:masters`` (upstream gives each a
  narrower ClusterRole, and kubelets the Node authorizer: a simplification, on purpose);
- ``tokens.csv`` with a bearer token for the read-only user ``viewer``.

The kubeconfig carries the CA and the admin's certificate and key inline (base64 in
``certificate-authority-data``, ``client-certificate-data``, ``client-key-data``), like
kubeadm's ``admin.conf``, so kubectl verifies the server with no
``insecure-skip-tls-verify``::

    minikube-py kubeconfig                  # the admin's
    minikube-py kubeconfig --user viewer    # the read-only user's (a bearer token)
    kubectl --kubeconfig <(minikube-py kubeconfig --user viewer) delete pod x   # Forbidden

Where we differ from upstream: the kubelet's own port (logs, exec, stats for the API server
to proxy to) is plain HTTP on the bridge address, and accepts only requests carrying a
shared bearer token (``pki/kubelet-token``) that the API server presents. Upstream serves it
over HTTPS on 10250 and accepts only the API server's ``apiserver-kubelet-client``
certificate.
"""

from __future__ import annotations

import base64
import os
import re
from typing import TYPE_CHECKING, Any

from minikube_py import pki
from minikube_py.apiserver.auth import Authenticator, TLSConfig
from minikube_py.apiserver.tokens import TokenSigner
from minikube_py.client import Client

if TYPE_CHECKING:
    from minikube_py.cluster import ClusterConfig

ADMIN_FILE = "admin"
#: The user each component acts as (by the first part of its User-Agent).
COMPONENT_USERS = {
    "controller-manager": "system:kube-controller-manager",
    "scheduler": "system:kube-scheduler",
    "kube-proxy": "system:kube-proxy",
    "proxy": "system:kube-proxy",
    "cluster-dns": "system:kube-dns",
}


def component_user(user_agent: str) -> str:
    """``kubelet/node-1`` -> ``system:node:node-1``; ``scheduler`` -> system:kube-scheduler."""
    base, _, rest = user_agent.partition("/")
    if base == "kubelet" and rest:
        return f"system:node:{rest}"
    return COMPONENT_USERS.get(base, f"system:minikube-py:{base}")


def cert_file_name(user: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", user)


def ensure_cluster_pki(config: ClusterConfig) -> TLSConfig:
    """CA, serving certificate, admin certificate, viewer token; the server's TLS files."""
    directory = pki.pki_dir(config.node.state_dir)
    server = pki.ensure_server_cert(directory, config.node.node_name,
                                    extra_ips=[config.api_host, config.node.network.gateway])
    pki.ensure_client_cert(directory, ADMIN_FILE, pki.ADMIN_USER, [pki.MASTERS])
    pki.ensure_token(directory, pki.VIEWER_USER)
    return TLSConfig(server.cert, server.key, pki.ca_paths(directory).cert)


def authenticator(config: ClusterConfig, signer: TokenSigner | None = None) -> Authenticator:
    """Client certificates of the cluster CA, service account tokens (verified with
    ``signer``, the one the API server issues them with), and the tokens in
    ``pki/tokens.csv``."""
    return Authenticator(pki.tokens_path(pki.pki_dir(config.node.state_dir)),
                         signer or token_signer(config))


def token_signer(config: ClusterConfig) -> TokenSigner:
    """The service account key, ``pki/sa.key`` (made at the first ``up``)."""
    return TokenSigner.ensure(pki.pki_dir(config.node.state_dir))


def make_internal_client(config: ClusterConfig, user_agent: str, timeout: float = 30.0
                         ) -> Client:
    """The client a component of ``up`` uses: its own certificate, the cluster CA (or plain
    HTTP when the cluster runs with ``--insecure-http``)."""
    if not config.tls:
        return Client(config.api_url, timeout=timeout, user_agent=user_agent)
    directory = pki.pki_dir(config.node.state_dir)
    user = component_user(user_agent)
    pair = pki.ensure_client_cert(directory, cert_file_name(user), user, [pki.MASTERS])
    return Client(config.api_url, ca_file=pki.ca_paths(directory).cert, cert_file=pair.cert,
                  key_file=pair.key, timeout=timeout, user_agent=user_agent)


def _b64(path: str) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfig(url: str, name: str = "minikube-py", *, ca_file: str | None = None,
               cert_file: str | None = None, key_file: str | None = None,
               token: str | None = None) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user and one context, all named ``name``;
    certificates inline (``*-data``)."""
    cluster: dict[str, Any] = {"server": url}
    if ca_file:
        cluster["certificate-authority-data"] = _b64(ca_file)
    user: dict[str, Any] = {}
    if cert_file and key_file:
        user["client-certificate-data"] = _b64(cert_file)
        user["client-key-data"] = _b64(key_file)
    if token:
        user["token"] = token
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                "namespace": "default"}}],
    }


def user_kubeconfig(url: str, state_dir: str, user: str = "admin") -> dict[str, Any]:
    """The kubeconfig of ``admin`` (client certificate) or a token user such as ``viewer``."""
    if not url.startswith("https://"):
        return kubeconfig(url)
    directory = pki.pki_dir(state_dir)
    ca = pki.ca_paths(directory).cert
    if user == "admin":
        pair = pki.ensure_client_cert(directory, ADMIN_FILE, pki.ADMIN_USER, [pki.MASTERS])
        return kubeconfig(url, ca_file=ca, cert_file=pair.cert, key_file=pair.key)
    for token, info in pki.read_tokens(pki.tokens_path(directory)).items():
        if info.name == user:
            return kubeconfig(url, f"minikube-py-{user}", ca_file=ca, token=token)
    raise pki.PKIError.failed("find", "user", user, f"not in {pki.tokens_path(directory)}")


def ensure_kubelet_token(config: ClusterConfig) -> str:
    """The secret the API server presents to the kubelet (``<state>/pki/kubelet-token``).

    Made once, kept across restarts, readable only by root. Upstream's API server presents a
    client certificate to the kubelet instead; a shared token keeps ours small.
    """
    import secrets

    directory = pki.pki_dir(config.node.state_dir)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, "kubelet-token")
    try:
        with open(path) as f:
            token = f.read().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
