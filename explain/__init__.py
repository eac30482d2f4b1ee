"""Explain what the node does to the kernel, as shell commands a learner can replay.

Every function in minikube-py that changes a kernel object (a network namespace, a veth
pair, a mount, a cgroup file...) calls :func:`record` with the shell command that would do
the same thing by hand, for example::

    record("ip link add mkv1a2b3c4 type veth peer name eth0 netns mk-nginx-1a2b3c4d")

The line is logged at DEBUG level on the ``explain`` logger, kept in a small in-memory
history (the last :data:`HISTORY_SIZE` lines) and handed to every listener registered with
:func:`add_listener`. The CLI's ``-v`` flag registers a listener that prints each line as
``+ <command>``, the way ``bash -x`` does; the kubelet keeps a per-pod transcript
(``<state>/pods/<uid>/commands.sh``) that is itself a runnable shell script.

This package imports nothing from the project: every layer may use it.
"""

from __future__ import annotations

import collections
import logging
import shlex
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

log = logging.getLogger("explain")

HISTORY_SIZE = 1000
Listener = Callable[[str], None]

_lock = threading.Lock()
_history: collections.deque[str] = collections.deque(maxlen=HISTORY_SIZE)
_listeners: list[Listener] = []
_local = threading.local()


def shell_join(argv: Sequence[str]) -> str:
    """Quote an argv the way a shell would need it: ``['echo', 'a b'] -> "echo 'a b'"``."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def record(command: str | Sequence[str]) -> None:
    """Record the shell equivalent of one kernel action that is about to happen."""
    line = command if isinstance(command, str) else shell_join(command)
    log.debug("+ %s", line)
    with _lock:
        _history.append(line)
        listeners = list(_listeners)
    for listener in listeners + list(getattr(_local, "captures", [])):
        listener(line)


def add_listener(listener: Listener) -> None:
    """Call ``listener(line)`` for every recorded command, in every thread."""
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener``; ignores a listener that was never added."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


@contextmanager
def capture() -> Iterator[list[str]]:
    """Collect the commands recorded by *this thread* inside the ``with`` block.

    >>> with capture() as lines:
    ...     record("ip link set br0 up")
    >>> lines
    ['ip link set br0 up']
    """
    lines: list[str] = []
    captures = getattr(_local, "captures", None)
    if captures is None:
        captures = _local.captures = []
    captures.append(lines.append)
    try:
        yield lines
    finally:
        captures.remove(lines.append)


def history() -> list[str]:
    """The most recent recorded commands, oldest first."""
    with _lock:
        return list(_history)
