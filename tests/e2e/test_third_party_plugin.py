"""A third-party plugin installed with pip: the README's example, tests/plugins/berth-example-plugin.

The test installs the package into berth's own environment, starts berthd
with a config section for it, and checks what ``berth plugins ls`` shows and
what other plugins get from the bus. It uninstalls the package again (in
``finally``) and checks that a fresh daemon no longer lists it and rejects a
config section for it. A copy that was installed before the test is put back.
"""
from __future__ import annotations

import importlib.metadata
import pathlib
import re
import subprocess
import sys

from berth.testing.daemon import DaemonFactory, berthd_command

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "plugins" / "berth-example-plugin"
DIST = "berth-example-plugin"
URI = "io.example.greeter.v1.hello"
CONFIG = f'version = 2\n[plugins."{URI}"]\ngreeting = "bonjour"\n'

# Run in a fresh interpreter (the install is seen at start-up): the real loader
# with the installed entry points; a plugin that requires the greeter's type
# asks the bus for the Greeter protocol and uses it.
ON_THE_BUS = f'''
import tempfile, trio
from berth.core import config as cfg
from berth.core._bus import Bus
from berth.core._exchange import Exchange
from berth.core._loader import Loader, collect
from berth.core.plugin import Registration, ServerAddresses

greeted = []

async def user(ctx):
    from berth_example_plugin import Greeter
    greeted.append(ctx.get(Greeter, "hello").greet("berth"))
    return object()

regs = collect() + [Registration(type="io.test.user.v1", id="user", init=user, requires=("io.example.greeter.v1",))]
config = cfg.loads({CONFIG!r})

async def main(loader):
    async with trio.open_nursery() as nursery:
        await loader.init_all(nursery, trio.Event())
        await loader.close_all()

with tempfile.TemporaryDirectory() as tmp:
    loader = Loader(regs, configs=cfg.plugin_configs(config, regs, file="t"), root=tmp + "/r", state=tmp + "/s",
                    addresses=ServerAddresses(grpc_address=tmp + "/s.sock"), bus=Bus(), events=Exchange(),
                    disabled=[r.uri for r in regs if not r.type.startswith(("io.example.", "io.test."))])
    trio.run(main, loader)
print([r.uri for r in loader.order], greeted)
'''


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def installed() -> bool:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_installed_plugin_loads_with_its_config_then_goes_away(berthd_factory: DaemonFactory) -> None:
    was_installed = installed()
    pip("install", "--no-deps", "--no-build-isolation", "-e", str(PACKAGE))
    try:
        check_installed(berthd_factory)
    finally:
        pip("uninstall", "-y", DIST)
    try:
        check_uninstalled(berthd_factory)
    finally:
        if was_installed:  # leave the environment as it was found
            pip("install", "--no-deps", "--no-build-isolation", "-e", str(PACKAGE))


def check_installed(berthd_factory: DaemonFactory) -> None:
    daemon = berthd_factory(CONFIG)
    rows = [line.split() for line in daemon.berth("plugins", "ls").stdout.splitlines()]
    assert ["io.example.greeter.v1", "hello", "-", "ok"] in rows
    detailed = daemon.berth("plugins", "ls", "-d", "id==hello").stdout
    assert re.fullmatch(r"Type: +io\.example\.greeter\.v1\nID: +hello\nExports: *\n +greeting +bonjour\n",
                        detailed), detailed
    assert daemon.stop() == 0

    bus = subprocess.run([sys.executable, "-c", ON_THE_BUS], capture_output=True, text=True, timeout=60)
    assert bus.returncode == 0, bus.stderr
    assert bus.stdout == f"['{URI}', 'io.test.user.v1.user'] ['bonjour, berth']\n"

    default = subprocess.run([*berthd_command(), "config", "default"], capture_output=True, text=True, timeout=60)
    assert f'[plugins."{URI}"]\n# Word to greet with.\ngreeting = "hello"\n' in default.stdout


def check_uninstalled(berthd_factory: DaemonFactory) -> None:
    assert not installed()
    daemon = berthd_factory()
    assert "hello" not in daemon.berth("plugins", "ls", "-q").stdout.split()
    workdir = berthd_factory.workdir()
    (workdir / "config.toml").write_text(CONFIG)
    result = subprocess.run([*berthd_command(), "--config", str(workdir / "config.toml"),
                             "--root", str(workdir / "root"), "--state", str(workdir / "state")],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        1, f'berthd: {workdir / "config.toml"}: [plugins."{URI}"]: no such plugin; '
           "configurable plugins are: io.containerd.metadata.v1.lmdb\n")
    assert sorted(p.name for p in workdir.iterdir()) == ["config.toml"]
