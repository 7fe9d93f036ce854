"""ttrpc framing (sans-IO): a 10-byte header before each message.

::

    +----------------+-------------------+-----------+-----------+-----------+
    | length (u32 BE)| stream id (u32 BE)| type (u8) | flags (u8)| payload.. |
    +----------------+-------------------+-----------+-----------+-----------+

Types: ``0x1`` request, ``0x2`` response, ``0x3`` data (ttrpc >= 1.2 streams,
not spoken here). Clients use odd stream ids. A payload longer than
:data:`MAX_PAYLOAD` (4 MiB, ttrpc's ``messageLengthMax``) is read and
discarded, and reported as an oversized frame so the peer can be answered
RESOURCE_EXHAUSTED, as containerd/ttrpc does.
"""
from __future__ import annotations

import dataclasses
import struct
from typing import final

from berth.core.errors import ResourceExhausted

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "TYPE_REQUEST",
    "TYPE_RESPONSE",
    "TYPE_DATA",
    "Frame",
    "FrameDecoder",
    "encode_frame",
]

HEADER = struct.Struct(">IIBB")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 4 << 20
TYPE_REQUEST = 0x1
TYPE_RESPONSE = 0x2
TYPE_DATA = 0x3


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One frame; ``oversized`` frames had their payload dropped (``length`` kept)."""

    stream_id: int
    type: int
    flags: int = 0
    payload: bytes = b""
    oversized: bool = False
    length: int = 0


def encode_frame(stream_id: int, type: int, payload: bytes, *, flags: int = 0, max_size: int = MAX_PAYLOAD) -> bytes:
    """Header plus payload.

    Raises:
        ResourceExhausted: the payload is longer than ``max_size``.
    """
    if len(payload) > max_size:
        raise ResourceExhausted(f"ttrpc: message length {len(payload)} exceeds maximum message size of {max_size}")
    return HEADER.pack(len(payload), stream_id, type, flags) + payload


@final
class FrameDecoder:
    """Splits a byte stream into :class:`Frame` s; holds at most one frame."""

    def __init__(self, max_size: int = MAX_PAYLOAD) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._discard = 0  # payload bytes of an oversized frame still to drop

    @property
    def at_boundary(self) -> bool:
        """True when no partial frame is held."""
        return not self._buffer and not self._discard

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return the frames it completes."""
        out: list[Frame] = []
        if self._discard:
            dropped = min(self._discard, len(data))
            self._discard -= dropped
            data = data[dropped:]
        self._buffer += data
        pos = 0
        buf = self._buffer
        while len(buf) - pos >= HEADER_SIZE:
            length, stream_id, type_, flags = HEADER.unpack_from(buf, pos)
            if length > self.max_size:
                out.append(Frame(stream_id, type_, flags, b"", oversized=True, length=length))
                available = len(buf) - pos - HEADER_SIZE
                dropped = min(available, length)
                pos += HEADER_SIZE + dropped
                self._discard = length - dropped
                continue
            if len(buf) - pos - HEADER_SIZE < length:
                break
            start = pos + HEADER_SIZE
            out.append(Frame(stream_id, type_, flags, bytes(buf[start : start + length]), length=length))
            pos = start + length
        del buf[:pos]
        return out
