"""Numbers written with decoration: currencies ("$1,200", "EUR 3.5k"), percentages ("45%"), units ("12 kg",
"350 g", "3 years", "6 months"), open and closed ranges ("10-20", "3+ years", "< 1 year", "up to 5"). A tree sees
such a column as hundreds of unrelated categories; read as numbers it sees their order and size.

A column is read this way only when nearly every value follows the grammar and its units agree (one unit, or units
of one kind that convert: kg and g, days and years); the reading (decimal mark, thousands separator, unit factors)
is learned once and stored in the TaskSpec, so new rows are read the same way. Ranges become their midpoint,
open ranges their bound. Values outside the grammar (at most a few forms, e.g. "n/a") become missing.
"""
from __future__ import annotations

import re
from typing import Literal, Optional

import numpy as np
import pandas as pd

from mlwright.schemas import QuantityFormat

# unit token (lower case) -> (kind, factor to the kind's base unit)
UNITS: dict[str, tuple[str, float]] = {
    **{u: ("mass", f) for u, f in {"mg": 1e-6, "g": 1e-3, "gr": 1e-3, "kg": 1.0, "kgs": 1.0, "t": 1e3, "ton": 1e3,
                                    "tons": 1e3, "lb": 0.45359237, "lbs": 0.45359237, "oz": 0.028349523}.items()},
    **{u: ("length", f) for u, f in {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "km": 1e3, "in": 0.0254, "inch": 0.0254,
                                      "inches": 0.0254, "ft": 0.3048, "feet": 0.3048, "mi": 1609.344,
                                      "miles": 1609.344}.items()},
    **{u: ("area", f) for u, f in {"m2": 1.0, "m²": 1.0, "sqm": 1.0, "sqft": 0.09290304, "sq ft": 0.09290304,
                                    "ft2": 0.09290304, "ha": 1e4, "acres": 4046.8564, "acre": 4046.8564}.items()},
    **{u: ("volume", f) for u, f in {"ml": 1e-3, "l": 1.0, "liter": 1.0, "liters": 1.0, "litre": 1.0,
                                      "litres": 1.0, "gal": 3.785411784}.items()},
    **{u: ("time", f) for u, f in {"s": 1 / 86400, "sec": 1 / 86400, "secs": 1 / 86400, "seconds": 1 / 86400,
                                    "min": 1 / 1440, "mins": 1 / 1440, "minutes": 1 / 1440, "h": 1 / 24,
                                    "hr": 1 / 24, "hrs": 1 / 24, "hour": 1 / 24, "hours": 1 / 24, "day": 1.0,
                                    "days": 1.0, "d": 1.0, "week": 7.0, "weeks": 7.0, "wk": 7.0, "month": 30.4375,
                                    "months": 30.4375, "mo": 30.4375, "year": 365.25, "years": 365.25, "yr": 365.25,
                                    "yrs": 365.25, "y": 365.25}.items()},
    **{u: ("data", f) for u, f in {"b": 1e-9, "kb": 1e-6, "mb": 1e-3, "gb": 1.0, "tb": 1e3}.items()},
    **{u: ("power", f) for u, f in {"w": 1.0, "kw": 1e3, "mw": 1e6, "hp": 745.7}.items()},
    **{u: ("speed", f) for u, f in {"km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344}.items()},
    **{u: ("temperature", 1.0) for u in ("°c", "c", "°f")},
}
CURRENCIES = {"$", "€", "£", "¥", "₹", "usd", "eur", "gbp", "jpy", "chf", "cad", "aud", "inr", "us$"}
MAGNITUDES = {"k": 1e3, "m": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9}  # "$1.2M": m and b only beside a currency
MIN_SHARE = 0.8  # of the given values that must follow the grammar (as for numbers with odd entries)
MAX_ODD_FORMS = 10

_NUM = r"\d{1,3}(?:[ ,.'’]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?|[.,]\d+"
_CUR = r"(?:us\$|[$€£¥₹]|usd|eur|gbp|jpy|chf|cad|aud|inr)"
_ONE = rf"(?P<cur>{_CUR})?\s*(?P<num>{_NUM})(?:(?P<mag>k|mn|bn|m|b)(?![a-z]))?"
_UNIT = r"(?P<unit>%|[a-z°²/$€£¥₹ ]{1,8}?)?"
_VALUE = re.compile(
    rf"^(?P<open>(?:<|>|<=|>=|≤|≥|~|approx\.?|about|up to|under|over|more than|less than|at least|at most)\s*)?"
    rf"(?P<sign>[-−])?{_ONE}"
    rf"(?:\s*(?:-|–|to)\s*(?P<cur2>{_CUR})?\s*(?P<num2>{_NUM})(?:(?P<mag2>k|mn|bn|m|b)(?![a-z]))?)?"
    rf"\s*(?P<plus>\+)?\s*{_UNIT}\s*(?P<plus2>\+|or more)?$", re.I)


def _number(text: str, decimal: str) -> float:
    """`text` as a float, with `decimal` as the decimal mark and any other mark a thousands separator."""
    other = "," if decimal == "." else "."
    cleaned = re.sub(r"[ '’]", "", text).replace(other, "")
    return float(cleaned.replace(decimal, "."))


def _decimal_mark(values: list[str]) -> Literal[".", ","]:
    """',' when the numbers write decimals with a comma (1.234,5 or 3,5 with no thousands grouping), else '.'."""
    comma = sum(bool(re.search(r"\d,\d{1,2}$|\d\.\d{3},\d", v)) for v in values)
    dot = sum(bool(re.search(r"\d\.\d{1,2}$|\d,\d{3}\.\d", v)) for v in values)
    return "," if comma > dot else "."


def _unit_mag(m: re.Match) -> tuple[str, str, str]:
    """(unit, magnitude of the first number, of the second): 'm' and 'b' glued to a number are millions and billions
    beside a currency, else units (metres, bytes)."""
    unit, mag, mag2 = (m.group("unit") or "").strip(), (m.group("mag") or ""), (m.group("mag2") or "")
    if not (m.group("cur") or m.group("cur2") or unit in CURRENCIES):
        if mag in ("m", "b", "mn", "bn") and not unit:
            unit, mag, mag2 = mag, "", ""
    return unit, mag, mag2


def _token(unit: str) -> str:
    """A unit as the format stores it: known units as written, other words without a plural s."""
    return unit if unit in UNITS or unit in CURRENCIES or unit in ("", "%") else re.sub(r"s$", "", unit)


def _parse(value: str, fmt: QuantityFormat) -> float:
    m = _VALUE.match(value.strip().lower())
    if m is None:
        return np.nan
    unit, mag, mag2 = _unit_mag(m)
    unit = _token(unit)
    if unit in ("", "%") or unit in CURRENCIES:
        factor = 1.0
    elif unit in fmt.units:
        factor = fmt.units[unit]
    else:
        return np.nan
    a = _number(m.group("num"), fmt.decimal) * MAGNITUDES.get(mag, 1.0)
    if m.group("num2"):
        b = _number(m.group("num2"), fmt.decimal) * MAGNITUDES.get(mag2 or mag, 1.0)
        if not 0 <= a < b or (a > 0 and b / a > 20):
            return np.nan  # "2020-01", "555-1234": a code, not a range
        a = (a + b) / 2  # a range: its midpoint
    if m.group("sign"):
        a = -a
    return a * factor


def read_quantities(s: pd.Series, fmt: QuantityFormat) -> pd.Series:
    """Values read with a learned format; anything else missing."""
    return pd.Series([_parse(str(v), fmt) if isinstance(v, str) else
                      (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan)
                      for v in s], index=s.index, dtype=float)


def learn_quantity_format(s: pd.Series) -> Optional[tuple[QuantityFormat, list[str]]]:
    """The format of a text column of decorated numbers, and its odd forms (read as missing); None when the column
    is not one: fewer than 10 values, codes led by zeros, plain numbers only (read elsewhere), too few values in the
    grammar, or units that do not convert into one another."""
    if s.dtype != object:
        return None
    text = s.dropna().astype(str).str.strip()
    text = text[text != ""]
    if len(text) < 10 or text.str.match(r"^-?0\d").mean() > 0.05:
        return None
    low = text.str.lower()
    matches = low.str.match(_VALUE)
    if matches.mean() < MIN_SHARE:
        return None
    found = [_VALUE.match(v) for v in low[matches]]
    units = [_token(_unit_mag(m)[0]) for m in found]
    decorated = [m for m, u in zip(found, units) if u or m.group("cur") or m.group("num2") or m.group("plus") or
                 m.group("plus2") or m.group("open") or m.group("mag")]
    if len(decorated) < 0.5 * len(found):
        return None  # mostly plain numbers: numbers_with_odd_values' job
    kinds_of = set(units)
    named = {u for u in kinds_of if u not in ("", "%") and u not in CURRENCIES}
    known = {u for u in named if u in UNITS}
    if len({UNITS[u][0] for u in known}) > 1 or (known and named - known) or len(named - known) > 1:
        return None  # units of several kinds, or several unknown words: categories, not numbers
    if "%" in kinds_of and (named or kinds_of & CURRENCIES):
        return None
    currencies = (kinds_of | {(m.group("cur") or "").lower() for m in found}) & CURRENCIES
    if len(currencies) > 1:
        return None  # several currencies: no exchange rate here
    # the numbers are expressed in their most common unit
    named_units = pd.Series([u for u in units if u in named])
    base = str(named_units.mode().iloc[0]) if len(named_units) else ""
    factors = {u: (UNITS[u][1] / UNITS[base][1] if u in UNITS else 1.0) for u in named}
    fmt = QuantityFormat(decimal=_decimal_mark(text.tolist()), units=factors,
                         unit=base or next(iter(sorted(currencies | (kinds_of & {"%"}))), ""))
    values = read_quantities(text, fmt)
    odd = sorted(text[values.isna()].unique().tolist())
    if values.notna().mean() < MIN_SHARE or len(odd) > MAX_ODD_FORMS:
        return None
    return fmt, odd
