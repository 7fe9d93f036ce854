"""Process security settings, checked from inside the container."""
from __future__ import annotations

import pytest


def status_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in {text!r}")


def caps_mask(names):
    from berth.plugins.runtimes.runc.specconv import CAPS

    v = 0
    for n in names:
        v |= 1 << CAPS[n]
    return f"{v:016x}"


def test_caps_really_dropped(runc, bundle):
    bundle.process["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"],
    }
    bundle.args("cat", "/proc/self/status").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    assert status_field(r.stdout, "CapBnd") == caps_mask(["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"])
    # uid 0 execs: permitted/effective become bounding & (inheritable|bounding) as for runc
    assert status_field(r.stdout, "CapInh") == caps_mask(["CAP_KILL"])
    assert status_field(r.stdout, "CapAmb") == caps_mask(["CAP_KILL"])


def test_caps_non_root_user_gets_only_ambient(runc, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.process["capabilities"] = {k: ["CAP_NET_BIND_SERVICE"] for k in
                                      ("bounding", "effective", "permitted", "inheritable", "ambient")}
    bundle.args("cat", "/proc/self/status").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    m = caps_mask(["CAP_NET_BIND_SERVICE"])
    assert status_field(r.stdout, "CapEff") == m and status_field(r.stdout, "CapBnd") == m


def test_chown_denied_without_cap(runc, bundle):
    bundle.process["capabilities"] = {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}
    bundle.spec["root"]["readonly"] = False
    bundle.sh("touch /tmp/f && chown 1000 /tmp/f").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_no_new_privs(runc, bundle):
    bundle.args("cat", "/proc/self/status").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert status_field(r.stdout, "NoNewPrivs") == "1"
    bundle.process["noNewPrivileges"] = False
    bundle.write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert status_field(r.stdout, "NoNewPrivs") == "0"


def test_user_groups_umask(runc, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [3000, 4000], "umask": 0o027}
    bundle.sh("id -u; id -g; id -G; umask; echo $HOME").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    uid, gid, groups, umask, home = r.stdout.split("\n")[:5]
    assert (uid, gid, umask, home) == ("1000", "1000", "0027", "/home/user")
    # exactly additionalGids (runc and crun do not read /etc/group for a numeric user)
    assert set(groups.split()) == {"1000", "3000", "4000"}  # id -G lists the primary gid too


def test_rlimits(runc, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
                                 {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}]
    bundle.sh("ulimit -n; ulimit -Hn; ulimit -p; grep 'Max processes' /proc/self/limits").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[:2] == ["512", "2048"]
    assert lines[-1].split()[2:4] == ["300", "400"]


def test_rlimit_above_hard_limit_refused(runc, bundle):
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("nofile hard limit is unlimited here")
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 10000}]
    bundle.write()
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle.path), cid)
    assert r.returncode == 1
    assert (f"config.json: process.rlimits: RLIMIT_NOFILE: hard limit {hard + 10000} is above the current "
            f"hard limit {hard} and CAP_SYS_RESOURCE is not available to raise it") in r.stderr
    assert not (runc.root / cid).exists()


def test_oom_score_adj(runc, bundle):
    bundle.process["oomScoreAdj"] = 500
    bundle.args("cat", "/proc/self/oom_score_adj").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.stdout.strip() == "500", r


def seccomp_profile():
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


@pytest.mark.parametrize("nnp", [True, False])
def test_seccomp_eperm(runc, bundle, nnp):
    bundle.linux["seccomp"] = seccomp_profile()
    bundle.process["noNewPrivileges"] = nnp
    bundle.sh("mkdir /dev/shm/x; echo rc=$?; grep Seccomp: /proc/self/status").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    assert "rc=1" in r.stdout and "Operation not permitted" in r.stderr
    assert "Seccomp:\t2" in r.stdout


def test_seccomp_invalid_profile(runc, bundle):
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_NOPE"}
    bundle.write()
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle.path), cid)
    assert r.returncode == 1 and 'config.json: linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"' in r.stderr
    assert not (runc.root / cid).exists()


def test_sysctl(runc, bundle):
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1000"}
    bundle.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni").write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    # /proc/sys is a readonly path: sysctls are written before it is made read-only
    assert r.stdout.split() == ["1", "1000"], r


def test_capability_outside_runtime_bounding_set_is_named(runc, bundle):
    """capset EPERM says which requested capabilities the runtime itself lacks."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(23, 24, 0, 0, 0) != 0:  # PR_CAPBSET_READ CAP_SYS_RESOURCE
        pytest.skip("CAP_SYS_RESOURCE is in this process's bounding set")
    for k in ("bounding", "effective", "permitted"):
        bundle.process["capabilities"][k].append("CAP_SYS_RESOURCE")
    bundle.write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode != 0
    assert "unable to apply caps" in r.stderr and "CAP_SYS_RESOURCE not in" in r.stderr, r
