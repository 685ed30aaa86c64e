"""Server safety (issue #10, items 6 and 8), against real servers on 127.0.0.1:

- no file is served through a symlink or from outside the run folder: a secret planted behind symlinks (and a
  hard link, a FIFO, `..` and absolute paths in run.json) is refused by every file route of the web UI and by
  the MCP tool that returns file contents, while regular files are served;
- a non-loopback --host prints a warning and the real addresses (not 127.0.0.1 alone, the real port), and a
  short hand-picked token is refused there;
- uploads expire (never while a run uses them), through the web UI and the MCP tool alike;
- an MCP upload of ~5 MB over HTTP works; above the cap the answer names the cap.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from conftest import ROOT
from live_server import free_port, live_app
from mlwright.runs_manager import AccessRefused, RunManager, UnknownRun, open_inside

TOKEN = "safety-token-0123456789"
SECRET = "TOP-SECRET-do-not-serve-7f3a"
RUN_ID = "20250101-000000-planted-abcd"
FILE_ROUTES = ("predictions", "download", "report", "code")


# -- helpers ---------------------------------------------------------------------------------------------
def _run_json(run_dir: Path, **paths) -> None:
    summary = {"status": "succeeded", "data_dir": "/nowhere", "output_dir": str(run_dir), "task_text": "predict y",
               "time_limit_s": 60, "prediction_path": str(run_dir / "predictions.csv"),
               "report": str(run_dir / "report.html"), "solution_script": str(run_dir / "solution.py")}
    summary.update(paths)
    (run_dir / "run.json").write_text(json.dumps(summary))


def _planted_runs(runs: Path, secret: Path) -> dict[str, Path]:
    """Run folders whose result files lead to `secret` in every way we know; plus one honest run."""
    runs.mkdir(parents=True, exist_ok=True)
    made = {}

    def run(name: str) -> Path:
        d = runs / f"20250101-000000-{name}-abcd"
        (d / "attempts" / "001-x").mkdir(parents=True)
        made[name] = d
        return d

    d = run("links")  # every result file and the attempt logs are symlinks to the secret
    for f in ("predictions.csv", "report.html", "solution.py", "attempts/001-x/stdout.txt",
              "attempts/001-x/stderr.txt"):
        (d / f).symlink_to(secret)
    _run_json(d)

    d = run("dirlink")  # a symlinked folder on the way: run.json names files under it
    (d / "sub").symlink_to(secret.parent, target_is_directory=True)
    _run_json(d, prediction_path=str(d / "sub" / secret.name), report=str(d / "sub" / secret.name),
              solution_script=str(d / "sub" / secret.name))
    (d / "attempts" / "001-x").rmdir()
    (d / "attempts" / "001-x").symlink_to(secret.parent, target_is_directory=True)
    (secret.parent / "stdout.txt").write_text(SECRET)

    d = run("traversal")  # run.json points outside: '..' and an absolute path elsewhere
    _run_json(d, prediction_path=f"../../{secret.parent.name}/{secret.name}", report=str(secret),
              solution_script="../" + secret.name)

    d = run("hardlink")  # a hard link is the secret itself under another name
    for f in ("predictions.csv", "report.html", "solution.py"):
        os.link(secret, d / f)
    _run_json(d)

    d = run("fifo")
    for f in ("predictions.csv", "report.html", "solution.py"):
        os.mkfifo(d / f)
    _run_json(d)

    d = run("honest")
    (d / "predictions.csv").write_text("id,y\n1,0.5\n2,0.25\n")
    (d / "report.html").write_text("<html><body>report</body></html>")
    (d / "solution.py").write_text("print('solution')\n")
    (d / "attempts" / "001-x" / "stdout.txt").write_text("fitting...\n")
    _run_json(d)

    linked = runs / "20250101-000000-runlink-abcd"  # the run folder itself is a symlink to a run elsewhere
    elsewhere = secret.parent / "a-run"
    elsewhere.mkdir()
    (elsewhere / "predictions.csv").write_text(SECRET)
    _run_json(elsewhere, prediction_path=str(elsewhere / "predictions.csv"))
    linked.symlink_to(elsewhere, target_is_directory=True)
    made["runlink"] = linked
    return made


class Proc:
    """A server subprocess whose output is collected by a thread (no blocking reads); always stopped."""

    def __init__(self, *args: str):
        self.p = subprocess.Popen([sys.executable, "-m", "mlwright", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def finish(self, timeout: float = 60) -> int:
        """Wait for the process to exit by itself and for its last output; its exit code."""
        rc = self.p.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return rc

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.text)
            if m:
                return m
            if self.p.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                m = re.search(pattern, self.text)
                if m:
                    return m
                raise AssertionError(f"the server exited ({self.p.returncode}) without printing {pattern!r}:\n"
                                     f"{self.text}")
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.text}")

    def stop(self) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)  # our own child, by pid
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _sse_json(resp: httpx.Response) -> dict:
    if resp.headers.get("content-type", "").startswith("application/json"):
        return resp.json()
    return json.loads(next(ln[5:] for ln in resp.text.splitlines() if ln.startswith("data:")))


class McpHttp:
    """A minimal streamable-HTTP MCP client (JSON-RPC over POST)."""

    def __init__(self, url: str, token: str):
        self.url, self.n = url, 1
        self.c = httpx.Client(headers={"Accept": "application/json, text/event-stream",
                                       "Authorization": f"Bearer {token}"}, timeout=60)
        r = self._post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                   "clientInfo": {"name": "test", "version": "1"}}})
        assert r.status_code == 200, r.text
        sid = r.headers.get("mcp-session-id")
        if sid:
            self.c.headers["mcp-session-id"] = sid
        self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _post(self, msg: dict) -> httpx.Response:
        return self.c.post(self.url, content=json.dumps(msg), headers={"content-type": "application/json"})

    def call(self, tool: str, **args) -> tuple[int, bool, str]:
        """(HTTP status, is_error, text) of a tools/call."""
        self.n += 1
        r = self._post({"jsonrpc": "2.0", "id": self.n, "method": "tools/call",
                        "params": {"name": tool, "arguments": args}})
        if r.status_code != 200:
            return r.status_code, True, r.text
        result = _sse_json(r)
        if "error" in result:
            return r.status_code, True, json.dumps(result["error"])
        res = result["result"]
        text = "".join(c.get("text", "") for c in res.get("content", []))
        return r.status_code, bool(res.get("isError") or res.get("is_error")), text

    def close(self):
        self.c.close()


def _wait_until(pred, timeout: float, step: float = 0.05) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


# -- no file through a symlink or from outside the run folder ----------------------------------------------
def test_open_inside_refuses_links_and_non_files(tmp_path):
    root, outside = tmp_path / "run", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text(SECRET)
    (root / "ok.txt").write_text("fine")
    (root / "d" / "ok.txt").write_text("fine too")
    (root / "link").symlink_to(outside / "secret")
    (root / "dlink").symlink_to(outside, target_is_directory=True)
    os.link(outside / "secret", root / "hard")
    os.mkfifo(root / "fifo")
    with open_inside(root, "ok.txt") as f, open_inside(root, "d/ok.txt") as g:
        assert f.read() == b"fine" and g.read() == b"fine too"
    for rel in ("link", "dlink/secret", "hard", "fifo", "../outside/secret", str(outside / "secret"), "d/../link"):
        with pytest.raises(AccessRefused):
            open_inside(root, rel).close()
    with pytest.raises(UnknownRun):
        open_inside(root, "missing.txt")
    (tmp_path / "runlink").symlink_to(root, target_is_directory=True)
    with pytest.raises(AccessRefused):  # the folder itself reached through a link
        open_inside(tmp_path / "runlink", "ok.txt")


def test_web_ui_never_serves_a_planted_symlink(tmp_path):
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    runs = tmp_path / "runs"
    made = _planted_runs(runs, secret)
    (tmp_path / "data").mkdir()
    with live_app(runs, [tmp_path / "data"], TOKEN) as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        honest = made["honest"].name
        assert c.get(f"/api/runs/{honest}/predictions").json()["rows"] == [[1, 0.5], [2, 0.25]]
        r = c.get(f"/api/runs/{honest}/download")
        assert r.status_code == 200 and r.text.startswith("id,y") and "attachment" in r.headers["content-disposition"]
        assert int(r.headers["content-length"]) == len(r.content)
        r = c.get(f"/api/runs/{honest}/report")
        assert r.status_code == 200 and "report" in r.text and "default-src 'none'" in r.headers[
            "content-security-policy"]
        assert c.get(f"/api/runs/{honest}/code").text == "print('solution')\n"
        assert c.get(f"/api/runs/{honest}/logs").json()["stdout"] == "fitting...\n"

        for name in ("links", "dirlink", "traversal", "hardlink", "fifo", "runlink"):
            rid = made[name].name
            for route in FILE_ROUTES:
                r = c.get(f"/api/runs/{rid}/{route}")
                assert r.status_code in (403, 404), (name, route, r.status_code, r.text[:200])
                assert SECRET not in r.text, (name, route)
            r = c.get(f"/api/runs/{rid}/logs")
            assert SECRET not in r.text, name
        r = c.get(f"/api/runs/{made['links'].name}/download")
        assert r.status_code == 403 and "symbolic link" in r.json()["detail"]
        logs = c.get(f"/api/runs/{made['links'].name}/logs").json()
        assert "symbolic link" in logs["stdout"] and SECRET not in json.dumps(logs)
        # traversal in the URL itself
        for bad in ("..%2F..%2Fprivate", "..", "%2e%2e", RUN_ID + "%2F..%2F..%2Fprivate"):
            for route in FILE_ROUTES:
                r = c.get(f"/api/runs/{bad}/{route}")
                assert r.status_code in (403, 404) and SECRET not in r.text, (bad, route, r.status_code)
        r = c.get("/static/..%2F..%2F..%2Fprivate%2Fsecret.txt")
        assert r.status_code == 404 and SECRET not in r.text


# -- non-loopback addresses --------------------------------------------------------------------------------
def _machine_ips() -> set[str]:
    return {a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs}


def _check_printed(urls: list[tuple[str, str]]) -> int:
    """The printed (host, port) pairs are real: this machine's addresses, one port, not 127.0.0.1 alone."""
    ips, ports = _machine_ips(), {p for _, p in urls}
    assert len(ports) == 1 and "0" not in ports, urls
    assert all(h.strip("[]") in ips for h, _ in urls), (urls, ips)
    lan = [ip for ip in ips if ":" not in ip and not ip.startswith("127.")]
    if lan:  # other machines' view comes first; 127.0.0.1 is never the only address shown
        assert not urls[0][0].startswith("127.") and {h for h, _ in urls} & set(lan), urls
    return int(ports.pop())


def test_ui_on_all_interfaces_warns_and_prints_the_real_addresses(tmp_path):
    args = ["ui", "--host", "0.0.0.0", "--port", "0", "--runs-root", str(tmp_path / "runs"), "--allow-root",
            str(tmp_path)]
    with Proc(*args, "--token", "short") as p:  # a guessable token is refused before anything listens
        assert p.finish() == 2
        assert "too short" in p.text and "16" in p.text
    with Proc(*args) as p:
        p.wait_for(r"runs in ")
        out = p.text
        assert "WARNING" in out and "every network interface" in out and "not encrypted" in out
        urls = re.findall(r"http://(\[[0-9a-f:]+\]|[0-9.]+):(\d+)/\?token=([\w-]+)", out)
        assert urls, out
        port = _check_printed([(h, pt) for h, pt, _ in urls])
        token = urls[0][2]
        assert len(token) >= 16 and all(t == token for _, _, t in urls)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            assert c.get("/api/runs").status_code == 401
            assert c.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        p.stop()
    with Proc("ui", "--port", "0", "--runs-root", str(tmp_path / "runs"), "--allow-root", str(tmp_path)) as p:
        p.wait_for(r"runs in ")
        assert "WARNING" not in p.text and re.search(r"http://127\.0\.0\.1:[1-9]\d*/\?token=", p.text), p.text


def test_mcp_http_on_all_interfaces_warns_and_prints_the_real_addresses(tmp_path):
    args = ["mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "0", "--runs-root", str(tmp_path / "runs"),
            "--allow-root", str(tmp_path)]
    with Proc(*args, "--token", "mcp-http-token") as p:
        assert p.finish() == 2 and "too short" in p.text
    token = "a-long-enough-token-for-the-lan"
    with Proc(*args, "--token", token) as p:
        p.wait_for(r"upload_data takes up to")
        assert "WARNING" in p.text and "every network interface" in p.text
        urls = re.findall(r"http://(\[[0-9a-f:]+\]|[0-9.]+):(\d+)/mcp", p.text)
        port = _check_printed(urls)
        assert f"Bearer {token}" in p.text
        client = McpHttp(f"http://127.0.0.1:{port}/mcp", token)
        status, err, text = client.call("list_runs")
        assert status == 200 and not err and json.loads(text)["runs"] == []
        client.close()


# -- MCP over HTTP: file contents, upload size, expiry -------------------------------------------------------
def test_mcp_http_upload_cap_symlinks_and_expiry(tmp_path):
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    runs = tmp_path / "runs"
    made = _planted_runs(runs, secret)
    token = "mcp-safety-token"
    base_args = ["mcp", "--transport", "http", "--runs-root", str(runs), "--allow-root", str(tmp_path)]
    port, small_port = free_port(), free_port()
    with Proc(*base_args, "--port", str(port), "--token", token) as p, \
            Proc("mcp", "--transport", "http", "--runs-root", str(tmp_path / "runs-small"), "--allow-root",
                 str(tmp_path), "--port", str(small_port), "--token", token, "--max-upload-mb", "2",
                 "--upload-ttl-hours", "0.0004") as small:  # 1.44 s
        p.wait_for("upload_data takes up to 100 MB")
        small.wait_for("upload_data takes up to 2 MB")
        c = McpHttp(f"http://127.0.0.1:{port}/mcp", token)

        # the one tool that returns file contents: get_result's preview
        status, err, text = c.call("get_result", run_id=made["honest"].name)
        assert not err and json.loads(text)["predictions_preview"]["total_rows"] == 2
        for name in ("links", "dirlink", "traversal", "hardlink", "fifo", "runlink"):
            status, err, text = c.call("get_result", run_id=made[name].name)
            assert err and SECRET not in text, (name, text[:300])
        status, err, text = c.call("get_result", run_id=made["links"].name)
        assert "symbolic link" in text

        # ~5 MB over HTTP (6.7 MB of base64): above the SDK's default 4 MiB request limit, under the 100 MB cap
        payload = os.urandom(5 * 1024**2)
        status, err, text = c.call("upload_data", files={"blob/data.bin": base64.b64encode(payload).decode(),
                                                         "train.csv": base64.b64encode(b"a,b\n1,2\n").decode()})
        assert status == 200 and not err, text[:500]
        up = json.loads(text)
        assert up["files"] == ["blob/data.bin", "train.csv"] and up["bytes"] == len(payload) + 8
        assert (Path(up["data_path"]) / "blob" / "data.bin").read_bytes() == payload
        c.close()

        s = McpHttp(f"http://127.0.0.1:{small_port}/mcp", token)
        # over a 2 MB cap: refused with the cap named, by the tool (base64 fits the request limit) ...
        status, err, text = s.call("upload_data", files={"x.bin": base64.b64encode(os.urandom(2_300_000)).decode()})
        assert status == 200 and err and "exceeds 2 MB" in text and "--max-upload-mb" in text, text[:300]
        # ... or by the request limit set from the cap, with the same explanation
        status, err, text = s.call("upload_data", files={"x.bin": base64.b64encode(os.urandom(3_500_000)).decode()})
        assert status == 413 and "exceeds 2 MB" in text, (status, text[:300])
        # an upload within the cap is stored, then expires (1.44 s) once no run uses it
        status, err, text = s.call("upload_data", files={"t.csv": base64.b64encode(b"a,b\n1,2\n").decode()})
        assert not err, text
        small_up = Path(json.loads(text)["data_path"])
        assert small_up.is_dir()
        time.sleep(1.6)
        s.call("list_runs")  # any list/start/upload sweeps the expired uploads
        assert not small_up.exists()
        assert Path(up["data_path"]).is_dir()  # the other server's uploads (another folder, 24 h) stay
        s.close()


# -- uploads expire ------------------------------------------------------------------------------------------
def test_web_upload_expires(tmp_path):
    (tmp_path / "data").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.csv").write_text("precious")
    runs = tmp_path / "runs"
    with live_app(runs, [tmp_path / "data"], TOKEN, upload_ttl_s=1.5) as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        r = c.post("/api/uploads", files={"f": ("train.csv", b"a,b\n1,2\n3,4\n", "text/csv")})
        assert r.status_code == 201, r.text
        up = r.json()
        folder = Path(up["data_path"])
        assert folder.is_dir() and folder.parent == runs.resolve() / "_uploads"
        # a link planted among the uploads is removed as a link: its target stays
        planted = folder.parent / "u-20000101-000000-deadbeef"
        planted.symlink_to(outside, target_is_directory=True)
        os.utime(planted, (0, 0), follow_symlinks=False)
        time.sleep(0.5)
        assert c.get("/api/runs").status_code == 200 and folder.is_dir()  # not yet expired
        assert not planted.exists() and not planted.is_symlink() and (outside / "keep.csv").read_text() == "precious"
        time.sleep(1.3)
        assert c.get("/api/runs").status_code == 200  # the UI's poll sweeps
        assert not folder.exists()
        r = c.post("/api/runs", json={"upload_id": up["upload_id"], "task": "predict b", "time_limit": 30})
        assert r.status_code == 400 and "No upload" in r.json()["detail"] and "expire" in r.json()["detail"]


def test_upload_in_use_is_kept_until_its_run_ends(tmp_path):
    fake_cli = tmp_path / "fake-python"  # stands in for `python -m mlwright run ...`: a run that just waits
    fake_cli.write_text("#!/bin/sh\nexec sleep 60\n")
    fake_cli.chmod(0o755)
    runs = tmp_path / "runs"
    m = RunManager(runs, [tmp_path], python=str(fake_cli), upload_ttl_s=1.0)
    up = m.uploads_root / "u-20250101-000000-0123abcd"
    up.mkdir(parents=True)
    (up / "train.csv").write_text("a,b\n1,2\n")
    stale = m.uploads_root / "u-20250101-000000-00000000"
    stale.mkdir()
    os.utime(stale, (0, 0))
    try:
        run = m.start(up, "predict b", time_limit=30)
        assert not stale.exists()  # starting a run sweeps
        assert _wait_until(lambda: m.status(run.run_id)["status"] == "running", 10)
        time.sleep(1.3)
        assert m.sweep_uploads() == [] and up.is_dir()  # older than the expiry time, but in use
        m.cancel(run.run_id)
        assert _wait_until(lambda: m.status(run.run_id)["status"] == "cancelled", 15)
        assert m.sweep_uploads() == [] and up.is_dir()  # the clock restarted when the run ended
        time.sleep(1.2)
        assert m.sweep_uploads() == [up.name] and not up.exists()
    finally:
        m.shutdown()
    # a new manager on the same folder removes what expired while none ran
    again = m.uploads_root / "u-20250101-000000-11111111"
    again.mkdir()
    os.utime(again, (0, 0))
    RunManager(runs, [tmp_path], upload_ttl_s=1.0)
    assert not again.exists()
