"""Safe unpacking of zip/tar archives: nothing is written outside the destination folder, and all the archives of
one folder (or one upload) together unpack at most a capped number of bytes and files, with bytes counted as
written (declared sizes can lie) and bounded by the archives' own size (no bombs)."""
from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Optional

from mlwright.errors import DataError, DataTooLargeError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_MEMBERS = 100_000
MAX_RATIO = 200  # a member that inflates more than this is treated as a bomb (when it is also large)...
BOMB_FLOOR = 50 * 1024**2  # ...than this: also the rule for a compressed table file (readers, sizing)
TOTAL_RATIO = 100  # a whole archive may unpack to this many times its size...
RATIO_FLOOR = 256 * 1024**2  # ...or this much, whichever is more


@dataclass
class UnpackBudget:
    """What every archive of one folder or upload may unpack together (nested archives included)."""

    bytes_left: int = field(default_factory=lambda: MAX_UNPACKED_BYTES)
    members_left: int = field(default_factory=lambda: MAX_MEMBERS)


def inflation_cap(packed_bytes: int) -> int:
    """The most a compressed file of `packed_bytes` may unpack to before it counts as a bomb (archive members and
    gzip/bz2/xz/zstd table files alike)."""
    return max(BOMB_FLOOR, MAX_RATIO * packed_bytes)


def bomb_error(path: Path, cap: int) -> DataError:
    return DataTooLargeError(
        f"Refusing to read the compressed file: it unpacks to more than {cap / 1024**2:,.0f} MB from "
        f"{path.stat().st_size / 1024**2:,.1f} MB (over {MAX_RATIO}x its size: a compression bomb?).", where=str(path),
        hint="Unpack it yourself into the data folder if this is intended (the plain file is then sized like any "
             "other), or sample it down.")


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


def unpack_archive(archive: Path, dest: Path, max_bytes: Optional[int] = None,
                   budget: Optional[UnpackBudget] = None) -> Path:
    """Unpack `archive` into `dest` (created). Checks every member before writing anything; `budget` is shared
    by all the archives of one folder or upload."""
    max_bytes = MAX_UNPACKED_BYTES if max_bytes is None else max_bytes
    budget = budget if budget is not None else UnpackBudget(max_bytes)
    cap = min(max_bytes, budget.bytes_left, max(RATIO_FLOOR, TOTAL_RATIO * archive.stat().st_size))
    dest.mkdir(parents=True, exist_ok=True)
    try:
        sink = _Sink(archive, cap)
        if archive.name.lower().endswith(".zip"):
            n = _unpack_zip(archive, dest, cap, budget, sink)
        else:
            n = _unpack_tar(archive, dest, cap, budget, sink)
        budget.bytes_left -= sink.written
        budget.members_left -= n
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise DataError(f"Cannot unpack archive: {type(e).__name__}: {e}", where=str(archive),
                        hint="Check that the archive is complete and not corrupt.") from e
    except DataError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


class _Sink:
    """Copies members out, counting every byte against the archive's cap."""

    def __init__(self, archive: Path, cap: int):
        self.archive, self.cap, self.written = archive, cap, 0

    def copy(self, src: IO[bytes], target: Path) -> None:
        with open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                self.written += len(chunk)
                if self.written > self.cap:
                    raise DataError(f"Refusing to unpack archive: it inflates beyond {self.cap / 1024**2:.0f} MB "
                                    f"(from {self.archive.stat().st_size / 1024**2:.1f} MB packed; a bomb?).",
                                    where=str(self.archive),
                                    hint="Unpack it yourself into the data folder if this is intended.")
                out.write(chunk)


def _check_totals(archive: Path, n: int, total: int, max_bytes: int, budget: UnpackBudget) -> None:
    if n > budget.members_left:
        raise DataError(f"Refusing to unpack archive with {n} members (limit {MAX_MEMBERS} files over all the "
                        f"archives, {budget.members_left} left).", where=str(archive),
                        hint="Unpack it yourself or split it.")
    if total > max_bytes:
        raise DataError(f"Refusing to unpack archive: it would inflate to {total / 1e9:.2f} GB "
                        f"(limit {max_bytes / 1e9:.2f} GB here).", where=str(archive),
                        hint="Unpack it yourself into the data folder if this is intended.")


def _unpack_zip(archive: Path, dest: Path, max_bytes: int, budget: UnpackBudget, sink: _Sink) -> int:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        _check_totals(archive, len(infos), total, max_bytes, budget)
        for i in infos:
            if i.file_size > BOMB_FLOOR and i.compress_size and i.file_size / i.compress_size > MAX_RATIO:
                raise DataError(f"Refusing to unpack archive: member {i.filename!r} has a compression ratio of "
                                f"{i.file_size / i.compress_size:.0f}:1 (a zip bomb?).", where=str(archive))
            _safe_member_path(dest, i.filename, archive)
        for i in infos:
            target = _safe_member_path(dest, i.filename, archive)
            if i.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(i) as src:
                sink.copy(src, target)
        return len(infos)


def _unpack_tar(archive: Path, dest: Path, max_bytes: int, budget: UnpackBudget, sink: _Sink) -> int:
    with tarfile.open(archive) as tf:
        members = []
        for m in tf:  # streamed: a bomb of headers stops at the cap instead of being listed whole
            members.append(m)
            if len(members) > budget.members_left:
                break
        _check_totals(archive, len(members), sum(m.size for m in members if m.isfile()), max_bytes, budget)
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
                with src:
                    sink.copy(src, target)
        return len(members)
