"""The typed service bus (berth.core._bus): lookup by interface and plugin id, failures remembered."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import pytest

from berth.core import errors
from berth.core._bus import Bus


@runtime_checkable
class Snapshotter(Protocol):
    def mounts(self, key: str) -> list[str]: ...


@runtime_checkable
class Differ(Protocol):
    def compare(self) -> str: ...


class Overlay(Snapshotter):
    def mounts(self, key: str) -> list[str]:
        return [f"overlay:{key}"]


class Native(Snapshotter):
    def mounts(self, key: str) -> list[str]:
        return [f"bind:{key}"]


def test_get_by_id_and_first_registered_without_id() -> None:
    bus = Bus()
    overlay, native = Overlay(), Native()
    bus.register(Snapshotter, "overlayfs", overlay)
    bus.register(Snapshotter, "native", native)
    assert bus.get(Snapshotter) is overlay
    assert bus.get(Snapshotter, "native") is native
    assert bus.all(Snapshotter) == {"overlayfs": overlay, "native": native}
    assert list(bus.all(Snapshotter)) == ["overlayfs", "native"]  # init order


def test_all_is_a_copy_and_empty_for_unknown_interfaces() -> None:
    bus = Bus()
    bus.register(Snapshotter, "overlayfs", Overlay())
    found = bus.all(Snapshotter)
    found.clear()
    assert list(bus.all(Snapshotter)) == ["overlayfs"]
    assert bus.all(Differ) == {}


def test_register_refuses_an_instance_that_does_not_provide_the_interface() -> None:
    bus = Bus()
    with pytest.raises(TypeError) as info:
        bus.register(Differ, "walking", Overlay())
    assert str(info.value) == "plugin 'walking' returned Overlay, which does not provide Differ"
    assert bus.all(Differ) == {}


def test_not_found() -> None:
    bus = Bus()
    with pytest.raises(errors.NotFound) as info:
        bus.get(Snapshotter)
    assert str(info.value) == "Snapshotter: no plugin provides it"
    bus.register(Snapshotter, "overlayfs", Overlay())
    with pytest.raises(errors.NotFound) as info:
        bus.get(Snapshotter, "btrfs")
    assert str(info.value) == "Snapshotter 'btrfs': no plugin provides it"


def test_a_failed_provider_is_unavailable_with_its_reason() -> None:
    bus = Bus()
    reason = "path /x (ext4) must be a btrfs filesystem to be used with the btrfs snapshotter: skip plugin"
    bus.record_failure(Snapshotter, "btrfs", reason)
    for args in ((Snapshotter,), (Snapshotter, "btrfs")):
        with pytest.raises(errors.Unavailable) as info:
            bus.get(*args)  # type: ignore[arg-type]
        assert str(info.value) == f"Snapshotter 'btrfs' is not available: {reason}"
    with pytest.raises(errors.NotFound):
        bus.get(Snapshotter, "zfs")  # a failure of another id says nothing about this one


def test_a_working_provider_is_preferred_over_a_failed_one() -> None:
    bus = Bus()
    bus.record_failure(Snapshotter, "btrfs", "no btrfs")
    native = Native()
    bus.register(Snapshotter, "native", native)
    assert bus.get(Snapshotter) is native
    with pytest.raises(errors.Unavailable):
        bus.get(Snapshotter, "btrfs")
    assert bus.all(Snapshotter) == {"native": native}


def test_errors_map_to_grpc_and_cli_codes() -> None:
    assert (errors.NotFound.grpc_code, errors.NotFound.exit_code) == (5, 4)
    assert (errors.Unavailable.grpc_code, errors.Unavailable.exit_code) == (14, 8)
