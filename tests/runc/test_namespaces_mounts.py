"""Namespaces, hostname, mounts, readonly root, masked and readonly paths."""
from __future__ import annotations

import os
import subprocess

import pytest


def run_out(runc, bundle, script):
    bundle.sh(script).write()
    r = runc("run", "-b", str(bundle.path), runc.new_id())
    assert r.returncode == 0, r
    return r.stdout


def test_namespaces_are_new(runc, bundle):
    bundle.linux["namespaces"].append({"type": "cgroup"})
    out = run_out(runc, bundle, "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; echo $$")
    lines = out.split()
    for line in lines[:-1]:
        kind = line.split(":")[0]
        host = os.readlink(f"/proc/self/ns/{ {'net': 'net', 'mnt': 'mnt'}.get(kind, kind)}")
        assert line != host, f"{kind} namespace is the host's"
    assert lines[-1] == "1"


def test_join_network_namespace_by_path(runc, bundle, work):
    holder = subprocess.Popen(["unshare", "--net", "sleep", "1000"])
    try:
        for _ in range(100):
            ns = os.readlink(f"/proc/{holder.pid}/ns/net")
            if ns != os.readlink("/proc/self/ns/net"):
                break
            import time
            time.sleep(0.01)
        for n in bundle.linux["namespaces"]:
            if n["type"] == "network":
                n["path"] = f"/proc/{holder.pid}/ns/net"
        out = run_out(runc, bundle, "readlink /proc/self/ns/net")
        assert out.strip() == ns
    finally:
        holder.kill()
        holder.wait()


def test_host_network_namespace_when_absent(runc, bundle):
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"] if n["type"] != "network"]
    out = run_out(runc, bundle, "readlink /proc/self/ns/net")
    assert out.strip() == os.readlink("/proc/self/ns/net")


def test_loopback_up_in_new_netns(runc, bundle):
    out = run_out(runc, bundle, "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags")
    assert int(out.split()[1], 16) & 1


def test_hostname_domainname(runc, bundle):
    bundle.spec["hostname"] = "box1"
    bundle.spec["domainname"] = "example.org"
    out = run_out(runc, bundle, "hostname; cat /proc/sys/kernel/domainname")
    assert out.split() == ["box1", "example.org"]


def test_user_namespace_mappings(runc, bundle, base_rootfs):
    bundle.linux["namespaces"].append({"type": "user"})
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # sysfs cannot be mounted without owning the netns' userns: dropped, as runc --rootless does
    bundle.spec["mounts"] = [m for m in bundle.spec["mounts"] if m["type"] not in ("sysfs", "cgroup")]
    for dirpath, dirnames, filenames in os.walk(bundle.rootfs):
        os.lchown(dirpath, 100000, 100000)
    # the mapped root must be able to reach the rootfs (pytest's tmp dirs are 0700)
    changed = []
    p = bundle.path
    while str(p) != "/":
        mode = p.stat().st_mode & 0o7777
        if not mode & 0o001:
            changed.append((p, mode))
            p.chmod(mode | 0o011)
        p = p.parent
    try:
        out = run_out(runc, bundle, "id -u; cat /proc/self/uid_map /proc/self/gid_map")
    finally:
        for path, mode in changed:
            path.chmod(mode)
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["0"]
    assert lines[1] == ["0", "100000", "65536"] and lines[2] == ["0", "100000", "65536"]


def test_readonly_root(runc, bundle):
    out = run_out(runc, bundle, "touch /x 2>&1; echo rc=$?; touch /dev/shm/y && echo shm-ok")
    assert "Read-only file system" in out and "rc=1" in out and "shm-ok" in out
    bundle.spec["root"]["readonly"] = False
    out = run_out(runc, bundle, "touch /x && echo ok")
    assert out.strip() == "ok"
    assert (bundle.rootfs / "x").exists()


def test_masked_and_readonly_paths(runc, bundle):
    bundle.linux["maskedPaths"] = ["/proc/timer_list", "/proc/acpi", "/etc/group", "/does/not/exist"]
    bundle.linux["readonlyPaths"] = ["/proc/sys", "/home"]
    bundle.spec["root"]["readonly"] = False
    out = run_out(runc, bundle,
                  "wc -c < /proc/timer_list; ls /proc/acpi | wc -l; wc -c < /etc/group; "
                  "echo 1 > /proc/sys/kernel/domainname 2>/dev/null; echo sys=$?; "
                  "touch /home/f 2>/dev/null; echo home=$?; touch /etc/f && echo etc-ok")
    assert out.split() == ["0", "0", "0", "sys=1", "home=1", "etc-ok"]


def test_bind_tmpfs_and_options(runc, bundle, work):
    host = work / "share"
    host.mkdir()
    (host / "hello").write_text("from host")
    bundle.spec["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(host), "options": ["rbind", "ro"]},
        {"destination": "/rw", "type": "bind", "source": str(host), "options": ["bind", "rw"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "noexec"]},
        {"destination": "/single", "source": str(host / "hello"), "options": ["bind"]},
    ]
    out = run_out(runc, bundle,
                  "cat /data/hello; echo; touch /data/x 2>/dev/null; echo ro=$?; echo hi > /rw/w; "
                  "cat /single; echo; grep ' /scratch ' /proc/self/mounts")
    lines = out.splitlines()
    assert lines[0] == "from host" and lines[1] == "ro=1" and lines[2] == "from host"
    assert "tmpfs" in lines[3] and "noexec" in lines[3] and "size=1024k" in lines[3]
    assert (host / "w").read_text() == "hi\n"


def test_rro_recursive_readonly(runc, bundle, work):
    host = work / "rro"
    (host / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(host / "sub")], check=True)
    try:
        bundle.spec["mounts"].append({"destination": "/r", "type": "bind", "source": str(host),
                                      "options": ["rbind", "rro"]})
        out = run_out(runc, bundle, "touch /r/sub/x 2>/dev/null; echo rc=$?")
        assert out.strip() == "rc=1"
    finally:
        subprocess.run(["umount", str(host / "sub")], check=True)


def test_mount_propagation_rslave(runc, bundle, work):
    host = work / "prop"
    host.mkdir()
    subprocess.run(["mount", "--bind", str(host), str(host)], check=True)
    subprocess.run(["mount", "--make-shared", str(host)], check=True)
    try:
        bundle.spec["mounts"].append({"destination": "/p", "type": "bind", "source": str(host),
                                      "options": ["rbind", "rslave"]})
        bundle.write()
        out = run_out(runc, bundle, "grep ' /p ' /proc/self/mountinfo")
        assert "master:" in out
    finally:
        subprocess.run(["umount", str(host)], check=True)


def test_cgroup_mount_readonly(runc, bundle):
    out = run_out(runc, bundle, "ls /sys/fs/cgroup; touch /sys/fs/cgroup/memory/x 2>/dev/null; echo rc=$?")
    assert "memory" in out.split() and "rc=1" in out


def test_devices(runc, bundle):
    bundle.linux["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                                "fileMode": 0o600, "uid": 0, "gid": 0}]
    out = run_out(runc, bundle, "ls -l /dev/null /dev/fuse /dev/ptmx /dev/fd; echo x > /dev/null && echo null-ok")
    assert "null-ok" in out
    assert any(line.startswith("crw-------") and line.endswith("/dev/fuse") for line in out.splitlines())
    assert "/dev/ptmx -> pts/ptmx" in out and "/dev/fd -> /proc/self/fd" in out


def test_cwd_created(runc, bundle):
    bundle.process["cwd"] = "/work/dir"
    bundle.spec["root"]["readonly"] = False
    assert run_out(runc, bundle, "pwd").strip() == "/work/dir"
