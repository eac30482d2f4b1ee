"""SPDY/3.1 framing, just enough for ``kubectl port-forward``.

``kubectl port-forward`` does not send plain TCP to the cluster: it multiplexes every local
connection over one HTTP connection with **SPDY/3.1**, the framing layer HTTP/2 grew out of.
Since Kubernetes 1.30 that SPDY byte stream travels inside WebSocket binary messages
(subprotocol ``SPDY/3.1+portforward.k8s.io``); the bytes are the same either way.

Every frame starts with 8 bytes; the top bit says which kind it is::

    control frame:  1 | version (15 bits) = 3 | type (16 bits) | flags (8) | length (24)
    data frame:     0 | stream id (31 bits)                     | flags (8) | length (24)

The control frames used here:

=============  ====  ======================================================================
SYN_STREAM        1  the client opens a stream: id, associated id, priority, headers
SYN_REPLY         2  the server accepts it: id, headers
RST_STREAM        3  abort a stream: id, status code
SETTINGS          4  session parameters (window sizes...): read and ignored
PING              6  a 32-bit id; the receiver sends the same frame back
GOAWAY            7  the sender will open no more streams
HEADERS           8  more headers on a stream
WINDOW_UPDATE     9  flow control credit: id (0 = the whole session), delta
=============  ====  ======================================================================

``FLAG_FIN`` on a data frame (or a SYN) half-closes the stream: "I will send no more".

Header blocks are name/value pairs with 32-bit lengths, **compressed with zlib** using one
compression context per direction for the whole connection, primed with a fixed dictionary
of common header words (:data:`DICTIONARY`, from the SPDY/3 spec) and ended with a sync
flush. So the header blocks of a session can only be read in order, by the one reader.

Pure bytes in, frames out: no sockets here (see ``minikube_py.kubelet.portforward``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3

DATA = 0
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01

#: RST_STREAM status codes (SPDY/3 §2.6.3) used here.
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5

#: Longest payload a frame can carry (24-bit length).
MAX_LENGTH = (1 << 24) - 1
#: Largest header block accepted once decompressed: a few headers, never megabytes (a small
#: compressed frame could otherwise inflate into hundreds of megabytes).
MAX_HEADER_BLOCK = 64 * 1024

Headers = dict[str, list[str]]

#: The header compression dictionary of SPDY/3 (spec section 2.6.10.1): header names and
#: values, each with its 32-bit length as in a header block, then common value fragments
#: (status codes and texts, dates, content types). zlib starts both directions primed with it.
_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_FRAGMENTS = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502"
    "504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Re"
    "quest401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Impl"
    "emented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00"
    ":00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,imag"
    "e/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivate"
    "max-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) \
    + _FRAGMENTS.encode()


class SpdyError(ValueError):
    """The peer sent something that is not SPDY/3."""


@dataclass
class Frame:
    """One decoded frame. ``type`` is :data:`DATA` or a control frame type."""

    type: int
    flags: int = 0
    stream_id: int = 0
    headers: Headers = field(default_factory=dict)
    data: bytes = b""
    #: RST_STREAM and GOAWAY status, PING id, WINDOW_UPDATE delta.
    value: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    def header(self, name: str) -> str | None:
        """The first value of a header, names compared without case (as Go's http.Header)."""
        for key, values in self.headers.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None


def encode_header_block(headers: Headers) -> bytes:
    """The uncompressed name/value block: count, then (length, name, length, values)."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        key = name.lower().encode()  # SPDY header names are lower case
        value = "\0".join(values).encode()  # several values are NUL-separated
        out += [struct.pack(">I", len(key)), key, struct.pack(">I", len(value)), value]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        offset, headers = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, offset)
            name = block[offset + 4:offset + 4 + n].decode()
            offset += 4 + n
            (n,) = struct.unpack_from(">I", block, offset)
            value = block[offset + 4:offset + 4 + n].decode()
            offset += 4 + n
            headers[name] = value.split("\0")
    except (struct.error, UnicodeDecodeError) as e:
        raise SpdyError(f"bad header block: {e}") from e
    return headers


def control(frame_type: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_LENGTH:
        raise SpdyError(f"control frame too long: {len(payload)} bytes")
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, flags << 24 | len(payload)) \
        + payload


def data_frame(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
    if len(payload) > MAX_LENGTH:
        raise SpdyError(f"data frame too long: {len(payload)} bytes")
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       (FLAG_FIN if fin else 0) << 24 | len(payload)) + payload


class Codec:
    """One side of one SPDY session: splits incoming bytes into frames, encodes outgoing ones.

    Holds the two zlib contexts, so use one Codec per connection, for both directions.
    """

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 9,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self._buffer = bytearray()

    # -- reading ------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; every frame now complete, in order (frames may span feeds)."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            (length,) = struct.unpack_from(">I", self._buffer, 4)
            length &= 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            head = bytes(self._buffer[:8])
            payload = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            frames.append(self._parse(head, payload))
        return frames

    def _parse(self, head: bytes, payload: bytes) -> Frame:
        first, flags = struct.unpack_from(">I", head)[0], head[4]
        if not first & 0x80000000:
            return Frame(DATA, flags, first & 0x7FFFFFFF, data=payload)
        version, frame_type = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        try:
            if frame_type == SYN_STREAM:
                (sid,) = struct.unpack_from(">I", payload)
                return Frame(frame_type, flags, sid & 0x7FFFFFFF,
                             headers=self._headers(payload[10:]))
            if frame_type in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", payload)
                return Frame(frame_type, flags, sid & 0x7FFFFFFF,
                             headers=self._headers(payload[4:]))
            if frame_type in (RST_STREAM, GOAWAY, WINDOW_UPDATE):
                sid, value = struct.unpack_from(">II", payload)
                return Frame(frame_type, flags, sid & 0x7FFFFFFF, value=value & 0x7FFFFFFF
                             if frame_type == WINDOW_UPDATE else value)
            if frame_type == PING:
                return Frame(frame_type, flags, value=struct.unpack_from(">I", payload)[0])
        except struct.error as e:
            raise SpdyError(f"frame type {frame_type} too short ({len(payload)} bytes)") from e
        return Frame(frame_type, flags, data=payload)  # SETTINGS and others: not interpreted

    def _headers(self, compressed: bytes) -> Headers:
        try:
            block = self._inflate.decompress(compressed, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise SpdyError(f"bad compressed header block: {e}") from e
        if self._inflate.unconsumed_tail:
            raise SpdyError(f"header block larger than {MAX_HEADER_BLOCK} bytes")
        return decode_header_block(block)

    # -- writing ------------------------------------------------------------------------------
    def _compress(self, headers: Headers) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id: int, headers: Headers, fin: bool = False) -> bytes:
        """Open a stream (what a client sends; the tests play kubectl with it)."""
        return control(SYN_STREAM, FLAG_FIN if fin else 0,
                       struct.pack(">IIH", stream_id, 0, 0) + self._compress(headers))

    def syn_reply(self, stream_id: int, headers: Headers | None = None,
                  fin: bool = False) -> bytes:
        return control(SYN_REPLY, FLAG_FIN if fin else 0,
                       struct.pack(">I", stream_id) + self._compress(headers or {}))

    @staticmethod
    def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
        return data_frame(stream_id, payload, fin)

    @staticmethod
    def rst_stream(stream_id: int, status: int) -> bytes:
        return control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    @staticmethod
    def ping(ping_id: int) -> bytes:
        return control(PING, 0, struct.pack(">I", ping_id))

    @staticmethod
    def goaway(last_stream_id: int, status: int = 0) -> bytes:
        return control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))

    @staticmethod
    def window_update(stream_id: int, delta: int) -> bytes:
        return control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta))
