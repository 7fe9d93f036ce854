"""linux.rootfsPropagation, joined/absent mount and UTS namespaces, prestart state, ociVersion."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest


def _run(runc, bundle, script):
    bundle.sh(script).write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    return r.stdout


def _mount_capable(bundle):
    bundle.spec["root"]["readonly"] = False
    for k in ("bounding", "effective", "permitted"):
        bundle.process["capabilities"][k].append("CAP_SYS_ADMIN")


# The container binds / on /t, then binds /x on /m: with a shared root the
# second mount propagates to /t/m (runtime-tools' validateRootfsPropagation).
PROBE = ("mkdir -p /t /m /x && touch /x/f && mount --rbind / /t || { echo bind-failed; exit 0; }; "
         "mount --bind /x /m && if [ -e /t/m/f ]; then echo exposed; else echo hidden; fi; "
         "grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ' /proc/self/mountinfo | head -1")


@pytest.mark.parametrize("prop,expect", [("shared", "exposed"), ("rshared", "exposed"),
                                         ("slave", "hidden"), ("private", "hidden"),
                                         ("unbindable", "bind-failed")])
def test_rootfs_propagation_applies_to_container_root(runc, bundle, prop, expect):
    _mount_capable(bundle)
    bundle.linux["rootfsPropagation"] = prop
    out = _run(runc, bundle, PROBE)
    assert out.split()[0] == expect, out
    if expect == "bind-failed":
        return
    root_line = out.splitlines()[1]
    assert ("shared:" in root_line) == (expect == "exposed"), root_line


def test_rootfs_propagation_shared_under_shared_host_mount(runc, bundle, work):
    """pivot_root refuses a shared parent: the mount holding the rootfs is made private first."""
    host = work / "sharedhost"
    host.mkdir()
    subprocess.run(["mount", "--bind", str(work), str(host)], check=True)
    subprocess.run(["mount", "--make-shared", str(host)], check=True)
    try:
        _mount_capable(bundle)
        bundle.linux["rootfsPropagation"] = "shared"
        bundle.spec["root"]["path"] = str(host / "bundle" / "rootfs")
        out = _run(runc, bundle, PROBE)
        assert out.split()[0] == "exposed", out
        with open("/proc/self/mountinfo") as f:
            line = next(ln for ln in f if ln.split()[4] == str(host))
        assert "shared:" in line, "the host's mount must keep its propagation"
    finally:
        subprocess.run(["umount", "-l", str(host)], check=True)


def _holder(flag, kind):
    holder = subprocess.Popen(["unshare", flag, "sleep", "1000"])
    for _ in range(300):
        ns = os.readlink(f"/proc/{holder.pid}/ns/{kind}")
        if ns != os.readlink(f"/proc/self/ns/{kind}"):
            return holder, ns
        time.sleep(0.01)
    holder.kill()
    raise AssertionError("unshare did not enter a new namespace")


def test_join_mount_namespace_by_path(runc, bundle):
    holder, ns = _holder("--mount", "mnt")
    try:
        for n in bundle.linux["namespaces"]:
            if n["type"] == "mount":
                n["path"] = f"/proc/{holder.pid}/ns/mnt"
        out = _run(runc, bundle, "readlink /proc/self/ns/mnt; ls /bin/busybox")
        assert out.split() == [ns, "/bin/busybox"]
    finally:
        holder.kill()
        holder.wait()


def test_hostname_set_in_joined_uts_namespace(runc, bundle):
    holder, ns = _holder("--uts", "uts")
    try:
        for n in bundle.linux["namespaces"]:
            if n["type"] == "uts":
                n["path"] = f"/proc/{holder.pid}/ns/uts"
        bundle.spec["hostname"] = "joined-uts"
        out = _run(runc, bundle, "readlink /proc/self/ns/uts; hostname")
        assert out.split() == [ns, "joined-uts"]
        assert os.uname().nodename != "joined-uts"
    finally:
        holder.kill()
        holder.wait()


def _mounts_below(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(path + "/")]


def test_no_mount_namespace_mounts_in_runtime_ns_and_detached_on_delete(runc, bundle):
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"] if n["type"] != "mount"]
    bundle.spec["root"]["readonly"] = False
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("create", "-b", str(bundle.path), cid, check=True)
    pid = runc.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    below = _mounts_below(bundle.rootfs)
    assert str(os.path.realpath(bundle.rootfs / "proc")) in below, below
    runc("delete", "--force", cid, check=True)
    assert _mounts_below(bundle.rootfs) == []


def test_no_mount_namespace_failed_create_detaches_mounts(runc, bundle):
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"] if n["type"] != "mount"]
    bundle.spec["root"]["readonly"] = False
    bundle.args("/does/not/exist").write()
    r = runc("create", "-b", str(bundle.path), runc.new_id())
    assert r.returncode != 0
    assert _mounts_below(bundle.rootfs) == []


def test_prestart_hook_state_is_created(runc, bundle, work):
    out = work / "prestart.json"
    script = work / "prestart.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}\n")
    script.chmod(0o755)
    bundle.spec["hooks"] = {"prestart": [{"path": str(script)}],
                            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}.cr"]}]}
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("create", "-b", str(bundle.path), cid, check=True)
    assert json.loads(out.read_text())["status"] == "created"
    assert json.loads((work / "prestart.json.cr").read_text())["status"] == "creating"


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2", "1.1.0", "1.2.0", "1.3.0"])
def test_config_oci_versions_1_0_to_1_3_accepted(runc, bundle, version):
    bundle.spec["ociVersion"] = version
    assert _run(runc, bundle, "echo ok").strip() == "ok"
    assert runc("state", "nope").returncode != 0
