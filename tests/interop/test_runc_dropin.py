"""berth-runc as a drop-in ``runc`` for real clients: podman (via conmon) and
containerd (via containerd-shim-runc-v2, driven by ``ctr``).

The image is built here with no network: Debian's busybox-static
(``/bin/busybox`` plus one hard link per applet), ``/etc/passwd`` and
``/etc/group``, written as a docker-archive (``manifest.json`` + config +
one layer tar, sha256 digests) that both ``podman load`` and ``ctr images
import`` accept.

Isolation and cleanup:

- podman uses a private store (``--root``/``--runroot``/``--tmpdir`` under a
  temp dir, vfs driver, cgroupfs manager, file events backend, no network), so
  nothing lands in the system store; at teardown every container is removed
  with ``podman rm -f``, leftover conmon processes started for the store are
  killed by pid, the store's mounts are unmounted and the temp dir removed.
- containerd runs privately (root, state, sockets in a temp dir, CRI
  disabled, its own namespace). It is stopped by pid; every
  ``containerd-shim-runc-v2`` whose command line names its socket is killed
  by pid; mounts under the temp dir are unmounted; runc state in
  ``/run/containerd/runc/<ns>`` and cgroups named ``<ns>`` are removed.

A test skips only when a binary it needs is missing (the reason says which);
anything else fails.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.testing.daemon import wait_for_socket

VENV = Path(sys.executable).parent
BERTH_RUNC = str(VENV / "berth-runc")
BUSYBOX = "/bin/busybox"
PODMAN = "/usr/bin/podman"
CONMON = "/usr/bin/conmon"
CTR = "/usr/bin/ctr"
CONTAINERD = "/usr/bin/containerd"
SHIM = "/usr/bin/containerd-shim-runc-v2"
IMAGE = "docker.io/library/berth-busybox:latest"
CMD_TIMEOUT = 120

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="drop-in runtime tests need root")


def _need(*paths: str) -> None:
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        msg = f"missing binaries: {', '.join(missing)} (scripts/setup.sh installs them)"
        print(msg, file=sys.stderr)
        pytest.skip(msg)


# -- the image ----------------------------------------------------------------


def _layer_tar() -> bytes:
    """An uncompressed layer: busybox, its applet hard links, passwd/group."""
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    buf = io.BytesIO()
    mtime = 1_700_000_000

    def dir_(tf: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, mtime
        tf.addfile(ti)

    def file_(tf: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(data), mode, mtime
        tf.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "root", "var"}
        dirs |= {os.path.dirname(a.lstrip("/")) for a in applets}
        for d in sorted(d for d in dirs if d):
            dir_(tf, d)
        dir_(tf, "tmp", 0o1777)
        with open(BUSYBOX, "rb") as f:
            file_(tf, "bin/busybox", f.read(), 0o755)
        for a in sorted(set(a.lstrip("/") for a in applets)):
            if a == "bin/busybox":
                continue
            ti = tarfile.TarInfo(a)
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.LNKTYPE, "bin/busybox", 0o755, mtime
            tf.addfile(ti)
        file_(tf, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                                b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        file_(tf, "etc/group", b"root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")
    return buf.getvalue()


def write_docker_archive(path: Path, ref: str = IMAGE) -> None:
    """``docker save``-format tarball holding one image tagged ``ref``."""
    layer = _layer_tar()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "berth tests: busybox-static"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = hashlib.sha256(layer).hexdigest() + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]).encode()
    with tarfile.open(path, "w") as tf:
        for name, data in ((config_name, config), (layer_name, layer), ("manifest.json", manifest)):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))


@pytest.fixture(scope="module")
def image_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need(BUSYBOX)
    path = tmp_path_factory.mktemp("image") / "busybox.tar"
    write_docker_archive(path)
    return path


# -- process and mount cleanup helpers ----------------------------------------


def _pids_with_cmdline(*needles: str) -> list[int]:
    """Pids whose command line contains every ``needle`` (not our own)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline and all(n in cmdline for n in needles):
            found.append(int(entry))
    return found


def _kill_pids(pids: list[int], what: str) -> list[int]:
    """SIGKILL each pid and wait (briefly) for it to go; returns those killed."""
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    for pid in killed:
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] == "Z":
                        break  # a zombie of init: gone for our purposes
            except OSError:
                break
            time.sleep(0.05)
    if killed:
        print(f"cleanup: killed leftover {what} pids {killed}", file=sys.stderr)
    return killed


def _unmount_under(path: Path) -> None:
    """Lazily unmount every mount point at or below ``path``, deepest first."""
    prefix = str(path)
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == prefix or mp.startswith(prefix + "/"):
                points.append(mp)
    for mp in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


def _rm_cgroups(name: str) -> None:
    """rmdir ``/sys/fs/cgroup/*/<name>`` trees (empty after their tasks went)."""
    for hier in os.listdir("/sys/fs/cgroup"):
        top = Path("/sys/fs/cgroup", hier, name)
        if not top.is_dir():
            continue
        for sub, _, _ in sorted(os.walk(top), key=lambda x: -len(x[0])):
            try:
                os.rmdir(sub)
            except OSError:
                pass


class _DirsWeCreate:
    """Remember which of ``paths`` are absent now; remove the empty ones later."""

    def __init__(self, *paths: str) -> None:
        self.absent = [p for p in paths if not os.path.exists(p)]

    def remove(self, recursive: bool = False) -> None:
        for p in self.absent:
            if recursive:
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.rmdir(p)
                except OSError:
                    pass


# -- podman -------------------------------------------------------------------


class Podman:
    """podman with a private store in ``workdir`` and berth-runc as its runtime."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.root, self.runroot, self.tmpdir = workdir / "root", workdir / "runroot", workdir / "tmp"
        storage_conf = workdir / "storage.conf"
        storage_conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{self.root}"\n'
                                f'runroot = "{self.runroot}"\n')
        containers_conf = workdir / "containers.conf"
        containers_conf.write_text('[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
        self.env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(storage_conf),
                    "CONTAINERS_CONF": str(containers_conf)}
        # containers and conmon go below this cgroup (default: a shared libpod_parent)
        self.cgroup_parent = "/" + workdir.name
        self.globals = [PODMAN, "--root", str(self.root), "--runroot", str(self.runroot),
                        "--tmpdir", str(self.tmpdir), "--storage-driver", "vfs",
                        "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                        "--runtime", BERTH_RUNC]

    def __call__(self, *args: str, check: bool = True,
                 timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*self.globals, *args], capture_output=True, text=True, timeout=timeout,
                           env=self.env, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: rc {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def run_args(self, *args: str) -> list[str]:
        # podman's default ulimits exceed this machine's hard limits; no network
        # keeps CNI configs and iptables rules out of the system.
        return ["run", "--network", "none", "--cgroup-parent", self.cgroup_parent,
                "--ulimit", "nofile=1024:1024",
                "--ulimit", "nproc=1024:1024", *args]

    def cleanup(self) -> None:
        try:
            self("rm", "--all", "--force", "--time", "0", check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        _kill_pids(_pids_with_cmdline(CONMON, str(self.workdir)), "conmon")
        _unmount_under(self.workdir)
        _rm_cgroups(self.cgroup_parent.lstrip("/"))


@pytest.fixture(scope="module")
def podman(image_archive: Path) -> Iterator[Podman]:
    _need(PODMAN, CONMON, BERTH_RUNC)
    system_dirs = _DirsWeCreate("/var/lib/containers")  # podman's blob-info cache lands there
    workdir = Path(tempfile.mkdtemp(prefix="berth-podman-"))
    pm = Podman(workdir)
    try:
        pm("load", "-i", str(image_archive))
        yield pm
    finally:
        pm.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        system_dirs.remove(recursive=True)


def test_podman_run_echo(podman: Podman) -> None:
    r = podman(*podman.run_args("--rm", IMAGE, "echo", "hi"))
    assert r.stdout == "hi\n", r
    assert podman("ps", "-a", "-q").stdout.strip() == ""


def test_podman_run_exit_code(podman: Podman) -> None:
    r = podman(*podman.run_args("--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 7"), check=False)
    assert r.returncode == 7, r
    assert "out" in r.stdout and "err" in r.stderr, r
    r = podman(*podman.run_args("--rm", IMAGE, "/no/such/binary"), check=False)
    assert r.returncode == 127, r


def test_podman_detached_exec_kill(podman: Podman) -> None:
    name = "b" + uuid.uuid4().hex[:10]
    podman(*podman.run_args("-d", "--name", name, IMAGE, "sleep", "1000"))
    try:
        assert podman("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
        r = podman("exec", name, "sh", "-c", "echo from-exec; cat /proc/1/cmdline | tr '\\0' ' '")
        assert r.stdout.split("\n")[0] == "from-exec", r
        assert "sleep 1000" in r.stdout, r
        assert podman("exec", name, "sh", "-c", "exit 5", check=False).returncode == 5
        podman("kill", name)  # SIGKILL
        podman("wait", name)
        assert podman("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "exited"
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)
    assert name not in podman("ps", "-a", "--format", "{{.Names}}").stdout


# -- containerd -----------------------------------------------------------------


class Containerd:
    """A private containerd in ``workdir``; ``ctr`` calls go to its socket and namespace."""

    def __init__(self, workdir: Path, namespace: str) -> None:
        self.workdir, self.ns = workdir, namespace
        self.ids: list[str] = []  # containers the tests created, for the cleanup
        self.sock = workdir / "d.sock"
        config = workdir / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{workdir / "root"}"\n'
            f'state = "{workdir / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.sock}"\n'
            f'[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{workdir / "opt"}"\n')
        self.log = workdir / "containerd.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([CONTAINERD, "--config", str(config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_socket(self.sock, 30, alive=lambda: self.proc.poll() is None)
        except TimeoutError:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited with {self.proc.returncode}:\n{self.log.read_text()}")
            raise RuntimeError(f"containerd did not listen within 30 s:\n{self.log.read_text()}")

    def ctr(self, *args: str, check: bool = True,
            timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([CTR, "-a", str(self.sock), "-n", self.ns, *args], capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: rc {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def new_id(self, prefix: str) -> str:
        cid = prefix + uuid.uuid4().hex[:10]
        self.ids.append(cid)
        return cid

    def tasks(self) -> dict[str, str]:
        """task id -> status"""
        lines = self.ctr("task", "ls", check=False, timeout=30).stdout.splitlines()[1:]
        return {ln.split()[0]: ln.split()[-1] for ln in lines if ln.split()}

    def cleanup(self) -> None:
        """Tasks, containers, the daemon, its shims, mounts, runc state, cgroups."""
        runc_state = Path("/run/containerd/runc", self.ns)
        try:
            if self.proc.poll() is None:
                for tid in self.tasks():
                    self.ctr("task", "kill", "-a", "-s", "SIGKILL", tid, check=False, timeout=30)
                    self.ctr("task", "delete", "--force", tid, check=False, timeout=30)
                for line in self.ctr("containers", "ls", "-q", check=False, timeout=30).stdout.split():
                    self.ctr("containers", "rm", line, check=False, timeout=30)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # containers the shims could not delete: force-delete them with berth-runc
        if runc_state.is_dir():
            for cid in os.listdir(runc_state):
                subprocess.run([BERTH_RUNC, "--root", str(runc_state), "delete", "--force", cid],
                               capture_output=True, timeout=30)
        _kill_pids(_pids_with_cmdline(SHIM, str(self.sock)), "containerd-shim-runc-v2")
        # what killed shims and detached ctr runs leave in /run/containerd: the shim
        # sockets (s/<sha256 of "<address>/<ns>/<id>">) and ctr's FIFO dirs (fifo/*/<id>-std*)
        for cid in self.ids:
            digest = hashlib.sha256(f"{self.sock}/{self.ns}/{cid}".encode()).hexdigest()
            with contextlib.suppress(OSError):
                os.unlink(f"/run/containerd/s/{digest}")
        fifo_root = Path("/run/containerd/fifo")
        if fifo_root.is_dir():
            for d in fifo_root.iterdir():
                with contextlib.suppress(OSError):
                    if any(f.name.rpartition("-")[0] in self.ids for f in d.iterdir()):
                        shutil.rmtree(d, ignore_errors=True)
        _unmount_under(self.workdir)
        shutil.rmtree(runc_state, ignore_errors=True)
        _rm_cgroups(self.ns)


@pytest.fixture(scope="module")
def containerd(image_archive: Path) -> Iterator[Containerd]:
    _need(CONTAINERD, CTR, SHIM, BERTH_RUNC)
    system_dirs = _DirsWeCreate("/run/containerd/runc", "/run/containerd/fifo", "/run/containerd/s",
                                "/run/containerd")
    workdir = Path(tempfile.mkdtemp(prefix="berth-cd-"))  # short: sun_path is 108 bytes
    ns = "berth-dropin-" + uuid.uuid4().hex[:8]
    cd = None
    try:
        cd = Containerd(workdir, ns)
        cd.ctr("images", "import", str(image_archive))
        yield cd
    finally:
        if cd is not None:
            cd.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        system_dirs.remove()


def test_ctr_run_echo(containerd: Containerd) -> None:
    cid = containerd.new_id("r")
    r = containerd.ctr("run", "--rm", "--runc-binary", BERTH_RUNC, IMAGE, cid, "echo", "hi")
    assert r.stdout == "hi\n", r
    assert cid not in containerd.tasks()
    cid = containerd.new_id("r")
    r = containerd.ctr("run", "--rm", "--runc-binary", BERTH_RUNC, IMAGE, cid, "sh", "-c", "exit 3",
                       check=False)
    assert r.returncode == 3, r


def test_ctr_detached_exec_kill_delete(containerd: Containerd) -> None:
    cid = containerd.new_id("d")
    # pid 1 ignores SIGTERM unless it handles it: trap it, so plain `task kill` works
    containerd.ctr("run", "-d", "--runc-binary", BERTH_RUNC, IMAGE, cid,
                   "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
    try:
        assert containerd.tasks().get(cid) == "RUNNING"
        r = containerd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo from-exec; cat /proc/1/cmdline")
        assert r.stdout.startswith("from-exec\n"), r
        assert "trap" in r.stdout, r
        r = containerd.ctr("task", "exec", "--exec-id", "e2", cid, "sh", "-c", "exit 4", check=False)
        assert r.returncode == 4, r
        assert len(containerd.ctr("task", "ps", cid).stdout.splitlines()) >= 2
        containerd.ctr("task", "kill", cid)  # SIGTERM
        deadline = time.monotonic() + 20
        while containerd.tasks().get(cid) != "STOPPED":
            assert time.monotonic() < deadline, f"task {cid} did not stop: {containerd.tasks()}"
            time.sleep(0.1)
        containerd.ctr("task", "delete", cid)
        assert cid not in containerd.tasks()
    finally:
        containerd.ctr("task", "delete", "--force", cid, check=False)
        containerd.ctr("containers", "rm", cid, check=False)
    assert not Path("/run/containerd/runc", containerd.ns, cid).exists()
