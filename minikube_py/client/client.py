"""A small synchronous Kubernetes REST client (http.client, no dependencies).

Every call is one HTTP request you could make with curl::

    curl http://127.0.0.1:6443/api/v1/namespaces/default/pods
    curl -X PATCH -H 'Content-Type: application/merge-patch+json' \\
         -d '{"spec":{"replicas":3}}' \\
         http://127.0.0.1:6443/apis/apps/v1/namespaces/default/deployments/web/scale

Errors come back as Kubernetes ``Status`` objects; :class:`ApiError` carries the HTTP code,
the ``reason`` (NotFound, AlreadyExists, Conflict, Invalid...) and the Status itself.
Watches are streams of one JSON event per line (:class:`Watch`).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from minikube_py.api.resources import Resource
from minikube_py.errors import MinikubeError

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ApiError(MinikubeError):
    """An error answer from the API server (a ``Status`` with code >= 400)."""

    def __init__(self, code: int, status: dict[str, Any]) -> None:
        self.code = code
        self.status = status
        self.reason = str(status.get("reason", ""))
        super().__init__(str(status.get("message") or f"HTTP {code}"))


def _encode(path: str, query: dict[str, Any] | None, body: Any) -> tuple[str, bytes | None]:
    """The request target (``path?query``, None values left out) and the body's bytes
    (JSON-encoded unless already bytes; None for no body)."""
    if query:
        clean = {k: v for k, v in query.items() if v is not None}
        path += "?" + urllib.parse.urlencode(clean, doseq=True)
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return path, data


class Client:
    """REST calls against one API server. Thread-safe: each thread keeps one connection
    open (HTTP keep-alive) for ordinary calls; watches and streams get their own."""

    def __init__(self, server: str, token: str | None = None, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None,
                 timeout: float = 30.0, user_agent: str = "minikube-py") -> None:
        url = urllib.parse.urlsplit(server)
        self.scheme = url.scheme or "http"
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if self.scheme == "https" else 80)
        self.server = server.rstrip("/")
        self.token = token
        self.ca_file = ca_file
        self.timeout = timeout
        self.user_agent = user_agent
        self._ssl: ssl.SSLContext | None = None
        self._local = threading.local()
        if self.scheme == "https":
            self._ssl = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self._ssl.load_cert_chain(cert_file, key_file)

    # -- raw HTTP -------------------------------------------------------------------------
    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._ssl is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _headers(self, content_type: str | None, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def open(self, method: str, path: str, query: dict[str, Any] | None = None,
             body: Any = None, content_type: str | None = "application/json",
             accept: str = "application/json", timeout: float | None = -1.0
             ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request; return the open connection and response (for streaming)."""
        path, data = _encode(path, query, body)
        conn = self._connection(self.timeout if timeout == -1.0 else timeout)
        try:
            conn.request(method, path, body=data,
                         headers=self._headers(content_type if data is not None else None,
                                               accept))
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise MinikubeError(f"failed to reach API server {self.server}: {e}") from e

    def request(self, method: str, path: str, query: dict[str, Any] | None = None,
                body: Any = None, content_type: str = "application/json",
                accept: str = "application/json") -> Any:
        """One call; the decoded JSON answer, or :class:`ApiError`."""
        path, data = _encode(path, query, body)
        headers = self._headers(content_type if data is not None else None, accept)
        resp, raw = self._send_kept_alive(method, path, data, headers)
        ctype = resp.getheader("Content-Type", "")
        decoded: Any = raw.decode(errors="replace")
        if "json" in ctype and raw:
            decoded = json.loads(raw)
        if resp.status >= 400:
            status = decoded if isinstance(decoded, dict) else {
                "kind": "Status", "status": "Failure", "code": resp.status,
                "message": str(decoded).strip() or resp.reason}
            raise ApiError(resp.status, status)
        return decoded

    def _send_kept_alive(self, method: str, path: str, data: bytes | None,
                         headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
        """Send on this thread's open connection. A connection the server has closed while
        it sat idle fails before the request is read, so that one case is retried once on a
        new connection (as urllib3's pool does)."""
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = self._connection(self.timeout)
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest) as e:
                self._drop_connection()
                if reused and attempt == 0:
                    continue
                raise MinikubeError(f"failed to reach API server {self.server}: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                self._drop_connection()
                raise MinikubeError(f"failed to reach API server {self.server}: {e}") from e
            if resp.will_close:
                self._drop_connection()
            return resp, raw
        raise AssertionError("unreachable")

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    # -- verbs ----------------------------------------------------------------------------
    def get(self, resource: Resource, name: str, namespace: str | None = None,
            subresource: str | None = None, query: dict[str, Any] | None = None) -> Any:
        return self.request("GET", resource.path(namespace, name, subresource), query)

    def find(self, resource: Resource, name: str, namespace: str | None = None
             ) -> dict[str, Any] | None:
        """Like :meth:`get`, but None when the object does not exist."""
        try:
            found: dict[str, Any] = self.get(resource, name, namespace)
            return found
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def list(self, resource: Resource, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None
             ) -> dict[str, Any]:
        query = {"labelSelector": label_selector, "fieldSelector": field_selector}
        result: dict[str, Any] = self.request("GET", resource.path(namespace), query)
        return result

    def create(self, resource: Resource, obj: dict[str, Any], namespace: str | None = None,
               query: dict[str, Any] | None = None) -> Any:
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return self.request("POST", resource.path(ns if resource.namespaced else None), query,
                            obj)

    def create_subresource(self, resource: Resource, name: str, subresource: str,
                           obj: dict[str, Any], namespace: str | None = None) -> Any:
        return self.request("POST", resource.path(namespace, name, subresource), None, obj)

    def update(self, resource: Resource, obj: dict[str, Any], namespace: str | None = None,
               subresource: str | None = None) -> Any:
        meta = obj["metadata"]
        ns = namespace or meta.get("namespace")
        return self.request("PUT", resource.path(ns, meta["name"], subresource), None, obj)

    def patch(self, resource: Resource, name: str, patch: Any, patch_type: str = "merge",
              namespace: str | None = None, subresource: str | None = None,
              query: dict[str, Any] | None = None) -> Any:
        content_type = PATCH_TYPES.get(patch_type, patch_type)
        return self.request("PATCH", resource.path(namespace, name, subresource), query, patch,
                            content_type=content_type)

    def delete(self, resource: Resource, name: str, namespace: str | None = None,
               propagation_policy: str | None = None,
               grace_period_seconds: int | None = None) -> Any:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        return self.request("DELETE", resource.path(namespace, name), None, body)

    def watch(self, resource: Resource, namespace: str | None = None,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int | None = None) -> Watch:
        query = {"watch": "true", "resourceVersion": resource_version,
                 "labelSelector": label_selector, "fieldSelector": field_selector,
                 "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true"}
        conn, resp = self.open("GET", resource.path(namespace), query, timeout=None)
        if resp.status >= 400:
            raw = resp.read()
            conn.close()
            try:
                status = json.loads(raw)
            except ValueError:
                status = {"message": raw.decode(errors="replace"), "code": resp.status}
            raise ApiError(resp.status, status)
        return Watch(conn, resp)

    def stream_lines(self, path: str, query: dict[str, Any] | None = None) -> Iterator[bytes]:
        """GET a streaming text resource (``pods/x/log?follow=true``), line by line."""
        conn, resp = self.open("GET", path, query, accept="*/*", timeout=None)
        try:
            if resp.status >= 400:
                raw = resp.read()
                try:
                    status = json.loads(raw)
                except ValueError:
                    status = {"message": raw.decode(errors="replace"), "code": resp.status}
                raise ApiError(resp.status, status)
            while True:
                line = resp.readline()
                if not line:
                    return
                yield line
        finally:
            conn.close()


class Watch:
    """An open watch: iterate for ``(type, object)``; :meth:`close` from any thread."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse):
        self._conn = conn
        self._resp = resp
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        try:
            while not self._closed.is_set():
                try:
                    line = self._resp.readline()
                except (OSError, ValueError, AttributeError, http.client.HTTPException):
                    return  # closed from another thread (http.client drops its file)
                if not line:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                yield event["type"], event["object"]
        finally:
            self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()
