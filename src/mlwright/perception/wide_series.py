"""Wide time-series tables: one timestamp column and one column per series (train), and the future
timestamps to forecast (test, with the series columns absent or empty). Forecasting works on the long layout
(series, timestamp, value); the run's prediction file goes back to the wide layout the data came in."""
from __future__ import annotations

from typing import Optional

import pandas as pd
from mlwright.perception.profile import column_kind
from mlwright.perception.task_text import TextHints
from mlwright.perception.timeseries import _to_time
from mlwright.schemas import WideLayout


def _free(name: str, taken) -> str:
    while name in taken:
        name = "_" + name
    return name


def detect_wide(train: pd.DataFrame, test: pd.DataFrame, hints: Optional[TextHints] = None) -> Optional[WideLayout]:
    """A wide layout when a timestamp column is unique per training row, every test timestamp lies after the
    last training one, and at least two numeric columns of the training table are absent or empty in the test
    (unless the task names some of them but not all: then it asks for one target among train-only columns)."""
    for tcol in [c for c in train.columns if c in test.columns and column_kind(train[c], c) == "datetime"]:
        t_train, t_test = _to_time(train[tcol]), _to_time(test[tcol])
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
    long_train = train.melt(id_vars=[w.time] + w.covariates, value_vars=w.series, var_name=w.item,
                            value_name=w.value)
    long_test = test_long(test, w)
    return long_train[[w.item, w.time] + w.covariates + [w.value]], long_test


def test_long(test: pd.DataFrame, w: WideLayout) -> pd.DataFrame:
    """Every (series, future timestamp) pair of a wide table of timestamps to forecast."""
    base = test[[w.time] + [c for c in w.covariates if c in test.columns]].reset_index(drop=True)
    parts = [base.assign(**{w.item: s}) for s in w.series]
    return pd.concat(parts, ignore_index=True)[[w.item, w.time] + list(base.columns[1:])]


def to_wide(pred: pd.DataFrame, test: pd.DataFrame, w: WideLayout) -> pd.DataFrame:
    """Long forecasts (series, timestamp, value) as the wide table: the test's timestamps in their order, one
    column per series."""
    table = pd.DataFrame({"t": _to_time(pred[w.time]).to_numpy(), "s": pred[w.item].astype(str).to_numpy(),
                          "v": pred[w.value].to_numpy()}).pivot_table(index="t", columns="s", values="v",
                                                                      aggfunc="first")
    out = pd.DataFrame({w.time: test[w.time].to_numpy()})
    idx = _to_time(test[w.time]).to_numpy()
    for s in w.series:
        out[s] = table[s].reindex(idx).to_numpy() if s in table.columns else float("nan")
    cols = [c for c in w.output_columns if c in out.columns] or list(out.columns)
    return out[cols]


def first_series_rows(long_test: pd.DataFrame, w: WideLayout) -> pd.DataFrame:
    """The wide test's timestamps, in their order, recovered from the long table (its first series' rows)."""
    return long_test[long_test[w.item].astype(str) == str(w.series[0])].reset_index(drop=True)
