"""The same bundle under berth-runc, runc and crun: the container sees the same world."""
from __future__ import annotations

import json

import pytest

SCRIPT = ("id; hostname; cat /proc/self/status | grep -E '^(Cap|NoNewPrivs|Seccomp:)'; "
          "ulimit -n; ulimit -Hn; umask; pwd; env | sort; echo $$; "
          "wc -c < /proc/timer_list; touch /x 2>/dev/null; echo ro=$?; ls /dev | grep -vx core | sort; "  # crun always makes /dev/core
          "awk '{print $2}' /proc/self/mounts | sort -u")


@pytest.fixture(params=["runc", "crun"])
def other(request):
    return request.getfixturevalue("real_" + request.param)


def run_with(rt, bundle):
    r = rt("run", "-b", str(bundle.path), rt.new_id())
    assert r.returncode == 0, (rt.binary, r)
    return r.stdout


def test_same_view_inside(runc, other, bundle):
    bundle.spec["mounts"] = [m for m in bundle.spec["mounts"] if m["type"] != "cgroup"]
    bundle.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [3000]}
    bundle.process["capabilities"]["inheritable"] = ["CAP_KILL"]
    bundle.sh(SCRIPT).write()
    ours, theirs = run_with(runc, bundle), run_with(other, bundle)
    assert ours.splitlines() == theirs.splitlines()


def test_same_exit_codes(runc, other, bundle):
    for script in ("exit 0", "exit 3", "exit 255"):
        bundle.sh(script).write()
        a = runc("run", "-b", str(bundle.path), runc.new_id()).returncode
        b = other("run", "-b", str(bundle.path), other.new_id()).returncode
        assert a == b, script


def test_same_state_lifecycle(runc, other, bundle):
    bundle.args("sleep", "1000").write()
    seen = {}
    for rt in (runc, other):
        cid = rt.new_id()
        rt("create", "-b", str(bundle.path), cid, check=True)
        s1 = rt.state(cid)["status"]
        rt("start", cid, check=True)
        s2 = rt.state(cid)["status"]
        rt("kill", cid, "KILL", check=True)
        import time

        for _ in range(200):
            if rt.state(cid)["status"] == "stopped":
                break
            time.sleep(0.01)
        s3 = rt.state(cid)["status"]
        rt("delete", cid, check=True)
        seen[rt.binary] = (s1, s2, s3)
    assert len(set(seen.values())) == 1, seen


def test_exec_and_ps_json_like_runc(runc, real_runc, bundle):
    bundle.args("sleep", "1000").write()
    out = {}
    for rt in (runc, real_runc):
        cid = rt.new_id()
        rt("run", "-d", "-b", str(bundle.path), cid, check=True)
        r = rt("exec", cid, "sh", "-c", "echo $$; cat /proc/self/status | grep ^Cap")
        pids = json.loads(rt("ps", "--format", "json", cid).stdout)
        out[rt.binary] = (r.returncode, r.stdout.splitlines()[1:], len(pids))
    assert out[runc.binary] == out[real_runc.binary]
