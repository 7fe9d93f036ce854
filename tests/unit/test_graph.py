"""Plugin init order (berth.core._graph): containerd's depth-first, registration-ordered walk."""
from __future__ import annotations

import pytest

from berth.core._graph import PluginGraphError, check_unique, init_order
from berth.core.plugin import InitContext, Registration


async def _init(ctx: InitContext) -> None:
    return None


def reg(type_: str, id_: str, *requires: str) -> Registration:
    return Registration(type=type_, id=id_, init=_init, requires=requires)


def uris(regs: list[Registration]) -> list[str]:
    return [r.uri for r in regs]


def test_no_requires_keeps_registration_order() -> None:
    regs = [reg("io.x.c.v1", "1"), reg("io.x.a.v1", "2"), reg("io.x.b.v1", "3")]
    assert uris(init_order(regs)) == ["io.x.c.v1.1", "io.x.a.v1.2", "io.x.b.v1.3"]


def test_required_type_goes_first_even_when_registered_later() -> None:
    regs = [reg("io.x.service.v1", "svc", "io.x.metadata.v1"), reg("io.x.metadata.v1", "db")]
    assert uris(init_order(regs)) == ["io.x.metadata.v1.db", "io.x.service.v1.svc"]


def test_depth_first_walk_is_transitive() -> None:
    regs = [
        reg("io.x.a.v1", "a", "io.x.b.v1"),
        reg("io.x.b.v1", "b", "io.x.c.v1"),
        reg("io.x.d.v1", "d"),
        reg("io.x.c.v1", "c"),
    ]
    assert uris(init_order(regs)) == ["io.x.c.v1.c", "io.x.b.v1.b", "io.x.a.v1.a", "io.x.d.v1.d"]


def test_requiring_a_type_pulls_every_plugin_of_it_in_registration_order() -> None:
    regs = [
        reg("io.x.grpc.v1", "images", "io.x.snapshotter.v1"),
        reg("io.x.snapshotter.v1", "overlayfs"),
        reg("io.x.snapshotter.v1", "native"),
    ]
    assert uris(init_order(regs)) == ["io.x.snapshotter.v1.overlayfs", "io.x.snapshotter.v1.native",
                                      "io.x.grpc.v1.images"]


def test_star_goes_after_every_other_plugin() -> None:
    regs = [reg("io.x.server.v1", "grpc", "*"), reg("io.x.a.v1", "a"), reg("io.x.b.v1", "b", "io.x.a.v1")]
    assert uris(init_order(regs)) == ["io.x.a.v1.a", "io.x.b.v1.b", "io.x.server.v1.grpc"]


def test_star_plugins_keep_their_registration_order() -> None:
    regs = [reg("io.x.server.v1", "grpc", "*"), reg("io.x.server.v1", "ttrpc", "*"),
            reg("io.x.debug.v1", "status", "*"), reg("io.x.a.v1", "a")]
    assert uris(init_order(regs)) == ["io.x.a.v1.a", "io.x.server.v1.grpc", "io.x.server.v1.ttrpc",
                                      "io.x.debug.v1.status"]


def test_a_plugin_requiring_a_star_plugin_is_not_a_cycle() -> None:
    # the * plugin does not wait for a plugin that is already waiting on it
    regs = [reg("io.x.a.v1", "a", "io.x.server.v1"), reg("io.x.server.v1", "grpc", "*"), reg("io.x.b.v1", "b")]
    assert uris(init_order(regs)) == ["io.x.b.v1.b", "io.x.server.v1.grpc", "io.x.a.v1.a"]


def test_a_required_type_nobody_provides_is_ignored() -> None:
    # the plugin still inits; ctx.get() then tells it what is missing (NotFound)
    regs = [reg("io.x.a.v1", "a", "io.x.missing.v1")]
    assert uris(init_order(regs)) == ["io.x.a.v1.a"]


def test_a_plugin_requiring_its_own_type_waits_for_the_others_of_it() -> None:
    regs = [reg("io.x.a.v1", "late", "io.x.a.v1"), reg("io.x.a.v1", "early")]
    assert uris(init_order(regs)) == ["io.x.a.v1.early", "io.x.a.v1.late"]


def test_disabled_plugins_are_left_out_entirely() -> None:
    regs = [reg("io.x.a.v1", "a"), reg("io.x.b.v1", "b", "io.x.a.v1"), reg("io.x.c.v1", "c", "*")]
    order = init_order(regs, {"io.x.a.v1.a", "io.x.c.v1.c"})
    assert uris(order) == ["io.x.b.v1.b"]


def test_disabling_a_plugin_in_a_cycle_breaks_it() -> None:
    regs = [reg("io.x.a.v1", "a", "io.x.b.v1"), reg("io.x.b.v1", "b", "io.x.a.v1")]
    assert uris(init_order(regs, {"io.x.b.v1.b"})) == ["io.x.a.v1.a"]


def test_cycle_of_two_names_its_path() -> None:
    regs = [reg("io.x.a.v1", "a", "io.x.b.v1"), reg("io.x.b.v1", "b", "io.x.a.v1")]
    with pytest.raises(PluginGraphError) as info:
        init_order(regs)
    assert str(info.value) == "plugin dependency cycle: io.x.a.v1.a -> io.x.b.v1.b -> io.x.a.v1.a"


def test_cycle_of_three_names_its_path_from_where_it_was_entered() -> None:
    regs = [
        reg("io.x.z.v1", "z"),
        reg("io.x.a.v1", "a", "io.x.b.v1"),
        reg("io.x.b.v1", "b", "io.x.c.v1"),
        reg("io.x.c.v1", "c", "io.x.a.v1"),
    ]
    with pytest.raises(PluginGraphError) as info:
        init_order(regs)
    assert str(info.value) == (
        "plugin dependency cycle: io.x.a.v1.a -> io.x.b.v1.b -> io.x.c.v1.c -> io.x.a.v1.a"
    )


def test_two_plugins_of_one_type_requiring_it_are_a_cycle() -> None:
    regs = [reg("io.x.a.v1", "one", "io.x.a.v1"), reg("io.x.a.v1", "two", "io.x.a.v1")]
    with pytest.raises(PluginGraphError) as info:
        init_order(regs)
    assert str(info.value) == "plugin dependency cycle: io.x.a.v1.one -> io.x.a.v1.two -> io.x.a.v1.one"


def _init_elsewhere(ctx: InitContext) -> None:
    return None


_init_elsewhere.__module__ = "thirdparty.plugin"


def test_duplicate_registration_names_both_origins() -> None:
    first = reg("io.x.a.v1", "a")
    second = Registration(type="io.x.a.v1", id="a", init=_init_elsewhere)  # type: ignore[arg-type]
    expected = (
        f"plugin io.x.a.v1.a is registered twice (by {__name__} and thirdparty.plugin); "
        "uninstall one of the packages or rename the plugin id"
    )
    with pytest.raises(PluginGraphError) as info:
        check_unique([first, reg("io.x.b.v1", "b"), second])
    assert str(info.value) == expected
    with pytest.raises(PluginGraphError) as info:
        init_order([first, second], {"io.x.a.v1.a"})  # checked before disabling: a packaging error
    assert str(info.value) == expected


def test_same_id_in_different_types_is_fine() -> None:
    regs = [reg("io.x.a.v1", "same"), reg("io.x.b.v1", "same")]
    check_unique(regs)
    assert uris(init_order(regs)) == ["io.x.a.v1.same", "io.x.b.v1.same"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "", "id": "a"}, "plugin registration: type must be a non-empty string"),
        ({"type": "io.x.a.v1", "id": ""}, "plugin registration of type 'io.x.a.v1': id must be a non-empty string"),
        ({"type": "io.x.a.v1", "id": "a", "requires": ("*", "io.x.b.v1")},
         'plugin io.x.a.v1.a: "*" must be the only entry of requires'),
        ({"type": "io.x.a.v1", "id": "a", "config": dict}, "plugin io.x.a.v1.a: config must be a dataclass class"),
    ],
)
def test_registration_checks_its_fields(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Registration(init=_init, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
