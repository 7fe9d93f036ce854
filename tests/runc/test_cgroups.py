"""cgroups: mode detection on recorded hosts, path mapping, and real cgroups on this machine.

The real-cgroup tests each use a unique cgroup named ``berth-test-<hex>``
(relative, so under our own cgroup in every hierarchy, as runc places
relative paths), start their own children, kill them by pid and destroy the
cgroup in ``finally``, checking nothing is left behind.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.plugins.runtimes.runc import cgroups
from berth.plugins.runtimes.runc.cgroups import CgroupError, Mode
from berth.plugins.runtimes.runc.cgroups.fs2 import cpu as cpu2
from berth.plugins.runtimes.runc.cgroups.fs2 import io as io2
from berth.plugins.runtimes.runc.cgroups.fs2 import memory as memory2
from berth.plugins.runtimes.runc.cgroups.fs2.manager import UnifiedManager
from berth.plugins.runtimes.runc.cgroups.paths import expand_slice, inner_path, v1_dirs, v2_dir

# --- recorded host files -------------------------------------------------------------------

# Debian 10 style: cgroup v1 only.
MOUNTINFO_V1 = """\
22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
32 25 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
33 25 0:31 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer
34 25 0:32 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,devices
35 25 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,cpuset
36 25 0:34 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,blkio
"""

# Fedora 31+ / Debian 11+ style: cgroup v2 only.
MOUNTINFO_V2 = """\
22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
27 22 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
"""

# This machine (recorded): v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
MOUNTINFO_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

PROC_CGROUP_HYBRID = """\
9:name=systemd:/
8:pids:/
4:memory:/process_api/656ed74cea7b86caae44ac0670097197
2:cpuacct:/
1:cpu:/
0::/
"""


def test_mode_detection_recorded_hosts() -> None:
    assert cgroups.mode_from_mounts(cgroups.parse_mountinfo(MOUNTINFO_V1)) is Mode.LEGACY
    assert cgroups.mode_from_mounts(cgroups.parse_mountinfo(MOUNTINFO_V2)) is Mode.UNIFIED
    assert cgroups.mode_from_mounts(cgroups.parse_mountinfo(MOUNTINFO_HYBRID)) is Mode.HYBRID
    assert cgroups.mode_from_mounts(cgroups.parse_mountinfo("")) is None
    # Only name=systemd (no controllers) plus cgroup2 elsewhere: nothing to manage with v1.
    only_named = MOUNTINFO_V1.splitlines()[2] + "\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    assert cgroups.mode_from_mounts(cgroups.parse_mountinfo(only_named)) is Mode.UNIFIED


def test_parse_mountinfo_fields() -> None:
    mounts = cgroups.parse_mountinfo(MOUNTINFO_V1)
    by_point = {m.mountpoint: m for m in mounts}
    assert set(by_point) == {
        "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids", "/sys/fs/cgroup/net_cls,net_prio", "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/devices", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/blkio",
    }
    assert by_point["/sys/fs/cgroup/cpu,cpuacct"].controllers == {"cpu", "cpuacct"}
    assert by_point["/sys/fs/cgroup/systemd"].controllers == {"name=systemd"}
    v2 = cgroups.parse_mountinfo(MOUNTINFO_V2)
    assert v2 == [cgroups.CgroupMount("/sys/fs/cgroup", "/", "cgroup2", frozenset())]


def test_parse_mountinfo_escapes_optional_fields_and_overmounts() -> None:
    text = (
        "50 31 0:40 /docker/abc /mnt/my\\040cg rw shared:1 master:2 - cgroup cgroup rw,memory\n"
        "51 31 0:41 / /mnt/x rw - cgroup2 cgroup2 rw\n"
        "52 31 0:42 / /mnt/x rw - tmpfs tmpfs rw\n"  # hides the cgroup2 mount below it
        "garbage line\n"
    )
    assert cgroups.parse_mountinfo(text) == [
        cgroups.CgroupMount("/mnt/my cg", "/docker/abc", "cgroup", frozenset({"memory"}))
    ]


def test_parse_proc_cgroup() -> None:
    own = cgroups.parse_proc_cgroup(PROC_CGROUP_HYBRID)
    assert own["memory"] == "/process_api/656ed74cea7b86caae44ac0670097197"
    assert own["name=systemd"] == "/"
    assert own[""] == "/"


def test_paths_absolute_relative_and_default() -> None:
    mounts = cgroups.parse_mountinfo(MOUNTINFO_HYBRID)
    own = cgroups.parse_proc_cgroup(PROC_CGROUP_HYBRID)
    assert inner_path("", container_id="c1") == "/berth/c1"
    dirs = v1_dirs("/berth/c1", mounts, own)
    assert dirs["memory"] == "/sys/fs/cgroup/memory/berth/c1"
    assert dirs["name=systemd"] == "/sys/fs/cgroup/systemd/berth/c1"
    rel = v1_dirs(inner_path("a/b", container_id="c1"), mounts, own)
    assert rel["memory"] == "/sys/fs/cgroup/memory/process_api/656ed74cea7b86caae44ac0670097197/a/b"
    assert rel["cpu"] == "/sys/fs/cgroup/cpu/a/b"
    unified = next(m for m in mounts if m.fstype == "cgroup2")
    assert v2_dir("/berth/c1", unified, own) == "/sys/fs/cgroup/unified/berth/c1"
    # Co-mounted controllers share one directory.
    v1 = v1_dirs("/x", cgroups.parse_mountinfo(MOUNTINFO_V1), {})
    assert v1["cpu"] == v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/x"
    # ".." never climbs above the hierarchy root or our own cgroup (runc's CleanPath).
    assert inner_path("/a/../../b", container_id="c1") == "/b"
    assert inner_path("../../x", container_id="c1") == "x"


def test_paths_under_a_mount_whose_root_is_not_slash() -> None:
    # Nested without a cgroup namespace: the mount shows /docker/abc as its root.
    mounts = cgroups.parse_mountinfo("50 31 0:40 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
    assert v1_dirs("sub", mounts, {"memory": "/docker/abc/inner"}) == {
        "memory": "/sys/fs/cgroup/memory/inner/sub"
    }


def test_systemd_form() -> None:
    assert expand_slice("-.slice") == "/"
    assert expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert inner_path("system.slice:docker:abc", container_id="c1") == "/system.slice/docker-abc.scope"
    assert inner_path(":berth:c1", container_id="c1") == "/system.slice/berth-c1.scope"
    assert inner_path(":berth:c1", container_id="c1", rootless=True) == "/user.slice/berth-c1.scope"
    assert inner_path("machine-x.slice:p:n", container_id="c1") == "/machine.slice/machine-x.slice/p-n.scope"
    assert inner_path("a:b:c", container_id="c1", systemd=False) == "a:b:c"
    with pytest.raises(CgroupError, match=r"invalid systemd slice name 'bad'"):
        inner_path("bad:p:n", container_id="c1")


def test_v2_value_conversions() -> None:
    assert [cpu2.shares_to_weight(s) for s in (0, 2, 1024, 262144)] == [0, 1, 100, 10000]
    assert io2.blkio_weight_to_io_weight(10) == 1 and io2.blkio_weight_to_io_weight(1000) == 10000
    assert memory2.swap_to_v2(200, 100) == 100
    assert memory2.swap_to_v2(0, -1) == -1
    with pytest.raises(CgroupError, match="memory\\+swap limit should be >= memory limit"):
        memory2.swap_to_v2(50, 100)


# --- real cgroups on this machine ----------------------------------------------------------


def _real_mode() -> Mode:
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    try:
        mode = cgroups.detect()
    except CgroupError as e:
        pytest.skip(f"no cgroups here: {e}")
    return mode


class Children:
    """Processes a test starts; all are SIGKILLed and reaped by pid at the end."""

    def __init__(self, workdir: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workdir = workdir

    def python(self, code: str) -> subprocess.Popen[bytes]:
        """Start ``python -c code``; it waits for the file ``go`` before running ``code``'s body."""
        gate = self.workdir / f"go-{len(self.procs)}"
        prog = (
            "import os, sys, time\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.005)\n" + code
        )
        p = subprocess.Popen([sys.executable, "-c", prog])
        p.gate = gate  # type: ignore[attr-defined]
        self.procs.append(p)
        return p

    @staticmethod
    def go(p: subprocess.Popen[bytes]) -> None:
        p.gate.touch()  # type: ignore[attr-defined]

    def kill_all(self) -> None:
        for p in self.procs:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="berth-cg-") as d:
        yield Path(d)


@pytest.fixture
def children(workdir: Path) -> Iterator[Children]:
    c = Children(workdir)
    try:
        yield c
    finally:
        c.kill_all()


@pytest.fixture
def cg(children: Children) -> Iterator[cgroups.Manager]:
    """A fresh container cgroup ``berth-test-<hex>``; destroyed (and checked gone) afterwards."""
    _real_mode()
    name = f"berth-test-{uuid.uuid4().hex[:12]}"
    m = cgroups.new_manager(name, container_id=name)
    m.create()
    try:
        yield m
    finally:
        children.kill_all()  # the cgroup can only go once its processes are gone
        for p in m.paths().values():  # stray sub-cgroups a test made
            frozen = os.path.join(p, "freezer.state")
            if os.path.exists(frozen):
                with open(frozen, "w") as f:
                    f.write("THAWED")
        m.destroy()
        left = [p for p in m.paths().values() if os.path.exists(p)]
        assert left == [], f"cgroup directories left behind: {left}"


def read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_for(cond: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_host_mode_is_detected() -> None:
    mode = _real_mode()
    with open("/proc/self/mountinfo") as f:
        assert mode is cgroups.mode_from_mounts(cgroups.parse_mountinfo(f.read()))


def test_create_apply_and_read_back(cg: cgroups.Manager) -> None:
    paths = cg.paths()
    if "memory" not in paths:
        pytest.skip("v1 memory controller not mounted")
    cg.apply({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {"weight": 300} if os.path.exists(os.path.join(paths["blkio"], "blkio.weight"))
        or os.path.exists(os.path.join(paths["blkio"], "blkio.bfq.weight")) else {},
    })
    m, c = paths["memory"], paths["cpu"]
    assert read(m, "memory.limit_in_bytes") == str(64 << 20)
    assert read(m, "memory.soft_limit_in_bytes") == str(32 << 20)
    if os.path.exists(os.path.join(m, "memory.memsw.limit_in_bytes")):
        assert read(m, "memory.memsw.limit_in_bytes") == str(96 << 20)
    assert read(m, "memory.swappiness") == "10"
    assert read(c, "cpu.shares") == "512"
    assert read(c, "cpu.cfs_quota_us") == "50000"
    assert read(c, "cpu.cfs_period_us") == "100000"
    assert read(paths["cpuset"], "cpuset.cpus") == "0"
    assert read(paths["cpuset"], "cpuset.mems") == "0"
    assert read(paths["pids"], "pids.max") == "42"
    # update: lower memory below swap, then unlimited everything
    cg.update({"memory": {"limit": 32 << 20}, "pids": {"limit": -1}, "cpu": {"quota": -1}})
    assert read(m, "memory.limit_in_bytes") == str(32 << 20)
    assert read(paths["pids"], "pids.max") == "max"
    assert read(c, "cpu.cfs_quota_us") == "-1"
    cg.update({"memory": {"limit": -1}})
    assert int(read(m, "memory.limit_in_bytes")) > 1 << 60


def test_invalid_value_names_file_value_and_errno(cg: cgroups.Manager) -> None:
    cpuset = cg.paths()["cpuset"]
    with pytest.raises(CgroupError) as info:
        cg.apply({"cpu": {"cpus": "abc"}})
    assert str(info.value) == f"cgroup cpuset: write abc to {cpuset}/cpuset.cpus: Invalid argument"
    assert info.value.errno == errno.EINVAL
    with pytest.raises(CgroupError, match=r"^cgroup cpu: cpu.shares 1 was stored as 2 by the kernel"):
        cg.apply({"cpu": {"shares": 1}})
    from berth.plugins.runtimes.runc.cgroups.hybrid import HybridManager

    # v1 has no place for unified keys; hybrid writes them in its v2 directory if the file exists.
    want = r"no file memory.high in .*cgroup.controllers" if isinstance(cg, HybridManager) else r"needs cgroup v2"
    with pytest.raises(CgroupError, match=want):
        cg.apply({"unified": {"memory.high": "1"}})


def test_add_and_pids_including_nested_cgroups(cg: cgroups.Manager, children: Children) -> None:
    a = children.python("time.sleep(60)")
    b = children.python("time.sleep(60)")
    cg.add(a.pid)
    assert cg.pids() == [a.pid]
    # A sub-cgroup the container made itself (a nested runtime, say).
    sub = os.path.join(cg.paths()["pids"], "nested")
    os.mkdir(sub)
    with open(os.path.join(sub, "cgroup.procs"), "w") as f:
        f.write(str(b.pid))
    assert cg.pids() == sorted([a.pid, b.pid])
    with open(f"/proc/{a.pid}/cgroup") as f:
        own = cgroups.parse_proc_cgroup(f.read())
    paths = cg.paths()
    assert paths["memory"].endswith(own["memory"])
    if "unified" in paths:  # hybrid: joined the v2 tree too, as runc does
        assert paths["unified"].endswith(own[""])


def test_freeze_really_stops_the_process(cg: cgroups.Manager, children: Children, workdir: Path) -> None:
    counter = workdir / "counter"
    p = children.python(
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        f"    with open({str(counter)!r} + '.tmp', 'w') as f: f.write(str(i))\n"
        f"    os.rename({str(counter)!r} + '.tmp', {str(counter)!r})\n"
        "    time.sleep(0.002)\n"
    )
    cg.add(p.pid)
    children.go(p)
    assert wait_for(counter.exists)
    assert cg.state() == "thawed"
    cg.freeze()
    assert cg.state() == "frozen"
    before = counter.read_text()
    time.sleep(0.3)
    assert counter.read_text() == before, "counter moved while frozen"
    assert proc_state(p.pid) in ("D", "S", "T")
    cg.thaw()
    assert cg.state() == "thawed"
    assert wait_for(lambda: counter.read_text() != before), "counter did not resume after thaw"


def test_pids_limit_prevents_fork(cg: cgroups.Manager, children: Children) -> None:
    p = children.python(
        "import errno\n"
        "try:\n"
        "    pid = os.fork()\n"
        "except OSError as e:\n"
        "    sys.exit(3 if e.errno == errno.EAGAIN else 4)\n"
        "if pid == 0:\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "sys.exit(0)\n"
    )
    cg.add(p.pid)
    cg.apply({"pids": {"limit": 1}})
    children.go(p)
    assert p.wait(timeout=10) == 3
    assert cg.stats()["pids"]["limit"] == 1


def test_memory_limit_oom_kills(cg: cgroups.Manager, children: Children) -> None:
    paths = cg.paths()
    limit = 48 << 20
    mem: dict[str, int] = {"limit": limit}
    if os.path.exists(os.path.join(paths["memory"], "memory.memsw.limit_in_bytes")):
        mem["swap"] = limit  # no swap either, so the limit bites at once
    p = children.python(
        "chunks = []\n"
        "for _ in range(64):\n"
        "    chunks.append(bytearray(8 << 20))  # zero-filled: pages are touched\n"
        "sys.exit(0)\n"
    )
    cg.add(p.pid)
    cg.apply({"memory": mem})
    before = cg.oom_kill_count()
    children.go(p)
    assert p.wait(timeout=30) == -signal.SIGKILL
    after = cg.oom_kill_count()
    if before is not None and after is not None:
        assert after > before
    stats = cg.stats()
    assert stats["memory"]["usage"]["limit"] == limit
    # The peak reached the limit. (failcnt stays 0 on this 6.x kernel's v1
    # memory controller even after an OOM kill, so it is not asserted.)
    assert stats["memory"]["usage"]["max"] == limit


def test_stats_shape(cg: cgroups.Manager, children: Children) -> None:
    # Write 16 MiB after joining the cgroup: v1 charges pages to the cgroup
    # that touches them, so usage is non-zero however little was allocated
    # before (a CPU-only child left memory usage at 0 and flaked).
    p = children.python("x = sum(range(3_000_000)); b = b'x' * (16 << 20); time.sleep(60)")
    cg.add(p.pid)
    cg.apply({"pids": {"limit": 10}, "memory": {"limit": 256 << 20}})
    children.go(p)
    time.sleep(0.5)
    s = cg.stats()
    assert set(s) == {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"}
    assert s["pids"] == {"current": 1, "limit": 10}
    assert s["memory"]["usage"]["limit"] == 256 << 20
    assert s["memory"]["usage"]["usage"] > 0
    assert s["cpu"]["usage"]["total"] > 0
    assert len(s["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert "user" in s["cpu"]["usage"] and "kernel" in s["cpu"]["usage"]
    assert "cpus" in s["cpuset"]


def test_device_rules_are_enforced(cg: cgroups.Manager, children: Children) -> None:
    if "devices" not in cg.paths():
        pytest.skip("v1 devices controller not mounted")
    p = children.python(
        "def can(path):\n"
        "    try:\n"
        "        os.close(os.open(path, os.O_RDONLY))\n"
        "        return True\n"
        "    except PermissionError:\n"
        "        return False\n"
        "sys.exit((1 if can('/dev/null') else 0) + (2 if can('/dev/zero') else 0))\n"
    )
    cg.add(p.pid)
    cg.apply({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    ]})
    assert read(cg.paths()["devices"], "devices.list") == "c 1:3 rwm"
    children.go(p)
    assert p.wait(timeout=10) == 1  # /dev/null yes, /dev/zero no


def test_destroy_with_a_live_process_fails_clearly(cg: cgroups.Manager, children: Children) -> None:
    p = children.python("time.sleep(60)")
    cg.add(p.pid)
    with pytest.raises(CgroupError, match="Device or resource busy"):
        cg.destroy()
    assert cg.exists()


def test_hybrid_hugetlb_through_the_unified_tree(cg: cgroups.Manager) -> None:
    paths = cg.paths()
    if "unified" not in paths or "hugetlb" in paths:
        pytest.skip("only for hybrid hosts whose hugetlb controller sits in the unified tree")
    root = os.path.dirname(paths["unified"])
    if "hugetlb" not in read(root, "cgroup.controllers").split():
        pytest.skip(f"hugetlb is not available in {root}/cgroup.controllers")
    enabled_before = "hugetlb" in read(root, "cgroup.subtree_control").split()
    try:
        cg.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
        assert read(paths["unified"], "hugetlb.2MB.max") == str(4 << 20)
        assert "2MB" in cg.stats()["hugetlb"]
        with pytest.raises(CgroupError, match=r"page size '3MB' .* is not supported"):
            cg.apply({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]})
    finally:
        if not enabled_before:
            cg.destroy()
            try:
                with open(os.path.join(root, "cgroup.subtree_control"), "w") as f:
                    f.write("-hugetlb")
            except OSError:
                pass


# --- cgroup v2 on a real cgroup2 mount ----------------------------------------------------


@pytest.fixture
def cgroup2_root() -> Iterator[str]:
    """A cgroup2 hierarchy: a fresh mount at a temp dir, else the host's existing one."""
    _real_mode()
    tmp = tempfile.mkdtemp(prefix="berth-cg2-")
    mounted = subprocess.run(["mount", "-t", "cgroup2", "cgroup2", tmp], capture_output=True).returncode == 0
    try:
        if mounted:
            yield tmp
        else:
            existing = [m.mountpoint for m in cgroups.host_mounts() if m.fstype == "cgroup2"]
            if not existing:
                pytest.skip("cannot mount cgroup2 and none is mounted")
            yield existing[0]
    finally:
        if mounted:
            subprocess.run(["umount", tmp], check=False)
        os.rmdir(tmp)


@pytest.fixture
def cg2(cgroup2_root: str, children: Children) -> Iterator[UnifiedManager]:
    name = f"berth-test-{uuid.uuid4().hex[:12]}"
    m = UnifiedManager(os.path.join(cgroup2_root, name, "c1"), root=cgroup2_root)
    m.create()
    try:
        yield m
    finally:
        children.kill_all()
        m.destroy()
        os.rmdir(os.path.join(cgroup2_root, name))
        assert not os.path.exists(os.path.join(cgroup2_root, name))


def test_v2_add_pids_freeze_thaw(cg2: UnifiedManager, children: Children, workdir: Path) -> None:
    path = cg2.paths()["unified"]
    if not os.path.exists(os.path.join(path, "cgroup.freeze")):
        pytest.skip("kernel has no cgroup v2 freezer (needs 5.2+)")
    counter = workdir / "counter"
    p = children.python(
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        f"    with open({str(counter)!r}, 'w') as f: f.write(str(i))\n"
        "    time.sleep(0.002)\n"
    )
    cg2.add(p.pid)
    children.go(p)
    assert cg2.pids() == [p.pid]
    assert wait_for(counter.exists)
    cg2.freeze()
    assert cg2.state() == "frozen"
    before = counter.read_text()
    time.sleep(0.3)
    assert counter.read_text() == before
    cg2.thaw()
    assert cg2.state() == "thawed"
    assert wait_for(lambda: counter.read_text() != before)
    s = cg2.stats()
    assert s["cpu"]["usage"]["total"] > 0  # cpu.stat exists in every v2 cgroup


def test_v2_missing_controller_is_a_clear_error(cg2: UnifiedManager) -> None:
    path = cg2.paths()["unified"]
    available = read(path, "cgroup.controllers").split()
    if "memory" in available:
        cg2.apply({"memory": {"limit": 64 << 20}})
        assert read(path, "memory.max") == str(64 << 20)
        return
    print(f"cgroup v2 memory controller is bound to v1 here; testing the error (have: {available})")
    with pytest.raises(CgroupError) as info:
        cg2.apply({"memory": {"limit": 64 << 20}})
    assert str(info.value) == (
        f"cgroup memory: linux.resources.memory needs the memory controller, which is not available "
        f"in {path} (cgroup.controllers: {' '.join(sorted(available)) or 'none'})"
    )


def test_v2_unified_and_hugetlb(cg2: UnifiedManager) -> None:
    path = cg2.paths()["unified"]
    if "hugetlb" not in read(path, "cgroup.controllers").split():
        pytest.skip("no controller is available in this cgroup2 hierarchy to write through 'unified'")
    cg2.apply({"unified": {"hugetlb.2MB.max": str(2 << 20)}})
    assert read(path, "hugetlb.2MB.max") == str(2 << 20)
    cg2.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
    assert read(path, "hugetlb.2MB.max") == str(4 << 20)
    with pytest.raises(CgroupError, match=r"no file memory.max in"):
        cg2.apply({"unified": {"memory.max": "1"}})
    with pytest.raises(CgroupError, match=r"is not a cgroup file name"):
        cg2.apply({"unified": {"../x": "1"}})


def test_import_is_light() -> None:
    code = (
        "import sys; from berth.plugins.runtimes.runc import cgroups; "
        "bad = [m for m in ('trio', 'pluggy', 'google.protobuf', 'json', 'logging', 'pyseccomp') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_memory_kernel_tcp_limit_is_written(cg: cgroups.Manager) -> None:
    """v1 still enforces memory.kmem.tcp.limit_in_bytes: kernelTCP must reach it."""
    m = cg.paths().get("memory")
    if not m or not os.path.exists(os.path.join(m, "memory.kmem.tcp.limit_in_bytes")):
        pytest.skip("no v1 memory.kmem.tcp.limit_in_bytes")
    cg.apply({"memory": {"limit": 64 << 20, "kernelTCP": 48 << 20}})
    assert read(m, "memory.kmem.tcp.limit_in_bytes") == str(48 << 20)
