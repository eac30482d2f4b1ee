"""Errors of the Kubernetes layer: invalid objects and unreadable manifests.

``ValidationError`` is what the API server calls an ``Invalid`` status (HTTP 422). Its text
reads exactly like the real one, so a learner can compare it with ``kubectl``::

    Pod "x" is invalid: [spec.containers[0].image: Required value, metadata.name: ...]

One error prints without brackets; the kind carries its API group when it has one
(``Deployment.apps "web" is invalid: ...``). ``causes`` holds one
:class:`~minikube_py.api.fields.FieldError` per problem; ``to_status()`` builds the
``Status`` body the API server sends back (see it with ``kubectl apply -f x.yaml -v=8``).

``ManifestError`` is raised while *reading* files, before anything is sent anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from explain.errors import MinikubeError

if TYPE_CHECKING:
    from minikube_py.api.fields import FieldError

__all__ = ["MinikubeError", "ValidationError", "ManifestError"]


class ValidationError(MinikubeError):
    """An object failed validation; ``causes`` lists every field problem."""

    def __init__(self, kind: str, name: str, causes: list[FieldError], group: str = ""):
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = list(causes)
        super().__init__(self._message())

    @classmethod
    def for_object(cls, obj: object, causes: list[FieldError]) -> ValidationError:
        """Take kind, name and group from the object itself (whatever shape it has)."""
        obj = obj if isinstance(obj, dict) else {}
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        api_version = obj.get("apiVersion")
        group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
        name = meta.get("name") or meta.get("generateName") or ""
        return cls(str(obj.get("kind") or "Object"), str(name), causes, group)

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def _message(self) -> str:
        lines: list[str] = []
        for cause in self.causes:
            if str(cause) not in lines:  # upstream's aggregate drops repeated messages
                lines.append(str(cause))
        detail = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
        return f'{self.qualified_kind} "{self.name}" is invalid: {detail}'

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` object (reason ``Invalid``, code 422) the API server returns."""
        details: dict[str, Any] = {"name": self.name, "kind": self.kind,
                                   "causes": [cause.to_cause() for cause in self.causes]}
        if self.group:
            details["group"] = self.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(self),
            "reason": "Invalid",
            "details": details,
            "code": 422,
        }


class ManifestError(MinikubeError):
    """A manifest file could not be read or parsed; the message names file and document."""
