"""``berth events [FILTER...]``: print events as they happen, until interrupted.

One line per envelope, as ``ctr events``: ``<time> <namespace> <topic> <event
JSON>`` (Go's time and JSON spellings). Filters go to the daemon:
``topic=="/tasks/exit"``, ``namespace==default``, ``event.container_id==c1``.
An event whose type this tool does not know is printed as its ``type_url``
and base64 ``value`` (ctr drops it with a warning). ``--format json`` prints
one JSON object per line. If the daemon ends the stream the command fails.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from berth.cli.commands import Context

if TYPE_CHECKING:
    from berth.proto.containerd.services.events.v1.events_pb2 import Envelope

__all__ = ["add_parser", "run", "format_line"]


def add_parser(groups: Any) -> None:
    parser = groups.add_parser("events", aliases=["event"], help="print events as they happen")
    parser.add_argument("filters", nargs="*", help='filters, e.g. topic=="/tasks/exit" namespace==default')
    parser.set_defaults(run=run)


def _event_json(envelope: "Envelope") -> tuple[str, object]:
    import base64

    from berth.cli._output import go_json
    from berth.proto import anytypes

    if not envelope.HasField("event"):
        return "", None
    try:
        msg = anytypes.unpack(envelope.event)
    except Exception:  # bytes that do not parse as their type
        msg = None
    if msg is None:
        raw = {"type_url": envelope.event.type_url, "value": base64.b64encode(envelope.event.value).decode()}
        return json.dumps(raw, separators=(",", ":")), raw
    text = go_json(msg)
    return text, json.loads(text)


def format_line(envelope: "Envelope") -> str:
    """ctr's line: ``fmt.Println(timestamp, namespace, topic, json)``."""
    from berth.cli._output import go_time

    text, _ = _event_json(envelope)
    return f"{go_time(envelope.timestamp.ToNanoseconds())} {envelope.namespace} {envelope.topic} {text}"


def run(ctx: Context, args: argparse.Namespace) -> int:
    from berth.cli._output import rfc3339nano
    from berth.core.errors import Unavailable
    from berth.proto.containerd.services.events.v1 import events_pb2 as pb

    stream = ctx.client().server_stream("/containerd.services.events.v1.Events/Subscribe",
                                        pb.SubscribeRequest(filters=args.filters), pb.Envelope)
    for envelope in stream:
        if ctx.json:
            _, event = _event_json(envelope)
            line = json.dumps({
                "timestamp": rfc3339nano(envelope.timestamp.ToNanoseconds()),
                "namespace": envelope.namespace,
                "topic": envelope.topic,
                "type_url": envelope.event.type_url,
                "event": event,
            }, separators=(",", ":"), ensure_ascii=False)
        else:
            line = format_line(envelope)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    raise Unavailable("events: berthd ended the event stream (was it stopped?)")
