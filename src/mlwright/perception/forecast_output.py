"""Forecasts in the user's terms. The attempts see and write real timestamps (ISO); the run's prediction file and
`mlwright predict` write the dates back as the user wrote them (the raw test file's own strings when there was
one, else the user's format), and in the wide layout when the data came wide."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd

from mlwright.perception.dates import DateFormat, distinct_labels, format_dates, parse_dates, to_timestamps
from mlwright.schemas import TaskSpec, TimeSeriesSpec

LABELS = "time_labels.parquet"  # beside inputs/test.parquet: (timestamp, label) of the rows to predict


def user_times(values: pd.Series, labels: Optional[pd.DataFrame], fmt: Optional[DateFormat]) -> pd.Series:
    """Timestamps (as written by an attempt) as the user's strings: the label the user wrote for that timestamp,
    else the timestamp in the user's format, else the value as it was."""
    values = pd.Series(values).reset_index(drop=True)
    t = to_timestamps(values, time_axis=True)
    out = pd.Series([None] * len(values), dtype=object)
    if labels is not None and len(labels):
        out = t.map(labels.set_index("timestamp")["label"]).astype(object)
    missing = out.isna() & t.notna()
    if fmt is not None and missing.any():
        out[missing] = format_dates(t[missing], fmt)
    return out.where(out.notna(), values.astype(str))


def by_row_key(pred: pd.DataFrame, rows: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
    """Forecasts keyed by (item, time) as the columns the user asked for, one per row to predict in its order:
    the rows' own columns (a row id) beside the forecast values."""
    ts = spec.timeseries
    keys = [c for c in (ts.item_column, ts.timestamp_column) if c in pred.columns and c in rows.columns]

    def key(df: pd.DataFrame) -> pd.Series:
        parts = [to_timestamps(df[c], time_axis=True).astype(str) if c == ts.timestamp_column
                 else df[c].astype(str).str.strip() for c in keys]
        return pd.Series(["\x1f".join(t) for t in zip(*parts)], index=df.index) if parts else \
            pd.Series(range(len(df)), index=df.index).astype(str)

    values = pred.set_index(key(pred).to_numpy())
    at = key(rows).to_numpy()
    out = pd.DataFrame(index=range(len(rows)))
    for c in ts.output_columns:
        if c in rows.columns and c not in pred.columns:
            out[c] = rows[c].to_numpy()
        else:
            out[c] = values[c].reindex(at).to_numpy() if c in values.columns else ""
    return out


def with_timestamps(new: pd.DataFrame, ts: TimeSeriesSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New rows with real timestamps (read in the run's date format, or detected anew when written otherwise) and
    their labels, to write the forecast back in the new rows' own strings."""
    col = new[ts.timestamp_column]
    t = parse_dates(col, ts.date_format)
    if t.isna().mean() > 0.05:
        t = to_timestamps(col, ts.timestamp_column, time_axis=True)
    return new.assign(**{ts.timestamp_column: t.to_numpy()}), distinct_labels(col, t)


def write_dates_back(src: Path, dst: Path, ts: TimeSeriesSpec, labels: Optional[pd.DataFrame]) -> None:
    """A long forecast file with its date column as the user's strings; every other cell copied as written."""
    pred = pd.read_csv(src, dtype=str, keep_default_na=False)
    if ts.timestamp_column in pred.columns:
        pred[ts.timestamp_column] = user_times(pred[ts.timestamp_column], labels, ts.date_format).to_numpy()
    pred.to_csv(dst, index=False)
