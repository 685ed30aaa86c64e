"""The real web app served by uvicorn on 127.0.0.1 (a free port) in a background thread, for the tests."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import httpx
import uvicorn

from mlwright.server.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_app(runs_root: Path, allowed_roots: Sequence[Path], token: str, max_upload_mb: float = 5,
             extra_run_args: Sequence[str] = ("--no-autogluon",), **app_kwargs) -> Iterator[str]:
    """Yields the base URL; on exit the server stops (and cancels any run it still has going)."""
    app = create_app(runs_root, allowed_roots, token, max_upload_mb, extra_run_args=extra_run_args, **app_kwargs)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=40)


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = client.get(f"/api/runs/{run_id}").json()
        if info["status"] not in ("queued", "running"):
            return info
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish within {timeout}s: {info}")
