"""ttrpc envelopes (sans-IO): Request/Response payloads around handler messages."""
from __future__ import annotations

import time
from collections.abc import Mapping

from google.protobuf.message import DecodeError

from berth.core.errors import InvalidArgument, from_grpc_code
from berth.proto.ttrpc import ttrpc_pb2

__all__ = ["encode_request", "decode_request", "request_metadata", "request_deadline",
           "encode_response", "decode_response", "check_stream_id"]


def encode_request(service: str, method: str, payload: bytes, *, timeout: float | None = None,
                   metadata: Mapping[str, str] | None = None) -> bytes:
    """A serialized ``ttrpc.Request``; ``timeout`` in seconds (None: no deadline)."""
    req = ttrpc_pb2.Request(service=service, method=method, payload=payload)
    if timeout is not None:
        req.timeout_nano = max(1, int(timeout * 1e9))
    for key, value in (metadata or {}).items():
        req.metadata.add(key=key, value=value)
    return req.SerializeToString()


def decode_request(payload: bytes) -> ttrpc_pb2.Request:
    """Raises InvalidArgument when the payload is not a Request."""
    try:
        return ttrpc_pb2.Request.FromString(payload)
    except DecodeError as e:
        raise InvalidArgument(f"ttrpc: malformed request: {e}") from e


def request_metadata(req: ttrpc_pb2.Request) -> dict[str, str]:
    """Metadata with lower-case keys; repeated keys joined with ``", "``."""
    out: dict[str, str] = {}
    for kv in req.metadata:
        key = kv.key.lower()
        out[key] = f"{out[key]}, {kv.value}" if key in out else kv.value
    return out


def request_deadline(req: ttrpc_pb2.Request) -> float | None:
    """The absolute deadline on ``time.monotonic()``'s clock, or None."""
    return time.monotonic() + req.timeout_nano / 1e9 if req.timeout_nano > 0 else None


def check_stream_id(stream_id: int) -> None:
    """Raises InvalidArgument for an even id (the Go server's check and wording)."""
    if stream_id % 2 == 0:
        raise InvalidArgument("StreamID must be odd for client initiated streams")


def encode_response(code: int = 0, message: str = "", payload: bytes = b"") -> bytes:
    """A serialized ``ttrpc.Response``; ``status`` is always present."""
    resp = ttrpc_pb2.Response(payload=payload)
    resp.status.code = code
    resp.status.message = message
    return resp.SerializeToString()


def decode_response(payload: bytes, what: str) -> bytes:
    """The response payload, or raise the status's BerthError.

    Raises:
        BerthError: a non-OK status (by gRPC code); Internal for a
            malformed response.
    """
    try:
        resp = ttrpc_pb2.Response.FromString(payload)
    except DecodeError as e:
        raise from_grpc_code(13, f"{what}: malformed ttrpc response: {e}") from e
    if resp.status.code != 0:
        raise from_grpc_code(resp.status.code, resp.status.message)
    return resp.payload
