"""Read the protobuf bodies kubectl sends, and turn them into the JSON object they stand for.

Besides JSON and YAML, the API server speaks a third encoding,
``application/vnd.kubernetes.protobuf``. kubectl's typed generators (``kubectl create
deployment|namespace|configmap|service|role...``) send their objects that way; see the request
header with::

    kubectl create deployment x --image=busybox -v=9     # Content-Type: ...kubernetes.protobuf

A body is a 4-byte magic prefix ``k8s\\x00`` followed by one ``runtime.Unknown`` message, an
envelope that names the object's type and carries the object itself, already encoded::

    Unknown { typeMeta=1: {apiVersion=1, kind=2}   raw=2: <the Deployment message>
              contentEncoding=3: ""                contentType=4: "" }

Protobuf on the wire is a list of ``(field number, wire type, value)``: a varint (ints and
bools), 8 or 4 fixed bytes, or a length-prefixed run of bytes (strings, bytes, nested messages,
one map entry). Field names are not on the wire, so reading it needs the schema:
:mod:`minikube_py.api.protobuf_schema` holds one table per message.

The crux is printing the *same* JSON Go would print for the decoded struct. Kubernetes' types are
proto2 encoded by gogo-protobuf, which writes every plain (non-pointer) field, even ``""``, ``0``
and ``false``, and writes pointer fields (``*int32 replicas``) only when set. Go's JSON encoder
then applies each field's tag. So, field by field:

- plain scalar: printed, unless its tag says ``omitempty`` and it is zero (``replicas: 0`` needs
  a pointer; ``containerPort: 0`` is printed because its tag has no ``omitempty``);
- pointer, list, map: printed when sent; when not sent, omitted (or ``null`` without
  ``omitempty``, like ``rules: null`` of an aggregated ClusterRole);
- plain struct: always printed, ``omitempty`` never hides a struct (``resources: {}``,
  ``status: {}``); a zero ``metav1.Time`` prints ``null`` (``creationTimestamp: null``).

Anything the tables do not know, a kind or a field, is refused with a ProtobufError naming it:
dropping a field silently would change the object the user asked for. One known difference: a
``Quantity`` keeps the text it was sent with, while Go re-canonicalizes it (``0.5`` -> ``500m``);
kubectl always sends the canonical text, so its bodies are not affected.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from minikube_py.api.protobuf_schema import INTSTR, KINDS, META, TABLES
from minikube_py.errors import MinikubeError

__all__ = ["CONTENT_TYPE", "ProtobufError", "decode_object", "iter_fields", "read_varint"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
RUNTIME = "k8s.io.apimachinery.pkg.runtime"
UNKNOWN = f"{RUNTIME}.Unknown"

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
WIRE_TYPE_NAMES = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "start-group",
                   4: "end-group", 5: "32-bit"}


class ProtobufError(MinikubeError):
    """A protobuf body that is malformed, or carries a kind or field we have no schema for."""


# --- the wire: (field number, wire type, value) triples ------------------------------------

def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a base-128 varint at ``pos``; return (value, position after it)."""
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint is longer than 10 bytes")
    raise ProtobufError("truncated varint")


def iter_fields(data: bytes, where: str = "message") -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) of each field; value is an int or the bytes."""
    pos = 0
    while pos < len(data):
        tag, pos = read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError(f"invalid field number 0 in {where}")
        value: int | bytes
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > len(data):
                raise ProtobufError(f"truncated {WIRE_TYPE_NAMES[wire]} field {number} in {where}")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        elif wire == LENGTH_DELIMITED:
            size, pos = read_varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError(f"truncated length-delimited field {number} in {where}")
            value, pos = data[pos:pos + size], pos + size
        else:
            name = WIRE_TYPE_NAMES.get(wire, "invalid")
            raise ProtobufError(f"unsupported wire type {wire} ({name}) "
                                f"of field {number} in {where}")
        yield number, wire, value


# --- the schema tables, parsed once ----------------------------------------------------------

SCALARS: dict[str, Any] = {"string": "", "bytes": "", "int32": 0, "int64": 0, "bool": False}
VARINT_SCALARS = ("int32", "int64", "bool")
FIELD_LINE = re.compile(r"(\d+)\s+(-|\w+)\s+(\*|\[\]|map\[string\])?(\w+)((?:\s+[\w-]+)*)$")


@dataclass(frozen=True)
class Field:
    number: int
    name: str           # the JSON name; "" for an inline (embedded) struct
    type: str           # a scalar of SCALARS or a message's short name
    shape: str          # "plain", "pointer", "list" or "map"
    omitempty: bool


@dataclass(frozen=True)
class Message:
    full_name: str      # as in the .proto: k8s.io.api.core.v1.PodSpec
    fields: dict[int, Field]


def parse_tables(tables: dict[str, str]) -> dict[str, Message]:
    """Read the text tables of protobuf_schema into Messages, keyed by short name."""
    messages: dict[str, Message] = {}
    shapes = {None: "plain", "*": "pointer", "[]": "list", "map[string]": "map"}
    for package, text in tables.items():
        fields: dict[int, Field] = {}
        for line in text.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("message "):
                fields = {}
                name = line.split()[1]
                messages[name] = Message(f"{package}.{name}", fields)
            elif line:
                match = FIELD_LINE.match(line)
                if not match:
                    raise ValueError(f"unreadable schema line: {line!r}")
                number, name, shape, type_, flags = match.groups()
                if set(flags.split()) - {"no-omitempty", "inline"} or \
                        (name == "-") != ("inline" in flags.split()):
                    raise ValueError(f"bad flags in schema line: {line!r}")
                json_name = "" if name == "-" else name
                fields[int(number)] = Field(int(number), json_name, type_, shapes[shape],
                                            "no-omitempty" not in flags.split())
    for message in messages.values():
        for field in message.fields.values():
            if field.type not in SCALARS and field.type not in messages:
                raise ValueError(f"{message.full_name}.{field.name}: unknown type {field.type}")
    return messages


MESSAGES = parse_tables(TABLES)


# --- decoding a message into its JSON form ---------------------------------------------------

def decode_message(type_: str, data: bytes) -> Any:
    """Decode one message and return the value Go's JSON encoder would print for it."""
    message = MESSAGES[type_]
    seen: dict[int, Any] = {}
    for number, wire, value in iter_fields(data, message.full_name):
        field = message.fields.get(number)
        if field is None:
            raise ProtobufError(f"unsupported field {number} in {message.full_name}")
        where = f"{message.full_name}.{field.name or field.type}"
        if field.shape == "list":
            seen.setdefault(number, []).extend(decode_repeated(field.type, wire, value, where))
        elif field.shape == "map":
            key, item = decode_map_entry(field.type, wire, value, where)
            seen.setdefault(number, {})[key] = item
        else:
            seen[number] = decode_value(field.type, wire, value, where)
    out: dict[str, Any] = {}
    for field in message.fields.values():
        put_json(field, seen, out)
    form = JSON_FORMS.get(type_)
    return form(out, data) if form else out


def put_json(field: Field, seen: dict[int, Any], out: dict[str, Any]) -> None:
    """Add one field to ``out`` the way Go's JSON encoder prints it (see the module docstring)."""
    if field.number in seen:
        value = seen[field.number]
    elif field.shape != "plain":   # a nil pointer, list or map
        if not field.omitempty:
            out[field.name] = None
        return
    elif field.type in SCALARS:    # not sent, so zero
        value = SCALARS[field.type]
    else:                          # a zero struct is still printed
        value = decode_message(field.type, b"")
    if field.shape == "plain" and field.type in SCALARS and field.omitempty \
            and value == SCALARS[field.type]:
        return
    if not field.name:             # inline: the embedded struct's fields join the parent's
        out.update(value)
    else:
        out[field.name] = value


def decode_value(type_: str, wire: int, value: int | bytes, where: str) -> Any:
    """One scalar or nested message, checked against the wire type its schema expects."""
    if type_ in VARINT_SCALARS:
        return to_scalar(type_, expect_varint(wire, value, where))
    data = expect_bytes(wire, value, where)
    if type_ == "string":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtobufError(f"{where}: string is not valid UTF-8") from e
    if type_ == "bytes":
        return base64.b64encode(data).decode("ascii")   # []byte is base64 in JSON
    return decode_message(type_, data)


def decode_repeated(type_: str, wire: int, value: int | bytes, where: str) -> list[Any]:
    """One element of a repeated field, or several when numbers come packed in one run."""
    if type_ in VARINT_SCALARS and wire == LENGTH_DELIMITED:
        assert isinstance(value, bytes)
        numbers, pos = [], 0
        while pos < len(value):
            number, pos = read_varint(value, pos)
            numbers.append(to_scalar(type_, number))
        return numbers
    return [decode_value(type_, wire, value, where)]


def decode_map_entry(type_: str, wire: int, value: int | bytes, where: str) -> tuple[str, Any]:
    """A map entry is a small message {key=1 string, value=2}."""
    key, item = "", None
    for number, entry_wire, entry_value in iter_fields(expect_bytes(wire, value, where), where):
        if number == 1:
            key = decode_value("string", entry_wire, entry_value, f"{where} key")
        elif number == 2:
            item = decode_value(type_, entry_wire, entry_value, f"{where}[{key}]")
        else:
            raise ProtobufError(f"unsupported field {number} in a map entry of {where}")
    if item is None:
        item = SCALARS[type_] if type_ in SCALARS else decode_message(type_, b"")
    return key, item


def expect_varint(wire: int, value: int | bytes, where: str) -> int:
    if wire != VARINT or not isinstance(value, int):
        raise ProtobufError(f"{where}: wire type {WIRE_TYPE_NAMES[wire]}, expected varint")
    return value


def expect_bytes(wire: int, value: int | bytes, where: str) -> bytes:
    if wire != LENGTH_DELIMITED or not isinstance(value, bytes):
        raise ProtobufError(f"{where}: wire type {WIRE_TYPE_NAMES[wire]}, "
                            "expected length-delimited")
    return value


def to_scalar(type_: str, number: int) -> int | bool:
    """A varint holds a two's complement 64-bit number; int32 keeps the low 32 bits."""
    if type_ == "bool":
        return number != 0
    bits = 32 if type_ == "int32" else 64
    number &= (1 << bits) - 1
    return number - (1 << bits) if number >> (bits - 1) else number


# --- messages whose JSON is not an object ----------------------------------------------------

def time_json(fields: dict[str, Any], data: bytes, layout: str) -> str | None:
    """metav1.Time: a zero time is sent as an empty message and prints as null."""
    if not data:
        return None
    seconds, nanos = fields.get("seconds", 0), fields.get("nanos", 0)
    try:
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
        return moment.replace(microsecond=nanos // 1000).strftime(layout)
    except (ValueError, OverflowError, OSError) as e:
        raise ProtobufError(f"{META}.Time out of range: seconds={seconds} nanos={nanos}") from e


def int_or_string_json(fields: dict[str, Any], data: bytes) -> int | str:
    kind = fields.get("type", 0)
    if kind not in (0, 1):
        raise ProtobufError(f"{INTSTR}.IntOrString: unknown type {kind}")
    return str(fields.get("strVal", "")) if kind == 1 else int(fields.get("intVal", 0))


JSON_FORMS: dict[str, Callable[[dict[str, Any], bytes], Any]] = {
    "Time": lambda fields, data: time_json(fields, data, "%Y-%m-%dT%H:%M:%SZ"),
    "MicroTime": lambda fields, data: time_json(fields, data, "%Y-%m-%dT%H:%M:%S.%fZ"),
    "Quantity": lambda fields, data: fields.get("string") or "0",
    "IntOrString": int_or_string_json,
}


# --- the envelope ----------------------------------------------------------------------------

def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\x00`` + runtime.Unknown body into the object's JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body: missing the k8s\\x00 magic prefix")
    api_version = kind = encoding = ""
    raw = b""
    for number, wire, value in iter_fields(body[len(MAGIC):], UNKNOWN):
        if number == 1:
            api_version, kind = read_type_meta(expect_bytes(wire, value, f"{UNKNOWN}.typeMeta"))
        elif number == 2:
            raw = expect_bytes(wire, value, f"{UNKNOWN}.raw")
        elif number == 3:
            encoding = decode_value("string", wire, value, f"{UNKNOWN}.contentEncoding")
        elif number != 4:   # 4, contentType, is empty or says protobuf again
            raise ProtobufError(f"unsupported field {number} in {UNKNOWN}")
    if encoding:
        raise ProtobufError(f"unsupported contentEncoding {encoding!r} of a protobuf body")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ProtobufError(f"unsupported kind in a protobuf body: apiVersion={api_version!r} "
                            f"kind={kind!r}")
    return {"kind": kind, "apiVersion": api_version, **decode_message(message, raw)}


def read_type_meta(data: bytes) -> tuple[str, str]:
    """runtime.TypeMeta {apiVersion=1, kind=2} -> (apiVersion, kind)."""
    strings = {1: "", 2: ""}
    for number, wire, value in iter_fields(data, f"{RUNTIME}.TypeMeta"):
        if number not in strings:
            raise ProtobufError(f"unsupported field {number} in {RUNTIME}.TypeMeta")
        strings[number] = decode_value("string", wire, value, f"{RUNTIME}.TypeMeta")
    return strings[1], strings[2]
