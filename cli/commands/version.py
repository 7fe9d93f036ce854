"""``berth version``: client and server versions, as ``ctr version`` prints them."""
from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

from berth.cli.commands import Context

__all__ = ["add_parser", "run"]


def add_parser(groups: Any) -> None:
    parser = groups.add_parser("version", help="print the client and server versions")
    parser.set_defaults(run=run)


def run(ctx: Context, args: argparse.Namespace) -> int:
    from berth.plugins.api.services import _buildinfo

    client = {"version": _buildinfo.version(), "revision": _buildinfo.revision(),
              "python_version": platform.python_version()}
    if not ctx.json:
        print("Client:")
        print(f"  Version:  {client['version']}")
        print(f"  Revision: {client['revision']}")
        print(f"  Python version: {client['python_version']}")
        print()
        sys.stdout.flush()  # shown even when the daemon cannot be reached, as ctr does

    from google.protobuf import empty_pb2

    from berth.proto.containerd.services.introspection.v1 import introspection_pb2
    from berth.proto.containerd.services.version.v1 import version_pb2

    api = ctx.client()
    version = api.unary("/containerd.services.version.v1.Version/Version", empty_pb2.Empty(),
                        version_pb2.VersionResponse)
    server_info = api.unary("/containerd.services.introspection.v1.Introspection/Server", empty_pb2.Empty(),
                            introspection_pb2.ServerResponse)
    server = {"version": version.version, "revision": version.revision, "uuid": server_info.uuid,
              "pid": server_info.pid}
    if ctx.json:
        from berth.cli._output import print_json

        print_json({"client": client, "server": server})
    else:
        print("Server:")
        print(f"  Version:  {server['version']}")
        print(f"  Revision: {server['revision']}")
        print(f"  UUID: {server['uuid']}")
    sys.stdout.flush()
    if server["version"] != client["version"]:
        print("WARNING: version mismatch", file=sys.stderr)
    if server["revision"] != client["revision"]:
        print("WARNING: revision mismatch", file=sys.stderr)
    return 0
