"""Wire-compatible API: Version RPC latency and throughput, and `version` commands, berthd vs containerd.

What is measured (all against private daemons, see ``bench/harness.py``):

- **Unary latency, 1 client**: ``/containerd.services.version.v1.Version/Version``
  called over one long-lived connection, berthd and containerd interleaved
  in blocks of 50 calls. The **same client** talks to both daemons: berth's
  blocking gRPC client (``berth.plugins.api.grpc.client.Client``), so a
  difference is the daemons', not the clients'.
- **Throughput, 8 concurrent clients**: 8 client *processes* (not threads:
  the pure-Python client would be serialised by the GIL), each with its
  own connection, calling in a loop for a fixed time; rounds alternate
  between the daemons. Reported: calls/s, p50 latency under that load, and
  the daemon's CPU time per call (utime+stime from /proc, all threads).
  On a machine with few CPUs the 8 clients compete with the daemon for
  CPU, so throughput there is bounded by client cost as much as by the
  daemon; *daemon CPU per call* is the number that does not depend on that.
- **Whole commands**: ``berth version`` against berthd vs ``ctr version``
  against containerd, and ``ctr version`` against berthd vs against
  containerd (the same client, so only the daemons differ); wall-clock
  median of many runs, interleaved, output to /dev/null (like hyperfine).
  ``berth version`` makes the same two calls as ``ctr version``
  (Version, then Introspection.Server for the UUID).

Target (from the wire-compatible API issue): berthd's p50 within 2x of containerd's.
"""
from __future__ import annotations

from collections.abc import Callable

from google.protobuf import empty_pb2

from bench.harness import BERTH, CTR, Context, LoadPool, Row, Stats, interleave, percentile, time_commands
from berth.plugins.api.grpc.client import Client
from berth.proto.containerd.services.version.v1 import version_pb2

__all__ = ["run", "version_caller", "VERSION_PATH", "CLIENTS"]

VERSION_PATH = "/containerd.services.version.v1.Version/Version"
CLIENTS = 8
NAMESPACE = "bench"


def version_caller(address: str) -> Callable[[], object]:
    """A connected client's one Version call (also the factory the load workers use)."""
    client = Client(address, namespace=NAMESPACE, timeout=30)
    client.connect()
    request = empty_pb2.Empty()

    def call() -> object:
        return client.unary(VERSION_PATH, request, version_pb2.VersionResponse)

    return call


def _latency(ctx: Context, addresses: dict[str, str]) -> list[Row]:
    iterations = ctx.n(5000, 400)
    ctx.log(f"bench: api: unary latency, 1 client, {iterations} calls each ...")
    callers = {name: version_caller(address) for name, address in addresses.items()}
    samples = interleave(callers, iterations=iterations, warmup=ctx.n(300, 50), block=50)
    stats = {name: Stats.of(s) for name, s in samples.items()}
    b, c = stats["berth"], stats.get("peer")
    return [
        Row(name="Version p50, 1 client", berth=b.p50, peer=c.p50 if c else None,
            target="<= 2x containerd", max_ratio=2.0),
        Row(name="Version p99, 1 client", berth=b.p99, peer=c.p99 if c else None),
        Row(name="Version mean, 1 client", berth=b.mean, peer=c.mean if c else None),
    ]


def _load(ctx: Context, addresses: dict[str, str], cpu: dict[str, Callable[[], float]]) -> list[Row]:
    rounds, seconds = ctx.n(4, 2), ctx.n(3.0, 1.0)
    ctx.log(f"bench: api: {CLIENTS} client processes, {rounds} rounds of {seconds:.0f}s each ...")
    calls = {name: 0 for name in addresses}
    elapsed = {name: 0.0 for name in addresses}
    cpu_used = {name: 0.0 for name in addresses}
    latencies: dict[str, list[float]] = {name: [] for name in addresses}
    with LoadPool(CLIENTS, f"{__name__}:version_caller") as pool:
        for address in addresses.values():
            pool.setup(address)  # connect and warm up outside the timed rounds
        names = list(addresses)
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                before = cpu[name]()
                result = pool.run(addresses[name], seconds)
                cpu_used[name] += cpu[name]() - before
                calls[name] += result.calls
                elapsed[name] += result.seconds
                latencies[name].extend(result.latencies)

    def value(name: str, what: str) -> float | None:
        if name not in addresses or not calls[name]:
            return None
        if what == "tput":
            return calls[name] / elapsed[name]
        if what == "p50":
            return percentile(latencies[name], 50)
        if what == "p99":
            return percentile(latencies[name], 99)
        return cpu_used[name] / calls[name]

    return [
        Row(name=f"Version throughput, {CLIENTS} client procs", berth=value("berth", "tput"),
            peer=value("peer", "tput"), unit="/s"),
        Row(name=f"Version p50 under {CLIENTS}-client load", berth=value("berth", "p50"), peer=value("peer", "p50")),
        Row(name=f"Version p99 under {CLIENTS}-client load", berth=value("berth", "p99"), peer=value("peer", "p99")),
        Row(name="daemon CPU per Version call", berth=value("berth", "cpu"), peer=value("peer", "cpu")),
    ]


def _commands(ctx: Context, addresses: dict[str, str]) -> list[Row]:
    runs = ctx.n(60, 10)
    ctx.log(f"bench: api: whole commands, {runs} runs each ...")
    commands = {"berth>berthd": [str(BERTH), "-a", addresses["berth"], "version"]}
    if CTR.exists():
        commands["ctr>berthd"] = [str(CTR), "-a", addresses["berth"], "version"]
    if "peer" in addresses:
        commands["ctr>containerd"] = [str(CTR), "-a", addresses["peer"], "version"]
    times = time_commands(commands, runs=runs)

    def median(name: str) -> float | None:
        return percentile(times[name], 50) if name in times else None

    return [
        Row(name="`berth version`>berthd vs `ctr version`>containerd (median)",
            berth=median("berth>berthd"), peer=median("ctr>containerd")),
        Row(name="`ctr version`>berthd vs `ctr version`>containerd (median)",
            berth=median("ctr>berthd"), peer=median("ctr>containerd")),
    ]


def run(ctx: Context) -> list[Row]:
    berthd = ctx.berthd()
    containerd = ctx.containerd()
    addresses = {"berth": str(berthd.socket)}
    cpu = {"berth": berthd.cpu_seconds}
    if containerd is not None:
        addresses["peer"] = str(containerd.socket)
        cpu["peer"] = containerd.cpu_seconds
    return _latency(ctx, addresses) + _load(ctx, addresses, cpu) + _commands(ctx, addresses)
