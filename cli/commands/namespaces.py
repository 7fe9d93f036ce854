"""``berth namespaces``: ``ls``, ``create``, ``label``, ``rm`` (group alias ``ns``).

As ctr: ``ls`` prints ``NAME LABELS`` with labels ``k=v`` sorted and joined
by ``,``; ``label NAME k=v ...`` sets each key (``k=`` removes it); ``rm``
prints each name it removed, and a name that does not exist is reported on
stderr without failing the command (removal is idempotent); another error
fails it after trying the rest.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from berth.cli.commands import Context, is_connect_error, parse_labels

__all__ = ["add_parser", "ls", "create", "label", "rm", "format_table"]

_SERVICE = "/containerd.services.namespaces.v1.Namespaces/"


def add_parser(groups: Any) -> None:
    group = groups.add_parser("namespaces", aliases=["namespace", "ns"], help="manage namespaces")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("ls", aliases=["list"], help="list namespaces")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the names")
    p.set_defaults(run=ls)

    p = commands.add_parser("create", aliases=["c"], help="create a namespace: NAME [LABEL=VALUE...]")
    p.add_argument("name")
    p.add_argument("labels", nargs="*", metavar="LABEL=VALUE")
    p.set_defaults(run=create)

    p = commands.add_parser("label", help="set labels of a namespace: NAME [LABEL=VALUE...] (LABEL= removes)")
    p.add_argument("name")
    p.add_argument("labels", nargs="*", metavar="LABEL=VALUE")
    p.set_defaults(run=label)

    p = commands.add_parser("rm", aliases=["remove"], help="remove namespaces: NAME...")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(run=rm)


def format_table(rows: list[tuple[str, dict[str, str]]]) -> str:
    from berth.cli._tabwriter import tabulate

    lines = ["NAME\tLABELS\t\n"]
    for name, labels in rows:
        lines.append(f"{name}\t{','.join(sorted(f'{k}={v}' for k, v in labels.items()))}\t\n")
    return tabulate("".join(lines), minwidth=1, padding=1)


def ls(ctx: Context, args: argparse.Namespace) -> int:
    from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as pb

    response = ctx.client().unary(_SERVICE + "List", pb.ListNamespacesRequest(), pb.ListNamespacesResponse)
    rows = [(n.name, dict(n.labels)) for n in response.namespaces]
    if args.quiet:
        sys.stdout.write("".join(f"{name}\n" for name, _ in rows))
    elif ctx.json:
        from berth.cli._output import print_json

        print_json([{"name": name, "labels": dict(sorted(labels.items()))} for name, labels in rows])
    else:
        sys.stdout.write(format_table(rows))
    return 0


def create(ctx: Context, args: argparse.Namespace) -> int:
    from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as pb

    namespace = pb.Namespace(name=args.name, labels=parse_labels(args.labels))
    ctx.client().unary(_SERVICE + "Create", pb.CreateNamespaceRequest(namespace=namespace),
                       pb.CreateNamespaceResponse)
    return 0


def label(ctx: Context, args: argparse.Namespace) -> int:
    if not args.labels:
        return 0  # an empty mask would replace every label: ctr changes nothing here either
    from google.protobuf import field_mask_pb2

    from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as pb

    labels = parse_labels(args.labels)
    request = pb.UpdateNamespaceRequest(
        namespace=pb.Namespace(name=args.name, labels={k: v for k, v in labels.items() if v}),
        update_mask=field_mask_pb2.FieldMask(paths=[f"labels.{k}" for k in labels]),
    )
    ctx.client().unary(_SERVICE + "Update", request, pb.UpdateNamespaceResponse)
    return 0


def rm(ctx: Context, args: argparse.Namespace) -> int:
    from google.protobuf import empty_pb2

    from berth.core.errors import BerthError, NotFound
    from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as pb

    first_error: BerthError | None = None
    for name in args.names:
        try:
            ctx.client().unary(_SERVICE + "Delete", pb.DeleteNamespaceRequest(name=name), empty_pb2.Empty)
        except NotFound as e:
            print(f"berth: {e}", file=sys.stderr)
            continue
        except BerthError as e:
            if is_connect_error(e):
                raise
            print(f"berth: unable to delete {name}: {e}", file=sys.stderr)
            first_error = first_error or e
            continue
        print(name, flush=True)
    if first_error is not None:
        return first_error.exit_code
    return 0
