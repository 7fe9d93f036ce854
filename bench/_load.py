"""Concurrent load from N client *processes*, each with its own connection.

Processes, not threads: berth's blocking client is pure Python (h2 +
protobuf), so 8 threads in one interpreter would be serialised by the GIL
and measure the GIL, not the daemon. Each worker is a fresh
``python -m bench._load FACTORY`` (plain ``subprocess``, not
``multiprocessing``: nothing of the parent is re-imported, so a script
without a ``__main__`` guard cannot fork-bomb daemons) that builds its
callers once and keeps them, so connections stay open across rounds and the
daemons see the same long-lived clients while an interleaved A, B, A, B run
alternates between them. Workers speak JSON lines on stdin/stdout and are
stopped by their pids.

A caller comes from a *factory*: ``"module:function"`` taking one string
argument (an address) and returning a no-argument callable that makes one
call. Workers start each round at a shared ``time.monotonic()`` instant
(CLOCK_MONOTONIC is system-wide) and count the calls that finish before the
shared end.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, final

__all__ = ["LoadPool", "LoadResult"]

_START_DELAY = 0.2  # seconds between sending "go" and the shared start
_WARMUP_CALLS = 20
_REPO = str(pathlib.Path(__file__).resolve().parent.parent)


@final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    """One round: calls finished by all workers within ``seconds``, and each call's latency."""

    calls: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0


def _resolve(factory: str) -> Callable[[str], Callable[[], object]]:
    module, _, name = factory.partition(":")
    fn: Callable[[str], Callable[[], object]] = getattr(importlib.import_module(module), name)
    return fn


def _serve(factory: str, inp: IO[str], out: IO[str]) -> None:
    """A worker's loop: one JSON request per line in, one JSON reply per line out."""
    make = _resolve(factory)
    callers: dict[str, Callable[[], object]] = {}
    clock = time.perf_counter

    def reply(*message: Any) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    for line in inp:
        message = json.loads(line)
        try:
            if message[0] == "setup":
                arg = message[1]
                if arg not in callers:
                    callers[arg] = make(arg)
                    for _ in range(_WARMUP_CALLS):
                        callers[arg]()
                reply("ready")
            elif message[0] == "go":
                _, arg, start_at, end_at = message
                call = callers[arg]
                latencies: list[float] = []
                time.sleep(max(0.0, start_at - time.monotonic() - 0.02))
                while time.monotonic() < start_at:
                    pass  # spin the last bit: a sleep's wake-up jitter would skew the start
                while True:
                    t0 = clock()
                    call()
                    t1 = clock()
                    if time.monotonic() > end_at:
                        break
                    latencies.append(t1 - t0)
                reply("done", latencies)
        except Exception as e:  # report it; the parent raises
            reply("error", f"{type(e).__name__}: {e}")


@final
class LoadPool:
    """``workers`` client processes making calls from ``factory``.

    Example::

        with LoadPool(8, "bench.bench_api:version_caller") as pool:
            result = pool.run("/tmp/x/d.sock", seconds=2.0)
            print(result.throughput)

    Raises:
        RuntimeError: a worker failed (its exception text is in the message).
    """

    def __init__(self, workers: int, factory: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_REPO, os.environ.get("PYTHONPATH")])))
        self._procs: list[subprocess.Popen[str]] = []
        try:
            for _ in range(workers):
                self._procs.append(subprocess.Popen(
                    [sys.executable, "-m", "bench._load", factory], env=env, text=True,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                ))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> LoadPool:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _send(self, *message: Any) -> None:
        line = json.dumps(message) + "\n"
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write(line)
            proc.stdin.flush()

    def _gather(self, expect: str) -> list[list[Any]]:
        replies = []
        for proc in self._procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"load worker pid {proc.pid} exited (status {proc.wait()})")
            replies.append(json.loads(line))
        errors = [r[1] for r in replies if r[0] == "error"]
        if errors:
            raise RuntimeError(f"load worker failed: {errors[0]}")
        assert all(r[0] == expect for r in replies), replies
        return replies

    def setup(self, arg: str) -> None:
        """Build (once) and warm up each worker's caller for ``arg``."""
        self._send("setup", arg)
        self._gather("ready")

    def run(self, arg: str, seconds: float) -> LoadResult:
        """All workers call ``arg``'s caller in a loop for ``seconds``."""
        self.setup(arg)
        start = time.monotonic() + _START_DELAY
        self._send("go", arg, start, start + seconds)
        latencies: list[float] = []
        for reply in self._gather("done"):
            latencies.extend(reply[1])
        return LoadResult(calls=len(latencies), seconds=seconds, latencies=latencies)

    def close(self) -> None:
        """Close each worker's stdin (it exits); SIGKILL by pid any still running after 5 s."""
        for proc in self._procs:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs = []


if __name__ == "__main__":
    _serve(sys.argv[1], sys.stdin, sys.stdout)
