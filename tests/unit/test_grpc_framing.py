"""gRPC message framing and the HTTP/2 frame-length guard (sans-IO)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.core import errors
from berth.plugins.api.grpc._framing import FrameLengthGuard, MessageDecoder, encode_message


def test_prefix_bytes() -> None:
    assert encode_message(b"hi") == b"\x00\x00\x00\x00\x02hi"


@given(st.lists(st.binary(max_size=200), max_size=10), st.lists(st.integers(1, 64), min_size=1))
def test_decoder_any_chunking(messages: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(encode_message(m) for m in messages)
    decoder = MessageDecoder(max_size=1000)
    got: list[bytes] = []
    pos, i = 0, 0
    while pos < len(wire):
        got += decoder.feed(wire[pos : pos + cuts[i % len(cuts)]])
        pos += cuts[i % len(cuts)]
        i += 1
    assert got == messages
    assert decoder.at_boundary


def test_decoder_rejects_oversized_before_body() -> None:
    decoder = MessageDecoder(max_size=10)
    with pytest.raises(errors.ResourceExhausted, match=r"larger than max \(11 vs. 10\)"):
        decoder.feed(b"\x00\x00\x00\x00\x0b")


def test_decoder_rejects_compressed() -> None:
    with pytest.raises(errors.NotImplemented_, match="compressed"):
        MessageDecoder(max_size=10).feed(b"\x01\x00\x00\x00\x01x")


def test_encode_refuses_oversized() -> None:
    with pytest.raises(errors.ResourceExhausted):
        encode_message(b"x" * 11, max_size=10)


def _frame(length: int) -> bytes:
    return length.to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01" + b"p" * length


@given(st.lists(st.integers(0, 100), max_size=10), st.integers(1, 20))
def test_guard_walks_frames(lengths: list[int], step: int) -> None:
    guard = FrameLengthGuard(100)
    wire = b"".join(_frame(n) for n in lengths)
    for pos in range(0, len(wire), step):
        guard.feed(wire[pos : pos + step])


def test_guard_rejects_on_header() -> None:
    guard = FrameLengthGuard(16384)
    guard.feed(_frame(10))
    with pytest.raises(ValueError, match="exceeds the maximum"):
        guard.feed(b"\xff\xff\xff\x00")
        guard.feed(b"\x00\x00\x00\x00\x01")
