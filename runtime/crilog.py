"""The CRI log format: how a container's stdout and stderr land in a file.

``kubectl logs`` never talks to a container. The runtime's per-container monitor (conmon for
CRI-O, the shim for containerd, our :mod:`runtime.shim`) reads the two pipes the container
writes to and appends every line to a file the kubelet chose
(``/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log``), one line per log line::

    2016-10-06T00:17:09.669794202Z stdout F hello world
    2016-10-06T00:17:09.669794202Z stderr P first 16 KiB of a very long line...
    2016-10-06T00:17:09.670000001Z stderr F ...and the rest of it

Fields: the time the runtime read the line (Go's RFC3339Nano in UTC: trailing zeros of the
fraction trimmed), the stream, a tag — ``F`` for a full line, ``P`` for a partial one (a line
longer than 16 KiB is cut into pieces; all but the last carry ``P``) — and the bytes of the
line without its newline. The kubelet's reader joins ``P`` pieces back together.

See it: ``cat /var/log/pods/*/*/0.log`` or ``kubectl logs POD``.

This module runs inside the shim, so it uses the standard library only.
"""

from __future__ import annotations

import os
import time

#: Longest piece of a line written as one log line, like containerd's and CRI-O's limit.
MAX_LINE = 16 * 1024

STREAMS = ("stdout", "stderr")


def rfc3339nano(ns: int) -> str:
    """Format nanoseconds since the epoch the way Go's ``time.RFC3339Nano`` does in UTC."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def format_line(stream: str, tag: str, content: bytes, ns: int | None = None) -> bytes:
    """One CRI log line: ``<time> <stream> <F|P> <content>\\n``."""
    stamp = rfc3339nano(time.time_ns() if ns is None else ns)
    return f"{stamp} {stream} {tag} ".encode() + content + b"\n"


def split_lines(buffer: bytes, final: bool = False) -> tuple[list[tuple[str, bytes]], bytes]:
    """Cut ``buffer`` into ``(tag, content)`` pieces; return them and the unfinished rest.

    A complete line is ``("F", line)``; a piece of a line longer than :data:`MAX_LINE` is
    ``("P", piece)``. With ``final`` (the stream closed) the rest becomes a last ``F`` line.
    """
    pieces: list[tuple[str, bytes]] = []
    start = 0
    while True:
        newline = buffer.find(b"\n", start, start + MAX_LINE + 1)
        if newline != -1:
            pieces.append(("F", buffer[start:newline]))
            start = newline + 1
        elif len(buffer) - start > MAX_LINE:
            pieces.append(("P", buffer[start:start + MAX_LINE]))
            start += MAX_LINE
        else:
            break
    rest = buffer[start:]
    if final and rest:
        pieces.append(("F", rest))
        rest = b""
    return pieces, rest


def parse_line(line: bytes) -> tuple[str, str, str, bytes]:
    """``b"<time> stdout F hi"`` -> ``(time, "stdout", "F", b"hi")`` (for readers and tests)."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) != 4:
        raise ValueError(f"not a CRI log line: {line[:80]!r}")
    stamp, stream, tag, content = parts
    return stamp.decode(), stream.decode(), tag.decode(), content


class CriLogWriter:
    """Append a container's output to a CRI log file, one buffer per stream.

    ``path`` may be empty: the output is then read and dropped (the pipes must still be
    drained, or the container would block on a full pipe).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._buffers: dict[str, bytes] = {s: b"" for s in STREAMS}
        self._fd: int | None = None
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)

    def write(self, stream: str, data: bytes) -> None:
        """Take a chunk read from ``stream``'s pipe; write every line it completes."""
        pieces, self._buffers[stream] = split_lines(self._buffers[stream] + data)
        self._emit(stream, pieces)

    def close_stream(self, stream: str) -> None:
        """The pipe hit end-of-file: write what is left as a last full line."""
        pieces, self._buffers[stream] = split_lines(self._buffers[stream], final=True)
        self._emit(stream, pieces)

    def reopen(self) -> None:
        """Open the path again (after the kubelet rotated the file: CRI ReopenContainerLog)."""
        if self.path:
            old, self._fd = self._fd, os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640
            )
            if old is not None:
                os.close(old)

    def close(self) -> None:
        for stream in STREAMS:
            self.close_stream(stream)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _emit(self, stream: str, pieces: list[tuple[str, bytes]]) -> None:
        if self._fd is None or not pieces:
            return
        now = time.time_ns()
        data = b"".join(format_line(stream, tag, c, now) for tag, c in pieces)
        while data:
            data = data[os.write(self._fd, data):]
