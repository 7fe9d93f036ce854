"""Smaller CLI verbs and flags: run -t, --no-pivot, --preserve-fds, spec, features, events."""
from __future__ import annotations

import json
import os
import subprocess

from .conftest import BERTH_RUNC


def test_run_tty_foreground_relays(runc, bundle):
    bundle.process["terminal"] = True
    bundle.sh("tty; test -t 1 && echo tty-out; exit 4").write()
    cid = runc.new_id()
    p = subprocess.run([BERTH_RUNC, "--root", str(runc.root), "run", "-b", str(bundle.path), cid],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 4, p
    assert b"/dev/pts/0" in p.stdout and b"tty-out" in p.stdout
    assert not (runc.root / cid).exists()


def test_exec_tty_foreground(runc, bundle):
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid, check=True)
    p = subprocess.run([BERTH_RUNC, "--root", str(runc.root), "exec", "-t", cid, "sh", "-c", "tty; exit 2"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 2 and p.stdout.startswith(b"/dev/pts/"), p


def test_no_pivot(runc, bundle):
    bundle.sh("cat /proc/self/mountinfo | awk '$5 == \"/\" {print $5}'; ls /").write()
    r = runc("run", "--no-pivot", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0 and "bin" in r.stdout.split(), r


def test_preserve_fds(runc, bundle, work):
    f = work / "extra"
    f.write_text("passed through")
    bundle.sh("cat <&3").write()
    cid = runc.new_id()
    p = subprocess.run(["sh", "-c", f'exec 3<"{f}"; exec "$@"', "sh", BERTH_RUNC, "--root", str(runc.root),
                        "run", "--preserve-fds", "1", "-b", str(bundle.path), cid],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 0 and p.stdout == b"passed through", p
    # without --preserve-fds the container does not get it
    p = subprocess.run(["sh", "-c", f'exec 3<"{f}"; exec "$@"', "sh", BERTH_RUNC, "--root", str(runc.root),
                        "run", "-b", str(bundle.path), runc.new_id()],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode != 0 and b"Bad file descriptor" in p.stderr, p


def test_fds_not_leaked(runc, bundle, work):
    f = work / "secret"
    f.write_text("x")
    fd = os.open(f, os.O_RDONLY)
    try:
        bundle.args("ls", "/proc/self/fd").write()
        r = runc("run", "-b", str(bundle.path), runc.new_id(), pass_fds=(fd,))
    finally:
        os.close(fd)
    assert sorted(int(x) for x in r.stdout.split()) == [0, 1, 2, 3], r  # 3 is ls's own dir fd


def test_spec_writes_config_and_refuses_overwrite(runc, tmp_path):
    r = runc("spec", "--bundle", str(tmp_path))
    assert r.returncode == 0, r
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    r = runc("spec", "-b", str(tmp_path))
    assert r.returncode == 1 and "File config.json exists. Remove it first" in r.stderr
    (tmp_path / "r").mkdir()
    assert runc("spec", "--rootless", "-b", str(tmp_path / "r")).returncode == 0
    rl = json.loads((tmp_path / "r/config.json").read_text())
    assert any(n["type"] == "user" for n in rl["linux"]["namespaces"])


def test_features_like_runc(runc, real_runc):
    ours = json.loads(runc("features").stdout)
    theirs = json.loads(real_runc("features").stdout)
    assert set(theirs) <= set(ours)
    assert set(theirs["hooks"]) == set(ours["hooks"])
    assert set(theirs["mountOptions"]) <= set(ours["mountOptions"])
    assert set(theirs["linux"]["namespaces"]) <= set(ours["linux"]["namespaces"])


def test_events_interval_stream(runc, bundle):
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid, check=True)
    p = subprocess.Popen([BERTH_RUNC, "--root", str(runc.root), "events", "--interval", "100ms", cid],
                         stdout=subprocess.PIPE)
    try:
        lines = [json.loads(p.stdout.readline()) for _ in range(2)]
    finally:
        p.kill()
        p.wait()
    assert all(ev["type"] == "stats" and ev["id"] == cid for ev in lines)


def test_exec_cap_flag(runc, bundle):
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid, check=True)
    r = runc("exec", "--cap", "CAP_SYS_ADMIN", cid, "grep", "CapBnd", "/proc/self/status")
    assert int(r.stdout.split()[1], 16) & (1 << 21), r


def test_rootfs_through_symlink_refused(runc, bundle, tmp_path):
    os.symlink(bundle.rootfs, tmp_path / "link")
    bundle.spec["root"]["path"] = str(tmp_path / "link")
    bundle.write()
    cid = runc.new_id()
    r = runc("create", "-b", str(bundle.path), cid)
    assert r.returncode == 1 and "config.json: root.path: rootfs" in r.stderr and "symlink" in r.stderr
    assert not (runc.root / cid).exists()


def test_checkpoint_unsupported(runc):
    r = runc("checkpoint", "x")
    assert r.returncode == 1 and "not supported" in r.stderr
