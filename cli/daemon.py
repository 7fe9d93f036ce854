"""``berthd``: the daemon, and ``berthd config default|dump``.

Start-up order (as containerd): read and validate the whole config, collect
plugin registrations, decode every plugin section and order the graph — all
before touching any state; then create root/state, take the root lock, init
plugins, and serve once every plugin has initialized.
"""
from __future__ import annotations

import argparse
import dataclasses
import fcntl
import logging
import os
import pathlib
import signal
import sys
from typing import Any

from berth.core import config as cfg
from berth.core._decode import ConfigError
from berth.core._graph import PluginGraphError

__all__ = ["main"]

log = logging.getLogger("berthd")
DEFAULT_CONFIG = "/etc/berth/config.toml"
SHUTDOWN_SECONDS = 10


@dataclasses.dataclass
class Prepared:
    config: cfg.Config
    file: str
    registrations: list[Any]
    plugin_config: dict[str, Any]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berthd", description="berth container runtime daemon")
    p.add_argument("-c", "--config", help=f"config file (default {DEFAULT_CONFIG} if it exists)")
    p.add_argument("--root", help="persistent data directory (overrides config root)")
    p.add_argument("--state", help="runtime state directory (overrides config state)")
    p.add_argument("-a", "--address", help="gRPC socket (overrides [grpc] address)")
    p.add_argument("-l", "--log-level", choices=sorted(cfg.LOG_LEVELS), help="log level (overrides [debug] level)")
    p.add_argument("--log-format", choices=cfg.LOG_FORMATS, help="log format (overrides [debug] format)")
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("config", help="print configuration")
    c.add_argument("action", choices=("default", "dump"), help="default: the full default config; dump: the effective one")
    return p


def _load(args: argparse.Namespace) -> tuple[cfg.Config, str]:
    if args.config:
        path = args.config
        config = cfg.load(path)
    elif os.path.exists(DEFAULT_CONFIG):
        path = DEFAULT_CONFIG
        config = cfg.load(path)
    else:
        path, config = "(defaults)", cfg.Config()
    try:
        if args.root:
            config.root = args.root
        if args.state:
            config.state = args.state
        if args.address:
            config.grpc.address = args.address
        if args.log_level:
            config.debug.level = args.log_level
        if args.log_format:
            config.debug.format = args.log_format
        config.__post_init__()
        config.grpc.__post_init__()
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from e
    return config, path


def prepare(args: argparse.Namespace) -> Prepared:
    """Everything that can be checked without touching state."""
    from berth.core._graph import init_order
    from berth.core._loader import collect

    config, path = _load(args)
    registrations = collect()
    plugin_config = cfg.plugin_configs(config, registrations, file=path)
    init_order(registrations, set(config.disabled_plugins))
    return Prepared(config, path, registrations, plugin_config)


def _config_command(args: argparse.Namespace) -> int:
    from berth.core import _toml
    from berth.core._loader import collect

    if args.action == "default":
        config = cfg.Config()
        plugin_config = cfg.plugin_configs(config, collect(), file="(defaults)")
    else:
        prepared = prepare(args)
        config, plugin_config = prepared.config, prepared.plugin_config
    data = cfg.effective(config, plugin_config)
    comments = dict(cfg.FIELD_DOCS) if args.action == "default" else {}
    sys.stdout.write(_toml.dumps(data, comments))
    return 0


class RootLocked(Exception):
    pass


class RootLock:
    """An exclusive flock on ``<root>/berthd.lock`` held for the daemon's life."""

    def __init__(self, root: str) -> None:
        self.path = pathlib.Path(root) / "berthd.lock"
        self._fd = -1

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RootLocked(
                f"root {self.path.parent} is in use by another berthd (pid {holder}); "
                "stop it or start this one with another --root"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd < 0:
            return
        # Unlink while still holding the lock, so a waiting daemon never
        # locks a file that is about to disappear.
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = -1


def _make_dirs(config: cfg.Config) -> None:
    for path in (config.root, config.state):
        os.makedirs(path, mode=0o711, exist_ok=True)
        os.chmod(path, 0o711)


async def _run(prepared: Prepared) -> int:
    import trio

    from berth.core._bus import Bus
    from berth.core._exchange import Exchange
    from berth.core._introspect import CoreIntrospector
    from berth.core._loader import Loader, RequiredPluginError
    from berth.core.introspection import Introspector
    from berth.core.plugin import ServerAddresses

    config = prepared.config
    addresses = ServerAddresses(
        grpc_address=config.grpc.address,
        grpc_uid=config.grpc.uid,
        grpc_gid=config.grpc.gid,
        ttrpc_address=config.ttrpc_address,
        max_recv_message_size=config.grpc.max_recv_message_size,
        max_send_message_size=config.grpc.max_send_message_size,
    )
    bus = Bus()
    loader = Loader(
        prepared.registrations,
        configs=prepared.plugin_config,
        root=config.root,
        state=config.state,
        addresses=addresses,
        bus=bus,
        events=Exchange(),
        disabled=config.disabled_plugins,
    )
    bus.register(Introspector, "core", CoreIntrospector(loader, pathlib.Path(config.root)))
    status = 0
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            ready = trio.Event()
            await loader.init_all(nursery, ready)
            try:
                loader.check_required(config.required_plugins)
            except RequiredPluginError as e:
                log.error("%s", e)
                print(f"berthd: {e}", file=sys.stderr)
                status = 1
            if status == 0:
                ready.set()
                log.info("berthd successfully booted, serving on %s", config.grpc.address)
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        log.info("SIGHUP ignored")
                        continue
                    log.info("received %s, shutting down", signal.Signals(signum).name)
                    break
            with trio.CancelScope(shield=True):
                with trio.move_on_after(SHUTDOWN_SECONDS):
                    await loader.close_all()
            nursery.cancel_scope.cancel()
    return status


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "config":
            return _config_command(args)
        prepared = prepare(args)
    except (ConfigError, PluginGraphError) as e:
        print(f"berthd: {e}", file=sys.stderr)
        return 1
    from berth.core import log as logsetup

    logsetup.setup(prepared.config.debug.level, prepared.config.debug.format)
    try:
        _make_dirs(prepared.config)
    except OSError as e:
        print(f"berthd: cannot create root/state directories: {e}", file=sys.stderr)
        return 1
    lock = RootLock(prepared.config.root)
    try:
        lock.acquire()
    except RootLocked as e:
        print(f"berthd: {e}", file=sys.stderr)
        return 1
    try:
        import trio

        return trio.run(_run, prepared)
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
