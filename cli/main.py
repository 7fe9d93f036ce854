"""``berth``: the ctr-style admin tool.

    berth [-a ADDRESS] [-n NAMESPACE] [--format table|json] [--timeout D] GROUP COMMAND ...

``-a`` defaults to ``$BERTH_ADDRESS`` or ``/run/berth/berth.sock``; ``-n`` to
``$BERTH_NAMESPACE`` or ``default``. Groups: ``version``, ``plugins``,
``namespaces`` (``ns``), ``events``.

Start-up is kept small: this module imports argparse and the command
modules' parsers only; protobuf and the blocking gRPC client are imported
by the command that runs, and trio never is (the daemon's imports cost
about 10x what a command does).

Errors print one line on stderr and exit with the error class's
``exit_code``: ``berth: <label>: <message>`` (``berth: not found: namespace
"x"``); a daemon that is not running gives ``berth: cannot connect to berthd
at ADDRESS (is it running?)`` and exit 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from berth.cli.commands import Context, events, is_connect_error, namespaces, plugins, version

__all__ = ["main", "build_parser", "DEFAULT_ADDRESS", "DEFAULT_NAMESPACE"]

DEFAULT_ADDRESS = "/run/berth/berth.sock"
DEFAULT_NAMESPACE = "default"


def parse_duration(text: str) -> float:
    """Seconds from a Go-style duration (``10s``, ``1m30s``, ``500ms``) or a bare number."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    try:
        return float(text)
    except ValueError:
        pass
    total, number, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = next((u for u in ("ms", "us", "µs", "ns", "h", "m", "s") if text.startswith(u, i)), None)
        if unit is None or not number:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 10s, 1m30s, 500ms)")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: missing unit after {number!r}")
    return total


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berth",
        description="Admin tool for berthd, the container runtime daemon (ctr-style).",
    )
    parser.add_argument("-a", "--address", default=os.environ.get("BERTH_ADDRESS") or DEFAULT_ADDRESS,
                        help="berthd socket (env BERTH_ADDRESS, default %(default)s)")
    parser.add_argument("-n", "--namespace", default=os.environ.get("BERTH_NAMESPACE") or DEFAULT_NAMESPACE,
                        help="namespace of the calls (env BERTH_NAMESPACE, default %(default)s)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="output of list commands (default %(default)s)")
    parser.add_argument("--timeout", type=parse_duration, default=None,
                        help="deadline of each call, e.g. 10s (default: none)")
    groups = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
    version.add_parser(groups)
    plugins.add_parser(groups)
    namespaces.add_parser(groups)
    events.add_parser(groups)
    return parser


def _strip_label(message: str, label: str) -> str:
    # The daemon may send containerd's wire form, "<context>: <label>".
    suffix = f": {label}"
    return message[: -len(suffix)] if message.endswith(suffix) else message


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns (and, as a script, exits with) its status."""
    args = build_parser().parse_args(argv)
    ctx = Context(address=args.address, namespace=args.namespace, format=args.format, timeout=args.timeout)
    from berth.core.errors import BerthError

    try:
        return int(args.run(ctx, args) or 0)
    except BerthError as e:
        sys.stdout.flush()
        if is_connect_error(e):
            print(f"berth: {e}", file=sys.stderr)
            return 1
        print(f"berth: {e.label}: {_strip_label(str(e), e.label)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `berth ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
