"""Start and stop a real ``berthd`` in a temp dir, for end-to-end tests.

Plugin authors use it the same way berth's own tests do::

    from berth.testing.daemon import running

    def test_my_plugin_loads() -> None:
        with running('[plugins."io.example.greeter.v1.hello"]\\ngreeting = "hi"\\n') as d:
            out = d.berth("plugins", "ls", "id==hello").stdout
            assert "ok" in out

Layout of a work dir (under ``/tmp``: a unix socket path must fit in 107 bytes)::

    /tmp/berth-XXXXXXXX/
    ├── config.toml      the config the daemon was started with
    ├── berthd.log       its stdout and stderr
    ├── berth.sock       --address (and berth.sock.ttrpc)
    ├── root/            --root
    └── state/           --state

The daemon is stopped by its pid: SIGTERM, then SIGKILL if it has not exited
within the timeout. :func:`running` removes the work dir afterwards unless the
block raised, in which case it keeps it and prints where the log is.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from berth.plugins.api.grpc.client import Client

__all__ = [
    "BIN",
    "Daemon",
    "DaemonError",
    "DaemonFactory",
    "berth_command",
    "berthd_command",
    "make_workdir",
    "remove_workdir",
    "running",
    "start",
    "wait_for_socket",
]

BIN = pathlib.Path(sys.executable).parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class DaemonError(Exception):
    """``berthd`` did not start (it exited, or did not listen in time); the message has its log."""


def berthd_command() -> list[str]:
    """How to run ``berthd``: the installed script next to this interpreter, else ``-m``."""
    script = BIN / "berthd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "berth.cli.daemon"]


def berth_command() -> list[str]:
    """How to run the ``berth`` admin tool."""
    script = BIN / "berth"
    return [str(script)] if script.exists() else [sys.executable, "-m", "berth.cli.main"]


def make_workdir(prefix: str = "berth-") -> pathlib.Path:
    """A fresh, short temp dir for one daemon (see the module docstring)."""
    return pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def remove_workdir(workdir: pathlib.Path, *, keep: bool = False) -> None:
    """Remove ``workdir``; with ``keep``, leave it and say where the log is."""
    if keep:
        print(f"kept {workdir} (berthd log: {workdir / 'berthd.log'})", file=sys.stderr)
        return
    shutil.rmtree(workdir, ignore_errors=True)


def wait_for_socket(path: str | os.PathLike[str], timeout: float = START_TIMEOUT,
                    alive: Any = None) -> None:
    """Block until a unix socket at ``path`` accepts a connection.

    Args:
        path: the socket file.
        timeout: seconds to wait.
        alive: optional callable; when it returns False the wait stops early.

    Raises:
        TimeoutError: nothing accepted within ``timeout`` (or ``alive()`` went False).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            break
        if os.path.exists(path):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(os.fspath(path))
                    return
                except OSError:
                    pass
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {os.fspath(path)}")


def _config_text(config: str | Mapping[str, Any]) -> str:
    if isinstance(config, str):
        return config
    from berth.core import _toml

    return _toml.dumps(dict(config))


@final
class Daemon:
    """One ``berthd`` process and its paths. Build it with :func:`start`."""

    def __init__(self, workdir: pathlib.Path, proc: subprocess.Popen[bytes]) -> None:
        self.workdir = workdir
        self.root = workdir / "root"
        self.state = workdir / "state"
        self.socket = workdir / "berth.sock"
        self.address = str(self.socket)
        self.ttrpc_address = f"{self.address}.ttrpc"
        self.config = workdir / "config.toml"
        self.log = workdir / "berthd.log"
        self.lock = self.root / "berthd.lock"
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def read_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def send_signal(self, signum: int) -> None:
        """Signal the daemon by its pid (nothing happens once it was reaped)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signum)

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code. Raises ``subprocess.TimeoutExpired``."""
        return self.proc.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait ``timeout`` seconds, then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"berthd {self.pid} did not stop within {timeout:g}s of SIGTERM; killing it", file=sys.stderr)
        return self.kill()

    def kill(self) -> int:
        """SIGKILL (no cleanup in the daemon) and reap. Returns the exit code."""
        if self.proc.poll() is None:
            self.send_signal(signal.SIGKILL)
        return self.proc.wait()

    def berth(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``berth -a <socket> ARGS``; with ``check``, a non-zero exit raises AssertionError."""
        result = subprocess.run([*berth_command(), "-a", self.address, *args], capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)}: exit {result.returncode}\n{result.stderr}")
        return result

    def client(self, *, namespace: str | None = "default", timeout: float | None = 10) -> Client:
        """A blocking gRPC client for this daemon (close it, or use ``with``)."""
        from berth.plugins.api.grpc.client import Client

        return Client(self.address, namespace=namespace, timeout=timeout)


def start(workdir: pathlib.Path, config: str | Mapping[str, Any] | None = "version = 2\n", *,
          args: Sequence[str] = (), timeout: float = START_TIMEOUT,
          env: Mapping[str, str] | None = None) -> Daemon:
    """Start ``berthd`` in ``workdir`` and wait until its gRPC socket accepts.

    Root, state and address are given as flags (``--root``, ``--state``,
    ``--address``), so ``config`` need not name them. Starting again in the
    same ``workdir`` reuses its root (a restart).

    Args:
        workdir: from :func:`make_workdir`.
        config: TOML text or a table written to ``config.toml``; None keeps
            the file that is there.
        args: extra ``berthd`` arguments (``--log-format json``).
        timeout: seconds to wait for the socket.
        env: the daemon's environment (default: this process's).

    Raises:
        DaemonError: it exited, or did not listen within ``timeout`` (it is
            then killed); the message holds its log.
    """
    if config is not None:
        (workdir / "config.toml").write_text(_config_text(config))
    log = workdir / "berthd.log"
    argv = [*berthd_command(), "--config", str(workdir / "config.toml"), "--root", str(workdir / "root"),
            "--state", str(workdir / "state"), "--address", str(workdir / "berth.sock"), *args]
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None)
    daemon = Daemon(workdir, proc)
    try:
        wait_for_socket(daemon.socket, timeout, alive=daemon.alive)
    except TimeoutError:
        code = daemon.returncode
        if code is None:
            daemon.kill()
            what = f"did not listen on {daemon.socket} within {timeout:g}s"
        else:
            what = f"exited with code {code}"
        raise DaemonError(f"berthd (pid {daemon.pid}) {what}; its log ({log}):\n{daemon.read_log()}") from None
    return daemon


@contextlib.contextmanager
def running(config: str | Mapping[str, Any] = "version = 2\n", *, args: Sequence[str] = (),
            timeout: float = START_TIMEOUT, keep_on_failure: bool = True) -> Iterator[Daemon]:
    """A daemon in a fresh work dir for the ``with`` block, stopped and removed after.

    The work dir is kept (its path printed) when the daemon failed to start
    or the block raised and ``keep_on_failure`` is set.
    """
    workdir = make_workdir()
    daemon: Daemon | None = None
    failed = True
    try:
        daemon = start(workdir, config, args=args, timeout=timeout)
        yield daemon
        failed = False
    finally:
        if daemon is not None:
            daemon.stop()
        remove_workdir(workdir, keep=failed and keep_on_failure)


@final
class DaemonFactory:
    """Starts daemons for one test and stops them all (by pid) in :meth:`close`.

    ``factory(config)`` starts a daemon in a new work dir, or in ``workdir=``
    to restart on the same root; :meth:`workdir` gives a tracked dir for a
    ``berthd`` the test runs itself (one that should refuse to start).
    """

    def __init__(self) -> None:
        self.daemons: list[Daemon] = []
        self.workdirs: list[pathlib.Path] = []

    def workdir(self) -> pathlib.Path:
        """A fresh work dir, removed by :meth:`close`."""
        path = make_workdir()
        self.workdirs.append(path)
        return path

    def __call__(self, config: str | Mapping[str, Any] | None = "version = 2\n", *, args: Sequence[str] = (),
                 workdir: pathlib.Path | None = None, env: Mapping[str, str] | None = None) -> Daemon:
        """Start a daemon (see :func:`start`) and track it."""
        if workdir is None:
            workdir = self.workdir()
        daemon = start(workdir, config, args=args, env=env)
        self.daemons.append(daemon)
        return daemon

    def close(self, *, keep: bool = False) -> None:
        """Stop every daemon still running; remove the work dirs unless ``keep``."""
        for daemon in self.daemons:
            daemon.stop()
        for path in self.workdirs:
            remove_workdir(path, keep=keep)
