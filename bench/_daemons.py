"""Private daemons for benchmarks: a berthd and a containerd, each in its own temp dir.

Layout of one daemon's temp dir (short, under /tmp: ``sun_path`` holds 108 bytes)::

    /tmp/berth-bench-<name>-XXXX/
    ├── config.toml
    ├── daemon.log          stdout and stderr of the daemon
    ├── root/               --root / root =
    ├── state/              --state / state =
    ├── d.sock              gRPC socket
    └── d.sock.ttrpc        containerd's ttrpc socket

Each daemon is stopped by its pid (SIGTERM, then SIGKILL after a grace
period) and its temp dir removed; the log is printed if it fails to start.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
from types import TracebackType
from typing import final

from berth.testing.daemon import wait_for_socket

__all__ = ["BERTH", "BERTHD", "CTR", "CONTAINERD", "Daemon", "start_berthd", "start_containerd",
           "containerd_missing", "berthd_missing"]

BIN = pathlib.Path(sys.executable).parent
BERTHD = BIN / "berthd"
BERTH = BIN / "berth"
CTR = pathlib.Path(shutil.which("ctr") or "/usr/bin/ctr")
CONTAINERD = pathlib.Path(shutil.which("containerd") or "/usr/bin/containerd")
START_SECONDS = 30.0
STOP_SECONDS = 15.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def berthd_missing() -> str | None:
    """Why berthd cannot be benchmarked, or None."""
    if not BERTHD.exists():
        return f"{BERTHD} is not installed (pip install -e . in the venv)"
    return None


def containerd_missing() -> str | None:
    """Why the containerd column must be skipped, or None."""
    for path in (CONTAINERD, CTR):
        if not path.exists():
            return f"{path} is not installed; install Debian's containerd to compare with it"
    return None


@final
class Daemon:
    """A daemon process in its own temp dir, serving gRPC on ``socket``.

    Args:
        name: label used in messages and the temp dir name.
        argv: the command; started with stdout/stderr to ``workdir/daemon.log``.
        workdir: the temp dir it owns; removed by :meth:`stop`.
        socket_path: where it listens; ready once a connect succeeds.

    Raises:
        RuntimeError: the daemon exited or did not listen within START_SECONDS
            (the message carries its log; the temp dir is removed).
    """

    def __init__(self, name: str, argv: list[str], workdir: pathlib.Path, socket_path: pathlib.Path) -> None:
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.socket = socket_path
        self.log = workdir / "daemon.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _wait_listening(self) -> None:
        try:
            wait_for_socket(self.socket, START_SECONDS, alive=lambda: self.proc.poll() is None)
            return
        except TimeoutError:
            pass
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before listening:\n"
                               f"{self.log.read_text(errors='replace')}")
        raise RuntimeError(f"{self.name} did not listen on {self.socket} within {START_SECONDS:.0f}s:\n"
                           f"{self.log.read_text(errors='replace')}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the daemon (all its threads) has used so far."""
        fields = pathlib.Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after STOP_SECONDS; then remove the temp dir."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"bench: {self.name} (pid {self.pid}) ignored SIGTERM for {STOP_SECONDS:.0f}s; killing it",
                      file=sys.stderr)
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _workdir(name: str) -> pathlib.Path:
    return pathlib.Path(tempfile.mkdtemp(prefix=f"berth-bench-{name}-", dir="/tmp"))


def start_berthd() -> Daemon:
    """A berthd with default plugins, root/state/socket in a new temp dir."""
    workdir = _workdir("berthd")
    try:
        config = workdir / "config.toml"
        config.write_text("version = 2\n")
        sock = workdir / "d.sock"
        argv = [str(BERTHD), "--config", str(config), "--root", str(workdir / "root"),
                "--state", str(workdir / "state"), "--address", str(sock)]
        return Daemon("berthd", argv, workdir, sock)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def start_containerd() -> Daemon:
    """A private containerd (CRI disabled), root/state/sockets in a new temp dir."""
    workdir = _workdir("containerd")
    try:
        sock = workdir / "d.sock"
        config = workdir / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{workdir / "root"}"\n'
            f'state = "{workdir / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{sock}"\n'
            f'[ttrpc]\n  address = "{sock}.ttrpc"\n'
        )
        return Daemon("containerd", [str(CONTAINERD), "--config", str(config)], workdir, sock)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
