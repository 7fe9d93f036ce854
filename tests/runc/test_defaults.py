"""defaults: the spec template against real ``runc spec``, and runc's built-in lists."""
from __future__ import annotations

import copy
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from berth.plugins.runtimes.runc import defaults

RUNC = shutil.which("runc") or "/usr/sbin/runc"


def runc_spec(tmp_path: Path, *args: str) -> dict:
    if not os.path.exists(RUNC):
        pytest.skip(f"runc not found at {RUNC}: cannot compare with `runc spec`")
    subprocess.run([RUNC, "spec", *args], cwd=tmp_path, check=True, capture_output=True)
    return json.loads((tmp_path / "config.json").read_text())


def as_berth_writes_it(runc: dict) -> dict:
    """Apply the documented differences between `runc spec` and ours to runc's output."""
    spec = copy.deepcopy(runc)
    assert spec["hostname"] == "runc"
    spec["hostname"] = "berth"
    # runc 1.1 also writes ambient caps; runc 1.2 (and berth) do not.
    spec["process"]["capabilities"].pop("ambient", None)
    return spec


def test_default_spec_matches_runc_spec(tmp_path: Path) -> None:
    runc = runc_spec(tmp_path)
    assert defaults.default_spec() == as_berth_writes_it(runc)


def test_rootless_spec_matches_runc_spec_rootless(tmp_path: Path) -> None:
    runc = runc_spec(tmp_path, "--rootless")
    ours = defaults.default_spec(rootless=True)
    assert ours == as_berth_writes_it(runc)
    assert {"type": "network"} not in ours["linux"]["namespaces"]
    assert ours["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert "resources" not in ours["linux"]


def test_cgroup_namespace_only_when_asked_or_unified() -> None:
    assert {"type": "cgroup"} in defaults.default_spec(cgroupns=True)["linux"]["namespaces"]
    assert {"type": "cgroup"} not in defaults.default_spec(cgroupns=False)["linux"]["namespaces"]


def test_default_spec_is_a_fresh_object_each_time() -> None:
    a = defaults.default_spec()
    a["mounts"].clear()
    a["linux"]["maskedPaths"].append("/x")
    b = defaults.default_spec()
    assert len(b["mounts"]) == 7
    assert b["linux"]["maskedPaths"] == list(defaults.DEFAULT_MASKED_PATHS)


def test_capability_sets() -> None:
    assert len(defaults.DEFAULT_CAPABILITIES) == 14
    assert set(defaults.DEFAULT_CAPABILITIES) == {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    }
    assert set(defaults.SPEC_CAPABILITIES) <= set(defaults.DEFAULT_CAPABILITIES)


def test_default_mounts() -> None:
    assert [m["destination"] for m in defaults.default_mounts()] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup",
    ]


def test_default_devices_match_the_host_nodes() -> None:
    devs = defaults.default_devices()
    assert [d["path"] for d in devs] == [
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
    ]
    for d in devs:
        assert d["type"] == "c" and d["fileMode"] == 0o666 and d["uid"] == 0 and d["gid"] == 0
        st = os.stat(d["path"])  # the host's nodes carry the same numbers
        assert stat.S_ISCHR(st.st_mode)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (d["major"], d["minor"])


def test_default_device_rules() -> None:
    rules = defaults.default_device_rules()
    assert rules[:2] == [
        {"allow": True, "type": "c", "access": "m"},
        {"allow": True, "type": "b", "access": "m"},
    ]
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in rules
    assert {"allow": True, "type": "c", "major": 136, "access": "rwm"} in rules
    assert {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"} in rules
    assert all(r["allow"] for r in rules)
