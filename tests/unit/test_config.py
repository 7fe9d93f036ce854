"""Strict config loading (berth.core.config, berth.core._decode) and ``berthd config default|dump``.

Each error message is asserted whole: it names the file, the key path, what
was expected and what was found. The same errors through a real ``berthd``
process are in tests/e2e/test_daemon.py.
"""
from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import tomllib

import pytest

from berth.core import config as cfg
from berth.core._loader import collect
from berth.core.plugin import InitContext, Registration
from berth.testing.daemon import berthd_command

FILE = "/etc/berth/config.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('version = 2\nroot = "/x\n',
                     "TOML syntax error: Illegal character '\\n' (at line 2, column 11)", id="syntax-line"),
        pytest.param("version = 2\nversion = 2\n",
                     "TOML syntax error: Cannot overwrite a value (at line 2, column 12)", id="syntax-duplicate"),
        pytest.param("version = 2\nbogus = 1\n",
                     "unknown key bogus (known keys here: debug, disabled_plugins, grpc, plugins, "
                     "required_plugins, root, state, ttrpc, version)", id="unknown-top"),
        pytest.param('[grpc]\nadress = "/x"\n',
                     "unknown key grpc.adress (known keys here: address, gid, max_recv_message_size, "
                     "max_send_message_size, uid)", id="unknown-in-section"),
        pytest.param('[grpc]\nuid = "0"\n', "key grpc.uid: expected an integer, found a string '0'", id="wrong-type"),
        pytest.param("[grpc]\nuid = true\n", "key grpc.uid: expected an integer, found a boolean True",
                     id="bool-is-not-int"),
        pytest.param("[ttrpc]\ngid = 1.5\n", "key ttrpc.gid: expected an integer, found a number 1.5", id="float"),
        pytest.param("grpc = 1\n", "key grpc: expected a table, found an integer 1", id="section-not-table"),
        pytest.param('disabled_plugins = "io.x.v1.a"\n',
                     "key disabled_plugins: expected a list of strings, found a string 'io.x.v1.a'", id="not-a-list"),
        pytest.param("required_plugins = [1]\n", "key required_plugins[0]: expected a string, found an integer 1",
                     id="list-item"),
        # regression: the message said "expected a table of Any"
        pytest.param("[plugins]\nfoo = 1\n", "key plugins.foo: expected a table, found an integer 1",
                     id="plugin-section-not-table"),
        pytest.param('[plugins."lmdb"]\nmap_size = 1\n',
                     '[plugins."lmdb"]: invalid plugin key URI "lmdb" expect io.containerd.x.vx', id="bad-uri"),
        pytest.param('disabled_plugins = ["io.x.v1.a", "io.x"]\n',
                     'disabled_plugins: invalid plugin key URI "io.x" expect io.containerd.x.vx', id="bad-uri-list"),
        pytest.param("version = 3\n", "version must be 2 (found 3); berth reads the version 2 layout only",
                     id="version"),
        pytest.param('root = "var/lib/berth"\n', "root must be an absolute path (found 'var/lib/berth')",
                     id="relative-root"),
        pytest.param('root = "/srv/b"\nstate = "/srv/b/"\n', "root and state must be different paths",
                     id="root-is-state"),
        pytest.param('[grpc]\naddress = ""\n', 'grpc: grpc.address must not be empty (e.g. "/run/berth/berth.sock")',
                     id="empty-address"),
        pytest.param('[debug]\nformat = "xml"\n', "debug: debug.format 'xml' is not one of text, json",
                     id="log-format"),
    ],
)
def test_loads_errors(text: str, message: str) -> None:
    with pytest.raises(cfg.ConfigError) as info:
        cfg.loads(text, file=FILE)
    assert str(info.value) == f"{FILE}: {message}"


def test_loads_defaults_and_overrides() -> None:
    config = cfg.loads('version = 2\nroot = "/srv/berth"\n[grpc]\nuid = 1000\n[debug]\naddress = "/run/d.sock"\n')
    assert config.root == "/srv/berth" and config.state == "/run/berth"
    assert (config.grpc.uid, config.grpc.gid, config.grpc.address) == (1000, 0, "/run/berth/berth.sock")
    assert config.ttrpc_address == "/run/berth/berth.sock.ttrpc"
    assert config.debug.address == "/run/d.sock"
    assert cfg.loads("") == cfg.Config()


def test_load_missing_and_unreadable_files(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(str(missing))
    assert str(info.value) == f"{missing}: config file not found; pass --config FILE or create it"
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(str(binary))
    assert str(info.value).startswith(f"{binary}: cannot read config file: 'utf-8' codec can't decode byte 0xff")


# --- plugin sections ------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class GreeterConfig:
    greeting: str = "hello"
    repeat: int = 1

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1 (found {self.repeat})")


async def _init(ctx: InitContext) -> None:
    return None


REGS = [
    Registration(type="io.example.greeter.v1", id="hello", init=_init, config=GreeterConfig),
    Registration(type="io.example.plain.v1", id="plain", init=_init),
]


def test_plugin_configs_decode_sections_and_default_the_rest() -> None:
    config = cfg.loads('[plugins."io.example.greeter.v1.hello"]\ngreeting = "hi"\n')
    decoded = cfg.plugin_configs(config, REGS, file=FILE)
    assert decoded == {"io.example.greeter.v1.hello": GreeterConfig(greeting="hi"), "io.example.plain.v1.plain": None}
    assert cfg.plugin_configs(cfg.Config(), REGS, file=FILE)["io.example.greeter.v1.hello"] == GreeterConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('[plugins."io.x.v1.nope"]\na = 1\n',
                     '[plugins."io.x.v1.nope"]: no such plugin; configurable plugins are: io.example.greeter.v1.hello',
                     id="unknown-plugin"),
        pytest.param('[plugins."io.example.greeter.v1.hello"]\ngreting = "hi"\n',
                     'unknown key plugins."io.example.greeter.v1.hello".greting (known keys here: greeting, repeat)',
                     id="unknown-key"),
        pytest.param('[plugins."io.example.greeter.v1.hello"]\nrepeat = "2"\n',
                     "key plugins.\"io.example.greeter.v1.hello\".repeat: expected an integer, found a string '2'",
                     id="wrong-type"),
        pytest.param('[plugins."io.example.greeter.v1.hello"]\nrepeat = 0\n',
                     'plugins."io.example.greeter.v1.hello": repeat must be at least 1 (found 0)', id="invalid-value"),
        pytest.param('[plugins."io.example.plain.v1.plain"]\nx = 1\n',
                     '[plugins."io.example.plain.v1.plain"]: this plugin takes no configuration', id="no-config"),
    ],
)
def test_plugin_config_errors(text: str, message: str) -> None:
    config = cfg.loads(text, file=FILE)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.plugin_configs(config, REGS, file=FILE)
    assert str(info.value) == f"{FILE}: {message}"


def test_effective_config_round_trips_through_toml() -> None:
    from berth.core import _toml

    config = cfg.loads('root = "/srv/b"\ndisabled_plugins = ["io.example.plain.v1.plain"]\n'
                       '[plugins."io.example.greeter.v1.hello"]\ngreeting = "hi"\n')
    data = cfg.effective(config, cfg.plugin_configs(config, REGS, file=FILE))
    assert data["plugins"] == {"io.example.greeter.v1.hello": {"greeting": "hi", "repeat": 1}}
    assert tomllib.loads(_toml.dumps(data)) == data


# --- berthd config default | dump (the real command) ------------------------------------


def _berthd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*berthd_command(), *args], capture_output=True, text=True, timeout=60)


def test_config_default_parses_back_and_has_every_plugin_section() -> None:
    result = _berthd("config", "default")
    assert (result.returncode, result.stderr) == (0, "")
    data = tomllib.loads(result.stdout)
    configurable = {r.uri for r in collect() if r.config is not None}
    assert configurable and set(data["plugins"]) == configurable
    assert cfg.loads(result.stdout) == cfg.Config(plugins=data["plugins"])
    assert data["debug"] == {"address": "", "uid": 0, "gid": 0, "level": "info", "format": "text"}
    assert "# Unix socket serving daemon status as JSON over HTTP; \"\" disables it.\naddress = \"\"" in result.stdout


def test_config_dump_reflects_file_and_flags(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('version = 2\nroot = "/srv/from-file"\nrequired_plugins = ["io.containerd.metadata.v1.lmdb"]\n'
                      '[grpc]\naddress = "/run/file.sock"\nuid = 7\n'
                      '[plugins."io.containerd.metadata.v1.lmdb"]\nmap_size = 1048576\n')
    result = _berthd("--config", str(config), "--state", "/srv/state-flag", "--address", "/run/flag.sock",
                     "--log-level", "debug", "--log-format", "json", "config", "dump")
    assert (result.returncode, result.stderr) == (0, "")
    assert "#" not in result.stdout  # the effective config, without the comments of `default`
    data = tomllib.loads(result.stdout)
    assert data["root"] == "/srv/from-file" and data["state"] == "/srv/state-flag"
    assert data["grpc"]["address"] == "/run/flag.sock" and data["grpc"]["uid"] == 7
    assert data["debug"]["level"] == "debug" and data["debug"]["format"] == "json"
    assert data["required_plugins"] == ["io.containerd.metadata.v1.lmdb"]
    assert data["plugins"]["io.containerd.metadata.v1.lmdb"] == {"map_size": 1048576}
    assert not pathlib.Path("/srv/from-file").exists()  # dumping touches no state


def test_config_dump_reports_config_errors(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[plugins."io.containerd.metadata.v1.lmdb"]\nmap_size = 10\n')
    result = _berthd("--config", str(config), "config", "dump")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f'berthd: {config}: plugins."io.containerd.metadata.v1.lmdb": '
                             "map_size must be at least 1048576 bytes (found 10)\n")
