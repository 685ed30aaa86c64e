"""The one date parser of mlwright: dates in the forms people write them.

A column's format is decided once, from a sample of its distinct values (`detect_date_format`), then the whole
column is parsed with that explicit format (`parse_dates`: each distinct string is parsed once, so long tables
stay fast) and forecasts are written back in the user's own form (`format_dates`). Recognised: ISO dates and
datetimes, day-first and month-first dates (decided from the values), month names (`2019 Jan`, `Jan-19`,
`3 March 2019`), months (`2019-01`, `01/2019`, `2019M01`), quarters (`2019Q1`, `Q1 2019`), ISO weeks
(`2019-W07`), and, when the column's name says it is a date or the caller says it is the time axis, numbers:
years (2014), yyyymm(dd) integers and Excel serial days. Plain numbers are never dates on their own."""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Literal, Optional

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from mlwright.schemas import DateFormat

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
               "november", "december"]
SAMPLE_SIZE = 200
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # Excel's day 0 (it counts 1900 as a leap year; this absorbs that)
EXCEL_RANGE = (20000, 80000)  # serials of 1954..2119: plausible dates, unlike most counts and amounts

# words in a column name that say its numbers may be dates
_DATE_TOKENS = {"date", "time", "timestamp", "datetime", "day", "week", "month", "quarter", "year", "period", "yr",
                "qtr", "mth", "dt", "ds", "ts", "yyyymm", "yyyymmdd", "ym", "ymd", "when", "asof"}
# ...unless another word makes it an amount of time or a count (time_spent, days_since, n_years)
_NOT_DATE_TOKENS = {"spent", "duration", "since", "elapsed", "length", "seconds", "minutes", "hours", "days",
                    "weeks", "months", "years", "count", "num", "n", "number", "age", "delta", "diff", "lag", "runtime"}

_TOKEN = re.compile(r"%-?[A-Za-z%]|[^%]+")
_TOKEN_RX = {
    "%Y": r"(?P<Y>\d{4})", "%y": r"(?P<y>\d{2})", "%G": r"(?P<G>\d{4})",
    "%m": r"(?P<m>0?[1-9]|1[0-2])", "%d": r"(?P<d>0?[1-9]|[12]\d|3[01])",
    "%b": r"(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)\.?",
    "%B": r"(?P<B>" + "|".join(MONTH_NAMES) + ")",
    "%q": r"(?P<q>[1-4])", "%V": r"(?P<V>0?[1-9]|[1-4]\d|5[0-3])",
}
# compact numbers (20190105, 201901) need fixed widths to split unambiguously
_STRICT_RX = {"%m": r"(?P<m>0[1-9]|1[0-2])", "%d": r"(?P<d>0[1-9]|[12]\d|3[01])"}
# any date may carry a time of day
_TIME_RX = (r"(?:(?:\s+|T)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
            r"\s*(?P<p>[ap]\.?m\.?)?)?")
_ISO_RX = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?")


def _dmy(sep: str) -> list[str]:
    return [f"%d{sep}%m{sep}%Y", f"%m{sep}%d{sep}%Y", f"%d{sep}%m{sep}%y", f"%m{sep}%d{sep}%y"]


# (date layout, numeric) in order of preference when two layouts read the values equally well
_LAYOUTS: list[tuple[str, bool]] = [(p, False) for p in [
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", *_dmy("/"), *_dmy("-"), *_dmy("."),
    "%d %b %Y", "%d-%b-%Y", "%d-%b-%y", "%d/%b/%Y", "%d %B %Y", "%b %d %Y", "%b %d, %Y", "%B %d %Y", "%B %d, %Y",
    "%Y-%m", "%Y/%m", "%m/%Y", "%m-%Y", "%m.%Y", "%YM%m", "%Y %b", "%Y-%b", "%b %Y", "%b-%Y", "%b-%y", "%b %y",
    "%b'%y", "%Y %B", "%B %Y", "%B-%Y",
    "%YQ%q", "%Y-Q%q", "%Y Q%q", "%Y/Q%q", "Q%q %Y", "Q%q-%Y", "Q%q/%Y", "%G-W%V", "%GW%V", "%G W%V"]] + [
    ("%Y%m%d", True), ("%Y%m", True), ("%Y", True)]


# DateFormat (how a column writes its dates) lives in schemas: reading a run.json needs no pandas
# ---- reading --------------------------------------------------------------------------------------------------

def is_date_name(name: Optional[str]) -> bool:
    """Whether a column name says its values are dates or periods (so numbers in it may be dates)."""
    if not name:
        return False
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower())
    if any(w in _NOT_DATE_TOKENS for w in words):
        return False
    return any(w in _DATE_TOKENS or "date" in w or w.endswith("time") for w in words)


def _texts(values: pd.Series) -> pd.Series:
    """Values as stripped strings; integral floats lose their '.0' (2014.0 is the year 2014)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        v = pd.to_numeric(values, errors="coerce").astype(float)
        whole = np.isfinite(v) & (np.mod(v, 1) == 0)
        out = v.astype(str)
        out[whole] = v[whole].astype(np.int64).astype(str)
        return out
    s = pd.Series(values, dtype=object)
    if pd.api.types.infer_dtype(s, skipna=True) == "string":  # text as read from a file: no float artefacts
        return s.str.strip()
    return s.astype(str).str.strip().str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


@lru_cache(maxsize=None)
def _regex(layout: str, strict: bool) -> re.Pattern:
    parts = []
    for tok in _TOKEN.findall(layout):
        tok = tok.replace("-", "") if tok.startswith("%-") else tok
        if tok in _TOKEN_RX:
            parts.append(_STRICT_RX.get(tok, _TOKEN_RX[tok]) if strict else _TOKEN_RX[tok])
        elif tok.startswith("%"):
            raise ValueError(f"unsupported date token {tok}")
        else:  # literals; a space stands for any run of spaces
            parts.append(r"\s+".join(re.escape(x) for x in tok.split(" ")))
    return re.compile(r"\A" + "".join(parts) + ("" if strict else _TIME_RX) + r"\Z", re.I)


def _date_part(pattern: str) -> str:
    """The date layout of a pattern: what comes before its time of day."""
    m = re.search(r"[ T]?%-?[HI]", pattern)
    return pattern[:m.start()] if m else pattern


def _num(col: Optional[pd.Series], n: int) -> np.ndarray:
    """A regex group as floats (NaN where absent); numpy converts the digit strings in C."""
    if col is None:
        return np.full(n, np.nan)
    return col.to_numpy(dtype=object, na_value=np.nan).astype(float)


def _month_number(col: pd.Series, names: list[str], width: Optional[int]) -> np.ndarray:
    lookup = {m: float(i + 1) for i, m in enumerate(names)}
    return col.str.lower().str[:width].map(lookup).to_numpy(dtype=float, na_value=np.nan)


def _calendar(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """datetime64[ns] days from year, month, day (NaT where missing or no such day: 30 February)."""
    out = np.full(len(year), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(year) & np.isfinite(month) & np.isfinite(day) & (year > 1677) & (year < 2262) \
        & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    y, m, d = year[ok].astype(np.int64), month[ok].astype(np.int64), day[ok].astype(np.int64)
    first = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (m - 1)
    days = first.astype("datetime64[D]") + (d - 1)
    real = days.astype("datetime64[M]") == first  # day 31 of a 30-day month spills over: not a date
    idx = np.flatnonzero(ok)
    out[idx[real]] = days[real].astype("datetime64[ns]")
    return out


def _from_parts(g: pd.DataFrame) -> pd.DatetimeIndex:
    """Timestamps from the named groups of a layout's regex (NaT where a value did not match or is no date)."""
    n = len(g)
    col = g.get
    year = _num(col("Y"), n)
    if col("y") is not None:
        yy = _num(col("y"), n)
        year = np.where(yy < 69, 2000 + yy, 1900 + yy)  # Python's two-digit year rule
    month = _num(col("m"), n) if col("m") is not None else np.ones(n)  # a year alone is its 1 January
    if col("b") is not None:
        month = _month_number(g["b"], MONTHS, 3)
    if col("B") is not None:
        month = _month_number(g["B"], MONTH_NAMES, None)
    if col("q") is not None:
        month = 3 * _num(col("q"), n) - 2
    day = _num(col("d"), n) if col("d") is not None else np.ones(n)
    if col("G") is not None:  # ISO week: the Monday of week V of ISO year G
        jan4 = pd.DatetimeIndex(_calendar(_num(col("G"), n), np.ones(n), np.full(n, 4.0)))
        week = _num(col("V"), n)
        t = jan4 - pd.to_timedelta(jan4.dayofweek, unit="D") + pd.to_timedelta(7 * (week - 1), unit="D")
        return t.where(t.isocalendar()["week"].to_numpy(dtype=float) == week)  # no week 53 in a 52-week year
    t = _calendar(year, month, day)
    if col("H") is not None and g["H"].notna().any():
        hour, minute, sec = (np.nan_to_num(_num(col(k), n)) for k in ("H", "M", "S"))
        if col("p") is not None:
            p = g["p"].fillna("").str[:1].str.lower().to_numpy()
            hour = np.where((p == "p") & (hour < 12), hour + 12, np.where((p == "a") & (hour == 12), 0, hour))
        frac = np.zeros(n)
        if col("f") is not None:
            frac = g["f"].fillna("0").str.ljust(9, "0").str[:9].to_numpy(dtype=object).astype(float)
        ns = ((hour * 60 + minute) * 60 + sec) * 1e9 + frac
        t = np.where((hour > 23) | (minute > 59) | (sec > 59), np.datetime64("NaT"), t + ns.astype("timedelta64[ns]"))
    return pd.DatetimeIndex(t)


def _parse_texts(texts: pd.Series, fmt: DateFormat) -> pd.DatetimeIndex:
    """Parse distinct strings with one format."""
    if fmt.kind == "iso":
        tz = bool(texts.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).any())
        t = pd.to_datetime(texts, format="ISO8601", errors="coerce", utc=tz)
        return pd.DatetimeIndex(t.dt.tz_convert(None) if tz else t)
    if fmt.kind == "excel":
        v = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=float)
        v = np.where((v >= 1) & (v < 2958466), v, np.nan)
        return pd.DatetimeIndex(EXCEL_EPOCH + pd.to_timedelta(v, unit="D"))
    out = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[ns]")
    rest = np.ones(len(texts), dtype=bool)
    fast = _fixed_width(texts, fmt.pattern)
    if fast is not None:  # zero-padded numeric fields: sliced by position, no regex per value
        rows, parts = fast
        out[rows] = _from_parts(parts).to_numpy()
        rest[rows] = False
    if rest.any():
        out[rest] = _from_parts(texts[rest].str.extract(_regex(_date_part(fmt.pattern), fmt.numeric))).to_numpy()
    return pd.DatetimeIndex(out)


_WIDTH = {"%Y": 4, "%G": 4, "%y": 2, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2, "%V": 2, "%q": 1}


def _fixed_width(texts: pd.Series, pattern: str) -> Optional[tuple[np.ndarray, pd.DataFrame]]:
    """(rows, fields) of the values written exactly as the pattern with zero-padded numbers, read by position from
    the strings' code points; None when the pattern has variable-width fields."""
    toks = _TOKEN.findall(pattern)
    if any(t.startswith("%") and t not in _WIDTH for t in toks):
        return None
    width = sum(_WIDTH.get(t, len(t)) for t in toks)
    rows = (texts.str.len() == width).to_numpy()
    if not rows.any():
        return None
    codes = np.asarray(texts[rows].to_numpy(), dtype=f"<U{width}").view(np.uint32).reshape(-1, width)
    codes = codes.astype(np.int64)
    ok, parts, pos = np.ones(len(codes), dtype=bool), {}, 0
    for t in toks:
        w = _WIDTH.get(t, len(t))
        block = codes[:, pos:pos + w]
        if t in _WIDTH:
            digits = block - ord("0")
            ok &= ((digits >= 0) & (digits <= 9)).all(axis=1)
            parts[t[1]] = (digits * 10 ** np.arange(w - 1, -1, -1)).sum(axis=1).astype(float)
        else:
            ok &= (block == np.array([ord(c) for c in t])).all(axis=1)
        pos += w
    idx = np.flatnonzero(rows)[ok]
    keep = np.zeros(len(texts), dtype=bool)
    keep[idx] = True
    return keep, pd.DataFrame({k: v[ok] for k, v in parts.items()})


def parse_dates(values, fmt: Optional[DateFormat]) -> pd.Series:
    """The values as datetime64 (tz-naive; NaT where unparseable), index kept. Each distinct value is parsed once."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.tz_convert(None) if getattr(s.dt, "tz", None) is not None else s
    if fmt is None or len(s) == 0:
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    parsed = _parse_texts(_texts(pd.Series(uniques)).reset_index(drop=True), fmt).as_unit("ns")
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = codes >= 0
    out[ok] = parsed.to_numpy()[codes[ok]]
    return pd.Series(out, index=s.index, name=s.name)


def _sample(values) -> tuple[pd.Series, bool]:
    """Up to SAMPLE_SIZE distinct non-empty values as strings, and whether the column holds numbers."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    s = s.dropna()
    uniq = pd.Series(pd.unique(s))
    if len(uniq) > SAMPLE_SIZE:
        uniq = uniq.sample(SAMPLE_SIZE, random_state=0)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    texts = _texts(uniq.infer_objects() if numeric else uniq).reset_index(drop=True)
    return texts[texts != ""].reset_index(drop=True), numeric


def _steps_regularity(t: pd.DatetimeIndex) -> tuple[int, float]:
    """(-number of distinct steps, share of the commonest step) between sorted distinct dates: a reading that
    puts the dates on a regular calendar grid scores higher."""
    t = t.dropna().unique().sort_values()
    if len(t) < 3:
        return 0, 0.0
    same_day = (t.day[1:] == t.day[:-1]) & (t.time[1:] == t.time[:-1])
    months = np.diff(t.year * 12 + t.month)
    secs = np.diff(t.asi8) // 10**9
    steps = Counter(("M", int(m)) if sd else ("s", int(d)) for sd, m, d in zip(same_day, months, secs))
    return -len(steps), max(steps.values()) / len(t[1:])


def _writing_pattern(layout: str, groups: pd.DataFrame) -> str:
    """The layout as the user writes it: unpadded fields when any value has them, and the time of day it shows."""
    out = layout
    for tok in ("m", "d"):
        if tok in groups and groups[tok].dropna().str.len().eq(1).any():
            out = out.replace(f"%{tok}", f"%-{tok}")
    if "H" in groups and groups["H"].notna().any():
        h12 = "p" in groups and groups["p"].notna().any()
        hour = "%I" if h12 else "%-H" if groups["H"].dropna().str.len().eq(1).any() else "%H"
        out += " " + hour + ":%M" + (":%S" if groups["S"].notna().any() else "") + (" %p" if h12 else "")
    return out


def _month_case(groups: pd.DataFrame) -> Literal["title", "upper", "lower"]:
    cols = [groups[k].dropna() for k in ("b", "B") if k in groups]
    names = pd.concat(cols) if cols else pd.Series(dtype=object)
    if len(names) and names.str.isupper().all():
        return "upper"
    if len(names) and names.str.islower().all():
        return "lower"
    return "title"


def _iso_candidate(texts: pd.Series) -> Optional[tuple[float, DateFormat, pd.DatetimeIndex]]:
    if texts.map(lambda v: bool(_ISO_RX.fullmatch(v))).mean() < 0.5:
        return None
    fmt = DateFormat(kind="iso")
    t = _parse_texts(texts, fmt)
    timed = texts[texts.str.len() > 10]
    if len(timed):
        sep = "T" if timed.str[10].eq("T").any() else " "
        secs = timed.str.match(r".{10}.\d{2}:\d{2}:\d{2}").any()
        fmt.pattern = f"%Y-%m-%d{sep}%H:%M" + (":%S" if secs else "")
    return float(t.notna().mean()), fmt, t


def detect_date_format(values, name: Optional[str] = None, time_axis: bool = False,
                       min_fraction: float = 0.95) -> Optional[DateFormat]:
    """The format that reads at least `min_fraction` of the column's distinct values (a sample of them), or None.
    Numbers count only when `name` says dates or the caller says the column is the time axis. When two formats
    read the values equally well (03/04/2019), the one putting the dates on the most regular grid wins."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(s):
        t = parse_dates(s.dropna(), None)
        timed = bool(len(t)) and bool((t != t.dt.normalize()).any())
        return DateFormat(kind="iso", pattern="%Y-%m-%d %H:%M:%S" if timed else "%Y-%m-%d", note="native datetimes")
    numbers_ok = time_axis or is_date_name(name)
    if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s) and not numbers_ok):
        return None
    texts, numeric = _sample(s)
    if texts.empty or texts.str.len().median() > 40 or texts.str.contains(r"\d").mean() < min_fraction:
        return None
    digits_only = texts.str.fullmatch(r"\d+(?:\.\d+)?").mean() >= min_fraction
    if (numeric or digits_only) and not numbers_ok:
        return None  # plain numbers are usually not dates
    found: list[tuple[float, tuple, int, DateFormat, pd.DatetimeIndex]] = []
    iso = _iso_candidate(texts)
    if iso is not None and iso[0] >= min_fraction:
        found.append((iso[0], (0, 0.0), 0, iso[1], iso[2]))
    head = texts.head(20).tolist()
    for rank, (layout, strict) in enumerate(_LAYOUTS, start=1):
        if strict and not numbers_ok:
            continue
        rx = _regex(layout, strict)
        if sum(bool(rx.match(v)) for v in head) < 0.5 * len(head):  # cheap pre-filter on a few values
            continue
        groups = texts.str.extract(rx)
        t = _from_parts(groups)
        if strict:  # compact numbers: only plausible years
            t = t.where((t.year >= 1800) & (t.year <= 2200))
        rate = float(t.notna().mean())
        if rate >= min_fraction:
            fmt = DateFormat(kind="pattern", pattern=_writing_pattern(layout, groups), numeric=strict,
                             month_case=_month_case(groups))
            found.append((rate, (0, 0.0), rank, fmt, t))
    if numbers_ok:
        v = pd.to_numeric(texts, errors="coerce")
        rate = float(((v >= EXCEL_RANGE[0]) & (v <= EXCEL_RANGE[1])).mean())
        if rate >= min_fraction:
            fmt = DateFormat(kind="excel", pattern="%s", numeric=True)
            found.append((rate, (0, 0.0), len(_LAYOUTS) + 1, fmt, _parse_texts(texts, fmt)))
    if not found:
        return None
    best_rate = max(f[0] for f in found)
    tied = [f for f in found if f[0] >= best_rate - 1e-9]
    tied.sort(key=lambda f: f[2])
    tied = list({tuple(f[4].asi8): f for f in reversed(tied)}.values())  # one per reading, the preferred layout
    if len(tied) > 1:  # the same values read as different dates: prefer the regular grid
        tied = [(r, _steps_regularity(t), k, fmt, t) for r, _, k, fmt, t in tied]
        tied.sort(key=lambda f: (f[1], -f[2]), reverse=True)
        best = tied[0]
        if best[1] == tied[1][1]:
            best[3].note = f"ambiguous: read as {best[3].pattern} (the values fit {tied[1][3].pattern} as well)"
        else:
            best[3].note = f"read as {best[3].pattern}: the most regular steps (not {tied[1][3].pattern})"
        return best[3]
    return tied[0][3]


def to_timestamps(values, name: Optional[str] = None, time_axis: bool = False) -> pd.Series:
    """Detect the values' format and parse them (all NaT when they are not dates)."""
    return parse_dates(values, detect_date_format(values, name, time_axis))


def looks_like_dates(series: pd.Series, name: Optional[str] = None) -> bool:
    """Cheap check for column profiling: >= 95% of a sample of distinct values are dates in one format, and the
    column is not plain numbers unless its name says dates."""
    return detect_date_format(series, name) is not None


# ---- writing --------------------------------------------------------------------------------------------------

def _field(t: pd.DatetimeIndex, tok: str, fmt: DateFormat) -> np.ndarray:
    def pad(v, width):
        return pd.Index(v).astype(str).str.zfill(width).to_numpy()

    def plain(v):
        return pd.Index(v).astype(str).to_numpy()

    if tok in ("%b", "%B"):
        names = [m.title() for m in (MONTHS if tok == "%b" else MONTH_NAMES)]
        names = [getattr(m, fmt.month_case)() for m in names]
        return np.asarray(names, dtype=object)[t.month - 1]
    iso = t.isocalendar() if tok in ("%G", "%V") else None
    table = {
        "%Y": lambda: pad(t.year, 4), "%y": lambda: pad(t.year % 100, 2), "%m": lambda: pad(t.month, 2),
        "%-m": lambda: plain(t.month), "%d": lambda: pad(t.day, 2), "%-d": lambda: plain(t.day),
        "%H": lambda: pad(t.hour, 2), "%-H": lambda: plain(t.hour), "%I": lambda: plain((t.hour + 11) % 12 + 1),
        "%M": lambda: pad(t.minute, 2), "%S": lambda: pad(t.second, 2), "%p": lambda: np.where(t.hour < 12, "AM", "PM"),
        "%q": lambda: plain((t.month - 1) // 3 + 1), "%G": lambda: pad(iso["year"].to_numpy(), 4),
        "%V": lambda: pad(iso["week"].to_numpy(), 2), "%%": lambda: np.full(len(t), "%", dtype=object),
    }
    if tok not in table:
        raise ValueError(f"unsupported date token {tok}")
    return np.asarray(table[tok](), dtype=object)


def format_dates(timestamps, fmt: DateFormat) -> list[Optional[str]]:
    """Timestamps written in the user's format (None for NaT): 2020 Jan, 2020Q1, 2020-W07, 03/04/2020, 43831."""
    t = pd.DatetimeIndex(pd.to_datetime(pd.Series(timestamps).reset_index(drop=True)))
    ok = ~t.isna()
    out: list[Optional[str]] = [None] * len(t)
    if not ok.any():
        return out
    codes, tv = pd.factorize(t[ok])  # each distinct timestamp is written once
    tv = pd.DatetimeIndex(tv)
    if fmt.kind == "excel":
        days = (tv - EXCEL_EPOCH) / pd.Timedelta(days=1)
        text = [str(int(d)) if float(d).is_integer() else repr(float(d)) for d in days]
    elif fmt.kind == "iso":
        text = list(tv.strftime(fmt.pattern))
    else:
        acc = np.full(len(tv), "", dtype=object)
        for tok in _TOKEN.findall(fmt.pattern):
            acc = acc + (_field(tv, tok, fmt) if tok.startswith("%") else tok)
        text = list(acc)
    text = np.asarray(text, dtype=object)[codes]
    for i, v in zip(np.flatnonzero(ok), text):
        out[i] = v
    return out


# ---- frequency ------------------------------------------------------------------------------------------------

_UNIT_FREQ = {"second": "s", "minute": "min", "hour": "h", "day": "D", "week": "W", "month": "MS", "quarter": "QS",
              "year": "YS"}
_MONTHS_PER = {"M": 1, "MS": 1, "ME": 1, "BMS": 1, "BME": 1, "Q": 3, "QS": 3, "QE": 3, "BQS": 3, "BQE": 3, "Y": 12,
               "YS": 12, "YE": 12, "A": 12, "AS": 12, "BYS": 12, "BYE": 12}


def infer_freq(times) -> Optional[str]:
    """A pandas offset alias for the step between the distinct timestamps (the median step when irregular)."""
    t = pd.Series(sorted(pd.Series(times).dropna().unique()))
    if len(t) < 3:
        return None
    try:
        f = pd.infer_freq(pd.DatetimeIndex(t[-60:]))
    except (ValueError, TypeError):
        f = None
    if f is None:
        step = t.diff().median()
        days = step / pd.Timedelta(days=1)
        f = "h" if days < 0.5 else "D" if days < 4 else "W" if days < 20 else "MS" if days < 80 \
            else "QS" if days < 200 else "YS"
    return f


def unit_freq(unit: str) -> str:
    """The offset alias of a calendar unit (month -> MS)."""
    return _UNIT_FREQ.get(unit, "D")


def add_units(t: pd.Timestamp, unit: str, n: int) -> pd.Timestamp:
    """t moved n calendar units on (months keep the day of month where they can)."""
    months = {"month": 1, "quarter": 3, "year": 12}.get(unit)
    if months:
        return t + pd.DateOffset(months=months * n)
    return t + n * pd.Timedelta(**{"week": {"weeks": 1}, "hour": {"hours": 1}, "minute": {"minutes": 1},
                                   "second": {"seconds": 1}}.get(unit, {"days": 1}))


def next_dates(last: pd.Timestamp, freq: str, n: int) -> pd.DatetimeIndex:
    """The n timestamps after `last` at the frequency; stamps off the frequency's anchor (monthly data on the 15th)
    keep their own day or time."""
    off = to_offset(freq)
    if off.is_on_offset(last):
        return pd.date_range(last, periods=n + 1, freq=off)[1:]
    base = re.sub(r"^\d+", "", freq).split("-")[0]
    months = _MONTHS_PER.get(base)
    if months:
        return pd.DatetimeIndex([last + pd.DateOffset(months=months * max(1, off.n) * k) for k in range(1, n + 1)])
    step = pd.Timedelta(days=7 * off.n) if base == "W" else pd.Timedelta(off) if hasattr(off, "nanos") else \
        pd.Timedelta(days=1)
    return pd.DatetimeIndex([last + step * k for k in range(1, n + 1)])


def distinct_labels(values, parsed: pd.Series) -> pd.DataFrame:
    """Distinct (timestamp, label): each parsed timestamp with the string the user wrote for it."""
    raw = _texts(pd.Series(values).reset_index(drop=True))
    frame = pd.DataFrame({"timestamp": pd.Series(parsed).reset_index(drop=True), "label": raw})
    return frame.dropna(subset=["timestamp"]).drop_duplicates("timestamp").reset_index(drop=True)
