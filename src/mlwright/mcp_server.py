"""The MCP server: mlwright's runs as tools for an AI assistant (official `mcp` Python SDK).

Tools: upload_data, start_run, run_status, send_guidance, cancel_run, list_runs, get_result, predict. They all go
through the RunManager (runs are `mlwright run` subprocesses; results are read from the run folders, never through a
symlink), refuse data paths outside the allowed roots and delete nothing but their own expired uploads. Transports:
stdio, and streamable HTTP (127.0.0.1 by default) behind a bearer token.

Uploads: `upload_data` takes up to `max_upload_mb` (default 100 MB) of files as base64. Over HTTP the
transport's request limit is set from that cap (base64 is 4/3 of the bytes, plus room for the JSON), so the
documented cap is what the tool accepts; a larger request is refused with the same message.

Works with the SDK's `MCPServer` (mcp 2.x) and its earlier name `FastMCP` (mcp 1.x).
"""
from __future__ import annotations

import math
import socket
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from mlwright.errors import MlwrightError
from mlwright.mcp_outputs import (AttemptBrief, Cancelled, GuidanceSent, Predicted, Preview, ResultPaths, RunList,
                                  RunResult, RunStarted, RunStatusOut, TaskBrief, Uploaded)
from mlwright.runs_manager import DEFAULT_UPLOAD_TTL_S, RunManager

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[attr-defined,no-redef,unused-ignore]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef,unused-ignore]

INSTRUCTIONS = """mlwright solves tabular prediction tasks from a folder of raw data and a sentence.
Start with start_run(data_path, task, time_limit); poll run_status(run_id) until the status is
succeeded, failed or cancelled (runs may wait in a queue); then get_result(run_id) gives the predictions
file, a preview, the validation score, the report and the solution script; predict(run_id, data_path) applies
a succeeded run's model to new rows. list_runs shows past runs.
Data paths must lie under the folders the server was started with (--allow-root); when the server cannot
read the user's disk (a remote server), upload_data(files) stores small files and returns a data_path."""

PREVIEW_ROWS = 10
MAX_UPLOAD_MB = 100  # base64 in a JSON tool call: larger data belongs on the server's disk (--allow-root)
JSON_ROOM = 1024**2  # JSON-RPC framing and file names around the base64 of an upload


def request_limit(max_upload_mb: float) -> int:
    """The largest HTTP request an upload of `max_upload_mb` MB of files needs (base64 + JSON)."""
    return 4 * math.ceil(max_upload_mb * 1024**2 / 3) + JSON_ROOM


def upload_cap_message(max_upload_mb: float) -> str:
    return (f"The upload exceeds {max_upload_mb:g} MB (upload_data's cap, counted in file bytes before base64); "
            "put large data on the server's disk under an allowed root and pass its path to start_run, or "
            "restart the server with a larger --max-upload-mb.")


def build_server(manager: RunManager, max_upload_mb: float = MAX_UPLOAD_MB):
    """The MCP server object with mlwright's tools bound to `manager`."""
    from mlwright import __version__

    try:  # the version clients see in the initialize handshake (mcp >= 1.10 takes it here)
        server = _Server("mlwright", instructions=INSTRUCTIONS, version=__version__)
    except TypeError:
        server = _Server("mlwright", instructions=INSTRUCTIONS)

    def guarded(fn):
        # user-actionable errors go back to the assistant as tool errors with the what/where/what-to-do text
        def call(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except MlwrightError as e:
                raise ToolError(e.render()) from None
        return call

    @server.tool()
    def upload_data(files: dict[str, str]) -> Uploaded:
        """Upload data files when the server cannot read them from a local path.

        files: file name (may include sub-folders, e.g. "train/cat/1.png") -> the file's content in base64.
            One zip/tar archive is unpacked safely. At most 100 MB in all (unless the server was started
            with another --max-upload-mb). Uploads are deleted a while (default a day) after their upload
            or their last run.
        Returns data_path (and upload_id) to pass to start_run.
        """
        return Uploaded(**_upload(manager, files, max_upload_mb))

    @server.tool()
    def start_run(data_path: str, task: str, time_limit: float = 300, target: Optional[str] = None) -> RunStarted:
        """Start an mlwright run on a data folder (or file/archive) with a task in plain words.

        data_path: a folder or file under the server's allowed roots (never modified).
        task: what to predict and, optionally, the output file and metric, e.g. "predict churn as the
            probability of yes; write churn.csv with customer_id,churn".
        time_limit: wall-clock budget in seconds (at least 10).
        target: the column to predict, when the task text leaves it ambiguous.
        Returns the run id and status; poll run_status until it has finished.
        """
        run = guarded(manager.start)(data_path, task, time_limit=time_limit, target=target)
        return RunStarted(run_id=run.run_id, status=run.status, run_dir=str(run.run_dir),
                          next="poll run_status(run_id) until succeeded/failed/cancelled, then call get_result(run_id)")

    @server.tool()
    def run_status(run_id: str) -> RunStatusOut:
        """Status of a run: queued/running/succeeded/failed/cancelled, the current stage, the attempts
        with their validation scores, the best so far and the latest progress messages."""
        info = guarded(manager.status)(run_id)
        attempts = guarded(manager.attempts)(run_id)
        events = guarded(manager.events)(run_id, 0, None)
        s = info.get("summary") or {}
        return RunStatusOut(run_id=run_id, status=info["status"], stage=info.get("stage"),
                            queue_position=info.get("queue_position"), error=info.get("error"),
                            time_limit_s=info.get("time_limit_s"), wall_seconds=s.get("wall_seconds"),
                            task=_task_brief(s.get("task")), best=s.get("best"),
                            attempts=[AttemptBrief(id=a.attempt_id, kind=a.kind, parent_id=a.parent_id, recipe=a.recipe,
                                                   status=a.status, score=a.score, seconds=a.seconds, error=a.error)
                                      for a in attempts],
                            recent_events=[f"{e.stage}: {e.message}" for e in events[-8:]])

    @server.tool()
    def send_guidance(run_id: str, text: str) -> GuidanceSent:
        """Send an instruction to a running run; it is journaled and read before the next attempt."""
        gid = guarded(manager.send_guidance)(run_id, text)
        return GuidanceSent(run_id=run_id, guidance_id=gid, status="queued for the next attempt")

    @server.tool()
    def cancel_run(run_id: str) -> Cancelled:
        """Cancel a queued or running run started by this server. The run folder, journal and anything
        already produced are kept."""
        run = guarded(manager.cancel)(run_id)
        return Cancelled(run_id=run.run_id, status=run.status, cancel_requested=run.cancel_requested)

    @server.tool()
    def list_runs() -> RunList:
        """Queued and running runs, then past runs under the runs folder (newest first), with scores."""
        return RunList(runs_root=str(manager.runs_root), allowed_roots=[str(r) for r in manager.allowed_roots],
                       runs=guarded(manager.list_runs)())

    @server.tool()
    def get_result(run_id: str) -> RunResult:
        """A finished run's result: status, validation score, the task as understood, the paths of the
        predictions, report, solution script and model, and the first rows of the predictions."""
        info = guarded(manager.status)(run_id)
        s = info.get("summary") or {}
        out = RunResult(run_id=run_id, status=info["status"], run_dir=info["run_dir"], error=info.get("error"),
                        task=_task_brief(s.get("task")), best=s.get("best"), attempts=s.get("attempts"),
                        wall_seconds=s.get("wall_seconds"))
        if info["status"] != "succeeded":
            out.note = ("the run is still going: poll run_status" if info["status"] in ("queued", "running")
                        else "the run has no result; see error and run_status for the attempts")
            return out
        pred, f = guarded(manager.open_result)(run_id, "predictions")
        with f:
            out.predictions_preview = _preview(f)
        out.paths = ResultPaths(predictions=str(pred), report=s.get("report"), solution_script=s.get("solution_script"),
                                model_dir=s.get("model_dir"), journal=str(Path(info["run_dir"]) / "journal.sqlite"))
        out.reuse = f"mlwright predict {info['run_dir']} NEW_DATA --output new_predictions.csv"
        return out

    @server.tool()
    def predict(run_id: str, data_path: str) -> Predicted:
        """Apply a succeeded run's model to new rows: data_path is a file (or a folder holding one table)
        under the allowed roots, with the training data's feature columns. The predictions are written to a
        new file under the runs folder; returns its path and its first rows."""
        path = guarded(manager.predict)(run_id, data_path)
        with open(path, "rb") as f:
            return Predicted(run_id=run_id, predictions=str(path), preview=_preview(f))

    return server


def _upload(manager: RunManager, files: dict[str, str], max_upload_mb: float = MAX_UPLOAD_MB) -> dict:
    import base64
    import binascii
    import io

    from mlwright.uploads import UploadRefused, store_files

    if not files:
        raise ToolError("No files given: pass {file name: base64 content}.")
    total, uploads = 0, []
    for name, content in files.items():
        try:
            raw = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise ToolError(f"{name}: the content is not valid base64; encode the file's bytes in base64.") from None
        total += len(raw)
        if total > max_upload_mb * 1024**2:
            raise ToolError(upload_cap_message(max_upload_mb))
        uploads.append((name, io.BytesIO(raw)))
    manager.sweep_uploads()
    try:
        return store_files(uploads, manager.uploads_root)
    except UploadRefused as e:
        raise ToolError(e.what) from None


def _task_brief(task: Optional[dict]) -> Optional[TaskBrief]:
    if not task:
        return None
    return TaskBrief(**{k: task[k] for k in TaskBrief.model_fields if task.get(k) is not None})


def _preview(f) -> Preview:
    """The first rows of a prediction file opened by `RunManager.open_result`."""
    import json

    import pandas as pd

    df = pd.read_csv(f, nrows=PREVIEW_ROWS)
    f.seek(0)
    total = max(0, sum(1 for _ in f) - 1)
    return Preview(columns=list(map(str, df.columns)), rows=json.loads(df.to_json(orient="records")), total_rows=total)


def serve(transport: str = "stdio", *, runs_root: Path = Path("runs"), allowed_roots: Sequence[Path] = (),
          port: int = 8766, host: str = "127.0.0.1", token: Optional[str] = None,
          extra_run_args: Sequence[str] = (), max_upload_mb: float = MAX_UPLOAD_MB,
          upload_ttl_s: float = DEFAULT_UPLOAD_TTL_S, sock: Optional[socket.socket] = None, admission: Any = None,
          max_concurrent: int = 1) -> None:
    """Run the MCP server until its client (stdio) or the process (HTTP, Ctrl-C) ends; then the runs it
    started are cancelled cleanly (their folders stay). `sock`: an already bound socket for HTTP (the CLI
    binds first, to print the real address)."""
    manager = RunManager(runs_root, list(allowed_roots) or [Path.cwd()], extra_args=extra_run_args,
                         upload_ttl_s=upload_ttl_s, admission=admission, max_concurrent=max_concurrent)
    server = build_server(manager, max_upload_mb)
    try:
        if transport == "stdio":
            server.run("stdio")  # stdout is the protocol: runs write to their own log files, never here
        elif transport == "http":
            _serve_http(server, host, port, token, max_upload_mb, sock)
        else:
            raise MlwrightError(f"Unknown transport {transport!r}.", hint="Use stdio or http.")
    finally:
        manager.shutdown()


class _RequestCap:
    """Refuses (413, with the upload cap explained) an HTTP request larger than any accepted upload_data call,
    before the SDK reads it; the SDK's own limit is set just above, for bodies sent without a length."""

    def __init__(self, app, limit: int, max_upload_mb: float):
        self.app, self.limit, self.max_upload_mb = app, limit, max_upload_mb

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope.get("headers", [])).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limit:
                import json

                body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {
                    "code": -32600, "message": f"Request too large ({int(length) / 1024**2:.1f} MB). "
                                               + upload_cap_message(self.max_upload_mb)}}).encode()
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _serve_http(server, host: str, port: int, token: Optional[str], max_upload_mb: float = MAX_UPLOAD_MB,
                sock: Optional[socket.socket] = None) -> None:
    from mlwright.server.auth import TokenAuthMiddleware, new_token
    from mlwright.server.binding import bind, check_token, exposure_warning, listen_addresses
    from mlwright.server.binding import serve as serve_on

    import logging

    check_token(host, token)
    token = token or new_token()
    logging.getLogger("mcp").setLevel(logging.WARNING)  # the SDK's session start/stop lines are not news to a user
    limit = request_limit(max_upload_mb)
    try:  # mcp 2: DNS-rebinding protection follows the host; the request limit fits the upload cap
        app = server.streamable_http_app(host=host, max_request_body_size=limit + JSON_ROOM)
    except TypeError:  # mcp 1: settings from the constructor; its request limit is a module constant
        import mcp.server.streamable_http as sh

        if hasattr(sh, "MAXIMUM_MESSAGE_SIZE"):
            sh.MAXIMUM_MESSAGE_SIZE = max(sh.MAXIMUM_MESSAGE_SIZE, limit + JSON_ROOM)
        app = server.streamable_http_app()
    sock = sock or bind(host, port)
    addresses = listen_addresses(sock)
    warning = exposure_warning("MCP server", host, addresses)
    if warning:
        print(warning, file=sys.stderr)
    print(f"mlwright MCP server (streamable HTTP): http://{addresses[0]}/mcp", file=sys.stderr)
    for addr in addresses[1:]:
        print(f"                                 also: http://{addr}/mcp", file=sys.stderr)
    print(f"  send the header  Authorization: Bearer {token}\n"
          f"  upload_data takes up to {max_upload_mb:g} MB of files", file=sys.stderr, flush=True)
    serve_on(TokenAuthMiddleware(_RequestCap(app, limit, max_upload_mb), token), sock)
