"""Hooks get the state JSON on stdin; --console-socket receives the pty master."""
from __future__ import annotations

import array
import json
import os
import socket
import time

import pytest


def hook_script(work, name):
    out = work / f"{name}.json"
    script = work / f"{name}.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}\necho \"$@\" > {out}.args\n")
    script.chmod(0o755)
    return script, out


KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def test_all_hooks_get_state(runc, bundle, work):
    outs = {}
    bundle.spec["hooks"] = {}
    for k in KINDS:
        script, out = hook_script(work, k)
        outs[k] = out
        bundle.spec["hooks"][k] = [{"path": str(script), "args": [str(script), k, "x"]}]
    # startContainer runs in the container: its path and output live there
    hookout = work / "hookout"
    hookout.mkdir()
    (bundle.rootfs / "start-hook.sh").write_text("#!/bin/sh\ncat > /hookout/startContainer.json\n")
    (bundle.rootfs / "start-hook.sh").chmod(0o755)
    bundle.spec["hooks"]["startContainer"] = [{"path": "/start-hook.sh"}]
    outs["startContainer"] = hookout / "startContainer.json"
    bundle.spec["mounts"].append({"destination": "/hookout", "type": "bind", "source": str(hookout),
                                  "options": ["bind"]})
    bundle.spec["annotations"] = {"a": "b"}
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("create", "-b", str(bundle.path), cid, check=True)
    pid = runc.state(cid)["pid"]
    for k in ("prestart", "createRuntime", "createContainer"):
        st = json.loads(outs[k].read_text())
        assert st["id"] == cid and st["bundle"] == str(bundle.path) and st["annotations"] == {"a": "b"}
        # prestart keeps its pre-1.1 "created" (the spec's validation suite and crun)
        assert st["status"] == ("created" if k == "prestart" else "creating")
        assert (outs[k].parent / f"{k}.json.args").read_text().split() == [k, "x"]
    assert json.loads(outs["prestart"].read_text())["pid"] == pid
    assert not outs["startContainer"].exists() and not outs["poststart"].exists()
    runc("start", cid, check=True)
    assert json.loads(outs["poststart"].read_text())["status"] == "running"
    for _ in range(100):
        if outs["startContainer"].exists():
            break
        time.sleep(0.01)
    assert json.loads(outs["startContainer"].read_text())["status"] == "created"
    runc("delete", "-f", cid, check=True)
    st = json.loads(outs["poststop"].read_text())
    assert st["status"] == "stopped" and st["id"] == cid


def test_failing_prestart_hook_leaves_nothing(runc, bundle, work):
    from .conftest import cgroup_dirs

    bad = work / "bad.sh"
    bad.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    bad.chmod(0o755)
    bundle.spec["hooks"] = {"prestart": [{"path": str(bad)}]}
    bundle.write()
    cid = runc.new_id()
    r = runc("create", "-b", str(bundle.path), cid)
    assert r.returncode == 1
    assert f"error running prestart hook #0: {bad}: exit status 3, output: boom" in r.stderr
    assert not (runc.root / cid).exists() and cgroup_dirs(cid) == []


def test_hook_timeout(runc, bundle, work):
    slow = work / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 10\n")
    slow.chmod(0o755)
    bundle.spec["hooks"] = {"createRuntime": [{"path": str(slow), "timeout": 1}]}
    bundle.write()
    t = time.monotonic()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 1 and "timeout after 1 seconds" in r.stderr
    assert time.monotonic() - t < 5


@pytest.fixture
def console_socket(work):
    path = work / "console.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    try:
        yield srv, path
    finally:
        srv.close()


def recv_master(srv):
    srv.settimeout(10)
    conn, _ = srv.accept()
    with conn:
        fds = array.array("i")
        msg, anc, _flags, _addr = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return msg, fds[0]


def read_all(fd, want, timeout=5):
    import select

    buf = b""
    end = time.monotonic() + timeout
    while want not in buf and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_console_socket_tty(runc, bundle, console_socket):
    srv, path = console_socket
    bundle.process["terminal"] = True
    bundle.process["consoleSize"] = {"height": 30, "width": 100}
    bundle.sh("tty; stty size; test -t 0 && echo is-a-tty; sleep 1000").write()
    cid = runc.new_id()
    runc("create", "-b", str(bundle.path), "--console-socket", str(path), cid, check=True)
    name, master = recv_master(srv)
    try:
        assert name == b"/dev/ptmx"
        runc("start", cid, check=True)
        out = read_all(master, b"is-a-tty")
        assert b"/dev/pts/0" in out and b"30 100" in out and b"is-a-tty" in out, out
        # exec with a tty in the same container
        r = runc("exec", "-t", "-d", "--console-socket", str(path), cid, "sh", "-c", "tty; sleep 1000")
        assert r.returncode == 0, r
        _, m2 = recv_master(srv)
        assert b"/dev/pts/1" in read_all(m2, b"/dev/pts/1")
        os.close(m2)
    finally:
        os.close(master)


def test_terminal_without_console_socket_refused(runc, bundle):
    bundle.process["terminal"] = True
    bundle.write()
    cid = runc.new_id()
    r = runc("create", "-b", str(bundle.path), cid)
    assert r.returncode == 1 and "cannot allocate tty" in r.stderr and "console socket" in r.stderr
    assert not (runc.root / cid).exists()
