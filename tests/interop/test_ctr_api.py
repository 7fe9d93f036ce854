"""The real Debian ``ctr`` (containerd 1.6.20's client) against a real ``berthd``.

Where it helps, the same ``ctr`` commands also run against a private real
containerd (``/usr/bin/containerd`` in a temp dir) and the outputs are
compared. Both daemons are started here and stopped by their pids; temp dirs
are removed unless a test failed. berthd comes from the shared fixtures in
tests/conftest.py (berth.testing.daemon).
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from berth.testing.daemon import Daemon, DaemonFactory, wait_for_socket

BIN = pathlib.Path(sys.executable).parent
BERTH = BIN / "berth"
CTR = pathlib.Path("/usr/bin/ctr")
CONTAINERD = pathlib.Path("/usr/bin/containerd")
START_SECONDS = 30

pytestmark = pytest.mark.skipif(not CTR.exists(), reason="the real ctr (/usr/bin/ctr) is not installed")


class _Clients:
    """``ctr`` and ``berth`` against the daemon at ``self.socket``."""

    socket: pathlib.Path
    workdir: pathlib.Path

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(CTR), "-a", str(self.socket), *args], capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: rc {result.returncode}\n{result.stderr}")
        return result

    def berth(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BERTH), "-a", str(self.socket), *args], capture_output=True, text=True, timeout=60)


class Berthd(_Clients):
    """A berthd from berth.testing.daemon, seen through ctr and berth."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.socket = daemon.socket
        self.workdir = daemon.workdir


class Server(_Clients):
    """A containerd process in its own temp dir, listening on ``socket``."""

    def __init__(self, argv: list[str], workdir: pathlib.Path, socket_path: pathlib.Path) -> None:
        self.workdir = workdir
        self.socket = socket_path
        self.log = workdir / "daemon.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_socket(self.socket, START_SECONDS, alive=lambda: self.proc.poll() is None)
            return
        except TimeoutError:
            pass
        if self.proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {self.proc.returncode}:\n{self.log.read_text()}")
        self.stop()
        raise RuntimeError(f"{argv[0]} did not listen within {START_SECONDS}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_containerd(workdir: pathlib.Path) -> Server:
    sock = workdir / "c.sock"
    config = workdir / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{workdir / "root"}"\n'
        f'state = "{workdir / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n'
        f'[ttrpc]\n  address = "{sock}.ttrpc"\n'
    )
    return Server([str(CONTAINERD), "--config", str(config)], workdir, sock)


def _managed(request: pytest.FixtureRequest, prefix: str, start: object) -> Iterator[Server]:
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))  # short: sun_path has 108 bytes
    failed_before = request.session.testsfailed
    server = None
    try:
        server = start(workdir)  # type: ignore[operator]
        yield server
    finally:
        if server is not None:
            server.stop()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}", file=sys.stderr)


@pytest.fixture(scope="module")
def berthd(berthd: Daemon) -> Berthd:
    """The shared module daemon (tests/conftest.py), with ctr and berth helpers."""
    return Berthd(berthd)


@pytest.fixture(scope="module")
def containerd(request: pytest.FixtureRequest) -> Iterator[Server]:
    if not CONTAINERD.exists():
        pytest.skip("the real containerd is not installed to compare with")
    yield from _managed(request, "berth-ctrd-", start_containerd)


@pytest.fixture
def fresh_pair(request: pytest.FixtureRequest, berthd_factory: DaemonFactory) -> Iterator[tuple[Berthd, Server]]:
    """A new berthd and a new containerd, both with no namespaces yet."""
    if not CONTAINERD.exists():
        pytest.skip("the real containerd is not installed to compare with")
    b = Berthd(berthd_factory())
    ctrd_gen = _managed(request, "berth-ctrd-", start_containerd)
    c = next(ctrd_gen)
    try:
        yield b, c
    finally:
        next(ctrd_gen, None)


# --- version ---------------------------------------------------------------------


def test_ctr_version(berthd: Berthd) -> None:
    result = berthd.ctr("version")
    server = result.stdout.split("Server:\n", 1)[1]
    uuid = (berthd.workdir / "root" / "io.containerd.service.v1.introspection-service" / "uuid").read_text().strip()
    berth_version = berthd.berth("--format", "json", "version")
    assert berth_version.returncode == 0, berth_version.stderr
    import json

    client = json.loads(berth_version.stdout)["client"]
    assert server == f"  Version:  {client['version']}\n  Revision: {client['revision']}\n  UUID: {uuid}\n"
    # ctr's own version differs from berth's: a warning, not a failure (as against containerd)
    assert "WARNING: version mismatch" in result.stderr


# --- plugins ---------------------------------------------------------------------


def test_ctr_plugins_ls(berthd: Berthd, containerd: Server) -> None:
    out = berthd.ctr("plugins", "ls").stdout
    lines = out.splitlines()
    # the header as containerd's ctr prints it (column widths follow the content)
    ref_header = containerd.ctr("plugins", "ls").stdout.splitlines()[0]
    assert lines[0].split() == ref_header.split() == ["TYPE", "ID", "PLATFORMS", "STATUS"]
    rows = [line.split() for line in lines[1:]]
    assert ["io.containerd.grpc.v1", "version", "-", "ok"] in rows
    assert ["io.containerd.metadata.v1", "lmdb", "-", "ok"] in rows
    assert {row[3] for row in rows} <= {"ok", "skip", "error"}
    # berth prints the very same table
    assert berthd.berth("plugins", "ls").stdout == out


def test_ctr_plugins_ls_filter(berthd: Berthd) -> None:
    out = berthd.ctr("plugins", "ls", "type==io.containerd.grpc.v1").stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows and {row[0] for row in rows} == {"io.containerd.grpc.v1"}
    assert {"version", "introspection", "namespaces", "events"} <= {row[1] for row in rows}
    assert berthd.berth("plugins", "ls", "type==io.containerd.grpc.v1").stdout == out
    assert berthd.ctr("plugins", "ls", "-q", "id==version", "id==lmdb").stdout.split() == ["lmdb", "version"]


def test_ctr_plugins_ls_detailed(berthd: Berthd) -> None:
    out = berthd.ctr("plugins", "ls", "-d").stdout
    assert re.search(r"^Type: +io\.containerd\.grpc\.v1\nID: +namespaces\nRequires: *\n +io\.containerd\.metadata\.v1$",
                     out, re.M), out
    assert berthd.berth("plugins", "ls", "-d").stdout == out


def test_ctr_plugins_bad_filter(berthd: Berthd, containerd: Server) -> None:
    ours = berthd.ctr("plugins", "ls", "id=", check=False)
    theirs = containerd.ctr("plugins", "ls", "id=", check=False)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.startswith("ctr: filters: parse error") and theirs.stderr.startswith("ctr: filters: parse error")
    assert ours.stderr.rstrip().endswith("invalid argument")


# --- namespaces ------------------------------------------------------------------


def test_ctr_namespaces_same_as_containerd(fresh_pair: tuple[Berthd, Server]) -> None:
    outputs = []
    for server in fresh_pair:
        steps = [
            server.ctr("namespaces", "create", "foo", "a=1", "b=2"),
            server.ctr("ns", "create", "bar"),
            server.ctr("ns", "label", "foo", "c=3", "a="),
            server.ctr("ns", "ls"),
            server.ctr("ns", "ls", "-q"),
            server.ctr("-n", "foo", "ns", "ls"),
            server.ctr("ns", "create", "foo", check=False),
            server.ctr("ns", "rm", "foo", "nope", "bar"),
            server.ctr("ns", "ls"),
        ]
        outputs.append([(s.returncode, s.stdout, s.stderr) for s in steps])
    ours, theirs = outputs
    assert ours == theirs
    assert ours[3][1] == "NAME LABELS  \nbar          \nfoo  b=2,c=3 \n"
    assert ours[6] == (1, "", 'ctr: namespace "foo": already exists\n')


def test_ctr_namespace_label_then_berth_sees_it(berthd: Berthd) -> None:
    berthd.ctr("ns", "create", "ctr-lbl")
    berthd.ctr("ns", "label", "ctr-lbl", "x=1")
    rows = {line.split()[0]: line.split()[1:] for line in berthd.berth("ns", "ls").stdout.splitlines()[1:]}
    assert rows["ctr-lbl"] == ["x=1"]
    berthd.ctr("ns", "rm", "ctr-lbl")


# --- events ----------------------------------------------------------------------

EVENT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})? \+0000 UTC) (\S+) (\S+) (\{.*\})$")


def _watch(cmd: list[str]) -> "subprocess.Popen[bytes]":
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(proc.stdout.fileno(), False)  # type: ignore[union-attr]
    return proc


def _drain(proc: "subprocess.Popen[bytes]") -> str:
    """What the process wrote to stdout so far, without blocking."""
    chunks = []
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def _stop(proc: "subprocess.Popen[bytes]") -> str:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    return _drain(proc)


def _create_until_seen(server: _Clients, watchers: "list[subprocess.Popen[bytes]]", prefix: str) -> tuple[str, list[str]]:
    """Create namespaces with berth until every watcher printed the same one (they subscribe asynchronously)."""
    buffers = ["" for _ in watchers]
    for attempt in range(100):
        name = f"{prefix}-{attempt}"
        created = server.berth("ns", "create", name, "k=v")
        assert created.returncode == 0, created.stderr
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            found = []
            for i, proc in enumerate(watchers):
                buffers[i] += _drain(proc)
                found.append(next((ln for ln in buffers[i].splitlines() if f'"name":"{name}"' in ln), None))
            if all(found):
                return name, [f for f in found if f]
            time.sleep(0.02)
    raise AssertionError(f"no event seen by every watcher: {buffers}")


def test_ctr_events_receives_berth_published_event(berthd: Berthd) -> None:
    ctr = _watch([str(CTR), "-a", str(berthd.socket), "events"])
    ours = _watch([str(BERTH), "-a", str(berthd.socket), "events"])
    try:
        name, (ctr_line, berth_line) = _create_until_seen(berthd, [ctr, ours], "ctr-ev")
    finally:
        _stop(ctr)
        _stop(ours)
    match = EVENT.match(ctr_line)
    assert match, ctr_line
    assert match.group(3) == "/namespaces/create"
    assert match.group(4) == f'{{"name":"{name}","labels":{{"k":"v"}}}}'
    assert berth_line == ctr_line  # berth events prints exactly what ctr prints


def test_ctr_events_with_filter(berthd: Berthd) -> None:
    ctr = _watch([str(CTR), "-a", str(berthd.socket), "events", 'topic=="/namespaces/delete"'])
    try:
        time.sleep(0.5)
        deadline = time.monotonic() + 20
        buffer = ""
        i = 0
        while time.monotonic() < deadline and "/namespaces/delete" not in buffer:
            name = f"ctr-evf-{i}"
            i += 1
            assert berthd.berth("ns", "create", name).returncode == 0
            assert berthd.berth("ns", "rm", name).returncode == 0
            time.sleep(0.2)
            buffer += _drain(ctr)
    finally:
        buffer += _stop(ctr)
    lines = [ln for ln in buffer.splitlines() if ln]
    assert lines and all(EVENT.match(ln) and EVENT.match(ln).group(3) == "/namespaces/delete" for ln in lines), lines  # type: ignore[union-attr]


def test_ctr_events_line_same_shape_as_containerd(containerd: Server, berthd: Berthd) -> None:
    lines = []
    for server in (containerd, berthd):
        ctr = _watch([str(CTR), "-a", str(server.socket), "events"])
        try:
            if server is containerd:  # containerd: create with ctr (berth's CLI also works, but keep it native)
                time.sleep(0.5)
                server.ctr("ns", "create", "shape-0", "k=v")
                time.sleep(0.5)
                line = next(ln for ln in _drain(ctr).splitlines() if "shape-0" in ln)  # type: ignore[union-attr]
            else:
                _, (line,) = _create_until_seen(server, [ctr], "shape")
        finally:
            _stop(ctr)
        lines.append(line)
    theirs, ours = (EVENT.match(ln) for ln in lines)
    assert theirs and ours, lines
    assert theirs.group(3) == ours.group(3) == "/namespaces/create"
    assert re.sub(r"shape-\d+", "N", theirs.group(4)) == re.sub(r"shape-\d+", "N", ours.group(4))
