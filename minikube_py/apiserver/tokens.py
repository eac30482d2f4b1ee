"""Service account tokens: how a pod proves to the API server who it is.

A process in a pod has no client certificate. Kubernetes gives every pod (unless
``automountServiceAccountToken: false``) a **token** of its ServiceAccount, in
``/var/run/secrets/kubernetes.io/serviceaccount/token``, with the cluster's ``ca.crt`` and the
pod's ``namespace`` next to it. The token is a **JWT**: three base64url parts joined by dots —
a header, the claims, and a signature made with the cluster's service-account key
(``<state>/pki/sa.key``, kubeadm's name; ECDSA P-256, so ``"alg": "ES256"``)::

    {"alg": "ES256", "kid": "...", "typ": "JWT"}
    {"iss": "https://kubernetes.default.svc.cluster.local", "sub":
     "system:serviceaccount:default:default", "aud": ["https://kubernetes.default.svc..."],
     "iat": ..., "nbf": ..., "exp": ...,
     "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "default", "uid": ..},
                       "pod": {"name": "web-1", "uid": ...}}}

The kubelet asks for it with a **TokenRequest** (``POST .../serviceaccounts/default/token``)
*bound* to the pod: the API server accepts it only while that pod (and the ServiceAccount)
still exist with the same uid, and until ``exp`` (an hour). The user it stands for is
``system:serviceaccount:<namespace>:<name>``, in the groups ``system:serviceaccounts`` and
``system:serviceaccounts:<namespace>``; RBAC decides what it may do (nothing, at first).

Read one: ``cut -d. -f2 token | base64 -d`` (add ``=`` padding if base64 complains), or
``kubectl create token default`` for a fresh one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from minikube_py import pki
from minikube_py.errors import MinikubeError

ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600  # upstream: "may not specify a duration less than 10 minutes"
MAX_EXPIRATION = 48 * 3600
KEY_FILE = "sa.key"
SA_GROUP = "system:serviceaccounts"


class TokenError(MinikubeError):
    """Not a token this cluster signed, or no longer valid."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


@dataclass(frozen=True)
class Claims:
    """What a verified token says."""

    namespace: str
    name: str
    uid: str
    pod: dict[str, str] | None
    expires: int

    @property
    def user(self) -> str:
        return service_account_user(self.namespace, self.name)


class TokenSigner:
    """Signs and verifies the cluster's service account tokens with one ECDSA key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = b64url(hashlib.sha256(public).digest())  # upstream: the same idea

    @classmethod
    def ensure(cls, pki_directory: str) -> TokenSigner:
        """The key in ``<pki>/sa.key``, made at the first start."""
        os.makedirs(pki_directory, mode=0o700, exist_ok=True)
        path = os.path.join(pki_directory, KEY_FILE)
        key = pki.load_key(path) if os.path.exists(path) else None
        return cls(key or pki.openssl_genkey(path))

    def issue(self, namespace: str, name: str, uid: str, audiences: list[str],
              expiration_seconds: int, pod: dict[str, str] | None = None,
              now: float | None = None) -> tuple[str, int]:
        """(token, expiry as a Unix time)."""
        issued = int(now if now is not None else time.time())
        expires = issued + expiration_seconds
        private: dict[str, Any] = {"namespace": namespace,
                                   "serviceaccount": {"name": name, "uid": uid}}
        if pod:
            private["pod"] = pod
        claims = {"aud": audiences, "exp": expires, "iat": issued, "iss": ISSUER,
                  "kubernetes.io": private, "nbf": issued,
                  "sub": service_account_user(namespace, name)}
        header = {"alg": "ES256", "kid": self.key_id, "typ": "JWT"}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS wants r || s, 32 bytes each
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{b64url(signature)}", expires

    def verify(self, token: str, now: float | None = None) -> Claims:
        """The claims of a token signed with this key, not expired, for this cluster."""
        try:
            head, body, signature = token.split(".")
            raw = unb64url(signature)
            header = json.loads(unb64url(head))
            claims = json.loads(unb64url(body))
        except ValueError as e:
            raise TokenError("malformed token") from e
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenError("malformed token")
        if header.get("alg") != "ES256" or len(raw) != 64:
            raise TokenError(f"unsupported token algorithm {header.get('alg')!r}")
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                   int.from_bytes(raw[32:], "big"))
        try:
            self.key.public_key().verify(der, f"{head}.{body}".encode(),
                                         ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as e:
            raise TokenError("invalid token signature") from e
        moment = int(now if now is not None else time.time())
        audiences = claims.get("aud")
        if claims.get("iss") != ISSUER or not isinstance(audiences, list) or \
                ISSUER not in audiences:
            raise TokenError("token is for another issuer or audience")
        nbf, exp = claims.get("nbf", 0), claims.get("exp", 0)
        if not isinstance(nbf, int) or not isinstance(exp, int) or not nbf <= moment < exp:
            raise TokenError("token has expired")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise TokenError("token names no service account")
        account = private.get("serviceaccount")
        if not isinstance(account, dict) or not private.get("namespace") or \
                not account.get("name"):
            raise TokenError("token names no service account")
        return Claims(private["namespace"], account["name"], account.get("uid", ""),
                      private.get("pod"), int(claims["exp"]))
