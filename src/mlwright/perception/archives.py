"""Safe unpacking of zip/tar archives: nothing is written outside the destination folder."""
from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from mlwright.errors import DataError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_MEMBERS = 100_000
MAX_RATIO = 200  # a member that inflates more than this is treated as a bomb (when it is also large)


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(ARCHIVE_SUFFIXES)


def _safe_member_path(dest: Path, name: str, archive: Path) -> Path:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise DataError(
            f"Refusing to unpack archive: member {name!r} points outside the unpack folder.",
            where=str(archive),
            hint="Re-create the archive with relative paths only.",
        )
    target = (dest / Path(*p.parts)).resolve() if p.parts else dest.resolve()
    if not str(target).startswith(str(dest.resolve()) + os.sep) and target != dest.resolve():
        raise DataError(f"Refusing to unpack archive member {name!r}: it resolves outside the unpack folder.",
                        where=str(archive), hint="Re-create the archive with relative paths only.")
    return target


def unpack_archive(archive: Path, dest: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> Path:
    """Unpack `archive` into `dest` (created). Checks every member before writing anything."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _unpack_zip(archive, dest, max_bytes)
        else:
            _unpack_tar(archive, dest, max_bytes)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise DataError(f"Cannot unpack archive: {type(e).__name__}: {e}", where=str(archive),
                        hint="Check that the archive is complete and not corrupt.") from e
    except DataError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def _check_totals(archive: Path, n: int, total: int, max_bytes: int) -> None:
    if n > MAX_MEMBERS:
        raise DataError(f"Refusing to unpack archive with {n} members (limit {MAX_MEMBERS}).", where=str(archive),
                        hint="Unpack it yourself or split it.")
    if total > max_bytes:
        raise DataError(f"Refusing to unpack archive: it would inflate to {total / 1e9:.1f} GB "
                        f"(limit {max_bytes / 1e9:.1f} GB).", where=str(archive),
                        hint="Unpack it yourself into the data folder if this is intended.")


def _unpack_zip(archive: Path, dest: Path, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        _check_totals(archive, len(infos), total, max_bytes)
        for i in infos:
            if i.file_size > 50 * 1024**2 and i.compress_size and i.file_size / i.compress_size > MAX_RATIO:
                raise DataError(f"Refusing to unpack archive: member {i.filename!r} has a compression ratio of "
                                f"{i.file_size / i.compress_size:.0f}:1 (a zip bomb?).", where=str(archive))
            _safe_member_path(dest, i.filename, archive)
        written = 0
        for i in infos:
            target = _safe_member_path(dest, i.filename, archive)
            if i.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(i) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:  # declared sizes can lie
                        raise DataError("Refusing to unpack archive: it inflates beyond the size limit.",
                                        where=str(archive))
                    out.write(chunk)


def _unpack_tar(archive: Path, dest: Path, max_bytes: int) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        _check_totals(archive, len(members), sum(m.size for m in members if m.isfile()), max_bytes)
        for m in members:
            if m.issym() or m.islnk() or m.isdev():
                raise DataError(f"Refusing to unpack archive: member {m.name!r} is a link or device.",
                                where=str(archive), hint="Re-create the archive with regular files only.")
            _safe_member_path(dest, m.name, archive)
        for m in members:
            target = _safe_member_path(dest, m.name, archive)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                if src is None:
                    continue
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
