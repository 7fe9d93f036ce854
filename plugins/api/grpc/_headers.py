"""gRPC header rules (sans-IO): timeouts, status messages, metadata, trailers.

- ``grpc-timeout`` is ``<1-8 digits><unit>`` with unit ``H`` (hours), ``M``
  (minutes), ``S``, ``m`` (milli), ``u`` (micro) or ``n`` (nano seconds).
- ``grpc-message`` is percent-encoded: bytes of its UTF-8 form outside
  ``0x20``-``0x7e``, and ``%`` itself, become ``%XX``.
- Metadata keys ending in ``-bin`` carry base64 (padding optional).

Header names and values cross h2 as ``bytes``; these helpers take and give
``bytes`` pairs so no decoding guess is made twice.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "parse_timeout",
    "encode_timeout",
    "percent_encode",
    "percent_decode",
    "decode_metadata",
    "encode_metadata",
    "status_headers",
    "code_for_http_status",
    "RESERVED_HEADERS",
]

Header = tuple[bytes, bytes]

_TIMEOUT = re.compile(rb"^([0-9]{1,8})([HMSmun])$")
_UNIT_SECONDS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}

#: Headers that are transport, not application metadata.
RESERVED_HEADERS = frozenset(
    {b"content-type", b"te", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding",
     b"grpc-status", b"grpc-message", b"grpc-status-details-bin", b"content-length"}
)


def parse_timeout(value: bytes) -> float:
    """Seconds from a ``grpc-timeout`` value such as ``b"100m"``.

    Raises:
        ValueError: the value is malformed (the caller answers INTERNAL, as grpc-go does).
    """
    match = _TIMEOUT.match(value.strip())
    if match is None:
        raise ValueError(f"malformed grpc-timeout {value!r}: want 1-8 digits and one of H M S m u n")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def encode_timeout(seconds: float) -> bytes:
    """The shortest exact-enough ``grpc-timeout`` for ``seconds`` (at most 8 digits).

    Non-positive timeouts become ``1n`` (already expired, as grpc-go sends them).
    """
    if seconds <= 0:
        return b"1n"
    for unit, scale in ((b"n", 1e9), (b"u", 1e6), (b"m", 1e3), (b"S", 1.0), (b"M", 1 / 60), (b"H", 1 / 3600)):
        amount = int(-(-seconds * scale // 1))  # ceil: never shorten a deadline
        if amount < 100_000_000:
            return str(amount).encode() + unit
    return b"99999999H"


def percent_encode(message: str) -> bytes:
    """``message`` as a ``grpc-message`` header value."""
    out = bytearray()
    for byte in message.encode("utf-8", "surrogateescape"):
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)


def percent_decode(value: bytes) -> str:
    """A ``grpc-message`` header value as text; malformed escapes stay as sent."""
    out = bytearray()
    i = 0
    while i < len(value):
        byte = value[i]
        if byte == 0x25 and _is_hex(value[i + 1 : i + 3]):
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(byte)
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def decode_metadata(headers: Iterable[Header]) -> dict[str, str]:
    """Application metadata from request headers or trailers.

    Pseudo-headers and :data:`RESERVED_HEADERS` are left out. Keys are
    lower-case; a repeated key's values are joined with ``", "``. A ``-bin``
    key's value is base64-decoded and returned as text with
    ``surrogateescape``, so ``value.encode("utf-8", "surrogateescape")``
    gives the exact bytes back; an undecodable one is skipped.
    """
    out: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if name.startswith(b":") or name in RESERVED_HEADERS:
            continue
        key = name.decode("ascii", "replace")
        if key.endswith("-bin"):
            try:
                value = _b64decode(raw_value).decode("utf-8", "surrogateescape")
            except (binascii.Error, ValueError):
                continue
        else:
            value = raw_value.decode("utf-8", "replace")
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _b64decode(value: bytes) -> bytes:
    # Several values may be comma-joined by proxies; each is decoded alone.
    parts = [p.strip() for p in value.split(b",")]
    return b"".join(base64.b64decode(p + b"=" * (-len(p) % 4), validate=True) for p in parts)


def encode_metadata(metadata: Mapping[str, str | bytes]) -> list[Header]:
    """Request headers for ``metadata``; ``-bin`` values are base64-encoded.

    Raises:
        ValueError: a key is not a valid lower-case header name, or a text
            value has characters a header cannot carry.
    """
    out: list[Header] = []
    for key, value in metadata.items():
        name = key.lower().encode("ascii")
        if not name or name.startswith(b":") or not re.fullmatch(rb"[0-9a-z_.\-]+", name):
            raise ValueError(f"metadata key {key!r}: must be lower-case letters, digits, '-', '_' or '.'")
        if name.endswith(b"-bin"):
            raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
            out.append((name, base64.b64encode(raw).rstrip(b"=")))
            continue
        text = value.decode("ascii") if isinstance(value, bytes) else value
        if any(not (0x20 <= ord(c) <= 0x7E) for c in text):
            raise ValueError(f"metadata {key!r}: value must be printable ASCII (use a '-bin' key for bytes)")
        out.append((name, text.encode("ascii")))
    return out


def status_headers(code: int, message: str, *, trailers_only: bool) -> list[Header]:
    """The headers that carry a status: trailers, or a Trailers-Only response."""
    status = [(b"grpc-status", str(code).encode()), (b"grpc-message", percent_encode(message))]
    if trailers_only:
        return [(b":status", b"200"), (b"content-type", b"application/grpc"), *status]
    return status


# The gRPC spec's table for responses without grpc-status (a proxy answered).
_HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}


def code_for_http_status(status: int) -> int:
    """The gRPC code a client reports for a non-200 HTTP status (UNKNOWN else)."""
    return _HTTP_TO_GRPC.get(status, 2)
