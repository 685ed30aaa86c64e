"""The web UI's FastAPI app: a REST API over the RunManager, and one static page.

Runs are subprocesses of the real CLI and everything shown is read back from their run folders, so the
event loop never waits on a fit. Handlers that touch files or SQLite are plain `def`s: FastAPI runs them
in its thread pool. Files from a run folder are served only through `RunManager.open_result` (regular
files inside the run folder, never through a symlink), from the file object it opened.
"""
from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Optional, Sequence
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from mlwright.errors import MlwrightError
from mlwright.runs_manager import DEFAULT_UPLOAD_TTL_S, AccessRefused, RunManager, RunStateError, UnknownRun
from mlwright.server.auth import TokenAuthMiddleware
from mlwright.server.uploads import receive_upload, upload_dir

STATIC = Path(__file__).parent / "static"
# The report is our own HTML, but it quotes column names and values from user data: no scripts run in it.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")


class DataSource(BaseModel):
    """Where the data is: a local path or an upload."""

    data_path: Optional[str] = Field(None, max_length=4096, description="A folder or file on the server machine.")
    upload_id: Optional[str] = Field(None, max_length=64, description="The id returned by POST /api/uploads.")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.data_path is None) == (self.upload_id is None):
            raise ValueError("give exactly one of data_path (a local folder or file) or upload_id (from "
                             "POST /api/uploads)")
        return self


class StartRun(DataSource):
    """POST /api/runs: where the data is (a local path or an upload), and what to do with it."""

    task: str = Field(..., min_length=1, max_length=20_000, description="What to predict, in plain words.")
    time_limit: float = Field(300, ge=10, le=7 * 24 * 3600, description="Wall-clock budget in seconds.")
    target: Optional[str] = Field(None, max_length=500, description="The column to predict, when ambiguous.")
    llm: Optional[str] = Field(None, pattern=r"^[a-z0-9-]{1,40}$",
                               description="LLM provider, passed as --llm ('none': the offline expert engine); "
                                           "unset: the CLI's default.")
    model: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$",
                                 description="LLM model name, passed as --model; unset: the server's environment "
                                             "or mlwright.yaml. The key always comes from the server's environment.")
    interactive: bool = Field(False, description="Show a guidance box; guidance reaches the next attempt.")
    light: bool = Field(False, description="The light recipes only (no AutoGluon): faster, a little less accurate.")


class ExplainData(DataSource):
    """POST /api/explain: the data preview, as a run would understand the folder and the task so far."""

    task: str = Field("", max_length=20_000)
    target: Optional[str] = Field(None, max_length=500)


class Guidance(BaseModel):
    text: str = Field(..., min_length=1, max_length=10_000)


def create_app(runs_root: Path, allowed_roots: Sequence[Path], token: str, max_upload_mb: float = 500, *,
               max_concurrent: int = 1, extra_run_args: Sequence[str] = (),
               upload_ttl_s: float = DEFAULT_UPLOAD_TTL_S, admission: Any = None) -> FastAPI:
    """The web app. `runs_root` holds the run folders (their names are the run ids); data paths must lie
    under `allowed_roots`; every /api request needs `token`. `extra_run_args` go to every `mlwright run`.
    Uploads are removed `upload_ttl_s` after their upload or their last run."""
    manager = RunManager(runs_root, allowed_roots, max_concurrent=max_concurrent, extra_args=extra_run_args,
                         upload_ttl_s=upload_ttl_s, admission=admission)
    max_upload = int(max_upload_mb * 1024**2)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await run_in_threadpool(manager.shutdown)  # cancel what we started: nobody could watch it otherwise

    app = FastAPI(title="mlwright", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.manager = manager
    app.add_middleware(TokenAuthMiddleware, token=token, protect=lambda path: path.startswith("/api"))

    @app.exception_handler(MlwrightError)
    async def _mlwright_error(request: Request, e: MlwrightError):
        code = 403 if isinstance(e, AccessRefused) else 404 if isinstance(e, UnknownRun) else \
            409 if isinstance(e, RunStateError) else 400
        return JSONResponse({"detail": e.render(), "what": e.what, "where": e.where, "hint": e.hint},
                            status_code=code)

    api = APIRouter(prefix="/api")

    @api.post("/uploads", status_code=201)
    async def upload(request: Request) -> dict:
        """Multipart upload of data files, or of one zip/tar archive (unpacked safely)."""
        await run_in_threadpool(manager.sweep_uploads)
        return await receive_upload(request, manager.uploads_root, max_upload)

    @api.post("/runs", status_code=201)
    def start_run(body: StartRun) -> dict:
        data = body.data_path if body.data_path is not None else upload_dir(manager.uploads_root, body.upload_id)
        run = manager.start(data, body.task, time_limit=body.time_limit, target=body.target, llm=body.llm,
                            model=body.model, interactive=body.interactive, light=body.light)
        return manager.status(run.run_id)

    @api.post("/explain")
    def explain(body: ExplainData) -> dict:
        """How a run would understand this data and task (files and roles, columns, target, output); nothing runs."""
        data = body.data_path if body.data_path is not None else upload_dir(manager.uploads_root, body.upload_id)
        return manager.explain(data, body.task, body.target)

    @api.get("/config")
    def config() -> dict:
        """What the page needs to know before a run: where data may come from, the upload cap, the version."""
        from mlwright.llm.settings import provider_choices

        return {"allowed_roots": [str(r) for r in manager.allowed_roots], "max_upload_mb": max_upload_mb,
                "max_concurrent": manager.max_concurrent, "version": _version(), "llm": provider_choices()}

    @api.get("/runs")
    def list_runs() -> dict:
        return {"runs": manager.list_runs(), "max_concurrent": manager.max_concurrent}

    @api.get("/runs/{run_id}")
    def get_run(run_id: str) -> dict:
        info = manager.status(run_id)
        info["attempts"] = [a.model_dump(mode="json") for a in manager.attempts(run_id)]
        return info

    @api.get("/runs/{run_id}/events")
    def get_events(run_id: str, after: int = Query(0, ge=0), limit: int = Query(500, ge=1, le=5000)) -> dict:
        events = manager.events(run_id, after, limit=limit)
        return {"events": [e.model_dump(mode="json") for e in events], "last_id": events[-1].id if events else after,
                "status": manager.status(run_id)["status"]}

    @api.get("/runs/{run_id}/stream")
    async def stream(run_id: str, request: Request, after: int = Query(0, ge=0)) -> StreamingResponse:
        """Server-sent events: `run` (status, stage, clock, attempts), `events` (new journal events), `logs` (the
        latest attempt's folded logs) whenever they change, then `end` once the run is no longer active. A stream
        lasts at most STREAM_MAX_S: the browser's EventSource reconnects by itself, sending Last-Event-ID."""
        manager.run_dir(run_id)  # unknown run: 404 now, not an empty stream
        last_seen = request.headers.get("last-event-id", "")
        start_after = max(after, int(last_seen) if last_seen.isdigit() else 0)
        return StreamingResponse(_run_stream(manager, run_id, request, start_after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @api.get("/runs/{run_id}/transcript")
    def get_transcript(run_id: str) -> dict:
        """Every LLM prompt and answer of the run so far (keys masked); empty without an LLM."""
        return {"calls": manager.transcript(run_id)}

    @api.get("/runs/{run_id}/logs")
    def get_logs(run_id: str, max_bytes: int = Query(20_000, ge=100, le=1_000_000)) -> dict:
        return manager.logs(run_id, max_bytes=max_bytes)

    @api.post("/runs/{run_id}/guidance")
    def post_guidance(run_id: str, body: Guidance) -> dict:
        gid = manager.send_guidance(run_id, body.text)
        return {"id": gid, "status": "queued for the next attempt"}

    @api.post("/runs/{run_id}/cancel")
    def cancel(run_id: str) -> dict:
        run = manager.cancel(run_id)
        return {"id": run.run_id, "status": run.status, "cancel_requested": run.cancel_requested}

    @api.get("/runs/{run_id}/predictions")
    def predictions(run_id: str, limit: int = Query(50, ge=1, le=1000)) -> dict:
        path, f = manager.open_result(run_id, "predictions")
        with f:
            return _preview(path, f, limit)

    @api.get("/runs/{run_id}/download")
    def download(run_id: str) -> StreamingResponse:
        path, f = manager.open_result(run_id, "predictions")
        return _file_response(f, "text/csv", {"Content-Disposition": _attachment(path.name)})

    @api.get("/runs/{run_id}/report")
    def report(run_id: str) -> StreamingResponse:
        _, f = manager.open_result(run_id, "report")
        return _file_response(f, "text/html; charset=utf-8",
                              {"Content-Security-Policy": REPORT_CSP, "Referrer-Policy": "no-referrer",
                               "X-Content-Type-Options": "nosniff"})

    @api.get("/runs/{run_id}/code", response_class=PlainTextResponse)
    def code(run_id: str) -> PlainTextResponse:
        _, f = manager.open_result(run_id, "code")
        with f:
            text = f.read().decode("utf-8", errors="replace")
        return PlainTextResponse(text, headers={"X-Content-Type-Options": "nosniff"})

    @api.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    def not_found(rest: str):
        raise HTTPException(404, f"No API endpoint /api/{rest}; see /api/openapi.json.")

    app.include_router(api)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        # the page holds no secret: it reads the token from its own URL (?token=...) and sends it as a header
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "no-referrer",
                                     "Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


STREAM_TICK_S = 0.5  # how often a stream looks at the run folder
STREAM_MAX_S = 60.0  # then the client reconnects: no connection outlives a server shutdown by much
ACTIVE = ("queued", "running")


def _sse(event: str, data: Any, event_id: Optional[int] = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _run_stream(manager: RunManager, run_id: str, request: Request, after: int):
    """The live feed of one run, read from its run folder like every other view (see the stream endpoint)."""
    import asyncio
    import time

    def snapshot(after_id: int) -> tuple[dict, list[dict], dict]:
        info = manager.status(run_id)
        info["attempts"] = [a.model_dump(mode="json") for a in manager.attempts(run_id)]
        events = [e.model_dump(mode="json") for e in manager.events(run_id, after_id, limit=500)]
        return info, events, manager.logs(run_id)

    sent_run = sent_logs = None
    started = last_beat = time.monotonic()
    while not await request.is_disconnected():
        try:
            info, events, logs = await run_in_threadpool(snapshot, after)
        except MlwrightError as e:  # the run folder went away under us
            yield _sse("problem", {"detail": e.render()})
            return
        if events:
            after = events[-1]["id"]
            yield _sse("events", events, after)
        if info != sent_run:
            sent_run = info
            yield _sse("run", info)
        if logs != sent_logs:
            sent_logs = logs
            yield _sse("logs", logs)
        if info["status"] not in ACTIVE:
            yield _sse("end", {"status": info["status"]})
            return
        now = time.monotonic()
        if now - started > STREAM_MAX_S or manager.closed:
            return
        if now - last_beat > 15:
            last_beat = now
            yield ": keep-alive\n\n"  # a comment line: proxies keep an idle stream open
        await asyncio.sleep(STREAM_TICK_S)


def _preview(path: Path, f: BinaryIO, limit: int) -> dict:
    """The first `limit` rows of a prediction file (already opened, see `open_result`) as JSON (NaN -> null)."""
    import pandas as pd  # only here: the server itself needs no pandas

    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(f)
        total, df = len(df), df.head(limit)
    else:
        df = pd.read_csv(f, nrows=limit, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        f.seek(0)
        total = max(0, sum(1 for _ in f) - 1)  # data lines, header excluded
    split = json.loads(df.to_json(orient="split", index=False))
    return {"file": path.name, "columns": split["columns"], "rows": split["data"], "total_rows": total,
            "shown_rows": len(df)}


def _file_response(f: BinaryIO, media_type: str, headers: dict[str, str]) -> StreamingResponse:
    """Stream a file object opened by `open_result` (never re-opened by name, so nothing can be swapped in
    between the check and the read); the file is closed when the body is sent or the client goes away."""
    size = os.fstat(f.fileno()).st_size

    def chunks() -> Iterator[bytes]:
        with f:
            while chunk := f.read(1 << 16):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers={**headers, "Content-Length": str(size)})


def _attachment(name: str) -> str:
    quoted = quote(name)
    return f"attachment; filename*=utf-8''{quoted}" if quoted != name else f'attachment; filename="{name}"'


def _version() -> str:
    from mlwright import __version__

    return __version__
