"""What TLS, authentication and RBAC cost per API request.

Three in-process API servers on 127.0.0.1 (free ports, temporary stores), each asked the
same ``GET /api/v1/namespaces/default/pods`` (10 pods) through the project's ``Client``,
which opens one connection per call — so with TLS every request pays a full handshake:

1. plain HTTP, no authentication (``up --insecure-http``, the unit tests);
2. HTTPS, the admin's client certificate (``system:masters``: no RBAC lookup);
3. HTTPS, the viewer's bearer token (RBAC: every Role and binding read from the store);

plus the PKI itself: the time to make a CA and a signed certificate (ECDSA P-256), and the
key-generation time of the RSA 2048 keys kubeadm uses by default, for comparison.
Run:  .venv/bin/python bench/auth_bench.py [--requests 300]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import summary
from minikube_py import pki
from minikube_py.api.resources import must
from minikube_py.apiserver.auth import Authenticator, TLSConfig
from minikube_py.apiserver.rbac import RBACAuthorizer
from minikube_py.apiserver.server import APIServer
from minikube_py.client import Client

PODS = must("pods")


def timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    n = parser.parse_args().requests
    tmp = tempfile.mkdtemp(prefix="minikube-py-bench-auth-")
    try:
        d = f"{tmp}/pki"
        print("PKI (ECDSA P-256):")
        def fresh() -> object:
            shutil.rmtree(d, ignore_errors=True)
            return pki.ensure_server_cert(d, "node")

        print("  CA + server certificate:", summary(timed(fresh, 20)))
        print("  RSA 2048 key, for comparison:",
              summary(timed(lambda: rsa.generate_private_key(65537, 2048), 10)))
        server_pair = pki.ensure_server_cert(d, "node")
        admin = pki.ensure_client_cert(d, "admin", "kubernetes-admin", ["system:masters"])
        token = pki.ensure_token(d, "viewer")
        ca = pki.ca_paths(d).cert
        plain = APIServer(f"{tmp}/plain.db", port=0)
        secure = APIServer(f"{tmp}/tls.db", port=0,
                           tls=TLSConfig(server_pair.cert, server_pair.key, ca),
                           authenticator=Authenticator(pki.tokens_path(d)),
                           authorizer=RBACAuthorizer())
        for server in (plain, secure):
            server.start()
        try:
            clients = {
                "plain HTTP, anonymous": Client(plain.url),
                "HTTPS, admin certificate": Client(secure.url, ca_file=ca,
                                                   cert_file=admin.cert, key_file=admin.key),
                "HTTPS, viewer token (RBAC)": Client(secure.url, ca_file=ca, token=token),
            }
            seeder = [Client(plain.url), clients["HTTPS, admin certificate"]]
            for client in seeder:
                for i in range(10):
                    client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                                         "metadata": {"name": f"p{i}"},
                                         "spec": {"containers": [{"name": "c",
                                                                  "image": "busybox"}]}},
                                  "default")
            print(f"GET pods (10 items), {n} requests, one connection each:")
            for name, client in clients.items():
                def get(c: Client = client) -> object:
                    return c.list(PODS, "default")
                timed(get, 20)  # warm up
                print(f"  {name:28s}", summary(timed(get, n)))
        finally:
            for server in (plain, secure):
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
