"""``berthd`` as a process: config errors, required plugins, the root lock, signals, logs, faulty plugins.

Every daemon here is a real ``berthd`` started by this test (berth.testing.daemon)
and stopped by its pid. A daemon that must refuse to start is run to its exit
and its whole stderr compared; it must leave nothing behind.

Faulty third-party plugins are real installed distributions: a module and a
``*.dist-info`` with a ``berth`` entry point in a directory on the daemon's
``PYTHONPATH`` (importlib.metadata finds them as it finds pip's).
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import textwrap
import time

import pytest

from berth.core._loader import collect
from berth.testing.daemon import DaemonFactory, berthd_command

EXIT_SECONDS = 10


def run_berthd(workdir: pathlib.Path, config: str, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``berthd --config <workdir>/config.toml ARGS`` to its exit (it is expected to refuse to start)."""
    path = workdir / "config.toml"
    path.write_text(config)
    return subprocess.run([*berthd_command(), "--config", str(path), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def paths(workdir: pathlib.Path) -> str:
    return (f'root = "{workdir / "root"}"\nstate = "{workdir / "state"}"\n'
            f'[grpc]\naddress = "{workdir / "berth.sock"}"\n')


def flags(workdir: pathlib.Path) -> list[str]:
    return ["--root", str(workdir / "root"), "--state", str(workdir / "state"),
            "--address", str(workdir / "berth.sock")]


def left_behind(workdir: pathlib.Path, *expected: str) -> set[str]:
    """Files in ``workdir`` besides config.toml and ``expected``."""
    return {p.name for p in workdir.iterdir()} - {"config.toml", *expected}


# --- config errors, through the real process --------------------------------------------

# Built-in configurable plugins, plus any third-party one installed in this
# venv (scripts/up.sh installs the README's example plugin).
CONFIGURABLE = ", ".join(sorted(r.uri for r in collect() if r.config is not None))

CONFIG_ERRORS = [
    pytest.param('version = 2\nroot = "/x\n', "TOML syntax error: Illegal character '\\n' (at line 2, column 11)",
                 id="toml-syntax"),
    pytest.param("version = 2\nbogus = true\n",
                 "unknown key bogus (known keys here: debug, disabled_plugins, grpc, plugins, required_plugins, "
                 "root, state, ttrpc, version)", id="unknown-key-top"),
    pytest.param('version = 2\n[ttrpc]\nadress = "/x"\n',
                 "unknown key ttrpc.adress (known keys here: address, gid, uid)", id="unknown-key-section"),
    pytest.param('version = 2\n[grpc]\nuid = "0"\n', "key grpc.uid: expected an integer, found a string '0'",
                 id="wrong-type"),
    pytest.param('version = 2\n[plugins."io.x.v1.nope"]\nenabled = true\n',
                 '[plugins."io.x.v1.nope"]: no such plugin; configurable plugins are: ' + CONFIGURABLE,
                 id="unknown-plugin"),
    pytest.param('version = 2\n[plugins."io.containerd.metadata.v1.lmdb"]\nmapsize = 1\n',
                 'unknown key plugins."io.containerd.metadata.v1.lmdb".mapsize (known keys here: map_size)',
                 id="bad-plugin-key"),
    pytest.param('version = 2\n[plugins."io.containerd.grpc.v1.version"]\nx = 1\n',
                 '[plugins."io.containerd.grpc.v1.version"]: this plugin takes no configuration',
                 id="unconfigurable-plugin"),
    pytest.param('version = 2\n[plugins."lmdb"]\nmap_size = 1048576\n',
                 '[plugins."lmdb"]: invalid plugin key URI "lmdb" expect io.containerd.x.vx', id="invalid-uri"),
    pytest.param('version = 2\ndisabled_plugins = ["cri"]\n',
                 'disabled_plugins: invalid plugin key URI "cri" expect io.containerd.x.vx', id="invalid-uri-list"),
]


@pytest.mark.parametrize(("text", "message"), CONFIG_ERRORS)
def test_config_error_exits_1_and_touches_nothing(berthd_factory: DaemonFactory, text: str, message: str) -> None:
    workdir = berthd_factory.workdir()
    result = run_berthd(workdir, text, *flags(workdir))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"berthd: {workdir / 'config.toml'}: {message}\n"
    assert left_behind(workdir) == set()


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        pytest.param("root = \"{w}/same\"\nstate = \"{w}/same/\"\n", (), "root and state must be different paths",
                     id="root-is-state"),
        pytest.param("", ("--root", "{w}/same", "--state", "{w}/same"), "root and state must be different paths",
                     id="root-is-state-flags"),
        pytest.param('root = "var/lib/berth"\nstate = "{w}/state"\n', (),
                     "root must be an absolute path (found 'var/lib/berth')", id="relative-root"),
        pytest.param("", ("--root", "relative/root", "--state", "{w}/state"),
                     "root must be an absolute path (found 'relative/root')", id="relative-root-flag"),
    ],
)
def test_bad_root_or_state_exits_1_and_touches_nothing(berthd_factory: DaemonFactory, config: str,
                                                       args: tuple[str, ...], message: str) -> None:
    workdir = berthd_factory.workdir()
    result = run_berthd(workdir, "version = 2\n" + config.format(w=workdir), *(a.format(w=workdir) for a in args))
    assert (result.returncode, result.stderr) == (1, f"berthd: {workdir / 'config.toml'}: {message}\n")
    assert left_behind(workdir) == set()
    assert not (pathlib.Path.cwd() / "relative").exists()


def test_missing_config_file(berthd_factory: DaemonFactory) -> None:
    workdir = berthd_factory.workdir()
    missing = workdir / "nope.toml"
    result = subprocess.run([*berthd_command(), "--config", str(missing)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        1, f"berthd: {missing}: config file not found; pass --config FILE or create it\n")


# --- required plugins ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param('disabled_plugins = ["io.berth.debug.v1.status"]\n',
                     "required plugin io.berth.debug.v1.status not included (disabled or not installed)",
                     id="disabled"),
        pytest.param("", 'load required plugin io.berth.debug.v1.status: no debug address configured '
                         '([debug] address is ""): skip plugin', id="skipped"),
    ],
)
def test_required_plugin_missing_refuses_to_start(berthd_factory: DaemonFactory, extra: str, message: str) -> None:
    workdir = berthd_factory.workdir()
    config = f'version = 2\nrequired_plugins = ["io.berth.debug.v1.status"]\n{extra}' + paths(workdir)
    result = run_berthd(workdir, config, "--log-level", "error")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == f"berthd: {message}"
    assert len(lines) == 2 and lines[0].startswith('time="') and f'level=error msg="{message}"' in lines[0]
    # nothing left running or bound, the lock released; only the data directories stay
    assert left_behind(workdir) == {"root", "state"}
    assert not (workdir / "root" / "berthd.lock").exists()
    assert list((workdir / "state").iterdir()) == []


def test_required_plugins_that_load_are_fine(berthd_factory: DaemonFactory) -> None:
    daemon = berthd_factory('version = 2\nrequired_plugins = ["io.containerd.metadata.v1.lmdb", '
                            '"io.berth.server.v1.grpc"]\n')
    assert daemon.berth("plugins", "ls", "-q", "id==lmdb").stdout == "lmdb\n"


# --- the root lock ---------------------------------------------------------------------------


def test_second_daemon_on_the_same_root_exits_at_once(berthd_factory: DaemonFactory) -> None:
    first = berthd_factory()
    started = time.monotonic()
    result = subprocess.run([*berthd_command(), "--config", str(first.config), "--root", str(first.root),
                             "--state", str(first.state), "--address", str(first.socket)],
                            capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 5
    assert result.returncode == 1
    assert result.stderr == (f"berthd: root {first.root} is in use by another berthd (pid {first.pid}); "
                             "stop it or start this one with another --root\n")
    # the first one is untouched: still serving, still holding its lock
    assert first.alive() and first.lock.read_text() == f"{first.pid}\n"
    assert first.berth("version").returncode == 0


# --- signals -------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_gracefully_and_cleans_up(berthd_factory: DaemonFactory, signum: signal.Signals) -> None:
    workdir = berthd_factory.workdir()
    daemon = berthd_factory(f'version = 2\n[debug]\naddress = "{workdir / "debug.sock"}"\n', workdir=workdir)
    sockets = [daemon.socket, pathlib.Path(daemon.ttrpc_address), workdir / "debug.sock"]
    for path in sockets:
        deadline = time.monotonic() + 5
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert all(p.exists() for p in sockets) and daemon.lock.exists()
    daemon.send_signal(signum)
    assert daemon.wait(EXIT_SECONDS) == 0
    assert [p for p in sockets if p.exists()] == []
    assert not daemon.lock.exists()
    assert f"received {signum.name}, shutting down" in daemon.read_log()
    assert "Traceback" not in daemon.read_log()


def test_sighup_is_ignored(berthd_factory: DaemonFactory) -> None:
    daemon = berthd_factory()
    daemon.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "SIGHUP ignored" not in daemon.read_log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "SIGHUP ignored" in daemon.read_log()
    assert daemon.alive()
    assert daemon.berth("namespaces", "create", "after-hup").returncode == 0
    assert daemon.stop() == 0


# --- logs ------------------------------------------------------------------------------------


def test_log_format_json_gives_json_lines(berthd_factory: DaemonFactory) -> None:
    daemon = berthd_factory(args=["--log-format", "json", "--log-level", "debug"])
    assert daemon.stop() == 0
    lines = [line for line in daemon.read_log().splitlines() if line]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "msg", "module"} <= set(r) for r in records)
    messages = [r["msg"] for r in records]
    assert f"berthd successfully booted, serving on {daemon.socket}" in messages
    assert "received SIGTERM, shutting down" in messages
    skip = next(r for r in records if r["msg"].startswith("skip loading plugin io.berth.debug.v1.status"))
    assert (skip["level"], skip["module"]) == ("info", "berth.core._loader")


# --- faulty third-party plugins --------------------------------------------------------------

FAULTY = '''
from berth.core import errors
from berth.core.plugin import Registration, SkipPlugin, hookimpl
from typing import Protocol, runtime_checkable


@runtime_checkable
class Widget(Protocol):
    def spin(self) -> str: ...


async def crash(ctx):
    raise RuntimeError("boom: the widget driver is not loaded")


async def needs_widget(ctx):
    ctx.get(Widget)  # the crashed plugin's reason comes back as Unavailable
    return object()


async def decline(ctx):
    raise SkipPlugin("no widget hardware")


@hookimpl
def berth_register_plugins():
    return [
        Registration(type="io.test.widget.v1", id="crash", init=crash, provides=(Widget,)),
        Registration(type="io.test.user.v1", id="needs-widget", init=needs_widget, requires=("io.test.widget.v1",)),
        Registration(type="io.test.other.v1", id="decline", init=decline),
    ]
'''

CYCLE = '''
from berth.core.plugin import Registration, hookimpl

async def init(ctx):
    return object()

@hookimpl
def berth_register_plugins():
    return [
        Registration(type="io.test.a.v1", id="a", init=init, requires=("io.test.b.v1",)),
        Registration(type="io.test.b.v1", id="b", init=init, requires=("io.test.a.v1",)),
    ]
'''

DUPLICATE = '''
from berth.core.plugin import Registration, hookimpl

async def init(ctx):
    return object()

@hookimpl
def berth_register_plugins():
    return [Registration(type="io.containerd.metadata.v1", id="lmdb", init=init)]
'''


def install_on_path(site: pathlib.Path, module: str, source: str) -> dict[str, str]:
    """Write ``module`` and a distribution declaring it under the ``berth`` entry points; the env to use it."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module.replace('_', '-')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[berth]\n{module} = {module}\n")
    return {**os.environ, "PYTHONPATH": str(site)}


def test_a_crashing_plugin_does_not_kill_the_daemon(berthd_factory: DaemonFactory) -> None:
    workdir = berthd_factory.workdir()
    env = install_on_path(workdir / "site", "berthtest_faulty", FAULTY)
    daemon = berthd_factory(workdir=workdir, env=env)
    rows = [line.split() for line in daemon.berth("plugins", "ls").stdout.splitlines()]
    assert ["io.test.widget.v1", "crash", "-", "error"] in rows
    assert ["io.test.user.v1", "needs-widget", "-", "error"] in rows
    assert ["io.test.other.v1", "decline", "-", "skip"] in rows
    assert ["io.containerd.metadata.v1", "lmdb", "-", "ok"] in rows
    errors = {item["id"]: item["error"] for item in
              json.loads(daemon.berth("--format", "json", "plugins", "ls", "type~=io.test").stdout)}
    assert errors == {
        "crash": {"code": "Unknown", "message": "RuntimeError: boom: the widget driver is not loaded"},
        "needs-widget": {"code": "Unavailable",
                         "message": "Widget 'crash' is not available: RuntimeError: boom: the widget driver is "
                                    "not loaded"},
        "decline": {"code": "Unknown", "message": "no widget hardware: skip plugin"},
    }
    assert daemon.berth("namespaces", "create", "still-serving").returncode == 0
    assert daemon.alive() and daemon.stop() == 0


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        pytest.param("berthtest_cycle", CYCLE,
                     "plugin dependency cycle: io.test.a.v1.a -> io.test.b.v1.b -> io.test.a.v1.a", id="cycle"),
        pytest.param("berthtest_dup", DUPLICATE,
                     "plugin io.containerd.metadata.v1.lmdb is registered twice (by berth.plugins.metadata.plugin "
                     "and berthtest_dup); uninstall one of the packages or rename the plugin id", id="duplicate"),
    ],
)
def test_a_broken_plugin_graph_refuses_to_start(berthd_factory: DaemonFactory, module: str, source: str,
                                                message: str) -> None:
    workdir = berthd_factory.workdir()
    env = install_on_path(workdir / "site", module, source)
    result = run_berthd(workdir, "version = 2\n" + paths(workdir), env=env)
    assert (result.returncode, result.stderr) == (1, f"berthd: {message}\n")
    assert left_behind(workdir, "site") == set()
