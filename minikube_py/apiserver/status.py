"""``Status`` objects: how the API server says "no" (and sometimes "done").

Every error answer of a Kubernetes API server is a JSON ``Status`` object, not free text, so
that clients can act on it by ``reason`` instead of parsing messages::

    $ curl -s http://127.0.0.1:6443/api/v1/namespaces/default/pods/nope
    {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
     "message":"pods \\"nope\\" not found","reason":"NotFound",
     "details":{"name":"nope","kind":"pods"},"code":404}

kubectl prints ``Error from server (NotFound): pods "nope" not found`` from exactly these
fields. The reasons used here, with their HTTP codes: BadRequest 400, Forbidden 403,
NotFound 404, MethodNotAllowed 405, AlreadyExists 409, Conflict 409, Gone/Expired 410,
UnsupportedMediaType 415, Invalid 422 (from :class:`~minikube_py.errors.ValidationError`),
InternalError 500.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from minikube_py.api.resources import Resource
from minikube_py.errors import MinikubeError, ValidationError


class StatusError(MinikubeError):
    """An API error that turns into a ``Status`` response."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> dict[str, Any]:
        return failure(self.code, self.reason, self.message, self.details)


def failure(code: int, reason: str, message: str,
            details: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason}
    if details:
        status["details"] = details
    status["code"] = code
    return status


def success(details: dict[str, Any] | None = None, code: int = 200) -> dict[str, Any]:
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success"}
    if details:
        status["details"] = details
    status["code"] = code
    return status


def _details(resource: Resource, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def qualified(resource: Resource) -> str:
    """``pods`` or ``deployments.apps``: how upstream messages name a resource."""
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def not_found(resource: Resource, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{qualified(resource)} "{name}" not found',
                       _details(resource, name))


def namespace_not_found(namespace: str) -> StatusError:
    return StatusError(404, "NotFound", f'namespaces "{namespace}" not found',
                       {"name": namespace, "kind": "namespaces"})


def already_exists(resource: Resource, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists',
                       _details(resource, name))


def conflict(resource: Resource, name: str, cause: str | None = None) -> StatusError:
    cause = cause or ("the object has been modified; please apply your changes to the "
                      "latest version and try again")
    return StatusError(409, "Conflict", f'Operation cannot be fulfilled on '
                       f'{qualified(resource)} "{name}": {cause}', _details(resource, name))


def bad_request(message: str, details: dict[str, Any] | None = None) -> StatusError:
    return StatusError(400, "BadRequest", message, details)


def forbidden(resource: Resource, name: str, cause: str) -> StatusError:
    return StatusError(403, "Forbidden", f'{qualified(resource)} "{name}" is forbidden: {cause}',
                       _details(resource, name))


def method_not_allowed(method: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed",
                       f"the server does not allow this method on the requested resource "
                       f"({method})")


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                       f'the body of the request was in an unknown format - accepted media '
                       f'types include: application/json, application/yaml, '
                       f'application/vnd.kubernetes.protobuf, '
                       f'application/merge-patch+json, application/json-patch+json, '
                       f'application/strategic-merge-patch+json, application/apply-patch+yaml '
                       f'(got "{content_type}")')


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def invalid(error: ValidationError) -> StatusError:
    body = error.to_status()
    return StatusError(422, "Invalid", body["message"], body["details"])


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def status_response(error: StatusError, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(error.to_status(), error.code, headers)


def json_response(body: Any, code: int = 200, headers: Any = None,
                  content_type: str = "application/json") -> web.Response:
    response = web.Response(body=json.dumps(body).encode(), status=code, headers=headers)
    response.content_type = content_type.split(";")[0]
    if ";" in content_type:  # aggregated discovery names its version in parameters
        response.headers["Content-Type"] = content_type
    return response
