"""gRPC message framing (sans-IO): a 5-byte prefix before each message.

The prefix is one byte *compressed flag* and a four-byte big-endian length::

    +------------+----------------------+------------------------+
    | flag (u8)  | length (u32, BE)     | message (length bytes) |
    +------------+----------------------+------------------------+

berth never compresses, and rejects compressed messages (UNIMPLEMENTED), as
the gRPC spec allows for a server without ``grpc-encoding`` support.
"""
from __future__ import annotations

import struct
from typing import final

from berth.core.errors import NotImplemented_, ResourceExhausted

__all__ = ["PREFIX_SIZE", "encode_message", "MessageDecoder", "FrameLengthGuard"]

PREFIX_SIZE = 5
_PREFIX = struct.Struct(">BI")


def encode_message(payload: bytes, *, max_size: int | None = None) -> bytes:
    """The length-prefixed, uncompressed form of ``payload``.

    Raises:
        ResourceExhausted: ``payload`` is longer than ``max_size``.
    """
    if max_size is not None and len(payload) > max_size:
        raise ResourceExhausted(
            f"grpc: trying to send message larger than max ({len(payload)} vs. {max_size})"
        )
    return _PREFIX.pack(0, len(payload)) + payload


@final
class MessageDecoder:
    """Reassembles messages from DATA frame payloads.

    Feed it bytes as they arrive; it returns each complete message once. It
    holds at most one partial message, and refuses a message longer than
    ``max_size`` as soon as its prefix is seen (before its body arrives).

    Once it has raised, the decoder is broken: the stream must end.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._need: int | None = None  # body length of the message being read

    @property
    def buffered(self) -> int:
        """Bytes held for a message not yet complete."""
        return len(self._buffer)

    @property
    def at_boundary(self) -> bool:
        """True when no partial message is held (a stream may end here)."""
        return not self._buffer and self._need is None

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the messages it completes, in order.

        Raises:
            ResourceExhausted: a message's length exceeds ``max_size``.
            NotImplemented_: a message has the compressed flag set.
        """
        self._buffer += data
        out: list[bytes] = []
        pos = 0
        buf = self._buffer
        try:
            while True:
                if self._need is None:
                    if len(buf) - pos < PREFIX_SIZE:
                        return out
                    flag, length = _PREFIX.unpack_from(buf, pos)
                    if flag == 1:
                        raise NotImplemented_("grpc: compressed messages are not supported (no grpc-encoding)")
                    if flag != 0:
                        raise NotImplemented_(f"grpc: unknown message flag {flag}")
                    if length > self.max_size:
                        raise ResourceExhausted(
                            f"grpc: received message larger than max ({length} vs. {self.max_size})"
                        )
                    pos += PREFIX_SIZE
                    self._need = length
                if len(buf) - pos < self._need:
                    return out
                out.append(bytes(buf[pos : pos + self._need]))
                pos += self._need
                self._need = None
        finally:
            # One compaction per feed keeps many small messages linear.
            del buf[:pos]


@final
class FrameLengthGuard:
    """Checks HTTP/2 frame lengths as bytes arrive, before h2 buffers a frame.

    h2 validates a frame's length only once the whole body is buffered, so a
    peer announcing a 16 MiB frame could make it hold 16 MiB and stall. Feed
    this the bytes that follow the client preface; it walks frame headers
    (9 bytes: 24-bit length, type, flags, stream id) and skips bodies.
    """

    def __init__(self, max_frame_size: int) -> None:
        self.max_frame_size = max_frame_size
        self._header = bytearray()
        self._skip = 0

    def feed(self, data: bytes) -> None:
        """Raises ValueError on a frame longer than ``max_frame_size``."""
        pos = 0
        while pos < len(data):
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                continue
            take = min(9 - len(self._header), len(data) - pos)
            self._header += data[pos : pos + take]
            pos += take
            if len(self._header) == 9:
                length = int.from_bytes(self._header[:3], "big")
                self._header.clear()
                if length > self.max_frame_size:
                    raise ValueError(f"frame of {length} bytes exceeds the maximum of {self.max_frame_size}")
                self._skip = length
