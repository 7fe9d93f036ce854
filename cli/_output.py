"""How the ``berth`` CLI prints: ctr's tables, Go's time and JSON spellings, ``--format json``.

Pure helpers, no trio and no protobuf import at module level.
"""
from __future__ import annotations

import base64
import datetime
import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from berth.cli._tabwriter import tabulate

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["table", "print_json", "go_time", "rfc3339nano", "go_json", "grpc_code_name"]

_GRPC_CODE_NAMES = (
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
    "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
)


def grpc_code_name(code: int) -> str:
    """A gRPC code as grpc-go's ``codes.Code.String()`` spells it (``NotFound``, ``Code(99)``)."""
    return _GRPC_CODE_NAMES[code] if 0 <= code < len(_GRPC_CODE_NAMES) else f"Code({code})"


def table(rows: Iterable[Sequence[str]], *, minwidth: int, padding: int, trailing_tab: bool = True,
          out: TextIO | None = None) -> None:
    """Print rows through the tabwriter port, each cell tab-terminated as ctr writes them."""
    end = "\t\n" if trailing_tab else "\n"
    text = "".join("\t".join(row) + end for row in rows)
    (out or sys.stdout).write(tabulate(text, minwidth=minwidth, padding=padding))


def print_json(value: object, out: TextIO | None = None) -> None:
    """Indented JSON, keys in the order given, one trailing newline."""
    (out or sys.stdout).write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _fraction(nanos: int) -> str:
    return ("." + f"{nanos:09d}".rstrip("0")) if nanos else ""


def go_time(ns: int) -> str:
    """Go's ``time.Time.String()`` of a UTC instant: ``2024-01-02 15:04:05.1234 +0000 UTC``."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return f"{base:%Y-%m-%d %H:%M:%S}{_fraction(nanos)} +0000 UTC"


def rfc3339nano(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: ``2024-01-02T15:04:05.1234Z``."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return f"{base:%Y-%m-%dT%H:%M:%S}{_fraction(nanos)}Z"


_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def go_json(msg: "Message") -> str:
    """A message as ``ctr events`` prints it: Go's ``json.Marshal`` of the gogo struct.

    Fields in declaration order, named as in the .proto, zero values left out
    (``omitempty``); timestamps are RFC 3339 and always present (containerd's
    event timestamps are non-nullable ``time.Time``); maps sorted by key;
    bytes in base64; ``<``, ``>`` and ``&`` escaped as Go does.
    """
    text = json.dumps(_go_value(msg), ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _go_value(msg: "Message") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        value = getattr(msg, fd.name)
        mt = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            if value:
                out[fd.name] = {k: _scalar_or_message(value[k]) for k in sorted(value)}
        elif fd.is_repeated:
            if value:
                out[fd.name] = [_scalar_or_message(v) for v in value]
        elif mt is not None and mt.full_name == "google.protobuf.Timestamp":
            has = msg.HasField(fd.name)
            out[fd.name] = rfc3339nano(value.seconds * 1_000_000_000 + value.nanos) if has else _GO_ZERO_TIME
        elif mt is not None:
            if msg.HasField(fd.name):
                out[fd.name] = _go_value(value)
        elif value:
            out[fd.name] = _scalar(value)
    return out


def _scalar_or_message(value: Any) -> Any:
    if hasattr(value, "DESCRIPTOR"):
        return _go_value(value)
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
