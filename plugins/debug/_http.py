"""Just enough HTTP/1.1 for the debug socket, sans-IO: bytes in, values out.

The debug server answers one request per connection and then closes it
(``Connection: close``), so there is no keep-alive, no pipelining and no
request body to read: a request is its *head* (request line and headers up
to the blank line), at most :data:`MAX_HEAD` bytes. Anything that does not
parse is a :class:`BadRequest` carrying the status to answer with.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import final

__all__ = ["MAX_HEAD", "MAX_HEADERS", "Request", "BadRequest", "head_end", "parse_head", "response"]

MAX_HEAD = 8192
MAX_HEADERS = 64

# RFC 9110 token characters (method and header names).
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(rb"^HTTP/1\.[01]$")
_TARGET = re.compile(rb"^/[\x21-\x7e]*$")

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


@final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A parsed request head. ``path`` is the target without its query."""

    method: str
    target: str
    path: str
    version: str
    headers: tuple[tuple[str, str], ...]


@final
class BadRequest(Exception):
    """The bytes are not a request this server accepts; answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def head_end(buffer: bytes) -> int:
    """The length of the head in ``buffer`` (through the blank line), or -1 if incomplete.

    Raises:
        BadRequest: 431 when no blank line came within :data:`MAX_HEAD` bytes.
    """
    end = buffer.find(b"\r\n\r\n")
    if end >= 0 and end + 4 <= MAX_HEAD:
        return end + 4
    if len(buffer) >= MAX_HEAD or end >= 0:
        raise BadRequest(431, f"request head is longer than {MAX_HEAD} bytes")
    return -1


def parse_head(head: bytes) -> Request:
    """Parse a complete head (as delimited by :func:`head_end`).

    Raises:
        BadRequest: 400 for a malformed request line or header, 431 for too
            many headers.
    """
    lines = head.split(b"\r\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise BadRequest(400, "empty request")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise BadRequest(400, "malformed request line (expected: METHOD /path HTTP/1.1)")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise BadRequest(400, "malformed request method")
    if not _TARGET.match(target):
        raise BadRequest(400, "request target must be an absolute path such as /debug/status")
    if not _VERSION.match(version):
        raise BadRequest(400, "unsupported protocol version (expected HTTP/1.0 or HTTP/1.1)")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest(431, f"more than {MAX_HEADERS} header fields")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            # also refuses obsolete line folding (a line starting with a space)
            raise BadRequest(400, "malformed header field")
        try:
            text = value.strip(b" \t").decode("ascii")
        except UnicodeDecodeError:
            raise BadRequest(400, "header field value is not ASCII") from None
        headers.append((name.decode("ascii").lower(), text))
    target_text = target.decode("ascii")
    return Request(
        method=method.decode("ascii"),
        target=target_text,
        path=target_text.split("?", 1)[0],
        version=version.decode("ascii"),
        headers=tuple(headers),
    )


def response(status: int, payload: object, *, head_only: bool = False,
             extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete ``Connection: close`` response with ``payload`` as JSON."""
    body = json.dumps(payload, indent=2, sort_keys=False).encode() + b"\n"
    fields = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        ("Cache-Control", "no-store"),
        *extra,
    ]
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in fields) + "\r\n"
    return head.encode("ascii") + (b"" if head_only else body)
