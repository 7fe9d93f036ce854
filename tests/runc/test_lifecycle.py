"""create / start / state / kill / delete / run / list, as a user sees them."""
from __future__ import annotations

import json
import os
import time

from .conftest import cgroup_dirs


def wait_status(runc, cid, want, timeout=5.0):
    end = time.monotonic() + timeout
    st = None
    while time.monotonic() < end:
        st = runc.state(cid)["status"]
        if st == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid}: status {st}, want {want}")


def test_run_true_exit_status(runc, bundle):
    bundle.args("/bin/true").write()
    r = runc("run", "--bundle", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    bundle.sh("exit 7").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 7, r


def test_run_output_and_cleanup(runc, bundle):
    bundle.sh("echo hello; echo err >&2").write()
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle.path), cid)
    assert r.returncode == 0 and r.stdout == "hello\n" and r.stderr == "err\n", r
    assert not (runc.root / cid).exists()
    assert cgroup_dirs(cid) == []


def test_run_killed_by_signal(runc, bundle):
    # pid 1 of a pid namespace cannot SIGKILL itself: share the host's pid namespace
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"] if n["type"] != "pid"]
    bundle.sh("kill -9 $$").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 137, r


def test_create_start_state_kill_delete(runc, bundle, work):
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    pidfile = work / "init.pid"
    r = runc("create", "--bundle", str(bundle.path), "--pid-file", str(pidfile), cid)
    assert r.returncode == 0, r
    st = runc.state(cid)
    pid = int(pidfile.read_text())
    assert st["status"] == "created" and st["pid"] == pid and st["id"] == cid
    assert st["bundle"] == str(bundle.path) and st["rootfs"] == str(bundle.rootfs)
    assert st["ociVersion"] and st["created"].endswith("Z") and "owner" in st
    assert (runc.root / cid / "exec.fifo").exists()
    # the init waits on exec.fifo, not yet running sleep
    assert "sleep" not in open(f"/proc/{pid}/cmdline").read()
    assert runc("start", cid).returncode == 0
    assert runc.state(cid)["status"] == "running"
    assert not (runc.root / cid / "exec.fifo").exists()
    assert open(f"/proc/{pid}/cmdline").read().split("\0")[0] == "sleep"
    r = runc("start", cid)
    assert r.returncode == 1 and "cannot start an already running container" in r.stderr
    r = runc("delete", cid)
    assert r.returncode == 1 and f"cannot delete container {cid} that is not stopped: running" in r.stderr
    assert runc("kill", cid, "KILL").returncode == 0
    wait_status(runc, cid, "stopped")
    assert runc.state(cid)["pid"] == 0
    r = runc("kill", cid)
    assert r.returncode == 1 and "container not running" in r.stderr
    assert runc("delete", cid).returncode == 0
    assert not (runc.root / cid).exists()
    assert cgroup_dirs(cid) == []
    r = runc("state", cid)
    assert r.returncode == 1 and "container does not exist" in r.stderr


def test_kill_default_sigterm_and_names(runc, bundle):
    bundle.sh("trap 'exit 3' TERM; while true; do sleep 0.05; done").write()
    cid = runc.new_id()
    assert runc("run", "-d", "-b", str(bundle.path), cid).returncode == 0
    assert runc("kill", cid).returncode == 0
    wait_status(runc, cid, "stopped")
    r = runc("kill", cid, "NOPE")
    assert r.returncode == 1 and 'unknown signal' in r.stderr and 'NOPE' in r.stderr


def test_delete_created_and_force_running(runc, bundle):
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("create", "-b", str(bundle.path), cid, check=True)
    pid = runc.state(cid)["pid"]
    assert runc("delete", cid).returncode == 0
    assert not os.path.exists(f"/proc/{pid}/cmdline") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    cid2 = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid2, check=True)
    assert runc("delete", "-f", cid2).returncode == 0
    assert not (runc.root / cid2).exists() and cgroup_dirs(cid2) == []


def test_delete_force_missing_is_ok(runc):
    assert runc("delete", "--force", "nothere").returncode == 0
    r = runc("delete", "nothere")
    assert r.returncode == 1 and "container does not exist" in r.stderr


def test_duplicate_id(runc, bundle):
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("create", "-b", str(bundle.path), cid, check=True)
    r = runc("create", "-b", str(bundle.path), cid)
    assert r.returncode == 1 and f"container with id exists: {cid}" in r.stderr
    assert runc.state(cid)["status"] == "created"


def test_list(runc, bundle):
    bundle.args("sleep", "1000").write()
    a, b = runc.new_id(), runc.new_id()
    runc("create", "-b", str(bundle.path), a, check=True)
    runc("run", "-d", "-b", str(bundle.path), b, check=True)
    r = runc("list")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[a][2] == "created" and rows[b][2] == "running"
    assert set(runc("list", "-q").stdout.split()) == {a, b}
    js = json.loads(runc("list", "--format", "json").stdout)
    assert {c["id"]: c["status"] for c in js} == {a: "created", b: "running"}


def test_state_json_shape_matches_runc(runc, real_runc, bundle):
    bundle.args("sleep", "1000")
    bundle.spec["annotations"] = {"org.example": "x"}
    bundle.write()
    ours, theirs = runc.new_id(), real_runc.new_id()
    runc("create", "-b", str(bundle.path), ours, check=True)
    real_runc("create", "-b", str(bundle.path), theirs, check=True)
    a, b = runc.state(ours), real_runc.state(theirs)
    assert list(a) == list(b)
    assert a["status"] == b["status"] == "created" and a["annotations"] == b["annotations"]


def test_log_json_last_error(runc, work):
    log = work / "log.json"
    r = runc("state", "nope", globals_=("--log", str(log), "--log-format", "json"))
    assert r.returncode == 1 and r.stderr == "container does not exist\n"
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container does not exist" and entry["time"]


def test_text_log_to_stderr_without_log(runc):
    r = runc("state", "nope", log=False)
    assert r.returncode == 1
    assert 'level=error msg="container does not exist"' in r.stderr


def test_usage_errors(runc):
    r = runc("state")
    assert r.returncode == 1 and '"state" requires exactly 1 argument(s)' in r.stderr
    r = runc("create", "--nope", "x")
    assert r.returncode == 1 and "flag provided but not defined: -nope" in r.stderr
    r = runc("--systemd-cgroup", "--rootless", "false", "list")
    assert r.returncode == 0, r


def test_run_detach_pid_file_and_stdio(runc, bundle, work):
    bundle.sh("echo out-line; sleep 1000").write()
    cid = runc.new_id()
    pidfile = work / "p"
    runc("run", "-d", "--pid-file", str(pidfile), "-b", str(bundle.path), cid, check=True)
    assert runc.state(cid)["pid"] == int(pidfile.read_text())


def test_concurrent_create_same_id_one_wins(runc, bundle):
    """Regression: under load stage A could be descheduled after fork, so the init's
    "ready" reached create before A's "pid"; create then recorded pid 0 and the
    container showed as stopped while its init was alive outside the cgroup."""
    from concurrent.futures import ThreadPoolExecutor

    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: runc("create", "-b", str(bundle.path), cid), range(8)))
    assert sorted(r.returncode for r in results) == [0] + [1] * 7
    assert all("container with id exists" in r.stderr for r in results if r.returncode)
    assert runc.state(cid)["status"] == "created"


def test_concurrent_pause_resume_state(runc, bundle):
    from concurrent.futures import ThreadPoolExecutor

    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid, check=True)
    cmds = [("pause", cid), ("resume", cid), ("state", cid)] * 6
    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(lambda c: runc(*c), cmds))
    for c, r in zip(cmds, results):
        if c[0] == "state":
            assert r.returncode == 0 and json.loads(r.stdout)["status"] in ("running", "paused")
        else:
            assert r.returncode in (0, 1)
            assert r.returncode == 0 or "not running" in r.stderr or "not paused" in r.stderr, r
    state = json.loads((runc.root / cid / "state.json").read_text())
    assert runc.state(cid)["status"] == ("paused" if state.get("paused") else "running")
