#!/usr/bin/env python3
"""Generate the ``*_pb2.py`` modules beside the ``.proto`` files under ``proto/``.

The ``.proto`` files import each other as ``berth/proto/...`` so that the
generated modules import each other as ``berth.proto....``. protoc runs from
a temporary include root that holds a symlink ``berth/proto -> <repo>/proto``
plus grpc_tools' bundled well-known types (``google/protobuf/*.proto``)::

    <tmp>/berth/proto -> /work/main/proto
    protoc -I <tmp> -I <grpc_tools>/_proto --python_out=<out> berth/proto/...

With no ``--out``, ``<out>`` is the include root itself, so the files land
in the repository through the symlink. Only ``_pb2.py`` modules are written
(no gRPC stubs: berth routes calls with the service descriptors). Packages
that hold generated modules get an empty ``__init__.py`` when they lack one.

Usage::

    python scripts/gen_proto.py            # regenerate in place
    python scripts/gen_proto.py --out DIR  # write DIR/berth/proto/... instead
    python scripts/gen_proto.py --check    # exit 1 if the committed files are stale

Needs ``grpcio-tools`` (a test/dev dependency, never a runtime one).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
PROTO = REPO / "proto"
PREFIX = pathlib.PurePosixPath("berth/proto")


def proto_files(proto_root: pathlib.Path = PROTO) -> list[pathlib.PurePosixPath]:
    """Every ``.proto`` under ``proto_root``, relative to it, sorted."""
    return sorted(pathlib.PurePosixPath(p.relative_to(proto_root).as_posix()) for p in proto_root.rglob("*.proto"))


def _wkt_include() -> str:
    import grpc_tools  # only needed here: a dev dependency

    return str(pathlib.Path(grpc_tools.__file__).parent / "_proto")


def generate(out: pathlib.Path | None = None, proto_root: pathlib.Path = PROTO) -> list[pathlib.Path]:
    """Run protoc over every ``.proto``; return the generated files' paths.

    Args:
        out: directory receiving ``berth/proto/...``; None writes into
            ``proto_root`` itself (through the include root's symlink).
        proto_root: the ``proto/`` directory to read.

    Raises:
        RuntimeError: protoc failed; the message holds its output.
    """
    files = proto_files(proto_root)
    with tempfile.TemporaryDirectory(prefix="berth-protoc-") as tmp:
        include = pathlib.Path(tmp)
        (include / PREFIX.parent).mkdir(parents=True)
        os.symlink(proto_root, include / PREFIX)
        target = include if out is None else out
        target.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{include}",
            f"-I{_wkt_include()}",
            f"--python_out={target}",
            *(str(PREFIX / f) for f in files),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"protoc failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        base = proto_root if out is None else out / PREFIX
        generated = [base / f.with_name(f.stem + "_pb2.py") for f in files]
        for path in generated:
            _ensure_packages(path.parent, base)
        return generated


def _ensure_packages(directory: pathlib.Path, base: pathlib.Path) -> None:
    """Create empty ``__init__.py`` files from ``directory`` up to ``base``."""
    while directory != base and base in directory.parents:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text("")
        directory = directory.parent


def stale(proto_root: pathlib.Path = PROTO) -> list[str]:
    """Generated files that differ from a fresh run (relative paths)."""
    with tempfile.TemporaryDirectory(prefix="berth-protoc-out-") as tmp:
        fresh_base = pathlib.Path(tmp) / PREFIX
        differ = []
        for fresh in generate(pathlib.Path(tmp), proto_root):
            rel = fresh.relative_to(fresh_base)
            committed = proto_root / rel
            if not committed.exists() or committed.read_bytes() != fresh.read_bytes():
                differ.append(rel.as_posix())
        return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, help="write DIR/berth/proto/... instead of in place")
    parser.add_argument("--check", action="store_true", help="fail if committed files are stale")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale()
        for rel in differ:
            print(f"stale: proto/{rel}", file=sys.stderr)
        return 1 if differ else 0
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
