"""``serviceaccounts/<name>/token``: a TokenRequest in, a signed service account token out.

What the kubelet POSTs for every pod it starts, and what ``kubectl create token default``
sends::

    POST /api/v1/namespaces/default/serviceaccounts/default/token
    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
     "spec": {"audiences": [...], "expirationSeconds": 3607,
              "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-1",
                                 "uid": "..."}}}

The answer (201) is the same object with ``status.token`` and ``status.expirationTimestamp``.
A token bound to a pod stops working when that pod is deleted; see
:mod:`minikube_py.apiserver.tokens` for what is inside.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from minikube_py.api.resources import must
from minikube_py.apiserver import handlers, registry, storage
from minikube_py.apiserver import status as st
from minikube_py.apiserver.registry import Target
from minikube_py.apiserver.tokens import (
    DEFAULT_EXPIRATION,
    ISSUER,
    MAX_EXPIRATION,
    MIN_EXPIRATION,
    TokenSigner,
)

SIGNER: web.AppKey[TokenSigner | None] = web.AppKey("token_signer")
PODS = must("pods")


def rfc3339(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def token_spec(body: Any) -> dict[str, Any]:
    """The request's spec with upstream's defaults; 400 naming the field that is wrong."""
    if body is not None and not isinstance(body, dict):
        raise st.bad_request("the body must be a TokenRequest object")
    spec = dict((body or {}).get("spec") or {})
    seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < MIN_EXPIRATION:
        raise st.StatusError(422, "Invalid", "TokenRequest.authentication.k8s.io is invalid: "
                             "spec.expirationSeconds: Invalid value: "
                             f"{seconds!r}: may not specify a duration less than 10 minutes")
    spec["expirationSeconds"] = min(seconds, MAX_EXPIRATION)
    audiences = spec.get("audiences") or [ISSUER]
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise st.bad_request("spec.audiences must be a list of strings")
    spec["audiences"] = audiences
    return spec


async def bound_pod(request: web.Request, namespace: str, account: str,
                    ref: dict[str, Any] | None) -> dict[str, str] | None:
    """The pod a token is bound to (it must exist, with the given uid, and run as the
    account), or None."""
    if not ref:
        return None
    if ref.get("kind") != "Pod":
        raise st.bad_request(f"spec.boundObjectRef.kind: Unsupported value: "
                             f"{ref.get('kind')!r}: supported values: \"Pod\"")
    kv = await storage.call(request, request.app[storage.STORE].get,
                            PODS.storage_key(namespace, str(ref.get("name"))))
    uid = registry.meta_of(kv.value).get("uid") if kv is not None else None
    if kv is None or uid is None or ref.get("uid") not in (None, "", uid):
        raise st.StatusError(404, "NotFound", f'pods "{ref.get("name")}" not found (or its uid '
                             "differs): a token can only be bound to an existing pod")
    if ((kv.value.get("spec") or {}).get("serviceAccountName") or "default") != account:
        raise st.bad_request(f'cannot bind token for serviceaccount "{account}" to pod '
                             f'running with different serviceaccount name.')
    return {"name": str(ref.get("name")), "uid": str(uid)}


async def token(request: web.Request, target: Target) -> web.Response:
    signer = request.app.get(SIGNER)
    if signer is None:
        raise st.StatusError(404, "NotFound", "this API server issues no service account "
                             "tokens (started without TLS)")
    body = await handlers.read_body(request)
    spec = token_spec(body)
    account, _ = await storage.read(request, target)  # 404 if there is no such account
    namespace, name = str(target.namespace), str(target.name)
    pod = await bound_pod(request, namespace, name, spec.get("boundObjectRef"))
    issued, expires = signer.issue(namespace, name, registry.meta_of(account).get("uid", ""),
                                   spec["audiences"], spec["expirationSeconds"], pod)
    return handlers.respond({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "metadata": {"name": name, "namespace": namespace,
                     "creationTimestamp": registry.now_rfc3339()},
        "spec": spec,
        "status": {"token": issued, "expirationTimestamp": rfc3339(expires)}}, 201)
