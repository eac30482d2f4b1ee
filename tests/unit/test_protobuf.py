"""Kubernetes protobuf bodies: real kubectl bodies decode to the JSON kubectl prints for them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from minikube_py.api.protobuf import (
    CONTENT_TYPE,
    ProtobufError,
    decode_object,
    iter_fields,
    read_varint,
)

DATA = Path(__file__).parent / "data" / "protobuf"
FIXTURES = sorted(p.stem for p in DATA.glob("*.pb") if p.with_suffix(".json").exists())


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    """One field on the wire: an int as a varint, bytes or str length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def body(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + field(1, field(1, api_version) + field(2, kind)) + field(2, raw)


def test_the_fixture_folder_holds_kubectl_bodies() -> None:
    assert len(FIXTURES) >= 20
    assert CONTENT_TYPE == "application/vnd.kubernetes.protobuf"


@pytest.mark.parametrize("name", FIXTURES)
def test_a_kubectl_body_decodes_to_the_json_kubectl_prints(name: str) -> None:
    expected = json.loads((DATA / f"{name}.json").read_text())
    assert decode_object((DATA / f"{name}.pb").read_bytes()) == expected


def test_go_json_rules_show_in_a_generated_deployment() -> None:
    deployment = decode_object((DATA / "deployment.pb").read_bytes())
    assert deployment["metadata"]["creationTimestamp"] is None   # zero Time prints null
    assert deployment["spec"]["strategy"] == {}                  # a struct is never omitted
    assert deployment["status"] == {}                            # zeros sent, omitempty drops
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {} and "workingDir" not in container


@pytest.mark.parametrize("data, value", [
    (b"\x00", 0),
    (b"\x01", 1),
    (b"\x7f", 127),
    (b"\x80\x01", 128),
    (b"\xac\x02", 300),
    (b"\xff\xff\xff\xff\x0f", 2**32 - 1),
    (b"\xff" * 9 + b"\x01", 2**64 - 1),
])
def test_varints_read_seven_bits_a_byte(data: bytes, value: int) -> None:
    assert read_varint(data + b"rest", 0) == (value, len(data))


def test_a_varint_that_never_ends_is_refused() -> None:
    with pytest.raises(ProtobufError, match="truncated varint"):
        read_varint(b"\x80\x80", 0)
    with pytest.raises(ProtobufError, match="longer than 10 bytes"):
        read_varint(b"\xff" * 11, 0)


def test_the_wire_has_four_kinds_of_values() -> None:
    data = (field(1, 150) + b"\x11" + (7).to_bytes(8, "little") + field(3, b"ab")
            + b"\x25" + (9).to_bytes(4, "little"))
    assert list(iter_fields(data)) == [(1, 0, 150), (2, 1, 7), (3, 2, b"ab"), (4, 5, 9)]


@pytest.mark.parametrize("data, message", [
    (b"\x0a\x05abc", "truncated length-delimited field 1"),
    (b"\x09\x01\x02", "truncated 64-bit field 1"),
    (b"\x0b", "unsupported wire type 3 (start-group) of field 1"),
    (b"\x00\x01", "invalid field number 0"),
])
def test_a_broken_wire_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=re.escape(message)):
        list(iter_fields(data))


def test_a_truncated_kubectl_body_is_refused() -> None:
    data = (DATA / "deployment.pb").read_bytes()
    with pytest.raises(ProtobufError, match="truncated"):
        decode_object(data[:-10])


def test_a_body_without_the_magic_prefix_is_refused() -> None:
    with pytest.raises(ProtobufError, match=r"missing the k8s\\x00 magic prefix"):
        decode_object(b'{"kind": "Pod"}')


def test_an_unknown_kind_is_refused_naming_its_api_version_and_kind() -> None:
    with pytest.raises(ProtobufError, match="apiVersion='batch/v1' kind='Job'"):
        decode_object((DATA / "unsupported-job.pb").read_bytes())


def test_an_unknown_field_is_refused_naming_the_message_and_number() -> None:
    affinity = field(18, b"")
    spec = field(2, field(1, "c")) + affinity
    message = "unsupported field 18 in k8s.io.api.core.v1.PodSpec"
    with pytest.raises(ProtobufError, match=re.escape(message)):
        decode_object(body("v1", "Pod", field(2, spec)))


def test_a_field_with_the_wrong_wire_type_is_refused() -> None:
    with pytest.raises(ProtobufError, match=r"ObjectMeta\.name: wire type varint"):
        decode_object(body("v1", "Namespace", field(1, field(1, 7))))


def test_a_compressed_envelope_is_refused() -> None:
    data = body("v1", "Namespace", b"") + field(3, "gzip")
    with pytest.raises(ProtobufError, match="contentEncoding 'gzip'"):
        decode_object(data)


def test_negative_numbers_are_ten_byte_varints() -> None:
    spec = field(2, field(1, "c")) + field(4, -30) + field(25, -1)
    pod = decode_object(body("v1", "Pod", field(2, spec)))
    assert pod["spec"]["terminationGracePeriodSeconds"] == -30 and pod["spec"]["priority"] == -1


def test_pointer_zeros_stay_and_plain_zeros_go() -> None:
    spec = field(1, 0) + field(5, 0) + field(7, 0)   # *replicas, minReadySeconds, paused
    deployment = decode_object(body("apps/v1", "Deployment", field(2, spec)))
    assert deployment["spec"] == {"replicas": 0, "selector": None,
                                  "template": {"metadata": {"creationTimestamp": None},
                                               "spec": {"containers": None}},
                                  "strategy": {}}


def test_a_replicaset_decodes_like_a_deployment() -> None:
    selector = field(1, field(1, "app") + field(2, "web"))
    rs = decode_object(body("apps/v1", "ReplicaSet",
                            field(1, field(1, "web-1")) + field(2, field(1, 2) + field(2, selector))
                            + field(3, field(1, 0))))
    assert rs["metadata"] == {"name": "web-1", "creationTimestamp": None}
    assert rs["spec"]["replicas"] == 2 and rs["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert rs["status"] == {"replicas": 0}   # replicas has no omitempty in ReplicaSetStatus


def test_an_event_prints_its_times_and_micro_times() -> None:
    time = field(1, 1767323045)          # 2026-01-02T03:04:05Z
    micro = time + field(2, 123456000)   # nanoseconds
    event = decode_object(body("v1", "Event", field(2, field(1, "Pod") + field(3, "web"))
                               + field(3, "Started") + field(6, time) + field(10, micro)))
    assert event["firstTimestamp"] == "2026-01-02T03:04:05Z"
    assert event["lastTimestamp"] is None
    assert event["eventTime"] == "2026-01-02T03:04:05.123456Z"
    assert event["involvedObject"] == {"kind": "Pod", "name": "web"}
    assert event["source"] == {} and event["reportingComponent"] == ""


def test_endpoints_keep_a_zero_port_and_pack_nothing_else() -> None:
    port = field(1, "http") + field(2, 0)
    address = field(1, "10.0.0.5") + field(4, "node-1")
    endpoints = decode_object(body("v1", "Endpoints", field(2, field(1, address) + field(3, port))))
    assert endpoints["subsets"] == [{"addresses": [{"ip": "10.0.0.5", "nodeName": "node-1"}],
                                     "ports": [{"name": "http", "port": 0}]}]


def test_packed_repeated_numbers_are_accepted() -> None:
    groups = field(4, varint(4000) + varint(5000))   # supplementalGroups, packed
    spec = field(2, field(1, "c")) + field(14, groups)
    pod = decode_object(body("v1", "Pod", field(2, spec)))
    assert pod["spec"]["securityContext"] == {"supplementalGroups": [4000, 5000]}


def test_a_time_out_of_range_is_refused() -> None:
    meta = field(1, "x") + field(8, field(1, 10**15))
    with pytest.raises(ProtobufError, match="Time out of range"):
        decode_object(body("v1", "Namespace", field(1, meta)))
