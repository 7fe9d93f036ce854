"""The pure stages: spec conversion, validation, secure path joining."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.plugins.runtimes.runc import _sys as S
from berth.plugins.runtimes.runc.config import config_from_json
from berth.plugins.runtimes.runc.errors import ConfigError
from berth.plugins.runtimes.runc.rootfs import secure_join
from berth.plugins.runtimes.runc.specconv import MOUNT_FLAGS, PROPAGATION, REC_ATTRS, convert, parse_mount_options
from berth.plugins.runtimes.runc.validate import validate

from .conftest import base_spec


def test_convert_base_spec_round_trips_through_state_json():
    cfg = validate(convert(base_spec(), "/b"))
    assert cfg.rootfs == "/b/rootfs" and cfg.readonly_root
    assert [n.type for n in cfg.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert config_from_json(cfg.to_json()) == cfg


def test_mount_options_split():
    o = parse_mount_options(["rbind", "ro", "nosuid", "rslave", "rro", "size=1m", "mode=755"], "m")
    assert o["flags"] == S.MS_BIND | S.MS_REC | S.MS_RDONLY | S.MS_NOSUID
    assert o["propagation"] == S.MS_SLAVE | S.MS_REC
    assert o["rec_attr_set"] == 0x1
    assert o["data"] == "size=1m,mode=755"
    o = parse_mount_options(["ro", "rw"], "m")
    assert not o["flags"] & S.MS_RDONLY and o["clear"] & S.MS_RDONLY


@given(st.lists(st.sampled_from(sorted(MOUNT_FLAGS) + sorted(PROPAGATION) + sorted(REC_ATTRS) + ["x=1", "y"])))
@settings(max_examples=200)
def test_mount_options_never_crash(opts):
    o = parse_mount_options(opts, "m")
    assert isinstance(o["flags"], int) and isinstance(o["data"], str)


def test_relative_mount_destination_made_absolute():
    spec = base_spec()
    spec["mounts"].append({"destination": "data/../x", "type": "tmpfs", "source": "tmpfs"})
    assert convert(spec, "/b").mounts[-1].destination == "/x"


@pytest.mark.parametrize("mutate,field", [
    (lambda s: s["process"].update(args=[]), "process.args"),
    (lambda s: s["process"]["user"].update(gid=-1), "process.user.gid"),
    (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[5].type"),
    (lambda s: s.update(mounts=[{"destination": "/x", "type": "bind"}]), "mounts[0].source"),
    (lambda s: s["linux"].update(sysctl={"vm.swappiness": "1"}), "linux.sysctl.vm.swappiness"),
    (lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]), "linux.uidMappings"),
    (lambda s: s.update(hooks={"prestart": [{"path": "rel"}]}), "hooks.prestart[0].path"),
    (lambda s: s.update(hooks={"bogus": []}), "hooks.bogus"),
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]), "process.rlimits[0]"),
])
def test_errors_name_the_field(mutate, field):
    spec = base_spec()
    mutate(spec)
    with pytest.raises(ConfigError) as e:
        validate(convert(spec, "/b"))
    assert e.value.field == field, str(e.value)
    assert str(e.value).startswith(f"config.json: {field}: ")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "a/b").mkdir(parents=True)
    os.symlink("/a", root / "abs")
    os.symlink("../../../../..", root / "a/up")
    os.symlink("b", root / "a/rel")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    return str(root)


@pytest.mark.parametrize("unsafe,want", [
    ("/a/b", "/a/b"),
    ("/abs/b", "/a/b"),
    ("/a/up/etc/passwd", "/etc/passwd"),
    ("/../../etc", "/etc"),
    ("/a/rel/c", "/a/b/c"),
    ("/missing/x/../y", "/missing/y"),
    ("", ""),
])
def test_secure_join_stays_inside(tree, unsafe, want):
    assert secure_join(tree, unsafe) == tree + want


def test_secure_join_loops(tree):
    from berth.plugins.runtimes.runc.errors import RuncError

    with pytest.raises(RuncError, match="too many levels of symbolic links"):
        secure_join(tree, "/loop1")


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "abs", "up", "rel", "x", ""]), max_size=12))
@settings(max_examples=300)
def test_secure_join_never_escapes(tmp_path_factory, parts):
    root = str(tmp_path_factory.getbasetemp() / "sj")
    if not os.path.exists(root):
        os.makedirs(root + "/a/b")
        os.symlink("/a", root + "/abs")
        os.symlink("../../../../..", root + "/a/up")
        os.symlink("b", root + "/a/rel")
    out = secure_join(root, "/".join(parts))
    assert out == root or out.startswith(root + "/")
    assert os.path.realpath(out).startswith(os.path.realpath(root))
