"""SPDY/3.1 framing: exact bytes from the spec's layouts, and header compression in order."""

from __future__ import annotations

import hashlib
import zlib

import pytest

from minikube_py.kubelet import spdy


def test_control_frames_have_the_specs_byte_layout():
    # 1 | version 3 | type 6 (PING) | flags 0 | length 4 | id
    assert spdy.Codec.ping(7) == bytes.fromhex("80030006 00000004 00000007")
    # RST_STREAM: stream id, status code
    assert spdy.Codec.rst_stream(5, spdy.CANCEL) == bytes.fromhex(
        "80030003 00000008 00000005 00000005")
    assert spdy.Codec.goaway(9) == bytes.fromhex("80030007 00000008 00000009 00000000")
    assert spdy.Codec.window_update(0, 65536) == bytes.fromhex(
        "80030009 00000008 00000000 00010000")


def test_data_frames_carry_the_stream_id_and_fin_flag():
    assert spdy.Codec.data(3, b"hi") == bytes.fromhex("00000003 00000002") + b"hi"
    assert spdy.Codec.data(3, b"", fin=True) == bytes.fromhex("00000003 01000000")
    frame, = spdy.Codec().feed(spdy.Codec.data(0x7FFFFFFF, b"x", fin=True))
    assert (frame.type, frame.stream_id, frame.data, frame.fin) == \
        (spdy.DATA, 0x7FFFFFFF, b"x", True)


def test_header_blocks_share_one_compression_context_per_direction():
    client, server = spdy.Codec(), spdy.Codec()
    first = client.syn_stream(1, {"streamType": ["error"], "port": ["80"],
                                  "requestID": ["0"]})
    second = client.syn_stream(3, {"streamType": ["data"], "port": ["80"],
                                   "requestID": ["0"]}, fin=False)
    assert len(second) < len(first)  # the second block refers back to the first
    a, b = server.feed(first + second)
    assert (a.type, a.stream_id, a.header("streamtype"), a.header("PORT")) == \
        (spdy.SYN_STREAM, 1, "error", "80")
    assert (b.stream_id, b.header("streamType"), b.header("requestID")) == (3, "data", "0")
    # a reader that missed the first block cannot read the second one
    with pytest.raises(spdy.SpdyError):
        spdy.Codec().feed(second)


def test_the_dictionary_is_the_one_both_sides_prime_zlib_with():
    assert len(spdy.DICTIONARY) == 1423  # byte for byte the spec's (and Go's spdystream's)
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == \
        "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options")
    block = spdy.Codec().syn_reply(1, {"status": ["200"]})
    compressed = block[12:]
    with pytest.raises(zlib.error):  # "need dictionary": it is really in use
        zlib.decompressobj().decompress(compressed)
    inflated = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(compressed)
    assert spdy.decode_header_block(inflated) == {"status": ["200"]}


def test_frames_split_across_reads_come_out_whole_and_in_order():
    client, server = spdy.Codec(), spdy.Codec()
    wire = (client.syn_stream(1, {"a": ["1", "2"]}) + client.data(1, b"x" * 100)
            + client.ping(2) + client.data(1, b"", fin=True))
    frames = []
    for i in range(len(wire)):  # one byte at a time
        frames += server.feed(wire[i:i + 1])
    assert [f.type for f in frames] == [spdy.SYN_STREAM, spdy.DATA, spdy.PING, spdy.DATA]
    assert frames[0].headers == {"a": ["1", "2"]}  # NUL-separated values
    assert frames[1].data == b"x" * 100 and frames[2].value == 2 and frames[3].fin


def test_other_versions_and_truncated_frames_are_errors():
    spdy2_ping = bytes.fromhex("80020006 00000004 00000001")
    with pytest.raises(spdy.SpdyError, match="version 2"):
        spdy.Codec().feed(spdy2_ping)
    short_rst = bytes.fromhex("80030003 00000002 0000")
    with pytest.raises(spdy.SpdyError, match="too short"):
        spdy.Codec().feed(short_rst)


def test_settings_are_read_but_not_interpreted():
    settings = spdy.control(spdy.SETTINGS, 0, bytes.fromhex("00000001 00000007 00010000"))
    frame, = spdy.Codec().feed(settings)
    assert frame.type == spdy.SETTINGS and len(frame.data) == 12


def test_a_header_block_that_inflates_too_far_is_refused():
    client = spdy.Codec()
    huge = {"x": ["a" * (spdy.MAX_HEADER_BLOCK + 1)]}  # compresses to a few hundred bytes
    frame = client.syn_stream(1, huge)
    assert len(frame) < 2000
    with pytest.raises(spdy.SpdyError, match="larger than"):
        spdy.Codec().feed(frame)
