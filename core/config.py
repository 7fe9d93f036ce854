"""The daemon's ``config.toml``: version 2 layout, as containerd's.

Loading is pure and strict: a TOML syntax error, an unknown key, a wrong type,
or a ``[plugins."<uri>"]`` section naming no known plugin each raise
:class:`ConfigError` before the daemon touches any state. Plugin sections are
decoded into each registration's config dataclass by :func:`plugin_configs`.
"""
from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from berth.core._decode import ConfigError, decode, encode
from berth.core.plugin import Registration

__all__ = [
    "Config",
    "GrpcConfig",
    "TtrpcConfig",
    "DebugConfig",
    "ConfigError",
    "load",
    "loads",
    "plugin_configs",
    "FIELD_DOCS",
    "field_docs",
    "effective",
]

LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")
LOG_FORMATS = ("text", "json")


@dataclasses.dataclass(kw_only=True)
class GrpcConfig:
    address: str = "/run/berth/berth.sock"
    uid: int = 0
    gid: int = 0
    max_recv_message_size: int = 16 * 1024 * 1024
    max_send_message_size: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.address:
            raise ValueError('grpc.address must not be empty (e.g. "/run/berth/berth.sock")')
        if len(self.address.encode()) > 104:
            raise ValueError(f"grpc.address {self.address!r} is longer than 104 bytes, the unix socket limit")
        if self.max_recv_message_size <= 0 or self.max_send_message_size <= 0:
            raise ValueError("grpc message size limits must be positive")


@dataclasses.dataclass(kw_only=True)
class TtrpcConfig:
    address: str = ""
    uid: int = 0
    gid: int = 0


@dataclasses.dataclass(kw_only=True)
class DebugConfig:
    address: str = ""
    uid: int = 0
    gid: int = 0
    level: str = "info"
    format: str = "text"

    def __post_init__(self) -> None:
        if self.level not in LOG_LEVELS:
            raise ValueError(f"debug.level {self.level!r} is not one of {', '.join(LOG_LEVELS)}")
        if self.format not in LOG_FORMATS:
            raise ValueError(f"debug.format {self.format!r} is not one of {', '.join(LOG_FORMATS)}")


@dataclasses.dataclass(kw_only=True)
class Config:
    version: int = 2
    root: str = "/var/lib/berth"
    state: str = "/run/berth"
    grpc: GrpcConfig = dataclasses.field(default_factory=GrpcConfig)
    ttrpc: TtrpcConfig = dataclasses.field(default_factory=TtrpcConfig)
    debug: DebugConfig = dataclasses.field(default_factory=DebugConfig)
    disabled_plugins: list[str] = dataclasses.field(default_factory=list)
    required_plugins: list[str] = dataclasses.field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.version != 2:
            raise ValueError(f"version must be 2 (found {self.version}); berth reads the version 2 layout only")
        for name in ("root", "state"):
            value = getattr(self, name)
            if not value.startswith("/"):
                raise ValueError(f"{name} must be an absolute path (found {value!r})")
        if self.root.rstrip("/") == self.state.rstrip("/"):
            raise ValueError("root and state must be different paths")

    @property
    def ttrpc_address(self) -> str:
        return self.ttrpc.address or f"{self.grpc.address}.ttrpc"


FIELD_DOCS: dict[str, str] = {
    "version": "Config layout version; berth reads version 2 (containerd's).",
    "root": "Persistent data: metadata, content, snapshots. Plugins get <root>/<type>.<id>.",
    "state": "Runtime data: sockets, task bundles. Plugins get <state>/<type>.<id>.",
    "disabled_plugins": 'Plugin URIs never initialized, e.g. ["io.containerd.snapshotter.v1.btrfs"].',
    "required_plugins": "Plugin URIs that must initialize, or the daemon refuses to start.",
    "grpc.address": "Unix socket of the containerd-compatible gRPC API (mode 0660).",
    "grpc.uid": "Owner uid of the gRPC socket.",
    "grpc.gid": "Owner gid of the gRPC socket.",
    "grpc.max_recv_message_size": "Largest request message in bytes (RESOURCE_EXHAUSTED above it).",
    "grpc.max_send_message_size": "Largest response message in bytes.",
    "ttrpc.address": 'ttrpc socket for shims; "" means <grpc.address>.ttrpc.',
    "ttrpc.uid": "Owner uid of the ttrpc socket.",
    "ttrpc.gid": "Owner gid of the ttrpc socket.",
    "debug.address": 'Unix socket serving daemon status as JSON over HTTP; "" disables it.',
    "debug.uid": "Owner uid of the debug socket.",
    "debug.gid": "Owner gid of the debug socket.",
    "debug.level": "Log level: trace, debug, info, warn, error.",
    "debug.format": "Log format: text or json.",
}


def _check_uri(file: str, where: str, uri: str) -> None:
    if not isinstance(uri, str) or len(uri.split(".")) < 4:
        raise ConfigError(f'{file}: {where}: invalid plugin key URI "{uri}" expect io.containerd.x.vx')


def loads(text: str, *, file: str = "config.toml") -> Config:
    """Parse config text.

    Raises:
        ConfigError: syntax (with line and column), unknown key, wrong type.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: TOML syntax error: {e}") from e
    config = decode(Config, data, file=file)
    for name in config.plugins:
        _check_uri(file, f'[plugins."{name}"]', name)
        if not isinstance(config.plugins[name], dict):
            raise ConfigError(f'{file}: key plugins."{name}": expected a table, found {type(config.plugins[name]).__name__}')
    for key in ("disabled_plugins", "required_plugins"):
        for uri in getattr(config, key):
            _check_uri(file, key, uri)
    return config


def load(path: str) -> Config:
    """Read and parse the config file at ``path`` (see :func:`loads`)."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config file not found; pass --config FILE or create it") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from e
    return loads(text, file=path)


def plugin_configs(config: Config, registrations: Iterable[Registration], *, file: str) -> dict[str, Any]:
    """Decode every plugin's section into its config class (defaults when absent).

    Raises:
        ConfigError: a section names no known plugin, or a key in it is bad.
    """
    by_uri: Mapping[str, Registration] = {r.uri: r for r in registrations}
    for name in config.plugins:
        if name not in by_uri:
            known = ", ".join(sorted(u for u, r in by_uri.items() if r.config is not None)) or "none"
            raise ConfigError(
                f'{file}: [plugins."{name}"]: no such plugin; configurable plugins are: {known}'
            )
    decoded: dict[str, Any] = {}
    for uri, reg in by_uri.items():
        section = config.plugins.get(uri, {})
        if reg.config is None:
            if section:
                raise ConfigError(f'{file}: [plugins."{uri}"]: this plugin takes no configuration')
            decoded[uri] = None
            continue
        decoded[uri] = decode(reg.config, section, file=file, path=f'plugins."{uri}"')
    return decoded


def effective(config: Config, plugin_config: Mapping[str, Any]) -> dict[str, Any]:
    """The whole effective config as plain data (for ``berthd config dump``)."""
    data = encode(config)
    data["plugins"] = {uri: encode(c) for uri, c in plugin_config.items() if c is not None}
    return data


def field_docs(registrations: Iterable[Registration]) -> dict[str, str]:
    """Comments for ``berthd config default``: core keys and plugin fields.

    A plugin documents a field with ``dataclasses.field(metadata={"doc": ...})``.
    """
    docs = dict(FIELD_DOCS)
    for reg in registrations:
        if reg.config is None:
            continue
        for f in dataclasses.fields(reg.config):
            if "doc" in f.metadata:
                docs[f"plugins.{reg.uri}.{f.name}"] = f.metadata["doc"]
    return docs
