"""Shared fixtures: real ``berthd`` processes in temp dirs (see berth.testing.daemon).

``berthd``: one daemon with the default config per test module.
``berthd_factory``: start daemons with custom configs (or fail to) in a test;
all of them are stopped by pid when the test ends.

Work dirs are removed afterwards, and kept (with the log path printed) when a
test that used them failed.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from berth.testing.daemon import Daemon, DaemonFactory, make_workdir, remove_workdir, start

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed:  # type: ignore[attr-defined]
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="module")
def berthd(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """A daemon with the default config, shared by the tests of one module."""
    workdir = make_workdir()
    failed_before = request.session.testsfailed
    daemon: Daemon | None = None
    try:
        daemon = start(workdir)
        yield daemon
    finally:
        if daemon is not None:
            daemon.stop()
        remove_workdir(workdir, keep=daemon is None or request.session.testsfailed != failed_before)


@pytest.fixture
def berthd_factory(request: pytest.FixtureRequest) -> Iterator[DaemonFactory]:
    """``berthd_factory(config_text)`` starts a daemon and returns its :class:`Daemon`.

    Every daemon it started is stopped by pid when the test ends.
    """
    factory = DaemonFactory()
    try:
        yield factory
    finally:
        factory.close(keep=request.node.stash.get(_FAILED, False))
