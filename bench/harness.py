"""The benchmark harness: berth and a peer measured side by side, in one run.

Pieces:

- **Rows and tables** (pure): a :class:`Row` holds one metric for berth and
  for its peer (containerd, ctr); :func:`format_table` prints
  ``name | berth | peer | ratio berth/peer | target`` and :func:`to_json`
  gives the same data for ``--json FILE``.
- **Statistics** (pure): :func:`percentile`, :class:`Stats` (p50, p99,
  mean, min, max), :func:`throughput`.
- **Interleaving**: :func:`alternate` runs subjects A, B, A, B, ... (the
  starting subject rotates each round, so neither always goes first) and
  :func:`interleave` times single calls that way in blocks, so a burst of
  machine noise lands on both subjects instead of skewing one;
  :func:`time_commands` does the same for whole commands, hyperfine-like.
- **Daemons and load**: a private berthd and containerd (``_daemons``) and
  concurrent client processes (``_load``), owned by a :class:`Context`
  that benchmark modules receive and that stops everything by pid.

A benchmark module ``bench/bench_<name>.py`` exposes ``run(ctx) -> list[Row]``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar, final

from bench._daemons import (
    BERTH,
    BERTHD,
    CONTAINERD,
    CTR,
    Daemon,
    berthd_missing,
    containerd_missing,
    start_berthd,
    start_containerd,
)
from bench._load import LoadPool, LoadResult

__all__ = [
    "Row", "Stats", "Context", "Daemon", "LoadPool", "LoadResult",
    "percentile", "throughput", "alternate", "interleave", "time_commands",
    "format_value", "format_table", "to_json",
    "BERTH", "BERTHD", "CTR", "CONTAINERD",
]

T = TypeVar("T")
T_cm = TypeVar("T_cm")

# -- statistics (pure) ------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation (numpy's default).

    Raises:
        ValueError: no samples, or ``q`` outside 0..100.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100 (got {q})")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def throughput(count: int, seconds: float) -> float:
    """Operations per second; 0 for an empty interval."""
    return count / seconds if seconds > 0 else 0.0


@final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """Summary of latency samples (seconds)."""

    n: int
    mean: float
    p50: float
    p99: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("stats of no samples")
        return cls(n=len(samples), mean=sum(samples) / len(samples), p50=percentile(samples, 50),
                   p99=percentile(samples, 99), min=min(samples), max=max(samples))


# -- rows, tables, JSON (pure) ---------------------------------------------


@final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One metric for berth and its peer.

    Args:
        name: what was measured, e.g. ``Version p50 (1 client)``.
        berth, peer: the values in ``unit``; None when not measured (a
            skipped peer).
        unit: ``s`` (a duration, shown as ns/µs/ms/s), ``/s`` (a rate), or
            any other label shown after the number.
        target: the goal as text (``p50 <= 2x containerd``); empty for
            information only.
        max_ratio, min_ratio: the goal as a bound on ``berth / peer``; the
            table says ``ok`` or ``MISS``.
        note: a remark for the JSON output.
    """

    name: str
    berth: float | None
    peer: float | None
    unit: str = "s"
    target: str = ""
    max_ratio: float | None = None
    min_ratio: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a Row needs a name")
        for field in ("berth", "peer", "max_ratio", "min_ratio"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, (int, float)):
                raise TypeError(f"Row {self.name!r}: {field!r} must be a number or None "
                                f"(got {value!r} that is a {type(value)})")

    @property
    def ratio(self) -> float | None:
        """``berth / peer``, or None when either is missing or the peer is 0."""
        if self.berth is None or self.peer is None or self.peer == 0:
            return None
        return self.berth / self.peer

    @property
    def verdict(self) -> str:
        """``ok``/``MISS`` against the ratio bounds; empty with no bound or no ratio."""
        ratio = self.ratio
        if ratio is None or (self.max_ratio is None and self.min_ratio is None):
            return ""
        if self.max_ratio is not None and ratio > self.max_ratio:
            return "MISS"
        if self.min_ratio is not None and ratio < self.min_ratio:
            return "MISS"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ratio"] = self.ratio
        data["verdict"] = self.verdict
        return data


def format_value(value: float | None, unit: str) -> str:
    """``12.3 µs``, ``4.56 ms``, ``7.89k/s``; ``-`` for None."""
    if value is None:
        return "-"
    if unit == "s":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if abs(value) >= scale or scale == 1e-9:
                return f"{value / scale:.3g} {suffix}" if abs(value / scale) < 100 else f"{value / scale:.0f} {suffix}"
    if unit == "/s":
        if abs(value) >= 1e6:
            return f"{value / 1e6:.3g}M/s"
        if abs(value) >= 1e3:
            return f"{value / 1e3:.3g}k/s"
        return f"{value:.3g}/s"
    return f"{value:.3g} {unit}".rstrip()


def _cells(row: Row) -> list[str]:
    ratio = row.ratio
    target = " ".join(part for part in (row.target, row.verdict) if part)
    return [row.name, format_value(row.berth, row.unit), format_value(row.peer, row.unit),
            "-" if ratio is None else f"{ratio:.2f}x", target]


HEADER = ["name", "berth", "peer", "ratio berth/peer", "target"]


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table, one line per row, columns separated by `` | ``."""
    lines = [HEADER] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def fmt(cells: list[str]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([fmt(lines[0]), rule] + [fmt(line) for line in lines[1:]]) + "\n"


def to_json(results: Mapping[str, Sequence[Row]], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``{"meta": ..., "benchmarks": {module: [row, ...]}}`` with ratios and verdicts."""
    return {"meta": dict(meta), "benchmarks": {name: [row.as_dict() for row in rows] for name, rows in results.items()}}


# -- interleaving ------------------------------------------------------------


def alternate(subjects: Mapping[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Call each subject once per round, A, B, A, B, ..., rotating who goes first.

    With two subjects the order is A B | B A | A B ...: each is first in half
    the rounds, so warm caches or a cooling CPU favour neither.
    """
    names = list(subjects)
    results: dict[str, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            results[name].append(subjects[name]())
    return results


def interleave(subjects: Mapping[str, Callable[[], object]], *, iterations: int, warmup: int,
               block: int = 50) -> dict[str, list[float]]:
    """Latency samples (seconds) of single calls, interleaved in blocks.

    Each subject is called ``warmup`` times (interleaved, untimed), then
    ``iterations`` timed calls are made in blocks of ``block`` per subject,
    alternating subjects between blocks. A block of more than one call keeps
    each daemon's caches warm the way a busy client does, while still letting
    noise hit both sides.
    """
    clock = time.perf_counter

    def timed_block(fn: Callable[[], object], n: int) -> list[float]:
        samples = []
        for _ in range(n):
            t0 = clock()
            fn()
            samples.append(clock() - t0)
        return samples

    if warmup:
        alternate({name: (lambda fn=fn: timed_block(fn, warmup)) for name, fn in subjects.items()}, 1)
    rounds = max(1, math.ceil(iterations / block))
    blocks = alternate({name: (lambda fn=fn: timed_block(fn, block)) for name, fn in subjects.items()}, rounds)
    return {name: [s for b in bs for s in b][:iterations] for name, bs in blocks.items()}


def time_commands(commands: Mapping[str, Sequence[str]], *, runs: int, warmup: int = 3) -> dict[str, list[float]]:
    """Wall-clock seconds of whole commands, hyperfine-like, interleaved per run.

    Output goes to /dev/null (as hyperfine's default); the first run of each
    command is checked and a failing command raises with its stderr.

    Raises:
        RuntimeError: a command exited non-zero.
    """
    for name, argv in commands.items():
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{name}: {' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")

    def runner(argv: Sequence[str]) -> Callable[[], float]:
        def once() -> float:
            t0 = time.perf_counter()
            subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True, timeout=60)
            return time.perf_counter() - t0
        return once

    callers = {name: runner(argv) for name, argv in commands.items()}
    alternate(callers, warmup)
    return alternate(callers, runs)


# -- context -----------------------------------------------------------------


@final
class Context:
    """What a benchmark module's ``run(ctx)`` receives.

    ``berthd()`` and ``containerd()`` start the private daemons on first use
    and share them between modules; everything started is stopped (by pid)
    and its temp dir removed when the context closes. ``containerd()`` is
    None when containerd is not installed, with the reason printed once and
    kept in ``peer_skip_reason``.

    Args:
        quick: fewer iterations, for a smoke run.
        log: where progress and skip reasons go.
    """

    def __init__(self, *, quick: bool = False, log: Callable[[str], None] | None = None) -> None:
        self.quick = quick
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._stack = contextlib.ExitStack()
        self._berthd: Daemon | None = None
        self._containerd: Daemon | None = None
        self.peer_skip_reason: str | None = containerd_missing()
        self._skip_printed = False
        #: Set when a module asked for containerd; the runner resets it per module.
        self.containerd_requested = False

    def __enter__(self) -> Context:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def log(self, text: str) -> None:
        self._log(text)

    def n(self, full: int, quick: int) -> int:
        """An iteration count: ``full`` normally, ``quick`` with --quick."""
        return quick if self.quick else full

    def enter_context(self, cm: AbstractContextManager[T_cm]) -> T_cm:
        """Own ``cm`` (a Daemon, a LoadPool) until the context closes."""
        return self._stack.enter_context(cm)

    def berthd(self) -> Daemon:
        """The shared private berthd.

        Raises:
            RuntimeError: berthd is not installed or did not start.
        """
        if self._berthd is None:
            reason = berthd_missing()
            if reason:
                raise RuntimeError(reason)
            self._berthd = self.enter_context(start_berthd())
            self.log(f"bench: berthd pid {self._berthd.pid} on {self._berthd.socket}")
        return self._berthd

    def containerd(self) -> Daemon | None:
        """The shared private containerd, or None (reason printed) if it is not installed."""
        self.containerd_requested = True
        if self.peer_skip_reason is not None:
            if not self._skip_printed:
                self.log(f"bench: skipping the containerd column: {self.peer_skip_reason}")
                self._skip_printed = True
            return None
        if self._containerd is None:
            self._containerd = self.enter_context(start_containerd())
            self.log(f"bench: containerd pid {self._containerd.pid} on {self._containerd.socket}")
        return self._containerd

    def meta(self) -> dict[str, Any]:
        """Facts about this run for the JSON output."""
        def version(argv: list[str]) -> str:
            try:
                return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
            except OSError:
                return ""
        return {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "quick": self.quick,
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "kernel": platform.release(),
            "containerd": version([str(CONTAINERD), "--version"]) if self.peer_skip_reason is None else None,
            "peer_skip_reason": self.peer_skip_reason,
        }
