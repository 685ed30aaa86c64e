"""The MCP server through the SDK's own client over stdio: the tools are listed, a run is started, polled to
completion and its result read; a data path outside the allowed roots is refused."""
from __future__ import annotations

import base64
import json
import sys
import time

import anyio
import pytest

from conftest import ROOT, make_classification_frame, split_write

mcp = pytest.importorskip("mcp", reason="the mcp SDK is not installed (pip install -e '.[dev]')")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402


def _payload(result) -> tuple[bool, object]:
    """(is_error, JSON payload or error text); attribute names differ between SDK 1.x and 2.x. A result is both
    structured content (the tool's output schema) and the same JSON as text."""
    is_error = bool(getattr(result, "is_error", None) or getattr(result, "isError", None))
    text = "".join(getattr(c, "text", "") for c in result.content)
    if is_error:
        return True, text
    structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
    assert structured == json.loads(text), "structured content and its text differ"
    return False, structured


async def _call(session: ClientSession, tool: str, **args):
    return _payload(await session.call_tool(tool, args))


def test_mcp_stdio_tools_end_to_end(tmp_path):
    data_root = tmp_path / "data"
    data = split_write(make_classification_frame(), data_root / "churn", "label")
    (tmp_path / "outside").mkdir()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mlwright", "mcp", "--transport", "stdio", "--allow-root", str(data_root),
              "--runs-root", str(tmp_path / "runs"), "--run-arg=--no-autogluon"],
        cwd=str(ROOT))

    async def scenario():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                names = {t.name for t in tools}
                for t in tools:  # every tool says what it returns
                    schema = getattr(t, "output_schema", None) or getattr(t, "outputSchema", None)
                    assert schema and schema.get("properties"), t.name
                status_schema = next(getattr(t, "output_schema", None) or t.outputSchema for t in tools
                                     if t.name == "run_status")
                assert {"status", "attempts", "best"} <= set(status_schema["properties"])
                assert names >= {"upload_data", "start_run", "run_status", "send_guidance", "cancel_run", "list_runs",
                                 "get_result", "predict"}

                err, msg = await _call(session, "start_run", data_path=str(tmp_path / "outside"), task="predict label",
                                       time_limit=30)
                assert err and "outside the allowed folders" in msg
                err, msg = await _call(session, "start_run", data_path=str(data), task="predict label", time_limit=1)
                assert err and "time_limit" in msg
                err, msg = await _call(session, "run_status", run_id="../../etc")
                assert err and "Not a valid run id" in msg

                err, msg = await _call(session, "upload_data", files={"train.csv": "not base64!"})
                assert err and "not valid base64" in msg
                err, msg = await _call(session, "upload_data", files={"../evil.csv": base64.b64encode(b"a").decode()})
                assert err
                # a client that cannot share its disk uploads the files and runs on the returned data_path
                err, up = await _call(session, "upload_data", files={
                    name: base64.b64encode((data / name).read_bytes()).decode() for name in ("train.csv", "test.csv")})
                assert not err, up
                assert up["files"] == ["test.csv", "train.csv"] and up["data_path"].startswith(str(tmp_path / "runs"))
                err, started = await _call(session, "start_run", data_path=up["data_path"],
                                           task="predict label as the probability of yes", time_limit=30)
                assert not err, started
                run_id = started["run_id"]
                deadline = time.time() + 120
                while True:
                    err, status = await _call(session, "run_status", run_id=run_id)
                    assert not err, status
                    if status["status"] not in ("queued", "running"):
                        break
                    assert time.time() < deadline, status
                    await anyio.sleep(0.5)
                assert status["status"] == "succeeded", status
                assert status["attempts"] and status["attempts"][0]["score"] > 0.8

                err, result = await _call(session, "get_result", run_id=run_id)
                assert not err, result
                assert result["best"]["metric"] == "roc_auc" and result["best"]["validation_score"] > 0.8
                assert result["task"]["target"] == "label"
                assert result["predictions_preview"]["total_rows"] == 60
                assert result["predictions_preview"]["columns"] == ["customer_id", "label"]
                for key in ("predictions", "report", "solution_script", "model_dir"):
                    assert result["paths"][key] and (tmp_path / "runs" / run_id).exists()

                # the run's model on new rows: a new file beside the runs, never inside the run folder
                new = data_root / "new.csv"
                make_classification_frame(n=25, seed=3).drop(columns=["label"]).to_csv(new, index=False)
                err, pred = await _call(session, "predict", run_id=run_id, data_path=str(new))
                assert not err, pred
                assert pred["preview"]["total_rows"] == 25 and pred["preview"]["columns"] == ["customer_id", "label"]
                assert str(tmp_path / "runs" / run_id) not in pred["predictions"]
                err, msg = await _call(session, "predict", run_id=run_id, data_path=str(tmp_path / "outside"))
                assert err and "outside the allowed folders" in msg

                err, msg = await _call(session, "send_guidance", run_id=run_id, text="use more trees")
                assert err and "ended" in msg
                err, listed = await _call(session, "list_runs")
                assert not err and [r["id"] for r in listed["runs"]] == [run_id]

    anyio.run(scenario)
    assert (tmp_path / "runs").is_dir() and (data / "train.csv").is_file()  # nothing deleted


def _sse_json(resp) -> dict:
    """The JSON-RPC message of a streamable-HTTP answer (plain JSON or one SSE 'data:' line)."""
    if resp.headers.get("content-type", "").startswith("application/json"):
        return resp.json()
    return json.loads(next(ln[5:] for ln in resp.text.splitlines() if ln.startswith("data:")))


def test_mcp_streamable_http_needs_the_bearer_token(tmp_path):
    import os
    import signal
    import subprocess

    import httpx

    from live_server import free_port

    port, token = free_port(), "mcp-http-token"
    proc = subprocess.Popen([sys.executable, "-m", "mlwright", "mcp", "--transport", "http", "--port", str(port),
                             "--token", token, "--allow-root", str(tmp_path), "--runs-root", str(tmp_path / "runs")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "test", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    try:
        deadline = time.time() + 30
        while True:
            try:
                r = httpx.post(url, json=init, headers=accept, timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.time() < deadline, "the MCP HTTP server did not start"
                time.sleep(0.2)
        assert r.status_code == 401 and "token" in r.json()["detail"]
        assert httpx.post(url, json=init, headers={**accept, "Authorization": "Bearer nope"}).status_code == 401
        auth = {**accept, "Authorization": f"Bearer {token}"}
        with httpx.Client(headers=auth, timeout=10) as c:
            r = c.post(url, json=init)
            assert r.status_code == 200, r.text
            assert _sse_json(r)["result"]["serverInfo"]["name"] == "mlwright"
            session = {"mcp-session-id": r.headers["mcp-session-id"]} if "mcp-session-id" in r.headers else {}
            c.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            r = c.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=session)
            names = {t["name"] for t in _sse_json(r)["result"]["tools"]}
            assert {"start_run", "get_result", "list_runs"} <= names
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # our own child, by pid
        out, _ = proc.communicate(timeout=30)
    assert f"Bearer {token}" in out  # the token is printed at start
