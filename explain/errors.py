"""The project's one root error class.

Every layer raises a subclass of :class:`MinikubeError` (``NetnsError``, ``BridgeError``,
``ContainerError``, ``ValidationError``...). Messages read
``failed to <verb> <kind> <name>: <cause>``; build them with :meth:`MinikubeError.failed`
and re-raise with ``from`` so the original cause stays attached. The CLI catches
``MinikubeError``, prints ``Error: <message>`` and exits non-zero.

It lives in the bottom package because ``runtime``, ``bridge`` and ``netns`` must not import
``minikube_py`` but still share the root class.
"""

from __future__ import annotations


class MinikubeError(Exception):
    """Base class of every error minikube-py raises on purpose."""

    @classmethod
    def failed(cls, verb: str, kind: str, name: str, cause: object) -> MinikubeError:
        """``MinikubeError.failed("create", "veth", "mkv1a2b", e)`` -> a readable error."""
        return cls(f"failed to {verb} {kind} {name}: {cause}")
