"""``berth plugins ls``: the daemon's plugins, as ``ctr plugins ls`` shows them.

Filters (``type==io.containerd.grpc.v1``, ``id==lmdb``) go to the daemon,
which evaluates them. STATUS is ``ok``, ``skip`` (the error says ``skip
plugin``) or ``error``; ``-d`` prints a block per plugin with its error.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from berth.cli.commands import Context

if TYPE_CHECKING:
    from berth.proto.containerd.services.introspection.v1.introspection_pb2 import Plugin

__all__ = ["add_parser", "ls", "status", "platforms_column", "format_table", "format_detailed"]


def add_parser(groups: Any) -> None:
    group = groups.add_parser("plugins", aliases=["plugin"], help="list the daemon's plugins")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ls_parser = commands.add_parser("ls", aliases=["list"], help="list plugins (filters: type==T, id==I)")
    ls_parser.add_argument("-q", "--quiet", action="store_true", help="print only the plugin ids")
    ls_parser.add_argument("-d", "--detailed", action="store_true", help="print a detailed block per plugin")
    ls_parser.add_argument("filters", nargs="*", help="filters, e.g. type==io.containerd.grpc.v1")
    ls_parser.set_defaults(run=ls)


def status(plugin: "Plugin") -> str:
    """``ok``, ``skip`` or ``error``, decided as ctr does."""
    if not plugin.HasField("init_err"):
        return "ok"
    return "skip" if "skip plugin" in plugin.init_err.message else "error"


def _platform(os_: str, arch: str, variant: str) -> str:
    if not os_:
        return "unknown"
    return "/".join(p for p in (os_, arch, variant) if p)


def platforms_column(plugin: "Plugin") -> str:
    """Unique ``os/arch[/variant]`` sorted and joined by ``,``; ``-`` when none."""
    if not plugin.platforms:
        return "-"
    return ",".join(sorted({_platform(p.os, p.architecture, p.variant) for p in plugin.platforms}))


def format_table(plugins: list["Plugin"]) -> str:
    from berth.cli._tabwriter import tabulate

    lines = ["TYPE\tID\tPLATFORMS\tSTATUS\t\n"]
    lines += [f"{p.type}\t{p.id}\t{platforms_column(p)}\t{status(p)}\t\n" for p in plugins]
    return tabulate("".join(lines), minwidth=4, padding=4)


def format_detailed(plugins: list["Plugin"]) -> str:
    """ctr's ``-d`` blocks (exports sorted by key; Go prints them in map order)."""
    from berth.cli._output import grpc_code_name
    from berth.cli._tabwriter import tabulate

    lines: list[str] = []
    for i, p in enumerate(plugins):
        if i:
            lines.append("\t\t\t\n")
        lines.append(f"Type:\t {p.type}\n")
        lines.append(f"ID:\t {p.id}\n")
        if p.requires:
            lines.append("Requires:\t\n")
            lines += [f"\t {r}\n" for r in p.requires]
        if p.platforms:
            lines.append(f"Platforms:\t {platforms_column(p)}\n")
        if p.exports:
            lines.append("Exports:\t\n")
            lines += [f"\t {k} \t {p.exports[k]}\n" for k in sorted(p.exports)]
        if p.capabilities:
            lines.append(f"Capabilities:\t {','.join(p.capabilities)}\n")
        if p.HasField("init_err"):
            lines.append("Error:\t\n")
            lines.append(f"\t Code:\t {grpc_code_name(p.init_err.code)}\n")
            lines.append(f"\t Message:\t {p.init_err.message}\n")
    return tabulate("".join(lines), minwidth=4, padding=4)


def _as_json(p: "Plugin") -> dict[str, object]:
    from berth.cli._output import grpc_code_name

    return {
        "type": p.type,
        "id": p.id,
        "requires": list(p.requires),
        "platforms": sorted({_platform(x.os, x.architecture, x.variant) for x in p.platforms}),
        "exports": {k: p.exports[k] for k in sorted(p.exports)},
        "capabilities": list(p.capabilities),
        "status": status(p),
        "error": ({"code": grpc_code_name(p.init_err.code), "message": p.init_err.message}
                  if p.HasField("init_err") else None),
    }


def ls(ctx: Context, args: argparse.Namespace) -> int:
    import sys

    from berth.proto.containerd.services.introspection.v1 import introspection_pb2 as pb

    response = ctx.client().unary("/containerd.services.introspection.v1.Introspection/Plugins",
                                  pb.PluginsRequest(filters=args.filters), pb.PluginsResponse)
    plugins = list(response.plugins)
    if args.quiet:
        sys.stdout.write("".join(f"{p.id}\n" for p in plugins))
    elif ctx.json:
        from berth.cli._output import print_json

        print_json([_as_json(p) for p in plugins])
    elif args.detailed:
        sys.stdout.write(format_detailed(plugins))
    else:
        sys.stdout.write(format_table(plugins))
    return 0
