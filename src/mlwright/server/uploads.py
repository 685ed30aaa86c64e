"""Receiving uploaded data over HTTP: several files, or zip/tar archives unpacked safely at upload time.

The body is counted while it streams in, so an oversized upload is refused before it fills the disk; the
files are then stored by `mlwright.uploads.store_files` (shared with the MCP server), so a bad archive is
refused here, with a clear message, rather than later in the run.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mlwright.uploads import MAX_FILES, UploadRefused, store_files, upload_dir

__all__ = ["receive_upload", "upload_dir"]


class UploadTooLarge(Exception):
    pass


async def receive_upload(request: Request, uploads_root: Path, max_bytes: int) -> dict:
    """Parse a multipart upload (fields named anything; every file part counts) into a new upload folder."""
    limit_mb = max_bytes / 1024**2
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"The upload is {int(declared) / 1024**2:.1f} MB; the limit is {limit_mb:.0f} MB. "
                                 "Put the data in a folder on this machine and give its path instead, or restart "
                                 "the server with a larger --max-upload-mb.")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "Send the files as multipart/form-data.")

    async def limited():
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > max_bytes:
                raise UploadTooLarge
            yield chunk

    try:
        form = await MultiPartParser(request.headers, limited(), max_files=MAX_FILES, max_fields=100).parse()
    except UploadTooLarge:
        raise HTTPException(413, f"The upload is larger than the {limit_mb:.0f} MB limit. Put the data in a folder "
                                 "on this machine and give its path instead, or restart the server with a larger "
                                 "--max-upload-mb.") from None
    except MultiPartException as e:
        raise HTTPException(400, f"Malformed upload: {e.message}") from None
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise HTTPException(400, "The upload holds no file. Choose one or more data files or one archive.")
        return await run_in_threadpool(_store, files, uploads_root)
    finally:
        await form.close()


def _store(files: list[UploadFile], uploads_root: Path) -> dict:
    try:
        return store_files([(f.filename, f.file) for f in files], uploads_root)
    except UploadRefused as e:
        raise HTTPException(e.status, e.what) from None
