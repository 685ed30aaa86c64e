"""Readers for the table formats a user drops in a folder: csv/tsv (any delimiter, encoding, with or
without a header), xlsx/xls, parquet, json/jsonl and sqlite. One file may hold several tables."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import stat
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection

from collections import Counter

import numpy as np
import pandas as pd
import psutil

from mlwright.errors import DataError, DataTooLargeError

if TYPE_CHECKING:  # sizing imports this module
    from mlwright.perception.sizing import MemoryBudget

TEXT_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".dat", ".tab", ".psv"}
SNIFFED_TEXT_SUFFIXES = {".data", ".test", ".train", ".trn", ".tst", ""}  # tables when their content is delimited
COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
# The widest table read (any format). Wider is refused before any per-column work: a header of millions of fields (a
# file that is one long line, a wrong delimiter, a matrix written sideways) otherwise ran for hours. Perception does
# some work per column (profile, inference: `mlwright explain` on 8,000 columns x 150 rows takes 20 s, linearly), so
# the cap keeps a table at the cap to about two minutes; gene-expression tables (20,000-60,000 genes) fit.
MAX_COLUMNS = 50_000


def table_name(path: Path, root: Path, sub: str | None = None) -> str:
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    return f"{rel}#{sub}" if sub else rel


def not_regular(path: Path) -> str | None:
    """What `path` is when it is not a regular file (or a link to one): a named pipe, a socket, a device, a folder.
    Such a path is never opened as data: opening a named pipe blocks until something writes to it, and a device may
    never end. None for a regular file, and for a path that cannot be looked at (opening it then says why)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    return "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else \
        "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a folder" if stat.S_ISDIR(mode) else "special"


def not_regular_reason(what: str) -> str:
    return f"not a regular file ({what}): skipped without opening it"


def not_regular_error(path: Path, what: str) -> DataError:
    return DataError(f"The path is not a regular file ({what}), so it is not opened: reading one could block or never "
                     "end.", where=str(path), hint="Put the data in regular files (copy it out of the pipe or device) "
                                                   "and run again.")


def too_wide_error(where: str, n: int, how: str = "") -> DataError:
    return DataTooLargeError(
        f"Table is too wide: {how or 'it has'} {n:,} columns, more than the {MAX_COLUMNS:,} columns mlwright reads.",
        where=where,
        hint="Drop or aggregate columns you do not need (or transpose a table written sideways); if it should have "
             "few columns, check its delimiter and line breaks (one long line?).")


def sniff_kind(path: Path) -> str | None:
    """The table format of a file, from its magic bytes first and its suffix second."""
    if (what := not_regular(path)) is not None:
        raise not_regular_error(path, what)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise DataError(f"Cannot open file: {e.strerror}", where=str(path), hint="Check the file's permissions.") from e
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "feather"
    suffix = path.suffix.lower()
    if suffix in COMPRESSED_SUFFIXES:  # data.csv.gz: the format is the inner name's (tar.gz is an archive)
        kind = _kind_by_suffix(Path(path.name[: -len(suffix)]).suffix.lower(), text_ok=False)
        return kind if kind in ("text", "json", "jsonl") else None
    if head.startswith(b"PK\x03\x04") and suffix in (".xlsx", ".xlsm"):
        return "excel"
    if head.startswith(b"\xd0\xcf\x11\xe0") and suffix == ".xls":
        return "excel"
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return "excel"  # let the reader report the corruption
    kind = _kind_by_suffix(suffix)
    if kind is None and suffix in SNIFFED_TEXT_SUFFIXES and _delimited_text(_more(path)):
        return "text"  # UCI's churn.data / churn.test: delimited rows under another suffix
    return kind


def _kind_by_suffix(suffix: str, text_ok: bool = True) -> str | None:
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".sqlite", ".sqlite3", ".db"):
        return "sqlite"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in TEXT_TABLE_SUFFIXES or not text_ok and suffix in SNIFFED_TEXT_SUFFIXES:
        return "text"
    return None


def _more(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(8192)


def _delimited_text(raw: bytes) -> bool:
    """Lines of text with the same number (>= 2) of commas, tabs, semicolons or pipes."""
    if b"\x00" in raw:
        return False
    lines = [ln for ln in raw.decode("utf-8", "replace").splitlines()[:-1] if ln.strip()][:20]
    if len(lines) < 2:
        return False
    return any(len({ln.count(d) for ln in lines}) == 1 and lines[0].count(d) >= 1 for d in ",\t;|")


def read_tables(path: Path, root: Path, max_memory_mb: float | None = None,
                budget: "MemoryBudget | None" = None) -> dict[str, pd.DataFrame]:
    """Read every table in `path`. Raises DataError with a specific reason when the file cannot be read, and
    before reading anything when it would not fit in memory (`budget`, shared by a folder's files; else the memory
    available or `max_memory_mb`, whichever is less: see sizing.py)."""
    from mlwright.perception.sizing import MemoryBudget

    kind = sniff_kind(path)
    if kind is None:
        return {}
    (budget or MemoryBudget.for_reading(max_memory_mb)).charge(path, kind)
    tables = _read_kind(path, root, kind)
    for df in tables.values():  # text and parquet are refused before reading; any other format once read
        if df.shape[1] > MAX_COLUMNS:
            raise too_wide_error(str(path), df.shape[1])
    return tables


def _read_kind(path: Path, root: Path, kind: str) -> dict[str, pd.DataFrame]:
    try:
        if kind == "text":
            return {table_name(path, root): read_delimited(path)}
        if kind == "excel":
            sheets = pd.read_excel(path, sheet_name=None)
            heads = pd.read_excel(path, sheet_name=None, header=None, nrows=30)
            raw_header = {}
            for name, head in heads.items():  # a report's title and date lines above the header row
                if (k := _title_rows(head)) and name in sheets:
                    sheets[name] = pd.read_excel(path, sheet_name=name, header=k)
                if len(head) > k:
                    raw_header[name] = list(head.iloc[k])
            sheets = {k: _excel_header(_clean_columns(v, raw_header.get(k))) for k, v in sheets.items()
                      if not v.dropna(how="all").empty}
            if len(sheets) == 1:
                return {table_name(path, root): next(iter(sheets.values()))}
            return {table_name(path, root, k): v for k, v in sheets.items()}
        if kind == "parquet":
            return {table_name(path, root): read_parquet(path)}
        if kind == "feather":
            return {table_name(path, root): _clean_columns(pd.read_feather(path))}
        if kind == "jsonl":
            return {table_name(path, root): read_jsonl(path)}
        if kind == "json":
            return {table_name(path, root): read_json_table(path)}
        if kind == "sqlite":
            return {table_name(path, root, k): v for k, v in read_sqlite(path).items()}
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - every library raises its own types; the user needs the file and reason
        raise DataError(f"Cannot read {kind} file: {type(e).__name__}: {str(e)[:300]}", where=str(path),
                        hint="Check that the file is complete and in the format its name says, "
                             "or remove it from the data folder.") from e
    return {}


def read_parquet(path: Path) -> pd.DataFrame:
    """A parquet file; one whose schema repeats a name (pyarrow writes that, pandas cannot select it) is read by
    position and its names made unique like any header's."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read()
    names = table.column_names
    if len(set(names)) == len(names):
        return _clean_columns(table.to_pandas())
    df = table.rename_columns([f"__{i}" for i in range(len(names))]).to_pandas()
    df.columns = names
    return _clean_columns(df)


def _raw_bytes(path: Path) -> bytes:
    how = COMPRESSED_SUFFIXES.get(path.suffix.lower())
    if how is None:
        return path.read_bytes()
    import bz2
    import gzip
    import lzma

    from mlwright.perception.archives import bomb_error, inflation_cap

    cap = psutil.virtual_memory().available // 4  # text inflates again when parsed
    bomb = inflation_cap(path.stat().st_size)  # a bomb stops here (sizing refuses it first, when it sizes the file)
    if how == "zstd":
        import zstandard  # optional; read_tables reports it missing like any unreadable file

        f = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    else:
        openers: dict[str, Callable[..., Any]] = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
        f = openers[how](path, "rb")
    with f:
        raw = f.read(min(cap, bomb) + 1)
    if len(raw) > bomb:
        raise bomb_error(path, bomb)
    if len(raw) > cap:
        raise DataError(f"The compressed file unpacks to more than {cap / 1024**2:.0f} MB, more than fits in "
                        "memory here.", where=str(path),
                        hint="Unpack and sample it yourself, or run on a machine with more memory.")
    return raw


_BOMS = [(b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")]


def _wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 without a byte order mark, told by where the zero bytes of mostly-ASCII text fall (such text is
    also valid UTF-8, NULs and all: decoded so, it reads as garbage)."""
    head = head[: len(head) // 4 * 4]
    if len(head) < 8 or b"\x00" not in head:
        return None
    zeros = [sum(b == 0 for b in head[i::4]) / (len(head) // 4) for i in range(4)]
    if min(zeros[1:]) > 0.6 and zeros[0] < 0.2:
        return "utf-32-le"
    if min(zeros[:3]) > 0.6 and zeros[3] < 0.2:
        return "utf-32-be"
    even, odd = (zeros[0] + zeros[2]) / 2, (zeros[1] + zeros[3]) / 2
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


_CODE_PAGES = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1257", "cp1254")  # Western first: the usual export
_TYPOGRAPHY = set("’‘“”„–—…•€£°«»·§©®™¡¿ªº")


def _oddness(text: str) -> tuple[int, int]:
    """How wrong a code page reads: (odd spots, non-ASCII characters). Odd: a symbol that is no letter right
    beside a letter ("gêœl¹": Polish bytes read as cp1252), a whole word of non-ASCII letters in a Latin script
    ("Ïðèâåò": Cyrillic bytes read as cp1252), a non-ASCII lower-case letter right before an upper-case one
    ("żQué": Spanish bytes read as cp1250)."""
    sample = text[: 1024**2]
    odd = sum(1 for m in re.finditer(r"[^\x00-\x7f]", sample)
              if not (ch := m.group()).isalpha() and ch not in _TYPOGRAPHY
              and any(0 <= i < len(sample) and sample[i].isalpha() for i in (m.start() - 1, m.start() + 1))
              and not (ch in "²³" and not sample[m.start() + 1: m.start() + 2].isalpha()))  # m², cm³
    odd += sum(1 for w in re.findall(r"[^\W\d_]{3,}", sample)
               if all(not c.isascii() for c in w) and all("LATIN" in unicodedata.name(c, "") for c in w))
    odd += sum(1 for m in re.finditer(r"[^\x00-\x7f][A-Z]", sample) if m.group()[0].islower())
    odd += sum(1 for w in re.findall(r"[^\W\d_]{2,}", sample)  # "cњur": Latin and another script in one word
               if not w.isascii() and any(c.isascii() for c in w)
               and not all("LATIN" in unicodedata.name(c, "") for c in w if not c.isascii() and c.isalpha()))
    return odd, sum(not c.isascii() for c in sample)


def _code_page(raw: bytes) -> tuple[str, str] | None:
    """The single-byte Windows code page that reads `raw` best, when it reads it well (few odd spots)."""
    reads = []
    for enc in _CODE_PAGES:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        reads.append((*_oddness(text), text, enc))
    if not reads:
        return None
    least = min(r[0] for r in reads)
    tied = [r for r in reads if r[0] == least]
    if least > 0.05 * max(tied[0][1], 1):
        return None
    if len(tied) > 1 and tied[0][3] != "cp1252":  # e.g. Greek or Cyrillic: both read cleanly; the language tells
        from charset_normalizer import from_bytes

        guess = from_bytes(raw[: 1024**2], cp_isolation=[r[3] for r in tied]).best()
        tied = [r for r in tied if guess is not None and r[3] == guess.encoding.replace("_", "")] or tied
    return tied[0][2], tied[0][3]


def decode_text(raw: bytes, where: str = "") -> tuple[str, str]:
    """Bytes of a text table as text, and the encoding used. Order: a byte order mark; UTF-16/32 told by its zero
    bytes; UTF-8; the Windows code page that reads it with no odd spots (cp1252, Western, first: a superset of
    Latin-1's printable range; then Central European, Cyrillic, Greek, Baltic, Turkish); else charset detection
    when it is confident. Otherwise a DataError: guessed wrong, every column would be silently garbled."""
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom):].decode(enc.replace("-sig", "")), enc
            except UnicodeDecodeError as e:
                raise _undecodable(where, f"it starts with a {enc} byte order mark but is not {enc} ({e.reason} "
                                          f"at byte {e.start + len(bom)})") from e
    if (wide := _wide_encoding(raw[:4096])) is not None:
        try:
            return raw[: len(raw) - len(raw) % (4 if "32" in wide else 2)].decode(wide), wide
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if (read := _code_page(raw)) is not None:
        return read
    from charset_normalizer import from_bytes

    best = from_bytes(raw[: 4 * 1024**2]).best()
    if best is not None and best.chaos < 0.2:
        try:
            return raw.decode(best.encoding), best.encoding
        except (UnicodeDecodeError, LookupError):
            pass
    raise _undecodable(where, "it is not UTF-8, UTF-16/32 or Windows-1252, and its encoding cannot be told")


def _undecodable(where: str, why: str) -> DataError:
    return DataError(f"Cannot tell the text encoding of the file: {why}.", where=where,
                     hint="Save the file as UTF-8 (e.g. in Excel: Save As > CSV UTF-8) and run again.")


def _decode(path: Path) -> str:
    """Lenient, for prose (documents, side notes): an encoding that cannot be told reads as Latin-1 (never fails)."""
    try:
        return _decode_with(path)[0]
    except DataError:
        return _raw_bytes(path).decode("latin-1")


def _decode_with(path: Path) -> tuple[str, str]:
    return decode_text(_raw_bytes(path), str(path))


def _encoding_note(df: pd.DataFrame, encoding: str) -> pd.DataFrame:
    if encoding not in ("utf-8", "utf-8-sig"):
        df.attrs["encoding"] = encoding
    return df


def _sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        pass
    # the delimiter that splits every line into the same number (>1) of fields
    best, best_n = ",", 1
    for d in [",", ";", "\t", "|"]:
        counts = {len(next(csv.reader([ln], delimiter=d))) for ln in lines}
        if len(counts) == 1 and (n := counts.pop()) > best_n:
            best, best_n = d, n
    return best


_NUMBER = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")


def _period_names(first: list[str]) -> bool:
    """Column names that are periods (2019, 2020, 2021 / 1..12) after at least one word: a wide table's header."""
    nums = [c.strip() for c in first if _NUMBER.match(c)]
    words = [c for c in first if c.strip() and not _NUMBER.match(c)]
    if len(nums) < 3 or not words or not all(re.fullmatch(r"\d{1,4}", n) for n in nums):
        return False
    steps = {int(b) - int(a) for a, b in zip(nums, nums[1:])}
    return len(steps) == 1 and steps.pop() == 1


def _looks_like_header(first: list[str], rest: list[list[str]]) -> bool:
    """A first row is a header unless it looks like the data below it (numbers where they have numbers)."""
    if not rest:
        return True
    if any(not c.strip() for c in first):  # a blank name: a header only with no number and no name twice
        numeric_like = sum(bool(_NUMBER.match(c)) for c in first)
        return numeric_like == 0 and len(set(first)) == len(first)
    # a name given twice does not make a header a data row: the content below decides, as for any header
    if _period_names(first):
        return True
    for j, cell in enumerate(first):
        col = [r[j] for r in rest if j < len(r) and r[j].strip()]
        if not col:
            continue
        col_numeric = sum(bool(_NUMBER.match(c)) for c in col) / len(col)
        if _NUMBER.match(cell):
            return False  # a number is never a column name (but see _period_names)
        if col_numeric > 0.9:
            return True  # a word above numbers
    # all-text table: a header row's values do not repeat in its column
    repeats = sum(any(r[j] == cell for r in rest if j < len(r)) for j, cell in enumerate(first))
    return repeats <= len(first) // 4


def read_delimited(path: Path, header: bool | None = None) -> pd.DataFrame:
    """`header=None`: decided from the content (see `_looks_like_header`); the decision is kept in
    `df.attrs["header"]` ("detected" / "absent" / "given") so side files can correct it."""
    text, encoding = _decode_with(path)
    box = [text]
    del text  # parse_delimited drops the text once encoded: no copy of the file outlives its use
    return _encoding_note(parse_delimited(box, str(path), header), encoding)


def parse_delimited(box: list[str], where: str, header: bool | None = None) -> pd.DataFrame:
    """The table in the text `box` holds (see `read_delimited`); taken out of the box, so the caller keeps no
    reference to it. The sizing rule parses a file's first rows with it too."""
    text = box.pop()
    if not text or text.isspace():  # (not text.strip(): a copy of the whole text)
        raise DataError("File is empty.", where=where, hint="Remove it or provide the data.")
    text = _drop_preamble(text)
    sep = _sniff_delimiter(text[:65536])
    first_end = m.start() if (m := _LINE_BREAK.search(text)) else len(text)
    _check_width(text[:first_end], sep, where)
    sample_rows = list(csv.reader(io.StringIO("\n".join(text[:65536].splitlines()[:30])), delimiter=sep))
    sample_rows = [r for r in sample_rows if r]
    decided = header is None
    if decided:
        header = _looks_like_header(sample_rows[0], sample_rows[1:]) if sample_rows else True
    body = sample_rows[1:] if header else sample_rows
    # codes with leading zeros ("007") are strings: as numbers they would no longer match the user's ids
    zero_led = {j: str for j in range(max((len(r) for r in body), default=0))
                if any(j < len(r) and re.fullmatch(r"\s*0\d+\s*", r[j]) for r in body)}
    dotted = _thousands_dots(body) if sep != "," else set()  # "343.649" is 343649 here, not 343.649
    as_text = {**zero_led, **{j: str for j in dotted}}
    names = _header_names(text[:first_end], sep) if header else None  # None: a quoted name spans lines
    if names is not None and not _NON_SPACE.search(text, first_end):
        df = pd.DataFrame(np.empty((0, len(names)), dtype=object), columns=names)  # a header alone: pandas takes
        del text  # quadratic time over one with no rows (20,000 names: 7 s)
    else:
        # pandas gets UTF-8 bytes, not a StringIO: a StringIO holds the text as 4 bytes a character, and that copy
        # was most of the peak (a 62 MB csv: 650 MB above the start through StringIO, 400 MB through bytes; see
        # sizing.py)
        data = text.encode("utf-8")
        del text
        # a name given many times: pandas' own renaming (x.1, x.2) takes quadratic time (20,000 repeats: 5 s), so
        # it skips the header line and gets placeholders; the names go back on the frame, made unique below
        repeated = names is not None and len(set(names)) < len(names)
        df = pd.read_csv(io.BytesIO(data), encoding="utf-8", sep=sep, header=0 if header and not repeated else None,
                         names=[f"__{j}" for j in range(len(names))] if repeated else None,
                         skiprows=1 if repeated else None, low_memory=False, skipinitialspace=True,
                         on_bad_lines="error", converters=as_text or None)
        del data
        if repeated:
            df.columns = names[: df.shape[1]] + list(df.columns[len(names):])
    if not header:
        df.columns = [f"col_{i}" for i in range(df.shape[1])]
    df = _clean_columns(df, sample_rows[0] if header and sample_rows else None)
    if sep != ",":
        df = _decimal_commas(df, {df.columns[j] for j in dotted if j < df.shape[1]})
    df.attrs["header"] = "given" if not decided else "detected" if header else "absent"
    return df


_LINE_BREAK = re.compile(r"[\r\n]")
_NON_SPACE = re.compile(r"\S")


def _check_width(first_line: str, sep: str, where: str) -> None:
    """Refuse a table wider than MAX_COLUMNS from its first line alone (its fields: a header, or a first row)."""
    if first_line.count(sep) < MAX_COLUMNS:  # an upper bound (a quoted delimiter counts too): nothing to parse
        return
    try:
        n = len(next(csv.reader([first_line], delimiter=sep), []))
    except csv.Error:  # a quoted field the line does not close
        n = first_line.count(sep) + 1
    if n > MAX_COLUMNS:
        raise too_wide_error(where, n, "its first line holds at least")


def _header_names(line: str, sep: str) -> list[str] | None:
    """The names of a header line, as pandas reads them (a blank one is `Unnamed: i`), or None when a quoted name
    goes on past the line (an odd number of quotes): then pandas reads the header itself."""
    if line.count('"') % 2:
        return None
    names = next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    return [n if n else f"Unnamed: {i}" for i, n in enumerate(names)]


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?\s*$")


_THOUSANDS = re.compile(r"\s*[-+]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?\s*")
_EURO_NUMBER = re.compile(r"\s*[-+]?([1-9]\d{0,2}(\.\d{3})+|\d+)(,\d+)?\s*")


def _thousands_dots(rows: list[list[str]]) -> set[int]:
    """Columns whose numbers group thousands with dots ("1.234.567", "343.649"): every value is such a number or
    a plain integer (a decimal comma allowed), some have dot groups, and the file writes decimals with commas
    elsewhere or a value has two dot groups (so "1.234" is not one and a quarter)."""
    cells = [x for r in rows for x in r]
    comma_decimals = any(re.fullmatch(r"\s*[-+]?\d+,\d+\s*", x) for x in cells)
    out = set()
    for j in range(max((len(r) for r in rows), default=0)):
        vals = [r[j] for r in rows if j < len(r) and r[j].strip()]
        if not vals or not all(_EURO_NUMBER.fullmatch(v) for v in vals):
            continue
        grouped = [v for v in vals if _THOUSANDS.fullmatch(v)]
        if grouped and (comma_decimals or any(v.count(".") >= 2 for v in grouped)):
            out.add(j)
    return out


def _decimal_commas(df: pd.DataFrame, dotted: Collection = frozenset()) -> pd.DataFrame:
    """Numbers written the European way ("1.234,5") in a file whose delimiter is not the comma; `dotted` columns
    group thousands with dots even where no value has a decimal comma."""
    for c in df.columns:
        s = df[c]
        if s.dtype != object:
            continue
        v = s.dropna().astype(str)
        if v.empty or not (c in dotted or v.str.contains(",", regex=False).any()) \
                or not v.str.match(_DECIMAL_COMMA).mean() > 0.95:
            continue
        as_num = pd.to_numeric(s.astype(str).str.strip().str.replace(".", "", regex=False)
                               .str.replace(",", ".", regex=False), errors="coerce")
        if as_num.notna().sum() >= 0.95 * s.notna().sum():
            df[c] = as_num.where(s.notna())
    return df


def _drop_preamble(text: str) -> str:
    """Title or comment lines above the table (fewer fields than the table's rows) are not data. Judged on the whole
    lines of the text's first 4 MB (splitting all of a big file's text was seconds and gigabytes)."""
    head = text[: 4 * 1024**2]
    if len(head) < len(text):
        head = head[: max(head.rfind("\n"), head.rfind("\r")) + 1]
    lines = head.splitlines(keepends=True)[:40]
    if len(lines) < 4:
        return text
    counts = []
    for ln in lines:
        best = max((len(next(csv.reader([ln], delimiter=d), [])) for d in ",;\t|"), default=0) if ln.strip() else 0
        counts.append(best)
    body = counts[min(5, len(counts) - 1):]
    width = max(set(body), key=body.count)
    if width < 2:
        return text
    k = 0
    while k < min(5, len(counts)) and counts[k] < width and (counts[k] <= 1 or lines[k].lstrip().startswith("#")):
        k += 1
    if k == 0:
        return text
    return text[sum(map(len, lines[:k])):]


def _title_rows(head: pd.DataFrame) -> int:
    """How many rows above a sheet's table are titles or blank (at most one filled cell, where the table has 3+)."""
    filled = head.notna().sum(axis=1).to_numpy()
    if len(filled) < 2 or filled.max() < 3:
        return 0
    k = 0
    while k < min(10, len(filled) - 1) and filled[k] <= 1:
        k += 1
    return k if k and filled[k] >= 0.5 * filled.max() else 0


def _excel_header(df: pd.DataFrame) -> pd.DataFrame:
    """A sheet's first row is its header only when it looks like one (the same rule as for text files)."""
    first = [str(c) for c in df.columns]
    rest = [["" if pd.isna(v) else str(v) for v in row] for row in df.head(30).itertuples(index=False)]
    if any(c.startswith("Unnamed: ") for c in first) or _looks_like_header(first, rest):
        df.attrs["header"] = "detected"
        return df
    row = pd.DataFrame([list(df.columns)], columns=range(df.shape[1]))
    body = df.set_axis(range(df.shape[1]), axis=1)
    out = pd.concat([row, body], ignore_index=True).infer_objects()
    for c in out.columns:  # the header cell was read as text: numbers become numbers again
        as_num = pd.to_numeric(out[c], errors="coerce")
        if as_num.notna().sum() == out[c].notna().sum():
            out[c] = as_num
    out.columns = [f"col_{i}" for i in range(out.shape[1])]
    out.attrs["header"] = "absent"
    return out


class _RepeatedKeys:
    """`object_pairs_hook` that keeps a key an object repeats ({"x": 1, "x": 2}) as `x`, `x_1` instead of
    silently keeping the last value only; what it renamed ends up in the table's duplicate_columns."""

    def __init__(self):
        self.groups: dict[str, list[str]] = {}

    def __call__(self, pairs):
        out: dict = {}
        for k, v in pairs:
            if k in out:
                n = 1
                while f"{k}_{n}" in out:
                    n += 1
                group = self.groups.setdefault(k, [k])
                if f"{k}_{n}" not in group:
                    group.append(f"{k}_{n}")
                k = f"{k}_{n}"
            out[k] = v
        return out

    def mark(self, df: pd.DataFrame) -> pd.DataFrame:
        present = set(df.columns)
        groups = {k: [c for c in g if c in present] for k, g in self.groups.items()}
        groups = {k: g for k, g in groups.items() if len(g) > 1}
        if groups:
            df.attrs["duplicate_columns"] = {**df.attrs.get("duplicate_columns", {}), **groups}
        return df


def read_jsonl(path: Path) -> pd.DataFrame:
    """One JSON object per line; nested objects become dotted columns (as json_normalize names them)."""
    keys = _RepeatedKeys()
    records = [json.loads(ln, object_pairs_hook=keys) for ln in _decode_with(path)[0].splitlines() if ln.strip()]
    if records and all(isinstance(r, dict) for r in records):
        return keys.mark(_clean_columns(pd.json_normalize(records)))
    return keys.mark(_clean_columns(pd.DataFrame(records)))


def read_json_table(path: Path) -> pd.DataFrame:
    text = _decode_with(path)[0]
    keys = _RepeatedKeys()
    try:
        obj = json.loads(text, object_pairs_hook=keys)
    except json.JSONDecodeError:
        return read_jsonl(path)  # a .json that is jsonl
    framed = _pandas_layout(obj)
    if framed is not None:
        return keys.mark(_clean_columns(framed))
    if isinstance(obj, dict):
        lists = [v for v in obj.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if len(lists) == 1:
            obj = lists[0]
        elif all(isinstance(v, list) for v in obj.values()):
            return keys.mark(_clean_columns(pd.DataFrame(obj)))
        else:
            obj = [obj]
    if not isinstance(obj, list) or not obj:
        raise DataError("JSON file holds no table (expected a list of records).", where=str(path))
    return keys.mark(_clean_columns(pd.json_normalize(obj)))


def _pandas_layout(obj) -> pd.DataFrame | None:
    """The other layouts `DataFrame.to_json` writes: split ({columns, data}), columns ({col: {row: v}}, its
    default), index ({row: {col: v}}) and values ([[...], ...], no names); rows keep the file's order."""
    if isinstance(obj, dict) and isinstance(obj.get("columns"), list) and isinstance(obj.get("data"), list) \
            and all(isinstance(r, list) for r in obj["data"][:50]):
        return pd.DataFrame(obj["data"], columns=obj["columns"])
    if isinstance(obj, dict) and len(obj) >= 2 and all(isinstance(v, dict) for v in obj.values()):
        inner = list(next(iter(obj.values())))
        if inner and all(list(v) == inner for v in list(obj.values())[:200]):
            numbered = lambda keys: all(re.fullmatch(r"-?\d+", str(k)) for k in keys)  # noqa: E731
            if numbered(list(obj)[:200]) and not numbered(inner):  # index layout: one object per row
                return pd.DataFrame([list(v.values()) for v in obj.values()], columns=inner)
            return pd.DataFrame({c: list(v.values()) for c, v in obj.items()})  # columns layout
    if isinstance(obj, list) and obj and all(isinstance(r, list) for r in obj[:200]):
        df = pd.DataFrame(obj)
        df.columns = [f"col_{i}" for i in range(df.shape[1])]
        df.attrs["header"] = "absent"
        return df
    return None


def read_sqlite(path: Path) -> dict[str, pd.DataFrame]:
    uri = f"file:{path.resolve()}?mode=ro&immutable=1"
    with sqlite3.connect(uri, uri=True) as con:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view') "
                                           "AND name NOT LIKE 'sqlite_%'")]
        return {n: _clean_columns(pd.read_sql_query(f'SELECT * FROM "{n}"', con)) for n in names}


def _clean_columns(df: pd.DataFrame, raw_names: list | None = None) -> pd.DataFrame:
    """Column names as text, stripped, unique. A name the header holds twice or more is renamed deterministically,
    left to right (`x`, `x_1`, `x_2`, never a name the table already has), and the renaming is kept in
    `df.attrs["duplicate_columns"]` ({name: [the names given]}) for the read notes and for the target/id checks.
    `raw_names`: the header as the file writes it, where the reader had already made the names unique its own way
    (pandas' `x.1`)."""
    names = list(df.columns)
    if raw_names is not None and len(raw_names) == len(names):
        names = [_unmangled(c, r) for c, r in zip(names, raw_names)]
    base = [str(c).strip().lstrip("\ufeff") or f"col_{i}" for i, c in enumerate(names)]
    taken, cols = set(base), []
    groups: dict[str, list[str]] = {}
    counts = Counter(base)
    used: set[str] = set()
    last_k: dict[str, int] = {}  # the suffix a repeated name got last: the ones below it stay taken (linear time)
    for name in base:
        if counts[name] > 1:
            k = last_k.get(name, 0)
            new = f"{name}_{k}" if k else name
            while new in used or (new != name and new in taken):
                k += 1
                new = f"{name}_{k}"
            last_k[name] = k
            groups.setdefault(name, []).append(new)
            name = new
        used.add(name)
        cols.append(name)
    df.columns = cols
    if groups:
        df.attrs["duplicate_columns"] = groups
    return df


def _unmangled(name, raw) -> object:
    """The header cell `raw` where a reader renamed a repeated name its own way (pandas: `x` -> `x.1`)."""
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return name
    r = str(raw).strip()
    if r and isinstance(name, str) and name != r and re.fullmatch(re.escape(r) + r"\.\d+", name.strip()):
        return r
    return name


def duplicate_note(table: str, df: pd.DataFrame) -> list[str]:
    """The read notes for a table: a header that repeats names, a text encoding other than UTF-8."""
    notes = [f"{table}: the header names {name!r} {len(given)} times; the columns are renamed "
             f"{', '.join(map(repr, given))} (left to right)"
             for name, given in df.attrs.get("duplicate_columns", {}).items()]
    if enc := df.attrs.get("encoding"):
        notes.append(f"{table}: not UTF-8; read as {enc}")
    return notes
