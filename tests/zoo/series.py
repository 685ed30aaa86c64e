"""Time-series variants: date formats, single/multiple series, long/wide layouts, templates and blank future
rows. The keys written back must be the test file's own strings (a user's `2019 Jan` stays `2019 Jan`)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from zoo.base import series
from zoo.render import write_table
from zoo.tabular import template_order
from zoo.variant import Variant

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

FORMATS: dict[str, Callable[[pd.Timestamp], str]] = {
    "iso_date": lambda t: t.strftime("%Y-%m-%d"),
    "yyyy-mm": lambda t: t.strftime("%Y-%m"),
    "yyyy Mon": lambda t: f"{t.year} {MONTHS[t.month - 1]}",
    "Mon yyyy": lambda t: f"{MONTHS[t.month - 1]} {t.year}",
    "Mon-yy": lambda t: f"{MONTHS[t.month - 1]}-{t.year % 100:02d}",
    "mm/yyyy": lambda t: f"{t.month:02d}/{t.year}",
    "yyyyMmm": lambda t: f"{t.year}M{t.month:02d}",
    "yyyyQq": lambda t: f"{t.year}Q{(t.month - 1) // 3 + 1}",
    "Qq yyyy": lambda t: f"Q{(t.month - 1) // 3 + 1} {t.year}",
    "dd/mm/yyyy": lambda t: t.strftime("%d/%m/%Y"),
    "mm/dd/yyyy": lambda t: t.strftime("%m/%d/%Y"),
    "dd.mm.yyyy": lambda t: t.strftime("%d.%m.%Y"),
    "yyyymmdd": lambda t: t.strftime("%Y%m%d"),
}
UNIT = {"MS": "month", "QS": "quarter", "D": "date"}


def ts(name: str, dims: dict[str, str], *, freq: str = "MS", date_fmt: str = "iso_date", series_col: str = "store",
       time_col: Optional[str] = None, value_col: str = "sales", single: bool = False, layout: str = "two_files",
       task: Optional[str] = None, pred_file: str = "predictions.csv") -> Variant:
    b = series(freq, single=single)
    time_col = time_col or UNIT[freq]
    f = FORMATS[date_fmt]
    tr = pd.DataFrame({series_col: b.train["series"], time_col: [f(t) for t in b.train["time"]],
                       value_col: b.train["value"]})
    te = pd.DataFrame({series_col: b.test["series"], time_col: [f(t) for t in b.test["time"]]})
    if single:
        tr, te = tr.drop(columns=[series_col]), te.drop(columns=[series_col])
    means = b.train.groupby("series")["value"].mean()
    y = list(b.y_test)
    naive = [float(means[s]) for s in b.test["series"]]
    keys = [(t,) if single else (s, t) for s, t in zip(te.get(series_col, te[time_col]), te[time_col])]
    id_cols = [time_col] if single else [series_col, time_col]
    columns = id_cols + [value_col]
    wide_cols: list[str] = []
    ordered = False
    unit = UNIT[freq]
    if task is None:
        what = f"each {unit} in test.csv" if single else f"each {series_col} and {unit} listed in test.csv"
        task = (f"Forecast `{value_col}` for {what}. Write {pred_file} with columns {','.join(columns)}.")

    if layout == "two_files":
        def write(folder: Path):
            write_table(tr, folder / "train.csv")
            write_table(te, folder / "test.csv")
    elif layout == "xlsx":
        def write(folder: Path):
            with pd.ExcelWriter(folder / "sales.xlsx", engine="openpyxl") as w:
                tr.to_excel(w, index=False, sheet_name="history")
                te.to_excel(w, index=False, sheet_name="forecast")
    elif layout == "template":
        order = template_order(len(te), seed=8)
        keys, y, naive = [keys[i] for i in order], [y[i] for i in order], [naive[i] for i in order]
        ordered = True

        def write(folder: Path):
            write_table(tr, folder / "history.csv")
            tmpl = te.iloc[order].copy()
            tmpl[value_col] = ""
            write_table(tmpl, folder / "submission_template.csv")
    elif layout == "blank_rows":
        def write(folder: Path):
            fut = te.copy()
            fut[value_col] = np.nan
            write_table(pd.concat([tr, fut], ignore_index=True), folder / "sales.csv")
    elif layout == "wide":
        wide_tr = tr.pivot(index=time_col, columns=series_col, values=value_col)
        names = list(dict.fromkeys(b.train["series"]))
        wide_tr = wide_tr.loc[list(dict.fromkeys(tr[time_col])), names].reset_index()
        wide_te = pd.DataFrame({time_col: list(dict.fromkeys(te[time_col]))})
        wide_cols = names
        columns = [time_col] + names
        id_cols = [time_col]
        keys = [(t, s) for s, t in keys]  # (time, series)

        def write(folder: Path):
            write_table(wide_tr, folder / "train.csv")
            write_table(wide_te, folder / "test.csv")
    elif layout == "history_only":
        def write(folder: Path):
            write_table(tr, folder / "history.csv")
    elif layout == "row_ids":
        row_ids = [int(v) for v in np.random.default_rng(9).choice(np.arange(5000, 9000), len(te), replace=False)]
        keys = [(str(i),) for i in row_ids]
        id_cols = ["id"]
        columns = ["id", value_col]

        def write(folder: Path):
            write_table(tr, folder / "train.csv")
            write_table(te.assign(id=row_ids)[["id"] + list(te.columns)], folder / "test.csv")
    else:
        raise ValueError(layout)
    return Variant(name=name, dims={"base": b.name, **dims}, write=write, task=task, prediction_file=pred_file,
                   columns=columns, id_columns=id_cols, keys=keys, truth=y, problem_type="forecasting",
                   ordered=ordered, value_column=None if wide_cols else value_col, output="value",
                   wide_columns=wide_cols, train_means=dict(zip(keys, naive)))


def series_variants() -> list[Variant]:
    V: list[Variant] = []
    d = lambda v: {"date format": v}  # noqa: E731
    for fmt, slug in [("iso_date", "iso"), ("yyyy-mm", "2019_01"), ("yyyy Mon", "2019_Jan"),
                      ("Mon yyyy", "Jan_2019"), ("Mon-yy", "Jan_19"), ("mm/yyyy", "01_2019"), ("yyyyMmm", "2019M01")]:
        V.append(ts(f"ts_monthly_{slug}", d(fmt), date_fmt=fmt))
    for fmt, slug in [("yyyyQq", "2019Q1"), ("Qq yyyy", "Q1_2019")]:
        V.append(ts(f"ts_quarterly_{slug}", d(fmt), freq="QS", date_fmt=fmt, value_col="revenue",
                    series_col="region"))
    for fmt, slug in [("dd/mm/yyyy", "dayfirst_slash"), ("mm/dd/yyyy", "monthfirst_slash"),
                      ("dd.mm.yyyy", "dayfirst_dots"), ("yyyymmdd", "yyyymmdd")]:
        V.append(ts(f"ts_daily_{slug}", d(fmt), freq="D", date_fmt=fmt, value_col="visitors",
                    series_col="site"))
    lay = lambda v: {"series layout": v}  # noqa: E731
    V.append(ts("ts_single_series", lay("single series, no series column"), single=True))
    V.append(ts("ts_single_series_mon_yyyy", {"series layout": "single series", "date format": "Mon yyyy"},
                single=True, date_fmt="Mon yyyy"))
    V.append(ts("ts_wide", lay("wide: a column per store"), layout="wide",
                task="train.csv has one column of monthly sales per store. test.csv lists the next months. Forecast "
                     "every store for those months and write predictions.csv with the same columns as train.csv "
                     "(month, then one column per store)."))
    V.append(ts("ts_template", lay("history + submission template (shuffled)"), layout="template",
                task="history.csv holds monthly sales per store. Fill in the `sales` column of "
                     "submission_template.csv (keep its rows and order) and write it as predictions.csv."))
    V.append(ts("ts_blank_future_rows", lay("one file, blank future values"), layout="blank_rows",
                task="sales.csv holds monthly sales per store; the last months have no sales yet. Forecast them "
                     "and write predictions.csv with columns store,month,sales."))
    V.append(ts("ts_xlsx_sheets", {"series layout": "xlsx history/forecast sheets", "date format": "yyyy Mon"},
                layout="xlsx", date_fmt="yyyy Mon",
                task="sales.xlsx: the history sheet has monthly sales per store, the forecast sheet the months to "
                     "forecast. Write predictions.csv with columns store,month,sales."))
    V.append(ts("ts_vague_german", {"phrasing": "German, vague", "date format": "mm/yyyy"}, date_fmt="mm/yyyy",
                pred_file="prognose.csv",
                task="Erstelle eine Umsatzprognose (Spalte `sales`) für die Monate in test.csv und speichere sie "
                     "als prognose.csv mit den Spalten store,month,sales."))
    V.append(ts("ts_history_only_horizon_in_text", lay("history only, horizon in the task"),
                layout="history_only",
                task="history.csv holds monthly sales per store up to December 2018. Forecast the next 6 months "
                     "of `sales` for every store and write predictions.csv with columns store,month,sales."))
    V.append(ts("ts_test_with_row_id", lay("test rows carry a row id; output id,sales"), layout="row_ids",
                task="Forecast `sales` for every row of test.csv (store and month given). Write predictions.csv "
                     "with columns id,sales."))
    V.append(ts("ts_prophet_style_ds_y", {"series layout": "single series, ds/y columns"}, single=True,
                time_col="ds", value_col="y",
                task="Forecast y for the dates in test.csv. Write predictions.csv with columns ds,y."))
    return V

