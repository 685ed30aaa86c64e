"""Forecasting tasks: a long table of (item, timestamp, target) rows and a test table of future
(item, timestamp) rows. Detects the layout (long or wide), the horizon, the frequency and the season."""
from __future__ import annotations

import re
import warnings
from typing import Optional

import pandas as pd

from mlwright.perception.profile import column_kind
from mlwright.perception.task_text import TextHints
from mlwright.schemas import TimeSeriesSpec

SERIES_COLUMN = "__series__"  # synthetic item column for a single series
_SEASON = {"H": 24, "h": 24, "D": 7, "B": 5, "W": 52, "M": 12, "MS": 12, "ME": 12, "Q": 4, "QS": 4, "QE": 4}


def _to_time(s: pd.Series) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, errors="coerce", format="mixed")


def _time_columns(train: pd.DataFrame, test: pd.DataFrame) -> list[str]:
    out = []
    for c in train.columns:
        if c in test.columns and column_kind(train[c], c) == "datetime":
            out.append(c)
    return out


def season_from_text(text: str) -> Optional[int]:
    m = re.search(r"season(?:al(?:ity)?)?[ _-]*(?:period|length|lag)?\s*(?:of|=|:)?\s*\(?(\d{1,4})\b", text, re.I)
    return int(m.group(1)) if m else None


def infer_freq(times: pd.Series) -> Optional[str]:
    t = pd.Series(sorted(times.dropna().unique()))
    if len(t) < 3:
        return None
    try:
        f = pd.infer_freq(pd.DatetimeIndex(t[-60:]))
    except (ValueError, TypeError):
        f = None
    if f is None:
        step = t.diff().median()
        days = step / pd.Timedelta(days=1)
        f = "h" if days < 0.5 else "D" if days < 4 else "W" if days < 20 else "MS" if days < 80 else "QS" if days < 200 \
            else "YS"
    return f


def season_for(freq: Optional[str]) -> int:
    if not freq:
        return 1
    base = re.sub(r"^\d+", "", freq).split("-")[0]
    return _SEASON.get(base, 1)


def detect_forecasting(train: pd.DataFrame, test: pd.DataFrame, target: str, hints: TextHints,
                       notes: list[str]) -> Optional[tuple[TimeSeriesSpec, pd.DataFrame, pd.DataFrame]]:
    """A TimeSeriesSpec (and the frames, with a synthetic item column for a single series) when the test rows
    lie after the end of their series in the training table; None when this is not a forecasting task."""
    if not pd.api.types.is_numeric_dtype(pd.to_numeric(train[target], errors="coerce")):
        return None
    for tcol in _time_columns(train, test):
        t_train, t_test = _to_time(train[tcol]), _to_time(test[tcol])
        if t_test.isna().mean() > 0.05:
            continue
        items = [c for c in test.columns if c in train.columns and c != tcol
                 and train[c].dtype == object and 1 < train[c].nunique() <= max(2, len(train) // 3)
                 and not train.duplicated([c, tcol]).any()]
        item = items[0] if items else None
        if item is None and train[tcol].duplicated().any():
            continue
        tr = train.assign(**{SERIES_COLUMN: "series"}) if item is None else train
        te = test.assign(**{SERIES_COLUMN: "series"}) if item is None else test
        icol = item or SERIES_COLUMN
        last = t_train.groupby(tr[icol].to_numpy()).max()
        first_test = t_test.groupby(te[icol].to_numpy()).min()
        common = first_test.index.intersection(last.index)
        if len(common) == 0 or (first_test[common] > last[common]).mean() < 0.8:
            continue
        horizon = int(te.groupby(icol).size().max())
        freq = infer_freq(t_train[tr[icol] == tr[icol].value_counts().idxmax()])
        season = season_from_text(hints.text) or season_for(freq)
        covs = [c for c in test.columns if c in train.columns and c not in (tcol, icol, target)]
        ids = [c for c in covs if column_kind(train[c], c) in ("id", "constant", "empty")]
        if ids:
            notes.append(f"forecasting: columns {ids} are identifiers or empty, not used as known covariates")
        covs = [c for c in covs if c not in ids]
        notes.append(f"forecasting: test rows come after the end of their series ({tcol!r} per {icol!r}); "
                     f"horizon {horizon}, frequency {freq}, season period {season}"
                     + (f"; known covariates {covs}" if covs else ""))
        spec = TimeSeriesSpec(item_column=icol, timestamp_column=tcol, horizon=horizon, freq=freq,
                              season_period=season, known_covariates=covs)
        return spec, tr, te
    return None
