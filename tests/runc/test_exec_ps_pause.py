"""exec (flag form and --process), ps, pause/resume, update, events."""
from __future__ import annotations

import json
import time

import pytest


@pytest.fixture
def running(runc, bundle):
    bundle.args("sleep", "1000").write()
    cid = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid, check=True)
    return cid


def test_exec_flag_form(runc, running):
    r = runc("exec", running, "sh", "-c", "echo $FOO; pwd; id -u; hostname")
    assert r.returncode == 0, r
    assert r.stdout.split("\n")[1:] == ["/", "0", "berth", ""]
    r = runc("exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:2000", running,
             "sh", "-c", "echo $FOO; pwd; id -u; id -g")
    assert r.stdout.split() == ["bar", "/tmp", "1000", "2000"], r


def test_exec_exit_status_and_pid_namespace(runc, running):
    r = runc("exec", running, "sh", "-c", "exit 5")
    assert r.returncode == 5
    r = runc("exec", running, "ps", "-o", "pid,comm")
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert ["1", "sleep"] in rows, r


def test_exec_process_file_detach(runc, running, work):
    proc = {"args": ["sh", "-c", "echo detached > /dev/shm/mark; sleep 1000"], "cwd": "/",
            "env": ["PATH=/bin:/usr/bin"], "user": {"uid": 0, "gid": 0}}
    pf = work / "proc.json"
    pf.write_text(json.dumps(proc))
    pidfile = work / "exec.pid"
    r = runc("exec", "--process", str(pf), "--detach", "--pid-file", str(pidfile), running)
    assert r.returncode == 0, r
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    assert runc("exec", running, "cat", "/dev/shm/mark").stdout == "detached\n"
    pids = json.loads(runc("ps", "--format", "json", running).stdout)
    assert pid in pids and runc.state(running)["pid"] in pids


def test_exec_bad_process_file(runc, running, work):
    pf = work / "proc.json"
    pf.write_text(json.dumps({"args": [], "cwd": "/"}))
    r = runc("exec", "-p", str(pf), running)
    assert r.returncode == 1 and f"{pf}: process.args: must be a non-empty list of strings" in r.stderr


def test_exec_missing_binary(runc, running):
    r = runc("exec", running, "nope-binary")
    assert r.returncode == 1 and 'exec: "nope-binary": executable file not found in $PATH' in r.stderr


def test_exec_stopped_container(runc, bundle):
    bundle.args("true").write()
    cid = runc.new_id()
    runc("run", "-d", "-b", str(bundle.path), cid, check=True)
    time.sleep(0.2)
    r = runc("exec", cid, "true")
    assert r.returncode == 1 and "cannot exec in a stopped container" in r.stderr


def test_ps_table(runc, running):
    r = runc("ps", running)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert "PID" in lines[0].split()
    assert any("sleep 1000" in line for line in lines[1:]), r


def test_pause_resume(runc, running):
    assert runc("pause", running).returncode == 0
    assert runc.state(running)["status"] == "paused"
    r = runc("exec", running, "true")
    assert r.returncode == 1 and "paused" in r.stderr
    r = runc("pause", running)
    assert r.returncode == 1
    assert runc("resume", running).returncode == 0
    assert runc.state(running)["status"] == "running"
    r = runc("resume", running)
    assert r.returncode == 1 and "container not paused" in r.stderr


def test_delete_force_paused(runc, running):
    runc("pause", running, check=True)
    assert runc("delete", "--force", running).returncode == 0
    assert not (runc.root / running).exists()


def test_kill_all(runc, running):
    runc("exec", "-d", running, "sleep", "999", check=True)
    assert len(json.loads(runc("ps", "-f", "json", running).stdout)) == 2
    assert runc("kill", "--all", running, "9").returncode == 0
    end = time.monotonic() + 5
    while runc.state(running)["status"] != "stopped" and time.monotonic() < end:
        time.sleep(0.02)
    assert runc.state(running)["status"] == "stopped"


def test_update_and_events_stats(runc, running):
    assert runc("update", "--memory", "64M", "--pids-limit", "50", running).returncode == 0
    r = runc("events", "--stats", running)
    ev = json.loads(r.stdout)
    assert ev["type"] == "stats" and ev["id"] == running
    assert ev["data"]["memory"]["usage"]["limit"] == 64 << 20
    assert ev["data"]["pids"]["limit"] == 50
    r = runc("update", "-r", "-", running, stdin=json.dumps({"pids": {"limit": 77}}).encode())
    assert r.returncode == 0, r
    assert json.loads(runc("events", "--stats", running).stdout)["data"]["pids"]["limit"] == 77
