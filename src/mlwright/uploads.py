"""Storing uploaded data in a new upload folder: plain relative file names only, archives unpacked safely.

Shared by the web server (multipart uploads, `mlwright.server.uploads`) and the MCP server (base64 files in
a tool call): neither imports the other, and nothing here knows about HTTP. A refused upload raises
`UploadRefused` (its `status` is the HTTP status the web server answers with). Archives go through
`perception.archives.unpack_archive` (no `../` paths, no links, no zip bombs). Upload folders expire: the
RunManager removes one `upload_ttl_s` after its upload or its last run (`RunManager.sweep_uploads`).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Sequence

from mlwright.errors import MlwrightError

if TYPE_CHECKING:  # imported when storing only: the launcher needs UPLOAD_ID alone
    from mlwright.perception.archives import UnpackBudget

UPLOAD_ID = re.compile(r"^u-[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")
MAX_FILES = 1000


class UploadRefused(MlwrightError):
    """An upload that is not stored (a bad name, a bad archive...); `status` is the HTTP status to answer."""

    def __init__(self, what: str, status: int = 400, **kw):
        super().__init__(what, **kw)
        self.status = status


def upload_dir(uploads_root: Path, upload_id: str) -> Path:
    if not UPLOAD_ID.match(upload_id or ""):
        raise MlwrightError(f"Not a valid upload id: {upload_id!r}", hint="Use the upload_id that POST /api/uploads "
                            "returned.")
    d = uploads_root / upload_id
    if d.is_symlink() or not d.is_dir():
        raise MlwrightError(f"No upload {upload_id!r}.", hint="Upload the files again (uploads expire some time "
                            "after their upload or their last run).")
    return d


def _clean_name(name: str | None) -> PurePosixPath:
    """A relative path made of plain parts; anything else is refused (never silently rewritten)."""
    p = PurePosixPath((name or "").replace("\\", "/"))
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or p.is_absolute() or any(x == ".." or ":" in x or x.startswith(".") for x in parts):
        raise UploadRefused(f"Refusing the uploaded file name {name!r}: use plain relative file names "
                            "(no '..', no absolute or hidden paths).")
    return PurePosixPath(*parts)


def store_files(files: Sequence[tuple[str | None, BinaryIO]], uploads_root: Path) -> dict:
    """Store (name, binary file) pairs in a new upload folder under `uploads_root`; one archive is unpacked into
    it, several archives each into a folder of their name. Returns upload_id, data_path, files and bytes."""
    # only when storing: the launcher needs UPLOAD_ID alone
    from mlwright.perception.archives import UnpackBudget, is_archive

    names = [_clean_name(name) for name, _ in files]
    if len(set(names)) != len(names):
        raise UploadRefused("The upload names the same file twice.")
    uploads_root.mkdir(parents=True, exist_ok=True)
    if uploads_root.is_symlink():
        raise UploadRefused(f"The uploads folder {uploads_root} is a symbolic link; refusing to store there.",
                            status=500)
    upload_id = f"u-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    dest = uploads_root / upload_id
    dest.mkdir()
    budget = UnpackBudget()  # every archive of one upload unpacks against one byte and file budget
    try:
        single_archive = len(files) == 1 and is_archive(Path(names[0].name))
        for (_, f), name in zip(files, names):
            if is_archive(Path(name.name)):
                target = dest if single_archive else dest / name.parent / _archive_stem(name.name)
                if target != dest and target.exists():
                    raise UploadRefused(f"Archive {name} would unpack over an uploaded file of the same name.")
                _unpack(f, name, target, uploads_root, budget)
            else:
                out = dest / Path(*name.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                f.seek(0)
                with open(out, "xb") as o:
                    shutil.copyfileobj(f, o, 1 << 20)
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


def _unpack(f: BinaryIO, name: PurePosixPath, target: Path, uploads_root: Path, budget: UnpackBudget) -> None:
    from mlwright.perception.archives import unpack_archive

    # the archive is staged in a temporary file (removed afterwards); only its checked contents are kept
    with tempfile.TemporaryDirectory(prefix=".incoming-", dir=uploads_root) as tmp:
        staged = Path(tmp) / name.name
        f.seek(0)
        with open(staged, "wb") as o:
            shutil.copyfileobj(f, o, 1 << 20)
        try:
            unpack_archive(staged, target, budget=budget)
        except MlwrightError as e:
            raise UploadRefused(f"Refusing the archive {name}: {e.render()}") from None
