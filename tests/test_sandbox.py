"""The sandbox runs real processes: secrets stay out, time and memory limits hold, no network."""
from __future__ import annotations

import socket
import sys
import threading

import pytest

from mlwright.execution.sandbox import network_isolation_prefix, run_sandboxed


def test_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok")
    script = tmp_path / "env.py"
    script.write_text("import os\nprint(sorted(os.environ))\nprint(os.environ.get('HOME'))\n")
    res = run_sandboxed([sys.executable, str(script)], tmp_path, timeout_s=30)
    out = res.stdout_path.read_text()
    assert res.returncode == 0
    for secret in ("OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "MY_SERVICE_TOKEN", "sk-secret-value"):
        assert secret not in out
    assert str(tmp_path) in out  # HOME points into the attempt folder


def test_timeout_kills_the_process_group(tmp_path):
    script = tmp_path / "sleep.py"
    script.write_text("import subprocess, sys, time\n"
                      "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                      "time.sleep(60)\n")
    res = run_sandboxed([sys.executable, str(script)], tmp_path, timeout_s=2)
    assert res.timed_out and res.seconds < 15


def test_memory_limit_kills(tmp_path):
    script = tmp_path / "hog.py"
    script.write_text("import time\nx = bytearray(600 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\n"
                      "time.sleep(10)\n")
    res = run_sandboxed([sys.executable, str(script)], tmp_path, timeout_s=30, memory_mb=200)
    assert res.killed_for_memory and res.returncode != 0


def test_stdout_and_stderr_are_captured(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("print('hello out')\nraise ValueError('boom')\n")
    res = run_sandboxed([sys.executable, str(script)], tmp_path, timeout_s=30)
    assert res.returncode == 1
    assert "hello out" in res.stdout_path.read_text() and "ValueError: boom" in res.stderr_path.read_text()


@pytest.mark.skipif(not network_isolation_prefix(), reason="the OS does not allow a private network namespace here")
def test_no_network_inside(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: srv.accept(), daemon=True).start()
    script = tmp_path / "net.py"
    script.write_text(f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                      "    print('CONNECTED')\nexcept OSError as e:\n    print('BLOCKED', e)\n")
    res = run_sandboxed([sys.executable, str(script)], tmp_path, timeout_s=30)
    assert "BLOCKED" in res.stdout_path.read_text()
    # the same script outside the namespace reaches the server: the test itself can fail
    res2 = run_sandboxed([sys.executable, str(script)], tmp_path, timeout_s=30, isolate_network=False,
                         log_prefix="open-")
    assert "CONNECTED" in res2.stdout_path.read_text()
    srv.close()


def test_thread_counts_are_set_explicitly(tmp_path, monkeypatch):
    """The same thread settings locally and on a cluster node (Ray gives its workers OMP_NUM_THREADS=1): what the
    user set on the driver, else the cores this machine lets the process use."""
    from mlwright.execution.limits import THREAD_VARS, thread_env, usable_cores

    for v in THREAD_VARS:
        monkeypatch.delenv(v, raising=False)
    r = run_sandboxed([sys.executable, "-c", "import os; print(os.environ['OMP_NUM_THREADS'], "
                       "os.environ['OPENBLAS_NUM_THREADS'])"], tmp_path / "a", timeout_s=30)
    assert (tmp_path / "a" / "stdout.txt").read_text().split() == [str(usable_cores())] * 2, r.tail()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert thread_env()["OMP_NUM_THREADS"] == "3" and thread_env({})["OMP_NUM_THREADS"] == str(usable_cores())
