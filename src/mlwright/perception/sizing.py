"""Will the data fit in memory? Every table file is sized before it is read (issue #10, item 5), and one rule,
`MemoryBudget.charge`, refuses the file that would take the folder past the budget with a DataError that says
what to do, instead of a process that grows until the machine kills it.

How a file is sized: its table is estimated FROM A SAMPLE, per format, and extrapolated:
- delimited text (csv/tsv/..., also gz/bz2/xz/zst): the first 2 MB (decompressed) are parsed by the reader's own
  parser; the frame's `memory_usage(deep=True)` per input byte, times the (decompressed) size. Compressed files are
  counted by streaming them through the decompressor (no memory held), stopping once they cannot fit anyway; one
  that unpacks to more than an archive member may (200x its size, past 50 MB: archives.inflation_cap) is refused as
  a bomb there, whatever the memory would allow.
- parquet / feather: rows from the metadata (nothing decoded), the first 10,000 rows converted to pandas.
- jsonl: the first 2 MB of lines, as the reader reads them; json (one document): the document must be parsed whole,
  so measured factors of its size (JSON_FRAME, JSON_READ).
- xlsx: the sheets' XML size inside the zip (no cell read), times measured factors; xls: XLS_FACTOR.
- sqlite: per table, COUNT(*) and the first 5,000 rows.

What the process needs is more than the frame: reading holds the file's text while pandas parses it, and the
pipeline copies the tables afterwards (the training/test split, typed copies written as parquet). PEAK_FACTOR is
that multiple, measured (see its comment). The budget is the memory available when the folder is read, or
`--memory-limit` MB when that is lower; every table of the folder is charged against the same budget.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pandas as pd
import psutil

from mlwright.errors import DataError, DataTooLargeError

# Peak resident memory of perception (read + infer + the typed copies), over the in-memory size of the tables it
# read. Measured on a generated 62.6 MB csv (900,000 rows x 10 columns: 5 numeric, 5 strings of which 4 repeat a
# few values; frame 300 MB by memory_usage(deep=True), i.e. 4.8x the file) plus a 1.4 MB test csv, peak RSS of
# `mlwright explain` by /usr/bin/time -v, minus the 123 MB of a bare import:
#   before this module (csv handed to pandas as a StringIO): 787 MB peak, 664 MB above the import = 2.16x the frame
#     (10.4x the file: the "10.3x" for a 306 MB csv);
#   reader handing pandas bytes (readers.parse_delimited): 550 MB peak, 427 MB above the import = 1.39x the frame
#     (6.7x the file); the read itself peaks at 1.36x the frame.
#   a whole `mlwright run` of the same folder (--time-limit 120, --no-autogluon; the parent process sampled by
#     psutil every 50 ms; attempts run in their own memory-capped processes): 535 MB peak, no more than explain.
# The sample-based estimate came within 2% of the frame (306 MB estimated, 300 MB real); 2.0 leaves room for that
# margin and for wider string columns further down a file.
PEAK_FACTOR = 2.0
SAMPLE_BYTES = 2 * 1024**2
SAMPLE_ROWS = 10_000
# Formats whose reading itself peaks higher than PEAK_FACTOR x the frame (peak RSS of read_tables over the frame,
# measured on the first 200,000 rows of the csv above written in each format):
#   jsonl 4.4x (26.7 MB file, 68 MB frame, 301 MB peak: every record as Python objects, then json_normalize);
#   json 4.1x (one document parsed whole: 282 MB peak, 10.5x the file); sqlite 2.5x (178 MB peak for 70 MB);
#   xlsx (20,000 rows) 20 MB peak for 9 MB of sheet XML (2.2x the XML); parquet 1.06x; csv 1.36x.
JSONL_READ = 5.0
JSON_FRAME, JSON_READ = 2.6, 4.5  # per byte of the file (the frame), and over the frame (the read)
SQLITE_READ = 3.0
XLSX_FRAME, XLSX_READ = 1.0, 3.0  # per byte of sheet XML (the frame: measured 0.78), and over the frame
XLS_FACTOR = 4.0  # per byte of an .xls file (no XML to measure: a rule of thumb kept from before)


@dataclass
class Estimate:
    frame_bytes: float  # the table(s) in memory once read
    how: str  # in words, for the error message
    read_factor: float = 1.0  # the read's own peak over the frame (formats read through Python objects)

    @property
    def need_bytes(self) -> float:
        """What the process needs for this table: the read's peak or the pipeline's, whichever is more."""
        return self.frame_bytes * max(PEAK_FACTOR, self.read_factor)


@dataclass
class MemoryBudget:
    """What the tables of one folder may take together (bytes), and what the ones read so far were charged."""

    limit_bytes: float
    used_bytes: float = 0.0
    source: str = "available memory"

    @classmethod
    def for_reading(cls, max_memory_mb: Optional[float] = None) -> "MemoryBudget":
        avail = psutil.virtual_memory().available
        if max_memory_mb and max_memory_mb * 1024**2 < avail:
            return cls(max_memory_mb * 1024**2, source="--memory-limit")
        return cls(float(avail))

    def charge(self, path: Path, kind: str) -> Estimate:
        """Size `path` (a table file of reader kind `kind`) and charge it, or raise the DataError that says why it
        cannot be read here and what to do."""
        est = estimate(path, kind, stop_after=max(self.limit_bytes - self.used_bytes, 0.0) / PEAK_FACTOR)
        need = est.need_bytes
        if self.used_bytes + need > self.limit_bytes:
            mb = 1024**2
            before = f" (the folder's other tables already take about {self.used_bytes / mb:,.0f} MB)" \
                if self.used_bytes else ""
            raise DataTooLargeError(
                f"File is too large to load into memory: {path.stat().st_size / mb:,.1f} MB on disk, about "
                f"{est.frame_bytes / mb:,.0f} MB as a table ({est.how}) and about {need / mb:,.0f} MB while mlwright "
                f"works on it, with {self.limit_bytes / mb:,.0f} MB allowed ({self.source}){before}.",
                where=str(path),
                hint="Sample the file down (e.g. the first million rows) or drop columns you do not need; convert "
                     "text to parquet (typed columns take less memory); or run on a machine with more memory (and "
                     "raise --memory-limit if you set it).")
        self.used_bytes += need
        return est


def estimate(path: Path, kind: str, stop_after: float = float("inf")) -> Estimate:
    """The in-memory size of the table(s) in `path`, from a sample (see the module's docstring). `stop_after`:
    a budget in bytes; sizing a compressed file stops early once its table would exceed it."""
    size = path.stat().st_size
    try:
        if kind == "text":
            return _text(path, size, stop_after)
        if kind == "jsonl":
            return _jsonl(path, size)
        if kind == "json":
            return Estimate(size * JSON_FRAME, f"a json document is parsed whole: about {JSON_FRAME * JSON_READ:.0f}x "
                                               "its size while read", JSON_READ)
        if kind in ("parquet", "feather"):
            return _columnar(path, kind)
        if kind == "excel":
            return _excel(path, size)
        if kind == "sqlite":
            return _sqlite(path)
    except DataError:
        raise
    except Exception:  # noqa: BLE001 - a file the sampler cannot parse: its reader reports why; size it plainly
        pass
    return Estimate(size * 5.0, "about 5x its size on disk (no sample could be parsed)")


def _text(path: Path, size: int, stop_after: float) -> Estimate:
    from mlwright.perception.readers import COMPRESSED_SUFFIXES, decode_text, parse_delimited

    from mlwright.perception.archives import bomb_error, inflation_cap

    how = COMPRESSED_SUFFIXES.get(path.suffix.lower())
    bomb = inflation_cap(size)
    with _open_text(path, how) as f:
        head = f.read(SAMPLE_BYTES)
        total = len(head)
        per_byte = _text_per_byte(head, len(head) < SAMPLE_BYTES, decode_text, parse_delimited, str(path))
        if how is None:
            total = size
        else:  # the decompressed size: counted by streaming, no more held than one chunk
            while chunk := f.read(1 << 22):
                total += len(chunk)
                if total > bomb:  # more than an archive member may inflate (archives.py), whatever fits in memory
                    raise bomb_error(path, bomb)
                if total * per_byte > stop_after:
                    break
    frame = total * per_byte
    unpacked = f" (unpacks to {'more than ' if how and frame > stop_after else ''}{total / 1024**2:,.0f} MB)" \
        if how else ""
    return Estimate(frame, f"{per_byte:.1f} bytes in memory per byte of text, measured on its first rows{unpacked}")


def _open_text(path: Path, how: Optional[str]):
    if how is None:
        return open(path, "rb")
    import bz2
    import gzip
    import lzma

    if how == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    openers: dict[str, Callable[..., Any]] = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
    return openers[how](path, "rb")


def _text_per_byte(head: bytes, whole: bool, decode_text, parse_delimited, where: str) -> float:
    if not whole:  # whole lines only (a UTF-16 newline is 2 bytes; the decoder drops a dangling byte)
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    if not head.strip():
        return 1.0
    text, _ = decode_text(head, where)
    df = parse_delimited([text], where)
    return max(float(df.memory_usage(deep=True).sum()) / len(head), 0.5)


def _jsonl(path: Path, size: int) -> Estimate:
    from mlwright.perception.readers import _RepeatedKeys, decode_text

    with open(path, "rb") as f:
        head = f.read(SAMPLE_BYTES)
    if len(head) == SAMPLE_BYTES:
        head = head[: head.rfind(b"\n") + 1] or head
    text, _ = decode_text(head, str(path))
    import json

    records = [json.loads(ln, object_pairs_hook=_RepeatedKeys()) for ln in text.splitlines() if ln.strip()]
    df = pd.json_normalize(records) if records and all(isinstance(r, dict) for r in records) else \
        pd.DataFrame(records)
    per_byte = max(float(df.memory_usage(deep=True).sum()) / max(len(head), 1), 0.5)
    return Estimate(size * per_byte, f"{per_byte:.1f} bytes per byte of its first lines; records are held as "
                                     "Python objects while read", JSONL_READ)


def _columnar(path: Path, kind: str) -> Estimate:
    import pyarrow as pa

    from mlwright.perception.readers import MAX_COLUMNS, too_wide_error

    if kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        if pf.metadata.num_columns > MAX_COLUMNS:  # before any column is converted
            raise too_wide_error(str(path), pf.metadata.num_columns)
        rows = pf.metadata.num_rows
        batch = next(pf.iter_batches(batch_size=SAMPLE_ROWS), None)
        sample = pa.Table.from_batches([batch]) if batch is not None else None
    else:
        import pyarrow.ipc as ipc

        table = ipc.open_file(pa.memory_map(str(path))).read_all()  # memory-mapped: nothing is copied
        rows, sample = table.num_rows, table.slice(0, SAMPLE_ROWS)
    if sample is None or sample.num_rows == 0:
        return Estimate(0.0, "no rows")
    sample = sample.rename_columns([f"c{i}" for i in range(sample.num_columns)])
    per_row = float(sample.to_pandas().memory_usage(deep=True).sum()) / sample.num_rows
    return Estimate(rows * per_row, f"{rows:,} rows (from its metadata), {per_row:,.0f} bytes a row measured on "
                                    f"its first {sample.num_rows:,}")


def _excel(path: Path, size: int) -> Estimate:
    if path.suffix.lower() == ".xls" or not zipfile.is_zipfile(path):
        return Estimate(size * XLS_FACTOR, f"about {XLS_FACTOR:.0f}x its size on disk")
    with zipfile.ZipFile(path) as z:
        xml = sum(i.file_size for i in z.infolist()
                  if i.filename.startswith("xl/worksheets/") or i.filename == "xl/sharedStrings.xml")
    return Estimate(xml * XLSX_FRAME, f"{xml / 1024**2:,.0f} MB of sheet XML inside", XLSX_READ)


def _sqlite(path: Path) -> Estimate:
    import sqlite3

    total, rows_all = 0.0, 0
    with sqlite3.connect(f"file:{path.resolve()}?mode=ro&immutable=1", uri=True) as con:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view') "
                                           "AND name NOT LIKE 'sqlite_%'")]
        for n in names:
            rows = con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]
            head = pd.read_sql_query(f'SELECT * FROM "{n}" LIMIT {SAMPLE_ROWS}', con)
            if len(head):
                total += rows * float(head.memory_usage(deep=True).sum()) / len(head)
            rows_all += rows
    return Estimate(total, f"{rows_all:,} rows in {len(names)} tables, sized from their first rows", SQLITE_READ)

