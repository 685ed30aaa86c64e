"""Receiving uploaded data: several files, or zip/tar archives unpacked safely at upload time.

The body is counted while it streams in, so an oversized upload is refused before it fills the disk, and
archives go through `perception.archives.unpack_archive` (no `../` paths, no links, no zip bombs), so a
bad archive is refused here, with a clear message, rather than later in the run. Upload folders expire:
the RunManager removes one `upload_ttl_s` after its upload or its last run (`RunManager.sweep_uploads`).
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mlwright.errors import MlwrightError
from mlwright.perception.archives import is_archive, unpack_archive
from mlwright.runs_manager import UPLOAD_ID

MAX_FILES = 1000


class UploadTooLarge(Exception):
    pass


def upload_dir(uploads_root: Path, upload_id: str) -> Path:
    if not UPLOAD_ID.match(upload_id or ""):
        raise MlwrightError(f"Not a valid upload id: {upload_id!r}", hint="Use the upload_id that POST /api/uploads "
                            "returned.")
    d = uploads_root / upload_id
    if d.is_symlink() or not d.is_dir():
        raise MlwrightError(f"No upload {upload_id!r}.", hint="Upload the files again (uploads expire some time "
                            "after their upload or their last run).")
    return d


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


def _clean_name(name: str | None) -> PurePosixPath:
    """A relative path made of plain parts; anything else is refused (never silently rewritten)."""
    p = PurePosixPath((name or "").replace("\\", "/"))
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or p.is_absolute() or any(x == ".." or ":" in x or x.startswith(".") for x in parts):
        raise HTTPException(400, f"Refusing the uploaded file name {name!r}: use plain relative file names "
                                 "(no '..', no absolute or hidden paths).")
    return PurePosixPath(*parts)


def _store(files: list[UploadFile], uploads_root: Path) -> dict:
    names = [_clean_name(f.filename) for f in files]
    if len(set(names)) != len(names):
        raise HTTPException(400, "The upload names the same file twice.")
    uploads_root.mkdir(parents=True, exist_ok=True)
    if uploads_root.is_symlink():
        raise HTTPException(500, f"The uploads folder {uploads_root} is a symbolic link; refusing to store there.")
    upload_id = f"u-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    dest = uploads_root / upload_id
    dest.mkdir()
    try:
        single_archive = len(files) == 1 and is_archive(Path(names[0].name))
        for f, name in zip(files, names):
            if is_archive(Path(name.name)):
                target = dest if single_archive else dest / name.parent / _archive_stem(name.name)
                if target != dest and target.exists():
                    raise HTTPException(400, f"Archive {name} would unpack over an uploaded file of the same name.")
                _unpack(f, name, target, uploads_root)
            else:
                out = dest / Path(*name.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                f.file.seek(0)
                with open(out, "xb") as o:
                    shutil.copyfileobj(f.file, o, 1 << 20)
    except BaseException:
        # the half-written upload is this request's own scratch, not user data: leave no partial folder
        shutil.rmtree(dest, ignore_errors=True)
        raise
    os.utime(dest)  # the expiry clock starts now (an unpacked archive may have set an old time)
    stored = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    return {"upload_id": upload_id, "data_path": str(dest), "files": stored,
            "bytes": sum((dest / s).stat().st_size for s in stored)}


def _archive_stem(name: str) -> str:
    low = name.lower()
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".zip", ".tar"):
        if low.endswith(suffix):
            return name[: -len(suffix)] or "archive"
    return name


def _unpack(f: UploadFile, name: PurePosixPath, target: Path, uploads_root: Path) -> None:
    # the archive is staged in a temporary file (removed afterwards); only its checked contents are kept
    with tempfile.TemporaryDirectory(prefix=".incoming-", dir=uploads_root) as tmp:
        staged = Path(tmp) / name.name
        f.file.seek(0)
        with open(staged, "wb") as o:
            shutil.copyfileobj(f.file, o, 1 << 20)
        try:
            unpack_archive(staged, target)
        except MlwrightError as e:
            raise HTTPException(400, f"Refusing the archive {name}: {e.render()}") from None
