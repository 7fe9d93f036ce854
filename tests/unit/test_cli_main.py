"""The ``berth`` CLI end to end in one process: argument parsing, output and
errors, with its client routed straight into the real service adapters (real
LMDB namespace store, real exchange) instead of over a socket."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from berth.cli import main as cli
from berth.cli.commands import Context
from berth.core import errors, namespaces
from berth.core._exchange import Exchange
from berth.core.introspection import PluginInfo, Status
from berth.core.rpc import Kind, RpcService
from berth.plugins.api.services.events import EventsService
from berth.plugins.api.services.introspection import IntrospectionService
from berth.plugins.api.services.namespaces import NamespacesService
from berth.plugins.api.services.version import VersionService
from berth.plugins.metadata.db import MetaDB
from berth.plugins.metadata.namespaces import LmdbNamespaceStore

PYTHON = sys.executable


class InProcessClient:
    """The blocking client's interface, calling handlers directly under trio.run."""

    def __init__(self, services: list[RpcService], namespace: str) -> None:
        self._routes = {f"/{s.service_name}/{m.name}": m for s in services for m in s.methods()}
        self._namespace = namespace
        self.calls: list[str] = []

    def _method(self, path: str) -> Any:
        self.calls.append(path)
        if path not in self._routes:
            raise errors.NotImplemented_(f"unknown method {path}")
        return self._routes[path]

    def unary(self, path: str, request: Any, response_type: type) -> Any:
        method = self._method(path)
        assert method.kind is Kind.UNARY and isinstance(request, method.request)

        async def call() -> Any:
            with namespaces.use(self._namespace):
                return await method.handler(method.request.FromString(request.SerializeToString()), None)

        response = trio.run(call)
        return response_type.FromString(response.SerializeToString())

    def server_stream(self, path: str, request: Any, response_type: type) -> Iterator[Any]:
        raise NotImplementedError  # events are covered by the e2e tests

    def close(self) -> None:
        pass


class StaticIntrospector:
    def plugins(self) -> list[PluginInfo]:
        return [
            PluginInfo(type="io.containerd.metadata.v1", id="lmdb", exports={"path": "/r/meta.lmdb"}),
            PluginInfo(type="io.containerd.snapshotter.v1", id="btrfs",
                       error=errors.Unknown("path /r must be a btrfs filesystem: skip plugin"), status=Status.SKIP),
            PluginInfo(type="io.containerd.grpc.v1", id="version"),
        ]

    def server_uuid(self) -> str:
        return "4a1f36a4-5d8d-4d0b-9d55-7e0b6f0f0c11"


@pytest.fixture
def client(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessClient]:
    db = MetaDB(tmp_path / "meta.lmdb", map_size=16 * 1024 * 1024)
    store = LmdbNamespaceStore(db, Exchange())
    introspector = StaticIntrospector()
    services: list[RpcService] = [
        VersionService(), IntrospectionService(lambda: introspector),  # type: ignore[arg-type, return-value]
        NamespacesService(lambda: store), EventsService(Exchange()),
    ]
    fake = InProcessClient(services, "default")
    monkeypatch.setattr(Context, "client", lambda self: fake)
    try:
        yield fake
    finally:
        db.close()


def berth(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_version(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = berth(capsys, "version")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "Client:" and lines[1].startswith("  Version:  ") and lines[3].startswith("  Python version: ")
    assert lines[5:] == ["Server:", lines[1], lines[2], "  UUID: 4a1f36a4-5d8d-4d0b-9d55-7e0b6f0f0c11"]
    assert client.calls == ["/containerd.services.version.v1.Version/Version",
                            "/containerd.services.introspection.v1.Introspection/Server"]


def test_plugins_ls(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = berth(capsys, "plugins", "ls")
    assert rc == 0
    assert out == (
        "TYPE                            ID         PLATFORMS    STATUS    \n"
        "io.containerd.metadata.v1       lmdb       -            ok        \n"
        "io.containerd.snapshotter.v1    btrfs      -            skip      \n"
        "io.containerd.grpc.v1           version    -            ok        \n"
    )
    assert berth(capsys, "plugin", "list", "-q", "id==lmdb", "id==btrfs")[1] == "lmdb\nbtrfs\n"


def test_plugins_ls_detailed_and_json(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = berth(capsys, "plugins", "ls", "-d", "type==io.containerd.snapshotter.v1")[1]
    assert out == (
        "Type:      io.containerd.snapshotter.v1\n"
        "ID:        btrfs\n"
        "Error:    \n"
        "           Code:        Unknown\n"
        "           Message:     path /r must be a btrfs filesystem: skip plugin\n"
    )
    import json

    items = json.loads(berth(capsys, "--format", "json", "plugins", "ls")[1])
    assert [(i["id"], i["status"]) for i in items] == [("lmdb", "ok"), ("btrfs", "skip"), ("version", "ok")]


def test_namespaces(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert berth(capsys, "namespaces", "create", "foo", "a=1", "b=2") == (0, "", "")
    assert berth(capsys, "ns", "c", "bar") == (0, "", "")
    assert berth(capsys, "ns", "label", "foo", "c=3", "a=") == (0, "", "")
    assert berth(capsys, "ns", "ls")[1] == "NAME LABELS  \nbar          \nfoo  b=2,c=3 \n"
    assert berth(capsys, "ns", "list", "-q")[1] == "bar\nfoo\n"
    assert berth(capsys, "--format", "json", "ns", "ls")[1] == (
        '[\n  {\n    "name": "bar",\n    "labels": {}\n  },\n'
        '  {\n    "name": "foo",\n    "labels": {\n      "b": "2",\n      "c": "3"\n    }\n  }\n]\n')
    assert berth(capsys, "ns", "remove", "foo", "nope", "bar") == (
        0, "foo\nbar\n", 'berth: namespace "nope": not found\n')
    assert berth(capsys, "ns", "ls")[1] == "NAME LABELS \n"


def test_daemon_errors_one_line_with_exit_code(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    berth(capsys, "ns", "create", "foo")
    assert berth(capsys, "ns", "create", "foo") == (
        errors.AlreadyExists.exit_code, "", 'berth: already exists: namespace "foo"\n')
    rc, _, err = berth(capsys, "ns", "create", "Bad_NS!")
    assert rc == errors.InvalidArgument.exit_code and err.startswith('berth: invalid argument: namespace "Bad_NS!"')
    assert err.count("\n") == 1
    rc, _, err = berth(capsys, "ns", "label", "nope", "a=1")
    assert (rc, err) == (errors.NotFound.exit_code, 'berth: not found: namespace "nope"\n')
    rc, _, err = berth(capsys, "plugins", "ls", "bad filter==")
    assert rc == errors.InvalidArgument.exit_code and err.startswith("berth: invalid argument: filters: parse error")


def test_label_without_labels_changes_nothing(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    berth(capsys, "ns", "create", "foo", "a=1")
    assert berth(capsys, "ns", "label", "foo") == (0, "", "")
    assert berth(capsys, "ns", "ls")[1] == "NAME LABELS \nfoo  a=1    \n"


def test_strip_label() -> None:
    assert cli._strip_label('namespace "x": not found', "not found") == 'namespace "x"'
    assert cli._strip_label('namespace "x"', "not found") == 'namespace "x"'


@pytest.mark.parametrize("text, seconds", [("10", 10.0), ("1.5", 1.5), ("10s", 10.0), ("1m30s", 90.0),
                                           ("500ms", 0.5), ("2h", 7200.0)])
def test_timeout_durations(text: str, seconds: float) -> None:
    assert cli.parse_duration(text) == pytest.approx(seconds)


def test_bad_timeout_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--timeout", "ten", "version"])
    assert exc.value.code == 2


def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_ADDRESS", "/tmp/x.sock")
    monkeypatch.setenv("BERTH_NAMESPACE", "k8s.io")
    args = cli.build_parser().parse_args(["version"])
    assert (args.address, args.namespace) == ("/tmp/x.sock", "k8s.io")
    monkeypatch.delenv("BERTH_ADDRESS")
    monkeypatch.delenv("BERTH_NAMESPACE")
    args = cli.build_parser().parse_args(["version"])
    assert (args.address, args.namespace) == ("/run/berth/berth.sock", "default")


# --- start-up: never trio -----------------------------------------------------------


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("BERTH_ADDRESS", None)
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_importing_cli_does_not_import_trio_or_protobuf() -> None:
    result = _run_python("import sys, berth.cli.main; "
                         "print(sorted(m for m in sys.modules if m.split('.')[0] in ('trio', 'google', 'h2')))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_version_run_does_not_import_trio(tmp_path: pathlib.Path) -> None:
    # No daemon at this address: the whole client path is imported, then the call fails.
    sock = tmp_path / "none.sock"
    result = _run_python(
        "import sys, berth.cli.main as m\n"
        f"rc = m.main(['-a', {str(sock)!r}, 'version'])\n"
        "print('RC', rc, 'trio' in sys.modules, 'berth.plugins.api.grpc.client' in sys.modules)\n"
    )
    assert f"berth: cannot connect to berthd at {sock} (is it running?)" in result.stderr
    assert "RC 1 False True" in result.stdout


def test_unreachable_daemon_message_and_exit_code(tmp_path: pathlib.Path) -> None:
    sock = tmp_path / "none.sock"
    result = subprocess.run([PYTHON, "-m", "berth.cli.main", "-a", str(sock), "ns", "ls"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == f"berth: cannot connect to berthd at {sock} (is it running?)\n"
