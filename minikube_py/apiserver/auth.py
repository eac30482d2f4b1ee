"""TLS, authentication and authorization: who is asking, and may they?

Every request to a real API server passes three gates before any handler runs:

1. **TLS.** The server shows its certificate (signed by the cluster CA; kubectl checks it
   against ``certificate-authority-data`` in the kubeconfig) and *asks* for a client
   certificate without requiring one (``CERT_OPTIONAL``), so token users get in too.
2. **Authentication** — turning credentials into a user: a client certificate verified
   against the CA gives ``user = CN`` and ``groups = O``; ``Authorization: Bearer <token>``
   is a service account token (a JWT the cluster signed, :mod:`.tokens`: the account and the
   pod it is bound to must still exist) or is looked up in ``tokens.csv`` (kube-apiserver's
   ``--token-auth-file``). Everyone
   authenticated is also in the group ``system:authenticated``. Nothing valid → **401**
   ``Unauthorized`` (kubectl: "You must be logged in to the server"), except on
   ``/healthz``, ``/livez``, ``/readyz`` and ``/version``, which serve ``system:anonymous``
   (upstream's anonymous-auth limited to those paths).
3. **Authorization** — the request's attributes (:func:`request_attributes`) checked by RBAC
   (:mod:`.rbac`); refused → **403** ``Forbidden``.

See it with curl::

    curl --cacert pki/ca.crt https://127.0.0.1:6443/api/v1/pods             # 401
    curl --cacert pki/ca.crt --cert pki/admin.crt --key pki/admin.key \\
         https://127.0.0.1:6443/api/v1/pods                                  # 200
    curl --cacert pki/ca.crt -H "Authorization: Bearer $(cut -d, -f1 pki/tokens.csv)" \\
         -X DELETE https://127.0.0.1:6443/api/v1/namespaces/default/pods/x   # 403
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from minikube_py import pki
from minikube_py.api.resources import must
from minikube_py.apiserver import status as st
from minikube_py.apiserver.rbac import (
    AUTHENTICATED,
    MASTERS,
    UNAUTHENTICATED,
    Attributes,
    RBACAuthorizer,
    UserInfo,
    forbidden,
)
from minikube_py.apiserver.storage import STORE, call
from minikube_py.apiserver.tokens import SA_GROUP, TokenError, TokenSigner, looks_like_jwt
from minikube_py.store.backend import Backend

log = logging.getLogger(__name__)

ANONYMOUS = UserInfo("system:anonymous", groups=(UNAUTHENTICATED,))
ANONYMOUS_PATHS = frozenset(("/healthz", "/livez", "/readyz", "/version", "/version/"))
USER: web.RequestKey[UserInfo] = web.RequestKey("user", UserInfo)  # who sent it
#: Subresources that open a stream into a pod: authorized as "create" even over GET
#: (upstream's AuthorizePodWebsocketUpgradeCreatePermission, on by default in 1.32).
STREAM_SUBRESOURCES = frozenset(("exec", "attach", "portforward"))
NAMESPACE_SUBRESOURCES = frozenset(("status", "finalize"))
METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
SERVICE_ACCOUNTS, PODS = must("serviceaccounts"), must("pods")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class TLSConfig:
    """The files of a TLS-serving API server: its certificate and key, and the CA that
    signs client certificates."""

    cert_file: str
    key_file: str
    ca_file: str


def server_ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """Serve ``cert_file``; verify client certificates against ``ca_file`` when sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    context.load_verify_locations(cafile=tls.ca_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def unauthorized() -> st.StatusError:
    return st.StatusError(401, "Unauthorized", "Unauthorized")


# -- authentication --------------------------------------------------------------------------
def user_from_peercert(peercert: Mapping[str, Any] | None) -> UserInfo | None:
    """CN -> user, each O -> a group, from ``SSLSocket.getpeercert()``'s dict."""
    if not peercert:
        return None
    common, groups = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                common = value
            elif key == "organizationName":
                groups.append(value)
    return UserInfo(common, groups=tuple(groups)) if common else None


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Authenticator:
    """Client certificates first, then bearer tokens: service account tokens (JWTs signed by
    ``signer``) and the tokens file (re-read when it changes)."""

    def __init__(self, tokens_file: str | None = None, signer: TokenSigner | None = None
                 ) -> None:
        self.tokens_file = tokens_file
        self.signer = signer
        self._tokens: dict[str, pki.TokenUser] = {}
        self._mtime: float | None = None

    def tokens(self) -> dict[str, pki.TokenUser]:
        if not self.tokens_file:
            return {}
        try:
            mtime = os.stat(self.tokens_file).st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._mtime:
            self._tokens, self._mtime = pki.read_tokens(self.tokens_file), mtime
        return self._tokens

    def service_account(self, token: str, store: Backend) -> UserInfo:
        """The ServiceAccount a JWT stands for, if this cluster signed it, it has not expired,
        and the account (and the pod it is bound to) still exist with the same uid. Reads
        the store: run it on the thread pool."""
        if self.signer is None:
            raise unauthorized()
        try:
            claims = self.signer.verify(token)
        except TokenError as e:
            log.info("Refused service account token reason=%s", e)
            raise unauthorized() from None
        account = store.get(SERVICE_ACCOUNTS.storage_key(claims.namespace, claims.name))
        if account is None or (account.value.get("metadata") or {}).get("uid") != claims.uid:
            log.info("Refused service account token user=%s reason=account gone", claims.user)
            raise unauthorized()
        if claims.pod is not None:
            pod = store.get(PODS.storage_key(claims.namespace, claims.pod.get("name")))
            if pod is None or (pod.value.get("metadata") or {}).get("uid") != \
                    claims.pod.get("uid"):
                log.info("Refused service account token user=%s reason=pod %s gone",
                         claims.user, claims.pod.get("name"))
                raise unauthorized()
        return UserInfo(claims.user, claims.uid, (SA_GROUP, f"{SA_GROUP}:{claims.namespace}",
                                                  AUTHENTICATED))

    def authenticate(self, peercert: Mapping[str, Any] | None, authorization: str | None
                     ) -> UserInfo | None:
        """The user, None when no credentials were sent; 401 for a token we do not know."""
        user = user_from_peercert(peercert)
        if user is None:
            token = bearer_token(authorization)
            if token is None:
                return None
            found = self.tokens().get(token)
            if found is None:
                raise unauthorized()
            user = UserInfo(found.name, found.uid, found.groups)
        groups = user.groups if AUTHENTICATED in user.groups else \
            (*user.groups, AUTHENTICATED)
        return UserInfo(user.name, user.uid, groups)


# -- request attributes ----------------------------------------------------------------------
def request_attributes(method: str, path: str, query: Mapping[str, str], user: UserInfo
                       ) -> Attributes:
    """What upstream's RequestInfoFactory reads from a URL: ``/api/v1/namespaces/default/
    pods/x/log`` -> get pods/log "x" in default; ``/version`` -> get path "/version"."""
    parts = [p for p in path.split("/") if p]
    prefix = 2 if parts[:1] == ["api"] else 3 if parts[:1] == ["apis"] else 0
    if not prefix or len(parts) <= prefix:  # discovery and everything outside /api(s)
        return Attributes(user, method.lower(), path)
    group = parts[1] if prefix == 3 else ""
    rest, namespace = parts[prefix:], ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if method == "GET" and query.get("watch") in ("true", "1"):
        verb = "watch"
    elif method == "GET":
        verb = "get" if name else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = METHOD_VERBS.get(method, method.lower())
    if sub in STREAM_SUBRESOURCES and resource == "pods":
        verb = "create"
    if not name and verb in ("list", "watch"):  # kubectl's fieldSelector=metadata.name=x
        selector = query.get("fieldSelector", "")
        if selector.startswith("metadata.name=") and "," not in selector:
            name = selector.partition("=")[2]
    return Attributes(user, verb, path, True, group, resource, sub, namespace, name)


# -- the middleware ----------------------------------------------------------------------------
def auth_middleware(authenticator: Authenticator, authorizer: RBACAuthorizer | None
                    ) -> Any:
    """An aiohttp middleware: 401 without valid credentials, 403 when RBAC says no."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        try:
            token = bearer_token(request.headers.get("Authorization"))
            if not peercert and token and looks_like_jwt(token) and authenticator.signer:
                user: UserInfo | None = await call(request, authenticator.service_account,
                                                   token, request.app[STORE])
            else:
                user = authenticator.authenticate(peercert, request.headers.get("Authorization"))
            if user is None:
                if request.path not in ANONYMOUS_PATHS:
                    raise unauthorized()
                user = ANONYMOUS
            request[USER] = user
            if authorizer is not None and MASTERS not in user.groups:
                attrs = request_attributes(request.method, request.path, request.query, user)
                allowed, reason = await call(request, authorizer.authorize,
                                             request.app[STORE], attrs)
                if not allowed:
                    log.info("Forbade request user=%s verb=%s path=%s", user.name,
                             attrs.verb, request.path)
                    raise forbidden(attrs, reason)
        except st.StatusError as e:
            return st.status_response(e)
        return await handler(request)

    return middleware
