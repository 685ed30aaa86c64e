"""Forecasting tasks: a long table of (item, timestamp, target) rows and a test table of future
(item, timestamp) rows, or a history-only table and words like "forecast the next 12 months" (mlwright then makes
the future rows itself). Detects the layout, the time column and how its dates are written, the horizon, the
frequency and the season. The frames handed on carry real timestamps; the user's own date strings are kept
(`Forecast.labels`) so the forecast is written back in them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.errors import AmbiguousTaskError
from mlwright.perception.dates import (DateFormat, add_units, detect_date_format, distinct_labels, format_dates,
                                       infer_freq, next_dates, parse_dates, unit_freq)  # noqa: F401 (infer_freq)
from mlwright.perception.profile import column_kind
from mlwright.perception.task_text import TextHints
from mlwright.schemas import TimeSeriesSpec

SERIES_COLUMN = "__series__"  # synthetic item column for a single series
_SEASON = {"H": 24, "h": 24, "D": 7, "B": 5, "W": 52, "M": 12, "MS": 12, "ME": 12, "Q": 4, "QS": 4, "QE": 4}
# when the words give no number: about a season
DEFAULT_HORIZON = {"MS": 12, "QS": 4, "YS": 3, "W": 13, "D": 14, "h": 24}


@dataclass
class Forecast:
    spec: TimeSeriesSpec
    train: pd.DataFrame  # the time column as datetime64
    test: pd.DataFrame
    labels: pd.DataFrame  # distinct (timestamp, label): the user's own strings for the test timestamps
    target: Optional[str] = None  # set when mlwright chose it (history-only tables)
    test_name: Optional[str] = None  # set when mlwright made the rows to predict


def time_columns(train: pd.DataFrame, test: Optional[pd.DataFrame]) -> list[tuple[str, DateFormat]]:
    """Columns (shared with the test table) whose values are dates in one format: text first, numbers (years,
    yyyymmdd, serial days, only under a date-like name) after."""
    out = []
    for c in train.columns:
        if test is not None and c not in test.columns:
            continue
        values = train[c] if test is None else pd.concat([train[c], test[c]], ignore_index=True)
        fmt = detect_date_format(values, str(c))
        if fmt is not None:
            out.append((c, fmt))
    return sorted(out, key=lambda cf: cf[1].numeric)


def season_from_text(text: str) -> Optional[int]:
    m = re.search(r"season(?:al(?:ity)?)?[ _-]*(?:period|length|lag)?\s*(?:of|=|:)?\s*\(?(\d{1,4})\b", text, re.I)
    return int(m.group(1)) if m else None


def season_for(freq: Optional[str]) -> int:
    if not freq:
        return 1
    base = re.sub(r"^\d+", "", freq).split("-")[0]
    return _SEASON.get(base, 1)


def _describe(tr: pd.DataFrame, icol: str, tcol: str, hints: TextHints) -> tuple[Optional[str], int]:
    """(frequency, season period) of the longest series."""
    freq = infer_freq(tr.loc[tr[icol] == tr[icol].value_counts().idxmax(), tcol])
    return freq, season_from_text(hints.text) or season_for(freq)


def detect_forecasting(train: pd.DataFrame, test: pd.DataFrame, target: str, hints: TextHints,
                       notes: list[str]) -> Optional[Forecast]:
    """A Forecast (the frames with real timestamps, and a synthetic item column for a single series) when the test
    rows lie after the end of their series in the training table; None when this is not a forecasting task."""
    if not pd.api.types.is_numeric_dtype(pd.to_numeric(train[target], errors="coerce")):
        return None
    for tcol, fmt in time_columns(train, test):
        t_train, t_test = parse_dates(train[tcol], fmt), parse_dates(test[tcol], fmt)
        if t_test.isna().mean() > 0.05:
            continue
        items = [c for c in test.columns if c in train.columns and c != tcol
                 and train[c].dtype == object and 1 < train[c].nunique() <= max(2, len(train) // 3)
                 and not train.duplicated([c, tcol]).any()]
        item = items[0] if items else None
        if item is None and train[tcol].duplicated().any():
            train_only = tuple(c for c in train.columns if c not in test.columns)  # the target among them
            item = _history_item(train, tcol, t_train, hints, train_only)  # series numbered 1, 2, 3
            if item is None:
                continue
        tr = (train.assign(**{SERIES_COLUMN: "series"}) if item is None else train.copy())
        te = (test.assign(**{SERIES_COLUMN: "series"}) if item is None else test.copy())
        icol = item or SERIES_COLUMN
        last = t_train.groupby(tr[icol].to_numpy()).max()
        first_test = t_test.groupby(te[icol].to_numpy()).min()
        common = first_test.index.intersection(last.index)
        if len(common) == 0 or (first_test[common] > last[common]).mean() < 0.8:
            continue
        labels = distinct_labels(test[tcol], t_test)
        tr[tcol], te[tcol] = t_train.to_numpy(), t_test.to_numpy()
        horizon = int(te.groupby(icol).size().max())
        freq, season = _describe(tr, icol, tcol, hints)
        covs = [c for c in test.columns if c in train.columns and c not in (tcol, icol, target)]
        ids = [c for c in covs if column_kind(train[c], c) in ("id", "constant", "empty")]
        if ids:
            notes.append(f"forecasting: columns {ids} are identifiers or empty, not used as known covariates")
        covs = [c for c in covs if c not in ids]
        notes.append(f"forecasting: test rows come after the end of their series ({tcol!r} per {icol!r}); "
                     f"horizon {horizon}, frequency {freq}, season period {season}"
                     + (f"; known covariates {covs}" if covs else ""))
        notes.append(_format_note(tcol, fmt))
        spec = TimeSeriesSpec(item_column=icol, timestamp_column=tcol, horizon=horizon, freq=freq,
                              season_period=season, known_covariates=covs, date_format=fmt)
        return Forecast(spec, tr, te, labels)
    return None


def _format_note(tcol: str, fmt: DateFormat) -> str:
    how = "Excel serial days" if fmt.kind == "excel" else fmt.pattern
    return (f"dates in {tcol!r} are written {how}" + (f" ({fmt.note})" if fmt.note else "")
            + "; the models see them as timestamps and the forecast is written back in that form")


def _history_target(train: pd.DataFrame, keys: list[str], hints: TextHints, forced: Optional[str], ask,
                    where: str) -> Optional[str]:
    """The value to forecast in a history-only table: forced, named in the task or output columns, or the only
    numeric column besides the keys."""
    cols = [c for c in train.columns if c not in keys]
    if forced is not None:
        return forced if forced in cols else None
    numeric = [c for c in cols if pd.to_numeric(train[c], errors="coerce").notna().mean() > 0.9
               and column_kind(train[c], str(c)) not in ("id", "constant", "empty")]
    for pool in ([c for c in numeric if str(c) in hints.output_columns],
                 [c for c in numeric if hints.mentions(str(c))], numeric):
        if len(pool) == 1:
            return pool[0]
        if len(pool) > 1:
            break
    if not numeric:
        return None
    what = f"Cannot tell which column to forecast: {len(numeric)} numeric columns ({', '.join(map(str, numeric))})."
    if ask is not None:
        return ask(what + " Which one should be forecast?", [str(c) for c in numeric])
    raise AmbiguousTaskError(what, candidates=[str(c) for c in numeric], where=where,
                             hint="Name it in the task (e.g. \"forecast `sales` for the next 12 months\") or with "
                                  "--target COLUMN.")


def _history_item(train: pd.DataFrame, tcol: str, t: pd.Series, hints: TextHints,
                  exclude: tuple = ()) -> Optional[str]:
    """The series column of a history table: none when each date appears once, else a column that makes
    (series, date) unique, preferring one the task names, text over numbers, and few distinct values (series ids
    repeat; measured values rarely do)."""
    if not t.duplicated().any():
        return None
    cands = [c for c in train.columns if c != tcol and c not in exclude
             and 1 < train[c].nunique() <= max(2, len(train) // 3)
             and (train[c].dtype == object or pd.api.types.is_integer_dtype(train[c]))
             and not pd.DataFrame({"i": train[c].to_numpy(), "t": t.to_numpy()}).duplicated().any()]
    cands.sort(key=lambda c: (not hints.mentions(str(c)), train[c].dtype != object, train[c].nunique()))
    return cands[0] if cands else None


def _future(last: pd.Series, freq: Optional[str], hints: TextHints, fmt: DateFormat) -> tuple[dict, str]:
    """item -> the future timestamps after its last date, and how they were chosen (for the notes)."""
    unit = hints.horizon_unit if hints.horizon_unit not in (None, "period") else None
    step = freq or unit_freq(unit or fmt.unit)
    if hints.horizon is None:
        base = re.sub(r"^\d+", "", step).split("-")[0]
        n = DEFAULT_HORIZON.get({"ME": "MS", "M": "MS", "QE": "QS", "Q": "QS", "H": "h"}.get(base, base), 12)
        how = f"the task gives no horizon: {n} steps of {step} (about a season)"
        return {i: next_dates(t, step, n) for i, t in last.items()}, how
    if unit is None:
        how = f"the next {hints.horizon} steps of the data's frequency {step}"
        return {i: next_dates(t, step, hints.horizon) for i, t in last.items()}, how
    out = {}
    for i, t in last.items():  # the data's steps inside the next N units (14 days of 'the next 2 weeks')
        end = add_units(t, unit, hints.horizon)
        cand = next_dates(t, step, 4 * hints.horizon * max(1, _steps_per(unit, step)) + 1)
        inside = cand[cand <= end]
        out[i] = inside if len(inside) else cand[:1]
    return out, f"the data's {step} steps in the next {hints.horizon} {unit}(s) after each series' last date"


def _steps_per(unit: str, freq: str) -> int:
    """About how many steps of `freq` one calendar unit holds (an upper bound for generating candidates)."""
    days = {"second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 31, "quarter": 92,
            "year": 366}.get(unit, 1)
    try:
        step_days = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) / pd.Timedelta(days=1)
    except (ValueError, TypeError):
        step_days = {"W": 7, "M": 28, "Q": 90, "Y": 365}.get(re.sub(r"^\d+", "", freq)[:1], 1)
    return int(np.ceil(days / max(step_days, 1e-9)))


def forecast_history(train: pd.DataFrame, hints: TextHints, forced_target: Optional[str], notes: list[str],
                     ask=None, table_name: str = "the table") -> Optional[Forecast]:
    """A history-only table (series id(s), a date, the value) and forecasting words: the rows to predict are the
    periods after each series' last date, made here. None when the table has no usable time axis, or when rows
    with a blank value already follow each series' end (those are the rows to predict)."""
    for tcol, fmt in time_columns(train, None):
        t = parse_dates(train[tcol], fmt)
        if t.isna().mean() > 0.05:
            continue
        item = _history_item(train, tcol, t, hints, (forced_target,))
        if item is None and t.duplicated().any():
            continue
        target = _history_target(train, [tcol] + ([item] if item else []), hints, forced_target, ask, table_name)
        if target is None:
            continue
        y = pd.to_numeric(train[target], errors="coerce")
        tr = train.assign(**{SERIES_COLUMN: "series"}) if item is None else train.copy()
        icol = item or SERIES_COLUMN
        known = y.notna()
        if not known.all() and hints.horizon is None:  # blank values and no horizon: those rows are to predict
            return None
        last = t[known].groupby(tr.loc[known, icol].to_numpy()).max()
        blank_after = (~known & (t > tr[icol].map(last).to_numpy())).any()
        if blank_after:  # the user marked the rows to predict: the usual single-table path handles them
            return None
        tr[tcol] = t.to_numpy()
        tr = tr[known & t.notna()].reset_index(drop=True)
        freq, season = _describe(tr, icol, tcol, hints)
        future, how = _future(last, freq, hints, fmt)
        te = pd.DataFrame({icol: np.repeat(list(future), [len(v) for v in future.values()]),
                           tcol: np.concatenate([v.to_numpy() for v in future.values()]).astype("datetime64[ns]")})
        if item is not None:
            te[icol] = te[icol].astype(tr[icol].dtype)
        labels = pd.DataFrame({"timestamp": te[tcol], "label": format_dates(te[tcol], fmt)}).drop_duplicates(
            "timestamp").reset_index(drop=True)
        horizon = int(te.groupby(icol).size().max())
        dropped = [c for c in train.columns if c not in (tcol, icol, target)]
        notes.append(f"forecasting a history-only table: {target!r} by {tcol!r}"
                     + (f" per {icol!r} ({tr[icol].nunique()} series)" if item else " (one series)")
                     + f"; the rows to predict are made by mlwright: {how} ({len(te)} rows, horizon {horizon}, "
                     f"frequency {freq}, season period {season})")
        if not known.all():
            notes.append(f"{int((~known).sum())} rows with no {target!r} inside the histories are gaps, not rows "
                         "to predict")
        if dropped:
            notes.append(f"columns {dropped} are not known for the future periods: not used")
        notes.append(_format_note(tcol, fmt))
        spec = TimeSeriesSpec(item_column=icol, timestamp_column=tcol, horizon=horizon, freq=freq,
                              season_period=season, date_format=fmt)
        unit = f"{hints.horizon} {hints.horizon_unit}s" if hints.horizon and hints.horizon_unit else f"{horizon} steps"
        name = f"future periods of {table_name} (made by mlwright: {unit} per series)"
        return Forecast(spec, tr[[icol, tcol, target]], te, labels, target=target, test_name=name)
    return None
