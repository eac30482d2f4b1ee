"""ConfigMaps and Secrets: named bags of key/value data that pods read as files or variables.

A **ConfigMap** holds text (``data``) and bytes (``binaryData``, base64 on the wire). A
**Secret** holds bytes only, always base64 in ``data``; ``stringData`` is a write-only
convenience: its plain-text values are merged into ``data`` (and win) when the object is
written, and are never stored or returned. Both are namespaced and capped at 1 MiB; their
keys become file names in volumes, so ``[-._a-zA-Z0-9]+``, not ``.`` or ``..``.

A Secret's ``type`` (default ``Opaque``) promises keys: ``kubernetes.io/tls`` must have
``tls.crt`` and ``tls.key``, ``kubernetes.io/basic-auth`` a ``username`` or ``password``...
(upstream's ``ValidateSecret``). Setting ``immutable: true`` freezes ``data`` (and it cannot
be unset); a Secret's ``type`` can never change.

Base64 is an encoding, not encryption: ``kubectl get secret x -o jsonpath='{.data.k}' |
base64 -d`` prints the value. What protects a Secret is RBAC (the ``view`` role cannot read
Secrets) and where the kubelet puts it (a tmpfs, never the node's disk).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from minikube_py.api import fields as f
from minikube_py.api.fields import FieldError, FieldPath
from minikube_py.api.names import namespaced_copy, validate_object_meta
from minikube_py.api.pod import validate_type_meta

CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
#: Upstream's MaxSecretSize, which also bounds a ConfigMap's keys plus values: 1 MiB.
MAX_BYTES = 1 << 20
KEY_MESSAGE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
               "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
               "is '[-._a-zA-Z0-9]+')")
#: Secret types and the keys each must carry (one of them, for basic-auth).
REQUIRED_KEYS = {
    "kubernetes.io/tls": ["tls.crt", "tls.key"],
    "kubernetes.io/ssh-auth": ["ssh-privatekey"],
    "kubernetes.io/dockercfg": [".dockercfg"],
    "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
}
JSON_KEYS = {"kubernetes.io/dockercfg": ".dockercfg",
             "kubernetes.io/dockerconfigjson": ".dockerconfigjson"}


def is_config_key(key: Any) -> bool:
    return (isinstance(key, str) and bool(CONFIG_KEY.match(key)) and len(key) <= 253
            and key not in (".", ".."))


def _check_keys(section: dict[str, Any], path: FieldPath, errs: list[FieldError]) -> None:
    for key in section:
        if not is_config_key(key):
            errs.append(f.invalid(path, key, KEY_MESSAGE))


def _check_size(obj: dict[str, Any], sections: tuple[str, ...], errs: list[FieldError]
                ) -> None:
    size = sum(len(str(k)) + len(str(v)) for name in sections
               if isinstance(obj.get(name), dict) for k, v in obj[name].items())
    if size > MAX_BYTES:
        errs.append(f.FieldError(f.TOO_LONG, "", None, f"must have at most {MAX_BYTES} bytes"))


def validate_config_map(obj: Any) -> list[FieldError]:
    """Text in ``data``, base64 in ``binaryData``, no key in both; keys are file names."""
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "ConfigMap")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"))
    data = f.expect_dict(obj.get("data"), FieldPath("data"), errs)
    _check_keys(data, FieldPath("data"), errs)
    for key, value in data.items():
        f.expect_str(value, FieldPath("data").key(str(key)), errs)
    binary = f.expect_dict(obj.get("binaryData"), FieldPath("binaryData"), errs)
    _check_keys(binary, FieldPath("binaryData"), errs)
    for key, value in binary.items():
        _check_base64(value, FieldPath("binaryData").key(str(key)), errs)
        if key in data:
            errs.append(f.invalid(FieldPath("binaryData"), key, "duplicate of key present in "
                                  "data"))
    _check_size(obj, ("data", "binaryData"), errs)
    return errs


def _check_base64(value: Any, path: FieldPath, errs: list[FieldError]) -> bytes | None:
    if not isinstance(value, str):  # its value is not repeated: it may be a secret
        errs.append(f.invalid(path, "<value omitted>", "must be a base64 string"))
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        errs.append(f.invalid(path, "<value omitted>", f"illegal base64 data: {e}"))
        return None


def default_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """``type: Opaque`` if none, and ``stringData`` merged into ``data`` as base64 (its
    values win), then dropped: what the API server stores."""
    out = namespaced_copy(obj)
    if not out.get("type"):
        out["type"] = "Opaque"
    strings = out.get("stringData")
    if not isinstance(strings, dict) or not all(isinstance(v, str) for v in strings.values()):
        return out  # left in place for validation to name
    out.pop("stringData")
    data = out.get("data")
    if data is None:
        data = out["data"] = {}
    if isinstance(data, dict):
        for key, value in strings.items():
            data[key] = base64.b64encode(value.encode()).decode()
    return out


def validate_secret(obj: Any) -> list[FieldError]:
    """Keys are file names, values base64, at most 1 MiB, and the type's keys present."""
    errs: list[FieldError] = []
    obj = f.expect_dict(obj, FieldPath(""), errs)
    errs += validate_type_meta(obj, "v1", "Secret")
    errs += validate_object_meta(obj.get("metadata"), FieldPath("metadata"))
    for key, value in f.expect_dict(obj.get("stringData"), FieldPath("stringData"),
                                    errs).items():  # only left when not all strings
        if not isinstance(value, str):
            errs.append(f.invalid(FieldPath("stringData").key(str(key)), "<value omitted>",
                                  "must be a string"))
    path = FieldPath("data")
    data = f.expect_dict(obj.get("data"), path, errs)
    _check_keys(data, path, errs)
    decoded = {key: _check_base64(value, path.key(str(key)), errs)
               for key, value in data.items()}
    if sum(len(k) + len(v or b"") for k, v in decoded.items()) > MAX_BYTES:  # decoded bytes
        errs.append(f.FieldError(f.TOO_LONG, "data", None, f"must have at most {MAX_BYTES} "
                                 "bytes"))
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        errs.append(f.required(FieldPath("type")))
        return errs
    for key in REQUIRED_KEYS.get(kind, []):
        if key not in data:
            errs.append(f.required(path.key(key)))
    if kind == "kubernetes.io/basic-auth" and not ({"username", "password"} & set(data)):
        errs += [f.required(path.key("username")), f.required(path.key("password"))]
    if kind == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(f.required(FieldPath("metadata").child("annotations").key(
                "kubernetes.io/service-account.name")))
    json_key = JSON_KEYS.get(kind)
    if json_key and decoded.get(json_key) is not None:
        try:
            json.loads(decoded[json_key] or b"")
        except ValueError as e:
            errs.append(f.invalid(path.key(json_key), "<secret contents redacted>", str(e)))
    return errs


def validate_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """What cannot change: an immutable object's data, ``immutable: true`` itself, and a
    Secret's type."""
    errs: list[FieldError] = []
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(f.forbidden(FieldPath("immutable"),
                                    "field is immutable when `immutable` is set"))
        for section in ("data", "binaryData"):
            if (new.get(section) or {}) != (old.get(section) or {}):
                errs.append(f.forbidden(FieldPath(section),
                                        "field is immutable when `immutable` is set"))
    if old.get("kind") == "Secret" and new.get("type") != old.get("type"):
        errs.append(f.invalid(FieldPath("type"), new.get("type"), "field is immutable"))
    return errs


def secret_bytes(secret: dict[str, Any]) -> dict[str, bytes]:
    """A stored Secret's ``data``, decoded (what the kubelet writes into files and env)."""
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def config_map_bytes(config_map: dict[str, Any]) -> dict[str, bytes]:
    """A ConfigMap's ``data`` (UTF-8) and ``binaryData`` (decoded), as bytes."""
    out = {key: str(value).encode() for key, value in (config_map.get("data") or {}).items()}
    out.update({key: base64.b64decode(value)
                for key, value in (config_map.get("binaryData") or {}).items()})
    return out
