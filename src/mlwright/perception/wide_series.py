"""Wide time-series tables, in either orientation:
- dates as rows: one timestamp column and one column per series (train), and the future timestamps to
  forecast (test, with the series columns absent or empty);
- dates as columns: one row per series (an id column) and one column per date (train), and the series with the
  future date columns to fill (test).
Forecasting works on the long layout (series, timestamp, value); the run's prediction file goes back to the
wide layout the data came in."""
from __future__ import annotations

from typing import Optional

import pandas as pd
from mlwright.perception.dates import detect_date_format, parse_dates, to_timestamps
from mlwright.perception.profile import column_kind
from mlwright.perception.task_text import TextHints
from mlwright.schemas import WideLayout


def _free(name: str, taken) -> str:
    while name in taken:
        name = "_" + name
    return name


def _date_names(df: pd.DataFrame) -> list[str]:
    """Columns whose names are dates (e.g. 2021-03, 2021-03-01, 2021 Mar, 2021Q1), in one format."""
    names = [str(c) for c in df.columns if 6 <= len(str(c)) <= 30 and sum(ch.isdigit() for ch in str(c)) >= 4]
    if not names:
        return []
    # other columns may hold digits too (sales_2021): half the candidates must share the format
    parsed = parse_dates(pd.Series(names), detect_date_format(names, time_axis=True, min_fraction=0.5))
    return [n for n, t in zip(names, parsed) if not pd.isna(t)]


def _times(values) -> pd.Series:
    """Timestamps of a time axis written in any one format (the run's ISO stamps or the user's own)."""
    return to_timestamps(pd.Series(list(values)), time_axis=True)


def detect_dates_as_columns(train: pd.DataFrame, test: pd.DataFrame) -> Optional[WideLayout]:
    tr, te = _date_names(train), _date_names(test)
    new = [c for c in te if c not in tr]
    if len(tr) < 6 or not new:
        return None
    t_tr, t_new = _times(tr), _times(new)
    if t_new.min() <= t_tr.max() or not all(pd.api.types.is_numeric_dtype(train[c]) for c in tr):
        return None
    others = [c for c in train.columns if str(c) not in tr]
    items = [c for c in others if c in test.columns and train[c].notna().all() and train[c].is_unique]
    if not items:
        return None
    taken = set(map(str, train.columns)) | set(map(str, test.columns))
    covs = [c for c in others if c != items[0] and c in test.columns]
    return WideLayout(time=_free("timestamp", taken), series=[], covariates=covs, item=items[0],
                      value=_free("value", taken), dates_as_columns=True, date_columns=tr)


def detect_wide(train: pd.DataFrame, test: pd.DataFrame, hints: Optional[TextHints] = None) -> Optional[WideLayout]:
    """Dates as columns (see detect_dates_as_columns), or dates as rows: a wide layout when a timestamp column is
    unique per training row, every test timestamp lies after the last training one, and at least two numeric
    columns of the training table are absent or empty in the test (unless the task names some of them but not
    all: then it asks for one target among train-only columns)."""
    by_columns = detect_dates_as_columns(train, test)
    if by_columns is not None:
        return by_columns
    for tcol in [c for c in train.columns if c in test.columns]:
        fmt = detect_date_format(pd.concat([train[tcol], test[tcol]], ignore_index=True), str(tcol))
        if fmt is None:
            continue
        t_train, t_test = parse_dates(train[tcol], fmt), parse_dates(test[tcol], fmt)
        if t_train.isna().mean() > 0.05 or t_test.isna().mean() > 0.05 or t_train.duplicated().any():
            continue
        if not len(t_test) or t_test.min() <= t_train.max():
            continue
        series = [c for c in train.columns if c != tcol and pd.api.types.is_numeric_dtype(train[c])
                  and (c not in test.columns or test[c].isna().all())
                  and column_kind(train[c], str(c)) == "numeric" and train[c].notna().mean() >= 0.5]
        if len(series) < 2:
            continue
        # a task naming some of them (not all) wants one target; short names ("a", "B") also read as words
        named = [c for c in series if hints is not None and len(str(c)) >= 3 and hints.mentions(str(c))]
        if named and len(named) < len(series):
            return None
        covs = [c for c in train.columns if c not in series and c != tcol and c in test.columns
                and test[c].notna().any()]
        taken = set(train.columns) | set(test.columns)
        return WideLayout(time=tcol, series=[str(c) for c in series], covariates=covs,
                          item=_free("series", taken), value=_free("value", taken))
    return None


def to_long(train: pd.DataFrame, test: pd.DataFrame, w: WideLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    if w.dates_as_columns:
        long_train = train.rename(columns=str).melt(id_vars=[w.item] + w.covariates, value_vars=w.date_columns,
                                                    var_name=w.time, value_name=w.value)
        long_train[w.item] = long_train[w.item].astype(str)  # series ids are labels, even when numbers
        return long_train[[w.item, w.time] + w.covariates + [w.value]], test_long(test, w)
    long_train = train.melt(id_vars=[w.time] + w.covariates, value_vars=w.series, var_name=w.item,
                            value_name=w.value)
    long_test = test_long(test, w)
    return long_train[[w.item, w.time] + w.covariates + [w.value]], long_test


def _future_dates(test: pd.DataFrame, w: WideLayout) -> list[str]:
    return [c for c in _date_names(test) if c not in w.date_columns]


def test_long(test: pd.DataFrame, w: WideLayout) -> pd.DataFrame:
    """Every (series, future timestamp) pair of a wide table of timestamps (or series) to forecast."""
    if w.dates_as_columns:
        base = test.rename(columns=str)[[w.item] + [c for c in w.covariates if c in test.columns]]
        base = base.assign(**{w.item: base[w.item].astype(str)})
        parts = [base.assign(**{w.time: d}) for d in _future_dates(test, w)]
        return pd.concat(parts, ignore_index=True)[[w.item, w.time] + list(base.columns[1:])]
    base = test[[w.time] + [c for c in w.covariates if c in test.columns]].reset_index(drop=True)
    parts = [base.assign(**{w.item: s}) for s in w.series]
    return pd.concat(parts, ignore_index=True)[[w.item, w.time] + list(base.columns[1:])]


def to_wide(pred: pd.DataFrame, test: pd.DataFrame, w: WideLayout) -> pd.DataFrame:
    """Long forecasts (series, timestamp, value) as the wide table: the test's timestamps in their order, one
    column per series (or the test's series in their order, one column per future date)."""
    if w.dates_as_columns:
        table = pd.DataFrame({"i": pred[w.item].astype(str).to_numpy(), "t": _times(pred[w.time]).to_numpy(),
                              "v": pred[w.value].to_numpy()}).pivot_table(index="i", columns="t", values="v",
                                                                          aggfunc="first")
        out = pd.DataFrame({w.item: test[w.item].to_numpy()})
        keys = test[w.item].astype(str).to_numpy()
        dates = _future_dates(test, w)
        for d, t in zip(dates, _times(dates)):
            out[d] = table[t].reindex(keys).to_numpy() if t in table.columns else float("nan")
        return out
    table = pd.DataFrame({"t": _times(pred[w.time]).to_numpy(), "s": pred[w.item].astype(str).to_numpy(),
                          "v": pred[w.value].to_numpy()}).pivot_table(index="t", columns="s", values="v",
                                                                      aggfunc="first")
    out = pd.DataFrame({w.time: test[w.time].to_numpy()})
    idx = _times(test[w.time]).to_numpy()
    for s in w.series:
        out[s] = table[s].reindex(idx).to_numpy() if s in table.columns else float("nan")
    cols = [c for c in w.output_columns if c in out.columns] or list(out.columns)
    return out[cols]


def first_series_rows(long_test: pd.DataFrame, w: WideLayout) -> pd.DataFrame:
    """The wide test's skeleton recovered from the long table: its timestamps in order (the first series' rows),
    or its series in order with the future date columns."""
    if w.dates_as_columns:
        dates = list(dict.fromkeys(long_test[w.time].astype(str)))
        first = long_test[long_test[w.time].astype(str) == dates[0]]
        return pd.DataFrame({w.item: first[w.item].to_numpy(), **{d: float("nan") for d in dates}})
    return long_test[long_test[w.item].astype(str) == str(w.series[0])].reset_index(drop=True)
