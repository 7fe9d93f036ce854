"""The debug status server (``io.berth.debug.v1.status``) in a real berthd, asked with real ``curl``.

Also the sans-IO request parser it uses, on recorded request bytes.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator

import pytest

from berth.plugins.debug._http import MAX_HEAD, BadRequest, head_end, parse_head
from berth.testing.daemon import Daemon, DaemonFactory, make_workdir, remove_workdir, start, wait_for_socket

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed (apt-get install curl)")

SKIP_REASON = 'no debug address configured ([debug] address is "")'


def debug_config(workdir: pathlib.Path, extra: str = "") -> str:
    return f'version = 2\n[debug]\naddress = "{workdir / "debug.sock"}"\n{extra}'


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Daemon, pathlib.Path]]:
    """One daemon serving the debug socket, for the read-only tests of this module."""
    workdir = make_workdir()
    failed_before = request.session.testsfailed
    daemon: Daemon | None = None
    try:
        daemon = start(workdir, debug_config(workdir, "gid = 4321\n"))
        wait_for_socket(workdir / "debug.sock", 10)
        yield daemon, workdir / "debug.sock"
    finally:
        if daemon is not None:
            daemon.stop()
        remove_workdir(workdir, keep=daemon is None or request.session.testsfailed != failed_before)


def curl(sock: pathlib.Path, path: str, *args: str) -> tuple[str, dict[str, str], str]:
    """Status line, headers (lower-case names) and body of one request."""
    assert CURL is not None
    result = subprocess.run([CURL, "-sS", "-i", "--max-time", "10", "--unix-socket", str(sock), *args,
                             f"http://localhost{path}"], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.decode().partition("\r\n\r\n")
    status, *fields = head.split("\r\n")
    headers = {name.lower(): value for name, _, value in (f.partition(": ") for f in fields)}
    return status, headers, body


def raw_request(sock: pathlib.Path, data: bytes) -> bytes:
    """Send ``data``, read until the server closes the connection."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# --- served by a real daemon -------------------------------------------------------------


@needs_curl
def test_status(served: tuple[Daemon, pathlib.Path]) -> None:
    daemon, sock = served
    status, headers, body = curl(sock, "/debug/status")
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body.encode())
    doc = json.loads(body)
    assert doc["pid"] == daemon.pid
    assert 0 <= doc["uptime_seconds"] < 60
    plugins = {f'{p["type"]}.{p["id"]}': p for p in doc["plugins"]}
    assert plugins["io.containerd.metadata.v1.lmdb"] == {"type": "io.containerd.metadata.v1", "id": "lmdb",
                                                         "status": "ok", "error": None}
    assert plugins["io.berth.debug.v1.status"]["status"] == "ok"
    assert list(plugins)[-1] == "io.berth.debug.v1.status"  # requires "*": inits last
    assert set(doc["events"]) == {"subscribers", "published", "dropped", "ring_size", "ring_capacity", "last_seq"}
    assert set(doc["trio"]) == {"tasks_living", "tasks_runnable", "seconds_to_next_deadline", "io_statistics",
                                "run_sync_soon_queue_size"}
    assert doc["trio"]["tasks_living"] > 0


@needs_curl
def test_status_counts_events(served: tuple[Daemon, pathlib.Path]) -> None:
    daemon, sock = served
    before = json.loads(curl(sock, "/debug/status")[2])["events"]["published"]
    daemon.berth("namespaces", "create", "dbg-a")
    daemon.berth("namespaces", "rm", "dbg-a")
    after = json.loads(curl(sock, "/debug/status")[2])["events"]
    assert after["published"] == before + 2 and after["last_seq"] == after["published"]


@needs_curl
def test_plugins_list_matches_berth_plugins_ls(served: tuple[Daemon, pathlib.Path]) -> None:
    daemon, sock = served
    status, _, body = curl(sock, "/debug/plugins?verbose=1")  # a query string is ignored
    assert status == "HTTP/1.1 200 OK"
    listed = [(p["type"], p["id"], p["status"]) for p in json.loads(body)]
    rows = [line.split() for line in daemon.berth("plugins", "ls").stdout.splitlines()[1:]]
    assert listed == [(row[0], row[1], row[3]) for row in rows]


@needs_curl
def test_head_has_no_body(served: tuple[Daemon, pathlib.Path]) -> None:
    _, sock = served
    status, headers, body = curl(sock, "/debug/status", "--head")
    assert status == "HTTP/1.1 200 OK" and int(headers["content-length"]) > 0 and body == ""


@needs_curl
def test_unknown_path_is_404_and_other_methods_405(served: tuple[Daemon, pathlib.Path]) -> None:
    _, sock = served
    status, _, body = curl(sock, "/debug/nope")
    assert status == "HTTP/1.1 404 Not Found"
    assert json.loads(body) == {"error": "/debug/nope: not found; try /debug/plugins, /debug/status"}
    status, headers, body = curl(sock, "/debug/status", "-X", "POST", "-d", "x=1")
    assert status == "HTTP/1.1 405 Method Not Allowed" and headers["allow"] == "GET, HEAD"
    assert json.loads(body) == {"error": "method POST is not allowed; use GET"}


def test_garbage_is_400_and_the_connection_closed(served: tuple[Daemon, pathlib.Path]) -> None:
    daemon, sock = served
    reply = raw_request(sock, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"
    assert json.loads(body) == {"error": "malformed request line (expected: METHOD /path HTTP/1.1)"}
    reply = raw_request(sock, b"GET /debug/status HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert daemon.alive()


def test_a_silent_client_does_not_block_others(served: tuple[Daemon, pathlib.Path]) -> None:
    _, sock = served
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(str(sock))
        idle.sendall(b"GET /debug/st")  # and then nothing: it waits for its own timeout
        reply = raw_request(sock, b"GET /debug/plugins HTTP/1.0\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n")


def test_socket_mode_owner_and_removal(berthd_factory: DaemonFactory) -> None:
    workdir = berthd_factory.workdir()
    daemon = berthd_factory(debug_config(workdir, "gid = 4321\n"), workdir=workdir)
    sock = workdir / "debug.sock"
    wait_for_socket(sock, 10)
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (0, 4321)
    exports = daemon.berth("plugins", "ls", "-d", "id==status").stdout
    assert re.search(rf"Exports: *\n +address +{re.escape(str(sock))}\n", exports), exports
    assert daemon.stop() == 0
    assert not sock.exists()


def test_a_stale_socket_is_replaced(berthd_factory: DaemonFactory) -> None:
    workdir = berthd_factory.workdir()
    sock = workdir / "debug.sock"
    with socket.socket(socket.AF_UNIX) as old:
        old.bind(str(sock))  # left behind as by a killed daemon: a socket nobody listens on
    berthd_factory(debug_config(workdir), workdir=workdir)
    wait_for_socket(sock, 10)
    assert raw_request(sock, b"GET /debug/plugins HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 OK")


def test_something_else_at_the_address_is_a_plugin_error(berthd_factory: DaemonFactory) -> None:
    workdir = berthd_factory.workdir()
    (workdir / "debug.sock").write_text("not a socket")
    daemon = berthd_factory(debug_config(workdir), workdir=workdir)
    out = daemon.berth("plugins", "ls", "-d", "id==status").stdout
    message = (f"debug socket path {workdir / 'debug.sock'} exists and is not a socket; "
               "remove it or choose another [debug] address")
    assert re.search(rf"Error: *\n +Code: +FailedPrecondition\n +Message: +{re.escape(message)}\n", out), out
    assert (workdir / "debug.sock").read_text() == "not a socket"  # left alone


def test_the_grpc_address_is_refused(berthd_factory: DaemonFactory) -> None:
    workdir = berthd_factory.workdir()
    daemon = berthd_factory(f'version = 2\n[debug]\naddress = "unix://{workdir / "berth.sock"}"\n', workdir=workdir)
    errors = {item["id"]: item["error"] for item in
              json.loads(daemon.berth("--format", "json", "plugins", "ls", "id==status").stdout)}
    assert errors == {"status": {"code": "InvalidArgument", "message": (
        f"[debug] address unix://{workdir / 'berth.sock'} is also the [grpc] address; choose another path")}}
    assert daemon.berth("version").returncode == 0  # the API socket was not taken over


# --- without an address: skipped, with the reason -----------------------------------------


def test_skipped_without_an_address(berthd: Daemon) -> None:
    rows = [line.split() for line in berthd.berth("plugins", "ls").stdout.splitlines()]
    assert ["io.berth.debug.v1", "status", "-", "skip"] in rows
    out = berthd.berth("plugins", "ls", "-d", "id==status").stdout
    assert re.fullmatch(
        r"Type: +io\.berth\.debug\.v1\nID: +status\nRequires: *\n +\*\n"
        rf"Error: *\n +Code: +Unknown\n +Message: +{re.escape(SKIP_REASON)}: skip plugin\n",
        out,
    ), out


# --- the request parser, on recorded bytes ------------------------------------------------

CURL_REQUEST = b"GET /debug/status?x=1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"


def test_parse_a_curl_request() -> None:
    assert head_end(CURL_REQUEST[:20]) == -1
    assert head_end(CURL_REQUEST + b"body") == len(CURL_REQUEST)
    request = parse_head(CURL_REQUEST)
    assert (request.method, request.target, request.path, request.version) == (
        "GET", "/debug/status?x=1", "/debug/status", "HTTP/1.1")
    assert request.headers == (("host", "localhost"), ("user-agent", "curl/7.88.1"), ("accept", "*/*"))


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"\r\n\r\n", 400, "empty request"),
        (b"GET /x\r\n\r\n", 400, "malformed request line (expected: METHOD /path HTTP/1.1)"),
        (b"G(T /x HTTP/1.1\r\n\r\n", 400, "malformed request method"),
        (b"GET http://h/x HTTP/1.1\r\n\r\n", 400, "request target must be an absolute path such as /debug/status"),
        (b"GET /x HTTP/2.0\r\n\r\n", 400, "unsupported protocol version (expected HTTP/1.0 or HTTP/1.1)"),
        (b"GET /x HTTP/1.1\r\nno colon\r\n\r\n", 400, "malformed header field"),
        (b"GET /x HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400, "malformed header field"),
        (b"GET /x HTTP/1.1\r\nA: \xff\r\n\r\n", 400, "header field value is not ASCII"),
        (b"GET /x HTTP/1.1\r\n" + b"A: 1\r\n" * 65 + b"\r\n", 431, "more than 64 header fields"),
    ],
)
def test_parse_rejects(data: bytes, status: int, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_head(data)
    assert (info.value.status, info.value.message) == (status, message)


def test_head_too_long() -> None:
    with pytest.raises(BadRequest) as info:
        head_end(b"GET / HTTP/1.1\r\n" + b"x" * MAX_HEAD)
    assert (info.value.status, info.value.message) == (431, f"request head is longer than {MAX_HEAD} bytes")
