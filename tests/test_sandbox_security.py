"""Escapes an attempt script might try, each asserted through run_sandboxed (issue #10, items 1 and 2): the
parent's environ, setns back into the host's network, loopback and unix sockets, the user's data folder and home,
a fork bomb, memory past the cap, 1 GiB of output, a detached child. Heavy ones are marked slow."""
from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
import time
import uuid

import psutil
import pytest

from conftest import run_cli
from mlwright.execution import bwrap, cgroup, sandbox
from mlwright.execution.limits import CappedLog
from mlwright.execution.sandbox import Isolation, isolation, run_sandboxed

pytestmark = pytest.mark.skipif(isolation().kind != "bubblewrap",
                                reason=f"bubblewrap cannot run here: {isolation().detail}")


def attempt(tmp_path, code: str, name: str = "probe.py", **kw):
    """Run `code` as an attempt script in tmp_path/attempt; (result, stdout)."""
    work = tmp_path / "attempt"
    work.mkdir(exist_ok=True)
    (work / name).write_text(textwrap.dedent(code))
    res = run_sandboxed([sys.executable, name], work, timeout_s=kw.pop("timeout_s", 60), **kw)
    return res, res.stdout_path.read_text(errors="replace")


def test_runs_as_an_unprivileged_uid_without_capabilities_and_sees_only_its_processes(tmp_path):
    res, out = attempt(tmp_path, """
        import os
        print("uid", os.getuid(), os.getgid())
        print([l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapBnd", "NoNewPrivs"))])
        print("procs", len([p for p in os.listdir("/proc") if p.isdigit()]))
    """)
    assert res.returncode == 0, res.tail()
    assert "uid 65534 65534" in out
    assert "['0000000000000000', '0000000000000000', '1']" in out
    assert int(out.split("procs")[1]) <= 3  # bwrap's init, the script (and its shell-less prlimit exec)


def test_parent_environ_is_unreadable(tmp_path, monkeypatch):
    secret = "s3cr3t-" + uuid.uuid4().hex
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    res, out = attempt(tmp_path, f"""
        import os
        pids = [{os.getpid()}, {os.getppid()}, 1] + [int(p) for p in os.listdir("/proc") if p.isdigit()]
        for pid in pids:
            try:
                data = open(f"/proc/{{pid}}/environ", "rb").read()
            except OSError as e:
                print("denied", pid, type(e).__name__)
                continue
            print("LEAK" if b"{secret}" in data else "clean", pid)
    """)
    assert res.returncode == 0, res.tail()
    assert "LEAK" not in out and secret not in out
    assert f"denied {os.getpid()} FileNotFoundError" in out  # the parent is not even in its /proc


def _tcp_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    threading.Thread(target=lambda: [srv.accept() for _ in range(8)], daemon=True).start()
    return srv


def test_setns_back_into_the_host_network_fails(tmp_path):
    srv = _tcp_server()
    port = srv.getsockname()[1]
    res, out = attempt(tmp_path, f"""
        import ctypes, os, socket
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWNET = 0x40000000
        for path in ["/proc/1/ns/net", "/proc/{os.getpid()}/ns/net", "/proc/{os.getppid()}/ns/net"]:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as e:
                print("open failed", path, type(e).__name__)
                continue
            rc = libc.setns(fd, CLONE_NEWNET)
            print("SETNS_OK" if rc == 0 else "setns failed", path, os.strerror(ctypes.get_errno()))
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=3)
            print("CONNECTED")
        except OSError as e:
            print("blocked", e)
    """)
    srv.close()
    assert res.returncode == 0, res.tail()
    assert "SETNS_OK" not in out and "CONNECTED" not in out
    assert "setns failed /proc/1/ns/net" in out or "open failed /proc/1/ns/net" in out
    assert f"open failed /proc/{os.getpid()}/ns/net" in out


def test_loopback_server_and_unix_sockets_are_unreachable(tmp_path):
    srv = _tcp_server()
    port = srv.getsockname()[1]
    outside = tmp_path / "outside"
    outside.mkdir()
    path_sock = socket.socket(socket.AF_UNIX)
    path_sock.bind(str(outside / "agent.sock"))
    path_sock.listen(1)
    abstract = "\0mlwright-test-" + uuid.uuid4().hex
    abs_sock = socket.socket(socket.AF_UNIX)
    abs_sock.bind(abstract)
    abs_sock.listen(1)
    hosts = ["127.0.0.1"] + [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                             if a.family == socket.AF_INET and not a.address.startswith("127.")][:2]
    res, out = attempt(tmp_path, f"""
        import socket
        for host in {hosts!r}:
            try:
                socket.create_connection((host, {port}), timeout=3)
                print("CONNECTED", host)
            except OSError as e:
                print("blocked", host, e)
        for name in [{str(outside / "agent.sock")!r}, {abstract!r}]:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(name)
                print("CONNECTED", repr(name))
            except OSError as e:
                print("blocked", repr(name), e)
    """)
    for s in (srv, path_sock, abs_sock):
        s.close()
    assert res.returncode == 0, res.tail()
    assert "CONNECTED" not in out and out.count("blocked") == len(hosts) + 2


def test_the_data_folder_is_invisible_or_read_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    code = f"""
        import os
        try:
            print("listed", os.listdir({str(data)!r}))
        except OSError as e:
            print("no listing", type(e).__name__)
        for name in ("train.csv", "planted.txt"):
            try:
                with open(os.path.join({str(data)!r}, name), "a") as f:
                    f.write("TAMPERED")
                print("WROTE", name)
            except OSError as e:
                print("write refused", name, type(e).__name__)
    """
    res, out = attempt(tmp_path, code)
    assert res.returncode == 0, res.tail()
    assert "WROTE" not in out and "no listing FileNotFoundError" in out
    res, out = attempt(tmp_path, code, ro_paths=[data])  # passed as an input: readable, never writable
    assert "listed ['train.csv']" in out and "WROTE" not in out and "write refused train.csv OSError" in out
    assert (data / "train.csv").read_text() == "a,b\n1,2\n" and sorted(os.listdir(data)) == ["train.csv"]


def test_a_planted_aws_credentials_file_in_home_is_unreadable(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = AKIA-PLANTED\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("PLANTED-KEY")
    monkeypatch.setenv("HOME", str(home))
    res, out = attempt(tmp_path, f"""
        import os
        for p in ["~/.aws/credentials", {str(home / ".aws" / "credentials")!r}, {str(home / ".ssh" / "id_rsa")!r},
                  "/root/.ssh/id_rsa", "/root/.bash_history", "/etc/shadow"]:
            try:
                print("READ", p, open(os.path.expanduser(p)).read()[:20])
            except OSError as e:
                print("unreadable", p, type(e).__name__)
        print("home", os.environ["HOME"], os.listdir(os.environ["HOME"]))
    """)
    assert res.returncode == 0, res.tail()
    assert "READ" not in out and "PLANTED" not in out
    assert "home " + str(tmp_path / "attempt" / ".home") + " []" in out  # an empty home of its own


@pytest.mark.slow
def test_a_fork_bomb_is_stopped_by_the_process_cap(tmp_path):
    marker = f"bomb_{uuid.uuid4().hex}.py"
    res, out = attempt(tmp_path, """
        import os, time
        n = 0
        try:
            for _ in range(5000):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
        except OSError as e:
            print("fork refused after", n, e, flush=True)
        print("started", n, flush=True)
    """, name=marker, max_processes=200, timeout_s=60)
    assert res.killed_for_processes or "fork refused" in out
    assert "started 5000" not in out and res.seconds < 30
    assert not _alive(marker)  # every child went with it


def test_memory_beyond_the_cap_is_killed_and_reported(tmp_path):
    res, out = attempt(tmp_path, """
        import time
        x = bytearray(800 * 1024 * 1024)
        x[::4096] = b"1" * len(x[::4096])
        time.sleep(20)
    """, memory_mb=250)
    assert res.killed_for_memory and res.returncode != 0 and res.seconds < 15


def test_a_memory_cap_applies_by_default(tmp_path):
    res, _ = attempt(tmp_path, "print('hi')\n")
    avail = psutil.virtual_memory().available / 1024**2
    assert res.returncode == 0 and 0.5 * avail < res.memory_limit_mb <= 0.8 * avail


def test_the_log_keeps_its_head_and_tail(tmp_path):
    log = CappedLog(tmp_path / "log.txt", head=1000, tail=1000)
    for i in range(10_000):
        log.write(f"line {i:05d}\n".encode())
    log.close()
    text = (tmp_path / "log.txt").read_text()
    assert text.startswith("line 00000\n") and text.endswith("line 09999\n")
    assert "bytes of output dropped here" in text and len(text) < 2200


@pytest.mark.slow
def test_printing_a_gib_leaves_a_capped_log_and_a_fine_run(tmp_path):
    res, _ = attempt(tmp_path, """
        import sys
        chunk = ("x" * 1023 + "\\n") * 1024
        sys.stdout.write("FIRST\\n")
        for _ in range(1024):
            sys.stdout.write(chunk)
        sys.stdout.write("LAST\\n")
    """, timeout_s=300)
    assert res.returncode == 0, res.tail()
    size = res.stdout_path.stat().st_size
    assert size < 5 * 1024**2
    with open(res.stdout_path, "rb") as f:
        head = f.read(6)
        f.seek(-5, os.SEEK_END)
        assert head == b"FIRST\n" and f.read() == b"LAST\n"


def _detaching_script(marker: str, then: str) -> str:
    return f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                open("started", "w").close()
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
            os._exit(0)
        while not os.path.exists("started"):
            time.sleep(0.05)
        time.sleep(0.3)
        {then}
    """


def _alive(marker: str) -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]


@pytest.mark.parametrize("then", ["print('bye')", "time.sleep(60)"], ids=["exit", "timeout"])
def test_a_detached_child_is_gone_when_the_attempt_ends(tmp_path, then):
    marker = "detached-" + uuid.uuid4().hex
    res, _ = attempt(tmp_path, _detaching_script(marker, then), timeout_s=5)
    assert (tmp_path / "attempt" / "started").exists()
    assert res.timed_out == (then != "print('bye')")
    assert not _alive(marker)


def test_the_basic_fallback_also_kills_a_detached_child(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "isolation", lambda: Isolation("basic", "test", False, "watcher"))
    marker = "detached-" + uuid.uuid4().hex
    res, _ = attempt(tmp_path, _detaching_script(marker, "print('bye')"), isolate_network=False)
    assert res.returncode == 0 and res.isolation == "basic" and (tmp_path / "attempt" / "started").exists()
    time.sleep(0.2)
    assert not _alive(marker)


def test_without_bubblewrap_mlwright_says_so_once_and_names_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: None)
    bwrap.probe.cache_clear()
    sandbox.isolation.cache_clear()
    try:
        iso = sandbox.isolation()
        sandbox.isolation()
        assert iso.kind == "basic" and "apt-get install bubblewrap" in iso.detail
        err = capsys.readouterr().err
        assert err.count("warning: generated code runs without the bubblewrap sandbox") == 1
    finally:
        monkeypatch.undo()
        bwrap.probe.cache_clear()
        sandbox.isolation.cache_clear()
    assert sandbox.isolation().kind == "bubblewrap"


def test_cgroup_v2_limits_are_written_and_read_back(tmp_path):
    """The cgroup v2 path on a stand-in tree (this host may be cgroup v1): limits written, OOM kills read."""
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids\n")
    cgroup.parent.cache_clear()
    parent, how = cgroup.parent(tmp_path)
    assert parent is not None and "cgroup v2" in how
    cg = cgroup.Cgroup(parent, 512, 300)
    assert (cg.path / "memory.max").read_text() == str(512 * 1024**2) and (cg.path / "pids.max").read_text() == "300"
    assert cg.enter_prefix()[-1] == str(cg.path / "cgroup.procs") and not cg.oom_killed()
    (cg.path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed()
    cgroup.parent.cache_clear()


def test_doctor_and_run_json_say_which_isolation_is_in_force(churn_dir, tmp_path):
    r = run_cli("doctor", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "bubblewrap"
    out = tmp_path / "run"
    r = run_cli("run", str(churn_dir), "--task", "predict label", "--output", str(out), "--time-limit", "30",
                "--no-autogluon")
    assert r.returncode == 0, r.stderr
    box = json.loads((out / "run.json").read_text())["sandbox"]
    assert box["kind"] == "bubblewrap" and box["network_isolated"] and "default: 75%" in box["memory_limit_mb"]


def test_paths_named_in_params_are_shown_read_only(tmp_path):
    """A blend reads its members' folders, a recipe its pretrained weights: readable, never writable."""
    member = tmp_path / "run" / "attempts" / "001-lightgbm_baseline"
    member.mkdir(parents=True)
    (member / "oof_predictions.csv").write_text("__row__,prediction\n0,1\n")
    params = {"members": [{"dir": str(member), "weight": 1.0}], "note": "/not/a/path", "n": 3}
    assert sandbox.paths_in(params) == [str(member)]
    res, out = attempt(tmp_path, f"""
        import os
        print(open(os.path.join({str(member)!r}, "oof_predictions.csv")).read().splitlines()[0])
        try:
            open(os.path.join({str(member)!r}, "x"), "w")
            print("WROTE")
        except OSError as e:
            print("refused", e.strerror)
    """, ro_paths=sandbox.paths_in(params))
    assert "__row__,prediction" in out and "refused Read-only file system" in out


def test_shared_memory_is_capped_too(tmp_path):
    res, out = attempt(tmp_path, """
        import os
        st = os.statvfs("/dev/shm")
        print("shm_mb", st.f_blocks * st.f_frsize // 1024**2)
    """, memory_mb=300)
    assert res.returncode == 0, res.tail()
    assert int(out.split("shm_mb")[1]) <= 300
