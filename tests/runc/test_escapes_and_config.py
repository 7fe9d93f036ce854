"""Hostile bundles and malformed configs: refused or contained, nothing left behind."""
from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest

from .conftest import cgroup_dirs


def assert_nothing_left(runc, cid, bundle=None):
    assert not (runc.root / cid).exists(), "state dir left behind"
    assert cgroup_dirs(cid) == [], "cgroup left behind"
    if bundle is not None:
        with open("/proc/self/mountinfo") as f:
            assert str(bundle.path) not in f.read(), "mount left behind on the host"


@pytest.fixture
def host_dir():
    d = f"/tmp/berth-escape-{uuid.uuid4().hex[:8]}"
    os.mkdir(d)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_symlinked_mount_destination_stays_in_rootfs(runc, bundle, host_dir, style):
    target = host_dir if style == "absolute" else "../../../../../../../../.." + host_dir
    os.symlink(target, bundle.rootfs / "escape")
    bundle.spec["mounts"].append({"destination": "/escape/newdir", "type": "tmpfs", "source": "tmpfs"})
    bundle.spec["root"]["readonly"] = False
    bundle.sh("grep -c ' /escape/newdir \\| " + host_dir + "/newdir ' /proc/self/mounts").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    # the directory was made inside the rootfs, never on the host
    assert not os.path.exists(host_dir + "/newdir")
    assert os.path.isdir(str(bundle.rootfs) + host_dir + "/newdir")


def test_bind_source_file_over_symlinked_file(runc, bundle, host_dir, work):
    victim = os.path.join(host_dir, "victim")
    with open(victim, "w") as f:
        f.write("host data")
    os.symlink(victim, bundle.rootfs / "etc/link")
    src = work / "payload"
    src.write_text("payload")
    bundle.spec["mounts"].append({"destination": "/etc/link", "type": "bind", "source": str(src),
                                  "options": ["bind"]})
    bundle.spec["root"]["readonly"] = False
    bundle.args("cat", "/etc/link").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0 and r.stdout == "payload", r
    assert open(victim).read() == "host data"


def test_proc_over_symlink_refused(runc, bundle, host_dir):
    os.rmdir(bundle.rootfs / "proc")
    os.symlink(host_dir, bundle.rootfs / "proc")
    bundle.write()
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle.path), cid)
    assert r.returncode == 1
    assert "mounts[0]: cannot mount proc on /proc: the destination in the rootfs is a symlink" in r.stderr
    assert_nothing_left(runc, cid, bundle)
    assert os.listdir(host_dir) == []


def test_bind_over_proc_refused(runc, bundle, work):
    bundle.spec["mounts"].append({"destination": "/proc/sysrq-trigger", "type": "bind",
                                  "source": str(work), "options": ["bind"]})
    bundle.write()
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle.path), cid)
    assert r.returncode == 1 and "/proc/sysrq-trigger cannot be mounted because it is inside /proc" in r.stderr
    assert_nothing_left(runc, cid)


def test_dotdot_paths(runc, bundle, tmp_path):
    # root.path with .. is resolved against the bundle; destinations with .. stay in the rootfs
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.rename(bundle.rootfs, other / "rootfs")
    bundle.spec["root"]["path"] = "../elsewhere/rootfs"
    bundle.spec["mounts"].append({"destination": "/../../../../dotdot", "type": "tmpfs", "source": "tmpfs"})
    bundle.spec["root"]["readonly"] = False
    bundle.sh("grep -c ' /dotdot ' /proc/self/mounts").write()
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle.path), cid)
    assert r.returncode == 0 and r.stdout.strip() == "1", r
    assert (other / "rootfs/dotdot").is_dir()
    assert not os.path.exists("/dotdot")


def test_memory_limit_oom_kills(runc, bundle):
    limit = 32 << 20
    bundle.linux["resources"]["memory"] = {"limit": limit, "swap": limit}
    bundle.args("sh", "-c", "head -c 200000000 /dev/zero | tail").write()
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle.path), cid, timeout=60)
    assert r.returncode == 137, r


def test_pids_limit_holds(runc, bundle):
    bundle.linux["resources"]["pids"] = {"limit": 10}
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid, check=True)
    results = [runc("exec", "-d", cid, "sleep", "1000") for _ in range(14)]
    ok = [r for r in results if r.returncode == 0]
    # the exec helper (stage A) is in the cgroup while it forks, so the last slot may be lost
    assert len(ok) in (8, 9), results
    failed = [r for r in results if r.returncode != 0]
    assert all("Resource temporarily unavailable" in r.stderr for r in failed), failed
    pids = json.loads(runc("ps", "--format", "json", cid).stdout)
    assert len(pids) == len(ok) + 1 <= 10, pids


BAD = [
    ("not json", "config.json: invalid JSON: "),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": "sh", "cwd": "/"}},
     "config.json: process.args: must be a non-empty list of strings"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"cwd": "/"}},
     "config.json: process.args: must be a non-empty list of strings"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}},
     "config.json: process: is required"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "user": {"uid": "0"}}},
     "config.json: process.user.uid: must be an integer (got '0', a string)"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"]},
      "linux": {"namespaces": [{"type": "pid"}, {"type": "bogus"}]}},
     "config.json: linux.namespaces[1].type: unknown namespace type 'bogus'"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"]},
      "mounts": [{"type": "tmpfs", "source": "tmpfs"}]},
     "config.json: mounts[0].destination: is required"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"]}, "hostname": "h",
      "linux": {"namespaces": [{"type": "mount"}]}},
     "config.json: hostname: unable to set hostname without a private UTS namespace"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "rel"}},
     "config.json: process.cwd: must be an absolute path (got 'rel')"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
      "process": {"args": ["sh"], "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}},
     "config.json: process.rlimits[0].type: unknown rlimit type 'RLIMIT_BOGUS'"),
    ({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
      "process": {"args": ["sh"], "capabilities": {"bounding": ["CAP_NOPE"]}}},
     "config.json: process.capabilities.bounding: unknown capability 'CAP_NOPE'"),
    ({"ociVersion": "1.0.2", "root": {"path": "nope"}, "process": {"args": ["sh"]}},
     "config.json: root.path: rootfs "),
    ([1, 2], "config.json: must be a JSON object"),
]


@pytest.mark.parametrize("doc,message", BAD, ids=[m.split(": ")[1] for _, m in BAD])
def test_malformed_config(runc, bundle, doc, message):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    (bundle.path / "config.json").write_text(text)
    cid = runc.new_id()
    for cmd in ("create", "run"):
        r = runc(cmd, "-b", str(bundle.path), cid)
        assert r.returncode == 1, r
        assert r.stderr.startswith(message), r
        assert len(r.stderr.splitlines()) == 1
        assert_nothing_left(runc, cid, bundle)


def test_missing_config(runc, tmp_path):
    cid = runc.new_id()
    r = runc("create", "-b", str(tmp_path), cid)
    assert r.returncode == 1 and "config.json not found" in r.stderr
    assert_nothing_left(runc, cid)


def test_failed_exec_leaves_nothing(runc, bundle):
    bundle.args("/no/such/binary").write()
    cid = runc.new_id()
    r = runc("create", "-b", str(bundle.path), cid)
    assert r.returncode == 1 and "/no/such/binary" in r.stderr and "no such file" in r.stderr
    assert_nothing_left(runc, cid)
