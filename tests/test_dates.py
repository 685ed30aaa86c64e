"""The one date parser: every form people write dates in is read, and written back the same way."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from mlwright.perception.dates import (DateFormat, detect_date_format, format_dates, infer_freq, looks_like_dates,
                                       next_dates, parse_dates)
from mlwright.perception.task_text import parse_task_text

CASES = [  # (values, first timestamp, writing pattern)
    (["2019-01-05", "2019-02-05", "2019-03-05"], "2019-01-05", "%Y-%m-%d"),
    (["2019-01-05 10:00:00", "2019-01-05 11:30:00"], "2019-01-05 10:00", "%Y-%m-%d %H:%M:%S"),
    (["2019-01-05T10:00:00", "2019-01-06T11:30:00"], "2019-01-05 10:00", "%Y-%m-%dT%H:%M:%S"),
    (["2019 Jan", "2019 Feb", "2019 Dec"], "2019-01-01", "%Y %b"),
    (["Jan 2019", "Feb 2019", "Dec 2019"], "2019-01-01", "%b %Y"),
    (["January 2019", "February 2019", "December 2020"], "2019-01-01", "%B %Y"),
    (["Jan-19", "Feb-19", "Mar-19"], "2019-01-01", "%b-%y"),
    (["JAN-19", "FEB-19"], "2019-01-01", "%b-%y"),
    (["01/2019", "02/2019", "12/2019"], "2019-01-01", "%m/%Y"),
    (["2019-01", "2019-02", "2019-12"], "2019-01-01", "%Y-%m"),
    (["2019/01", "2019/02", "2019/12"], "2019-01-01", "%Y/%m"),
    (["2019M01", "2019M02", "2019M12"], "2019-01-01", "%YM%m"),
    (["2019Q1", "2019Q2", "2019Q4"], "2019-01-01", "%YQ%q"),
    (["Q1 2019", "Q2 2019", "Q4 2019"], "2019-01-01", "Q%q %Y"),
    (["2019-Q1", "2019-Q2", "2019-Q4"], "2019-01-01", "%Y-Q%q"),
    (["2019-W07", "2019-W08", "2020-W53"], "2019-02-11", "%G-W%V"),
    (["13/04/2019", "14/04/2019", "01/05/2019"], "2019-04-13", "%d/%m/%Y"),
    (["04/13/2019", "04/14/2019", "05/01/2019"], "2019-04-13", "%m/%d/%Y"),
    (["1/5/2019", "1/6/2019", "1/13/2019"], "2019-01-05", "%-m/%-d/%Y"),
    (["13.04.2019 10:00", "14.04.2019 11:30"], "2019-04-13 10:00", "%d.%m.%Y %H:%M"),
    (["3 March 2019", "14 March 2019"], "2019-03-03", "%-d %B %Y"),
    (["05-Jan-2019", "06-Jan-2019"], "2019-01-05", "%d-%b-%Y"),
]


@pytest.mark.parametrize("values,first,pattern", CASES, ids=[c[0][0] for c in CASES])
def test_every_form_parses_and_round_trips(values, first, pattern):
    fmt = detect_date_format(values)
    assert fmt is not None and fmt.pattern == pattern
    parsed = parse_dates(values, fmt)
    assert parsed.notna().all() and parsed.iloc[0] == pd.Timestamp(first)
    assert format_dates(parsed, fmt) == list(values)
    assert DateFormat.model_validate(json.loads(fmt.model_dump_json())) == fmt  # a value object for the spec


def test_day_first_or_month_first_is_decided_from_the_values():
    assert detect_date_format(["03/04/2019", "25/04/2019"]).pattern == "%d/%m/%Y"  # a first field above 12
    assert detect_date_format(["03/04/2019", "04/25/2019"]).pattern == "%m/%d/%Y"  # a second field above 12
    # every value ambiguous: the reading with a regular step wins (the 1st of each month, not 1..12 January)
    monthly = [f"01/{m:02d}/{y}" for y in (2019, 2020) for m in range(1, 13)]
    fmt = detect_date_format(monthly)
    assert fmt.pattern == "%d/%m/%Y" and "regular" in fmt.note
    assert infer_freq(parse_dates(monthly, fmt)) == "MS"
    us = [f"{m:02d}/01/{y}" for y in (2019, 2020) for m in range(1, 13)]
    assert detect_date_format(us).pattern == "%m/%d/%Y"


def test_numbers_are_dates_only_when_the_name_or_the_caller_says_so():
    serials = [43466, 43467, 43468]
    assert detect_date_format(serials) is None and not looks_like_dates(pd.Series(serials), "amount")
    fmt = detect_date_format(serials, name="order_date")
    assert fmt.kind == "excel" and parse_dates(serials, fmt).iloc[0] == pd.Timestamp("2019-01-01")
    assert format_dates(parse_dates(serials, fmt), fmt) == ["43466", "43467", "43468"]
    assert detect_date_format(serials, time_axis=True).kind == "excel"
    years = pd.Series([2014, 2015, 2016])
    assert detect_date_format(years) is None
    fy = detect_date_format(years, name="Year")
    assert fy.pattern == "%Y" and parse_dates(years, fy).iloc[1] == pd.Timestamp("2015-01-01")
    assert format_dates(parse_dates(years, fy), fy) == ["2014", "2015", "2016"]
    ymd = pd.Series([20190105, 20190106, 20191231])
    fd = detect_date_format(ymd, name="date")
    assert fd.pattern == "%Y%m%d" and parse_dates(ymd, fd).iloc[2] == pd.Timestamp("2019-12-31")
    assert detect_date_format(pd.Series([1, 2, 3, 31]), name="day") is None  # day numbers are not dates
    assert detect_date_format(pd.Series([43466, 43467]), name="time_spent") is None  # an amount of time
    assert not looks_like_dates(pd.Series(["red", "green"] * 10), "color")
    assert looks_like_dates(pd.Series(["2019 Jan", "2019 Feb"] * 10), "period")


def test_unparseable_values_are_nat_and_invalid_days_are_not_dates():
    days = pd.date_range("2019-01-01", periods=40).strftime("%d/%m/%Y").tolist()
    fmt = detect_date_format(days + ["30/02/2019"])  # one impossible day among 41 distinct values
    assert fmt.pattern == "%d/%m/%Y"
    parsed = parse_dates(pd.Series(["31/01/2019", "30/02/2019", None, "garbage"]), fmt)
    assert parsed.iloc[0] == pd.Timestamp("2019-01-31") and parsed.iloc[1:].isna().all()


def test_future_periods_continue_the_frequency():
    assert list(next_dates(pd.Timestamp("2019-12-01"), "MS", 2)) == [pd.Timestamp("2020-01-01"),
                                                                       pd.Timestamp("2020-02-01")]
    assert next_dates(pd.Timestamp("2019-10-01"), "QS-OCT", 1)[0] == pd.Timestamp("2020-01-01")
    assert next_dates(pd.Timestamp("2019-12-15"), "MS", 1)[0] == pd.Timestamp("2020-01-15")  # keeps its day
    weeks = parse_dates(["2019-W50", "2019-W51", "2019-W52"], detect_date_format(["2019-W50"]))
    assert infer_freq(weeks) == "W-MON"


def test_horizon_words():
    h = parse_task_text("Forecast the next 12 months of sales per store", [])
    assert (h.horizon, h.horizon_unit, h.forecast_words) == (12, "month", True)
    assert (parse_task_text("sales 8 weeks ahead", []).horizon_unit) == "week"
    assert parse_task_text("predict the next two quarters", []).horizon == 2
    assert parse_task_text("predict the price of a house", []).forecast_words is False


def test_two_hundred_thousand_rows_are_fast():
    t = pd.date_range("2000-01-01", periods=200_000, freq="h")
    values = pd.Series(t.strftime("%d/%m/%Y %H:%M"))  # every value distinct: the worst case
    start = time.perf_counter()
    fmt = detect_date_format(values, "when")
    parsed = parse_dates(values, fmt)
    assert time.perf_counter() - start < 2.0
    assert fmt.pattern == "%d/%m/%Y %H:%M" and (parsed.to_numpy() == t.to_numpy()).all()
    months = pd.Series(np.repeat(pd.date_range("2000-01-01", periods=100, freq="MS").strftime("%Y %b"), 2000))
    start = time.perf_counter()
    assert parse_dates(months, detect_date_format(months)).notna().all()
    assert time.perf_counter() - start < 1.0
