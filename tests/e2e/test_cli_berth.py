"""``berth`` against a real ``berthd`` started in a temp dir.

One daemon per module (the shared ``berthd`` fixture); each test uses its own
namespace names. The daemon is stopped by its pid and its temp dir removed
(kept, with the log path printed, when a test failed).
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

from berth.testing.daemon import Daemon, DaemonFactory

BERTH = pathlib.Path(sys.executable).parent / "berth"


@pytest.fixture(scope="module")
def daemon(berthd: Daemon) -> Daemon:
    """The module's daemon (tests/conftest.py starts it and stops it by pid)."""
    return berthd


def berth(daemon: Daemon, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(BERTH), "-a", str(daemon.socket), *args], capture_output=True, text=True,
                            timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)}: rc {result.returncode}\n{result.stderr}")
    return result


# --- version ---------------------------------------------------------------------


def test_version(daemon: Daemon) -> None:
    result = berth(daemon, "version")
    lines = result.stdout.splitlines()
    uuid = (daemon.root / "io.containerd.service.v1.introspection-service" / "uuid").read_text().strip()
    assert lines[0] == "Client:" and lines[5] == "Server:"
    assert lines[6:8] == lines[1:3]  # same version and revision: the same tree
    assert lines[8] == f"  UUID: {uuid}"
    assert result.stderr == ""  # no mismatch warning


def test_version_json(daemon: Daemon) -> None:
    info = json.loads(berth(daemon, "--format", "json", "version").stdout)
    assert info["server"]["version"] == info["client"]["version"]
    assert info["server"]["pid"] == daemon.proc.pid


def test_version_does_not_import_trio(daemon: Daemon) -> None:
    code = ("import sys, berth.cli.main as m\n"
            f"rc = m.main(['-a', {str(daemon.socket)!r}, 'version'])\n"
            "print('RESULT', rc, sorted(k for k in sys.modules if k == 'trio' or k.startswith('trio.')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "RESULT 0 []" in result.stdout, result.stderr


# --- plugins ---------------------------------------------------------------------


def _rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()]


def test_plugins_ls(daemon: Daemon) -> None:
    rows = _rows(berth(daemon, "plugins", "ls").stdout)
    assert rows[0] == ["TYPE", "ID", "PLATFORMS", "STATUS"]
    for expected in (["io.containerd.metadata.v1", "lmdb", "-", "ok"],
                     ["io.containerd.grpc.v1", "version", "-", "ok"],
                     ["io.containerd.grpc.v1", "introspection", "-", "ok"],
                     ["io.containerd.grpc.v1", "namespaces", "-", "ok"],
                     ["io.containerd.grpc.v1", "events", "-", "ok"]):
        assert expected in rows


def test_plugins_ls_filters(daemon: Daemon) -> None:
    rows = _rows(berth(daemon, "plugins", "ls", "type==io.containerd.grpc.v1").stdout)[1:]
    assert rows and all(row[0] == "io.containerd.grpc.v1" for row in rows)
    assert berth(daemon, "plugins", "ls", "-q", "id==version", "id==lmdb").stdout.split() == ["lmdb", "version"]


def test_plugins_ls_detailed(daemon: Daemon) -> None:
    out = berth(daemon, "plugins", "ls", "-d", "id==lmdb").stdout
    assert re.match(r"Type: +io\.containerd\.metadata\.v1\nID: +lmdb\nExports: *\n +path +\S+meta\.lmdb\n$", out), out


def test_plugins_json(daemon: Daemon) -> None:
    items = json.loads(berth(daemon, "--format", "json", "plugins", "ls", "id==namespaces").stdout)
    assert items == [{"type": "io.containerd.grpc.v1", "id": "namespaces", "requires": ["io.containerd.metadata.v1"],
                      "platforms": [], "exports": {}, "capabilities": [], "status": "ok", "error": None}]


def test_plugins_bad_filter(daemon: Daemon) -> None:
    result = berth(daemon, "plugins", "ls", "id=", check=False)
    assert result.returncode == 3
    assert result.stderr.startswith("berth: invalid argument: filters: parse error")


# --- namespaces ------------------------------------------------------------------


def test_namespaces_lifecycle(daemon: Daemon) -> None:
    berth(daemon, "namespaces", "create", "e2e-a", "x=1", "y=2")
    berth(daemon, "ns", "create", "e2e-b")
    berth(daemon, "ns", "label", "e2e-a", "z=3", "x=")
    rows = {row[0]: row[1:] for row in _rows(berth(daemon, "ns", "ls").stdout)[1:]}
    assert rows["e2e-a"] == ["y=2,z=3"] and rows["e2e-b"] == []
    assert {"e2e-a", "e2e-b"} <= set(berth(daemon, "ns", "ls", "-q").stdout.split())
    listed = {n["name"]: n["labels"] for n in json.loads(berth(daemon, "--format", "json", "ns", "ls").stdout)}
    assert listed["e2e-a"] == {"y": "2", "z": "3"}
    assert berth(daemon, "ns", "rm", "e2e-a", "e2e-b").stdout == "e2e-a\ne2e-b\n"
    assert not {"e2e-a", "e2e-b"} & set(berth(daemon, "ns", "ls", "-q").stdout.split())


def test_namespaces_errors(daemon: Daemon) -> None:
    berth(daemon, "ns", "create", "e2e-dup")
    result = berth(daemon, "ns", "create", "e2e-dup", check=False)
    assert (result.returncode, result.stderr) == (5, 'berth: already exists: namespace "e2e-dup"\n')
    result = berth(daemon, "ns", "create", "Bad_NS!", check=False)
    assert result.returncode == 3 and result.stderr.startswith("berth: invalid argument: ")
    assert len(result.stderr.splitlines()) == 1
    result = berth(daemon, "ns", "label", "e2e-missing", "a=b", check=False)
    assert (result.returncode, result.stderr) == (4, 'berth: not found: namespace "e2e-missing"\n')
    result = berth(daemon, "ns", "rm", "e2e-missing", "e2e-dup")
    assert result.stdout == "e2e-dup\n" and "not found" in result.stderr


def test_unreachable_daemon(tmp_path: pathlib.Path) -> None:
    sock = tmp_path / "nothing.sock"
    result = subprocess.run([str(BERTH), "-a", str(sock), "ns", "ls"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (1, f"berth: cannot connect to berthd at {sock} (is it running?)\n")


# --- events ----------------------------------------------------------------------

EVENT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC (\S+) (\S+) (\{.*\})$")


def watch_events(daemon: Daemon, *args: str) -> "subprocess.Popen[bytes]":
    proc = subprocess.Popen([str(BERTH), "-a", str(daemon.socket), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
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


def trigger_until_seen(daemon: Daemon, proc: "subprocess.Popen[bytes]", prefix: str) -> tuple[str, str]:
    """Create namespaces until the watcher prints one (it subscribes asynchronously)."""
    buffer = ""
    for attempt in range(100):
        name = f"{prefix}-{attempt}"
        berth(daemon, "ns", "create", name, "k=v")
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            buffer += _drain(proc)
            for line in buffer.splitlines():
                if f'"name":"{name}"' in line:
                    return name, line
            time.sleep(0.02)
    raise AssertionError(f"no event seen; output so far:\n{buffer}")


def stop(proc: "subprocess.Popen[bytes]") -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    return proc.returncode, proc.stderr.read().decode()  # type: ignore[union-attr]


def test_events_prints_ctr_lines(daemon: Daemon) -> None:
    proc = watch_events(daemon, "events")
    try:
        name, line = trigger_until_seen(daemon, proc, "e2e-ev")
    finally:
        rc, err = stop(proc)
    match = EVENT_LINE.match(line)
    assert match, line
    # containerd stamps the caller's namespace on /namespaces/create; berth's store, the new one's
    assert match.group(2) in (name, "default")
    assert match.groups()[2:] == ("/namespaces/create", f'{{"name":"{name}","labels":{{"k":"v"}}}}')
    assert rc == 130 and "Traceback" not in err


def test_events_filters_and_json(daemon: Daemon) -> None:
    proc = watch_events(daemon, "--format", "json", "events", 'topic=="/namespaces/create",event.labels.k==v')
    try:
        name, line = trigger_until_seen(daemon, proc, "e2e-evj")
    finally:
        stop(proc)
    record = json.loads(line)
    assert record["topic"] == "/namespaces/create" and record["namespace"] in (name, "default")
    assert record["type_url"] == "containerd.events.NamespaceCreate"
    assert record["event"] == {"name": name, "labels": {"k": "v"}}


def test_events_fails_when_daemon_stops(berthd_factory: DaemonFactory) -> None:
    own = berthd_factory()
    proc = watch_events(own, "events")
    try:
        trigger_until_seen(own, proc, "e2e-stop")
        assert own.stop() == 0
        rc = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert rc != 0 and err.startswith("berth: ") and len(err.splitlines()) == 1, err
