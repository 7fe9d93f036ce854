"""The loader (berth.core._loader): collect registrations, init in order, record outcomes, close in reverse.

Real registrations with real ``init`` functions run under trio; modules and
entry points for ``collect`` are real files on a temporary ``sys.path``.
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import pytest
import trio

from berth.core import errors
from berth.core._bus import Bus
from berth.core._exchange import Exchange
from berth.core._loader import BUILTIN_MODULES, Loader, RequiredPluginError, collect
from berth.core.introspection import PluginInfo, Status
from berth.core.plugin import InitContext, Registration, ServerAddresses, SkipPlugin


@runtime_checkable
class Store(Protocol):
    def get(self, key: str) -> str: ...


@runtime_checkable
class Service(Protocol):
    def call(self) -> str: ...


class MemoryStore(Store):
    def __init__(self, record: list[str], name: str) -> None:
        self.record = record
        self.name = name

    def get(self, key: str) -> str:
        return f"{self.name}:{key}"

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        self.record.append(f"aclose {self.name}")


class SyncClosing:
    def __init__(self, record: list[str], name: str) -> None:
        self.record = record
        self.name = name

    def close(self) -> None:
        self.record.append(f"close {self.name}")


class Plugins:
    """Registrations whose init functions record what happened."""

    def __init__(self) -> None:
        self.record: list[str] = []
        self.seen: dict[str, object] = {}

    def ok(self, type_: str, id_: str, *requires: str, provides: tuple[type, ...] = (),
           instance: Callable[[], object] | None = None) -> Registration:
        async def init(ctx: InitContext) -> object:
            await trio.lowlevel.checkpoint()
            self.record.append(f"init {ctx.registration.uri}")
            return instance() if instance else MemoryStore(self.record, ctx.registration.uri)

        return Registration(type=type_, id=id_, init=init, requires=requires, provides=provides)

    def raising(self, type_: str, id_: str, exc: BaseException, *requires: str,
                provides: tuple[type, ...] = ()) -> Registration:
        async def init(ctx: InitContext) -> object:
            self.record.append(f"init {ctx.registration.uri}")
            raise exc

        return Registration(type=type_, id=id_, init=init, requires=requires, provides=provides)

    def asking(self, type_: str, id_: str, interface: type, *requires: str,
               plugin_id: str | None = None) -> Registration:
        """A plugin that looks ``interface`` up on the bus and records the outcome."""

        async def init(ctx: InitContext) -> object:
            self.record.append(f"init {ctx.registration.uri}")
            try:
                self.seen[ctx.registration.uri] = ctx.get(interface, plugin_id)
            except errors.BerthError as e:
                self.seen[ctx.registration.uri] = e
                raise
            return SyncClosing(self.record, ctx.registration.uri)

        return Registration(type=type_, id=id_, init=init, requires=requires)


def make_loader(regs: list[Registration], tmp_path: pathlib.Path, *, disabled: tuple[str, ...] = (),
                configs: dict[str, Any] | None = None, bus: Bus | None = None) -> Loader:
    return Loader(
        regs,
        configs=configs or {},
        root=str(tmp_path / "root"),
        state=str(tmp_path / "state"),
        addresses=ServerAddresses(grpc_address=str(tmp_path / "berth.sock")),
        bus=bus or Bus(),
        events=Exchange(),
        disabled=disabled,
    )


def run_loader(loader: Loader, *, close: bool = True) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await loader.init_all(nursery, trio.Event())
            if close:
                await loader.close_all()

    trio.run(main)


def by_uri(loader: Loader) -> dict[str, PluginInfo]:
    return {info.uri: info for info in loader.plugins()}


# --- init order ------------------------------------------------------------------


def test_init_runs_in_dependency_order_and_close_in_reverse(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [
        p.ok("io.x.server.v1", "grpc", "*"),
        p.ok("io.x.service.v1", "svc", "io.x.store.v1"),
        p.ok("io.x.store.v1", "mem"),
        p.ok("io.x.other.v1", "sync", instance=lambda: SyncClosing(p.record, "io.x.other.v1.sync")),
    ]
    loader = make_loader(regs, tmp_path)
    assert [r.uri for r in loader.order] == ["io.x.store.v1.mem", "io.x.service.v1.svc", "io.x.other.v1.sync",
                                             "io.x.server.v1.grpc"]
    listed: list[str] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await loader.init_all(nursery, trio.Event())
            listed.extend(info.uri for info in loader.plugins())
            await loader.close_all()

    trio.run(main)
    assert listed == [r.uri for r in loader.order]
    assert p.record == [
        "init io.x.store.v1.mem",
        "init io.x.service.v1.svc",
        "init io.x.other.v1.sync",
        "init io.x.server.v1.grpc",
        "aclose io.x.server.v1.grpc",
        "close io.x.other.v1.sync",
        "aclose io.x.service.v1.svc",
        "aclose io.x.store.v1.mem",
    ]


def test_context_carries_paths_config_and_addresses(tmp_path: pathlib.Path) -> None:
    @dataclasses.dataclass(kw_only=True)
    class Config:
        size: int = 1

    got: dict[str, Any] = {}

    async def init(ctx: InitContext) -> object:
        got.update(root=ctx.root, state=ctx.state, config=ctx.config, address=ctx.addresses.grpc_address,
                   type=ctx.type, id=ctx.id)
        ctx.meta.exports["size"] = str(ctx.config.size)
        ctx.meta.capabilities.append("remap-ids")
        return object()

    regs = [Registration(type="io.x.a.v1", id="a", init=init, config=Config)]
    loader = make_loader(regs, tmp_path, configs={"io.x.a.v1.a": Config(size=7)})
    run_loader(loader, close=False)
    assert got == {"root": tmp_path / "root" / "io.x.a.v1.a", "state": tmp_path / "state" / "io.x.a.v1.a",
                   "config": Config(size=7), "address": str(tmp_path / "berth.sock"), "type": "io.x.a.v1", "id": "a"}
    assert not (tmp_path / "root").exists()  # a plugin creates its dirs when it needs them
    (info,) = loader.plugins()
    assert (info.status, info.error, info.exports, info.capabilities) == (
        Status.OK, None, {"size": "7"}, ("remap-ids",))


# --- outcomes ----------------------------------------------------------------------


def test_skip_and_failures_are_recorded_with_reasons(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [
        p.ok("io.x.a.v1", "fine"),
        p.raising("io.x.btrfs.v1", "btrfs", SkipPlugin("path /x (ext4) must be a btrfs filesystem")),
        p.raising("io.x.b.v1", "broken", errors.FailedPrecondition("needs cgroup v2")),
        p.raising("io.x.c.v1", "buggy", KeyError("oops")),
        p.ok("io.x.d.v1", "after"),
    ]
    loader = make_loader(regs, tmp_path)
    run_loader(loader, close=False)
    info = by_uri(loader)
    assert [i.status for i in info.values()] == [Status.OK, Status.SKIP, Status.ERROR, Status.ERROR, Status.OK]
    skip = info["io.x.btrfs.v1.btrfs"].error
    assert isinstance(skip, errors.Unknown)
    assert str(skip) == "path /x (ext4) must be a btrfs filesystem: skip plugin"
    failed = info["io.x.b.v1.broken"].error
    assert isinstance(failed, errors.FailedPrecondition) and str(failed) == "needs cgroup v2"
    # a plugin's bug (a non-berth exception) is recorded, and loading goes on
    bug = info["io.x.c.v1.buggy"].error
    assert isinstance(bug, errors.Unknown) and str(bug) == "KeyError: 'oops'"
    assert "init io.x.d.v1.after" in p.record


def test_a_failing_plugin_logs_a_warning_with_its_reason(tmp_path: pathlib.Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    p = Plugins()
    loader = make_loader([p.raising("io.x.c.v1", "buggy", ZeroDivisionError("division by zero")),
                          p.raising("io.x.s.v1", "skipper", SkipPlugin("not here"))], tmp_path)
    with caplog.at_level(logging.INFO, logger="berth.core._loader"):
        run_loader(loader)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("WARNING", "failed to load plugin io.x.c.v1.buggy: ZeroDivisionError: division by zero") in messages
    assert ("INFO", "skip loading plugin io.x.s.v1.skipper: not here") in messages


def test_dependents_of_a_failed_plugin_see_unavailable_with_the_reason(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [
        p.raising("io.x.store.v1", "disk", errors.FailedPrecondition("disk /dev/sdz is missing"), provides=(Store,)),
        p.asking("io.x.service.v1", "by-id", Store, "io.x.store.v1", plugin_id="disk"),
        p.asking("io.x.service.v1", "any", Store, "io.x.store.v1"),
    ]
    loader = make_loader(regs, tmp_path)
    run_loader(loader, close=False)
    for uri in ("io.x.service.v1.by-id", "io.x.service.v1.any"):
        seen = p.seen[uri]
        assert isinstance(seen, errors.Unavailable)
        assert str(seen) == "Store 'disk' is not available: disk /dev/sdz is missing"
        info = by_uri(loader)[uri]
        assert info.status == Status.ERROR and isinstance(info.error, errors.Unavailable)


def test_dependents_of_a_skipped_plugin_see_the_skip_reason(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [
        p.raising("io.x.store.v1", "btrfs", SkipPlugin("no btrfs here"), provides=(Store,)),
        p.asking("io.x.service.v1", "svc", Store, "io.x.store.v1"),
    ]
    loader = make_loader(regs, tmp_path)
    run_loader(loader)
    assert str(p.seen["io.x.service.v1.svc"]) == "Store 'btrfs' is not available: no btrfs here: skip plugin"


def test_a_working_provider_wins_over_a_failed_one(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [
        p.raising("io.x.store.v1", "broken", RuntimeError("no"), provides=(Store,)),
        p.ok("io.x.store.v1", "mem", provides=(Store,)),
        p.asking("io.x.service.v1", "svc", Store, "io.x.store.v1"),
    ]
    run_loader(make_loader(regs, tmp_path))
    found = p.seen["io.x.service.v1.svc"]
    assert isinstance(found, MemoryStore) and found.get("k") == "io.x.store.v1.mem:k"


def test_an_instance_not_providing_its_interface_is_a_failure(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [p.ok("io.x.svc.v1", "wrong", provides=(Service,))]  # a MemoryStore is no Service
    loader = make_loader(regs, tmp_path)
    run_loader(loader, close=False)
    (info,) = loader.plugins()
    assert info.status == Status.ERROR
    assert str(info.error) == "TypeError: plugin 'wrong' returned MemoryStore, which does not provide Service"


# --- disabled and required --------------------------------------------------------


def test_disabled_plugins_never_init_and_are_not_listed(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [
        p.ok("io.x.store.v1", "mem", provides=(Store,)),
        p.asking("io.x.service.v1", "svc", Store, "io.x.store.v1"),
    ]
    loader = make_loader(regs, tmp_path, disabled=("io.x.store.v1.mem",))
    run_loader(loader, close=False)
    assert "init io.x.store.v1.mem" not in p.record
    assert [i.uri for i in loader.plugins()] == ["io.x.service.v1.svc"]
    seen = p.seen["io.x.service.v1.svc"]
    assert isinstance(seen, errors.NotFound) and str(seen) == "Store: no plugin provides it"


def test_check_required(tmp_path: pathlib.Path) -> None:
    p = Plugins()
    regs = [
        p.ok("io.x.a.v1", "fine"),
        p.raising("io.x.b.v1", "skipper", SkipPlugin("no device")),
        p.raising("io.x.c.v1", "broken", errors.Unavailable("socket gone")),
        p.ok("io.x.d.v1", "off"),
    ]
    loader = make_loader(regs, tmp_path, disabled=("io.x.d.v1.off",))
    run_loader(loader, close=False)
    loader.check_required(["io.x.a.v1.fine"])
    cases = {
        "io.x.b.v1.skipper": "load required plugin io.x.b.v1.skipper: no device: skip plugin",
        "io.x.c.v1.broken": "load required plugin io.x.c.v1.broken: socket gone",
        "io.x.d.v1.off": "required plugin io.x.d.v1.off not included (disabled or not installed)",
        "io.x.e.v1.nowhere": "required plugin io.x.e.v1.nowhere not included (disabled or not installed)",
    }
    for uri, message in cases.items():
        with pytest.raises(RequiredPluginError) as info:
            loader.check_required(["io.x.a.v1.fine", uri])
        assert str(info.value) == message
    # regression: the names were printed as a Python list (['io.x.d.v1.off'])
    with pytest.raises(RequiredPluginError) as info:
        loader.check_required(["io.x.e.v1.nowhere", "io.x.b.v1.skipper", "io.x.d.v1.off"])
    assert str(info.value) == (
        "required plugin io.x.e.v1.nowhere, io.x.d.v1.off not included (disabled or not installed)")


# --- closing -------------------------------------------------------------------------


def test_close_skips_failed_plugins_and_survives_a_failing_close(tmp_path: pathlib.Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    p = Plugins()

    class BadClose:
        async def aclose(self) -> None:
            p.record.append("aclose bad")
            raise OSError("device busy")

    regs = [
        p.ok("io.x.a.v1", "first"),
        p.ok("io.x.b.v1", "bad", instance=BadClose),
        p.raising("io.x.c.v1", "failed", RuntimeError("no")),
        p.ok("io.x.d.v1", "plain", instance=object),
    ]
    loader = make_loader(regs, tmp_path)
    with caplog.at_level(logging.ERROR, logger="berth.core._loader"):
        run_loader(loader)
    assert p.record[-2:] == ["aclose bad", "aclose io.x.a.v1.first"]
    assert [r.getMessage() for r in caplog.records] == ["closing plugin io.x.b.v1.bad failed"]


# --- collect ---------------------------------------------------------------------------

PLUGIN_MODULE = '''
from berth.core.plugin import Registration, hookimpl

async def init(ctx):
    return object()

@hookimpl
def berth_register_plugins():
    return [Registration(type="io.x.{name}.v1", id="{name}", init=init)]
'''


@pytest.fixture
def site(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """A directory on sys.path for plugin modules and distributions written by the test."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    before = set(sys.modules)
    yield path
    for name in set(sys.modules) - before:
        if name.startswith("berthtest_"):
            del sys.modules[name]


def write_module(site: pathlib.Path, module: str, source: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source))


def write_distribution(site: pathlib.Path, dist: str, entry_points: str) -> None:
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_collect_builtins_in_their_listed_order() -> None:
    regs = collect(entry_points=False)
    uris = [r.uri for r in regs]
    assert uris[0] == "io.containerd.metadata.v1.lmdb"
    assert uris[-1] == "io.berth.debug.v1.status"
    assert BUILTIN_MODULES[-1] == "berth.plugins.debug.plugin"


def test_collect_skips_a_builtin_module_that_does_not_exist(site: pathlib.Path) -> None:
    write_module(site, "berthtest_one", PLUGIN_MODULE.format(name="one"))
    regs = collect(("berthtest_absent.plugin", "berthtest_one"), entry_points=False)
    assert [r.uri for r in regs] == ["io.x.one.v1.one"]


def test_collect_raises_when_a_builtin_module_misses_a_dependency(site: pathlib.Path) -> None:
    write_module(site, "berthtest_deps", "import berthtest_not_installed_anywhere\n")
    with pytest.raises(ModuleNotFoundError) as info:
        collect(("berthtest_deps",), entry_points=False)
    assert info.value.name == "berthtest_not_installed_anywhere"


def test_collect_refuses_what_is_not_a_registration(site: pathlib.Path) -> None:
    write_module(site, "berthtest_bad", '''
        from berth.core.plugin import hookimpl

        @hookimpl
        def berth_register_plugins():
            return ["io.x.v1.nope"]
    ''')
    with pytest.raises(TypeError) as info:
        collect(("berthtest_bad",), entry_points=False)
    assert str(info.value) == "berth_register_plugins returned 'io.x.v1.nope', not a Registration"


def test_collect_finds_entry_points_after_builtins(site: pathlib.Path) -> None:
    write_module(site, "berthtest_two", PLUGIN_MODULE.format(name="two"))
    write_module(site, "berthtest_one", PLUGIN_MODULE.format(name="one"))
    write_distribution(site, "berthtest_dist", "[berth]\ntwo = berthtest_two\n")
    regs = collect(("berthtest_one",))
    uris = [r.uri for r in regs]
    assert uris[:1] == ["io.x.one.v1.one"]
    assert "io.x.two.v1.two" in uris
    assert collect(("berthtest_one",), entry_points=False)[-1].uri == "io.x.one.v1.one"
