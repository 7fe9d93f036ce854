"""``python -m bench.run [NAME...] [--quick] [--json FILE] [--list]``

Discovers ``bench/bench_<name>.py`` modules, runs the named ones (all by
default) against a shared private berthd and containerd, and prints one
table per module. Each module exposes ``run(ctx: Context) -> list[Row]``;
its docstring's first line is the table's title.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import pkgutil
import sys
import time
from collections.abc import Sequence

from bench.harness import Context, Row, format_table, to_json

__all__ = ["discover", "main"]

PREFIX = "bench_"


def discover() -> list[str]:
    """Names of the benchmark modules (``api`` for ``bench_api.py``), sorted."""
    here = pathlib.Path(__file__).parent
    return sorted(m.name[len(PREFIX):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith(PREFIX))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description="berth benchmarks, side by side with containerd")
    p.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all); e.g. api")
    p.add_argument("--quick", action="store_true", help="fewer iterations: a smoke run, not numbers to quote")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    names = [n[len(PREFIX):] if n.startswith(PREFIX) else n for n in args.names] or available
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"bench: no benchmark named {', '.join(unknown)} (have: {', '.join(available)})", file=sys.stderr)
        return 2
    results: dict[str, list[Row]] = {}
    status = 0
    with Context(quick=args.quick) as ctx:
        for name in names:
            module = importlib.import_module(f"bench.{PREFIX}{name}")
            title = (module.__doc__ or name).strip().splitlines()[0]
            ctx.log(f"bench: running {name} ...")
            t0 = time.monotonic()
            ctx.containerd_requested = False
            try:
                rows: list[Row] = module.run(ctx)
            except Exception as e:  # one broken benchmark does not hide the others' tables
                print(f"bench: {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
                status = 1
                continue
            results[name] = rows
            print(f"\n## {name}: {title}  ({time.monotonic() - t0:.0f}s{', quick' if args.quick else ''})\n")
            print(format_table(rows), end="")
            if ctx.peer_skip_reason and ctx.containerd_requested:
                print(f"(peer column skipped: {ctx.peer_skip_reason})")
            sys.stdout.flush()
        meta = ctx.meta()
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(to_json(results, meta), indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
