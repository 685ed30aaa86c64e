"""Column profiling: type, missingness, cardinality, id-like, datetime-like, free text."""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.schemas import ColumnProfile, TableProfile

_ID_NAME = re.compile(r"(^|[_\s\-.])(id|key|uuid|guid|no|nr|num)\.?$|^(id|index|row_?id|unnamed: 0|n°)$", re.I)
_CAMEL_ID = re.compile(r"[a-z](Id|ID|Key|No|Nr)$")  # PassengerId, customerID, orderNo


def looks_like_id_name(name: str) -> bool:
    name = str(name).strip()
    return bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))


def _is_datetime(s: pd.Series, name: str = "") -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if s.dtype != object:
        return False
    from mlwright.perception.dates import looks_like_dates  # the one date parser decides what a date is

    return looks_like_dates(s, name)


_NOT_PROSE = re.compile(r"^\S+\.[A-Za-z][A-Za-z0-9]{0,4}$|[/\\@]|://")  # file names, paths, URLs, e-mail addresses


def _natural_language(text: pd.Series) -> bool:
    """Sentences in any script, with or without spaces between words (Chinese, Japanese, Thai...): mostly
    letters (combining marks count: they are letters in Indic, Thai or Arabic scripts), few digits, many
    distinct letters; several words a value, or long letter runs of varying length. Codes, hashes, uuids,
    random tokens and file names fail at least one of these."""
    text = text.head(1000)  # a bounded sample: profiling stays cheap on long texts
    if text.str.contains(_NOT_PROSE).mean() > 0.3:
        return False
    joined = "\n".join(text)[:50_000]
    counts = Counter(joined)
    letters = digits = spaces = 0
    distinct_letters = 0
    for ch, k in counts.items():
        cat = unicodedata.category(ch)
        if cat[0] in "LM":
            letters += k
            distinct_letters += 1
        elif cat[0] == "N":
            digits += k
        elif ch.isspace():
            spaces += k
    solid = max(len(joined) - spaces, 1)
    if letters < 0.7 * solid or digits > 0.15 * solid or distinct_letters < 15:
        return False
    # random tokens switch case inside words (aZ9kQ...); prose rarely does
    sample = joined[:20_000]
    if sum(a.islower() and b.isupper() for a, b in zip(sample, sample[1:])) > 0.05 * max(len(sample), 1):
        return False
    n_space = text.str.count(r"\s+")
    if n_space.mean() >= 1:
        return True  # words of letters
    lens = text.str.len()  # no spaces: long letter runs whose lengths vary (fixed-length tokens are ids)
    return bool(lens.std() >= 1.5 and (lens / (n_space + 1)).mean() >= 8)


def column_kind(s: pd.Series, name: str) -> str:
    n = len(s)
    nonnull = s.dropna()
    if nonnull.empty:
        return "empty"
    nunique = nonnull.nunique()
    if nunique == 1:
        return "constant"
    if pd.api.types.is_bool_dtype(s) or nunique == 2 and set(map(str, nonnull.unique())) <= {"0", "1", "True", "False"}:
        return "boolean"
    unique_ratio = nunique / max(len(nonnull), 1)
    if pd.api.types.is_numeric_dtype(s):
        if looks_like_id_name(name) and unique_ratio > 0.95 and pd.api.types.is_integer_dtype(s):
            return "id"
        if pd.api.types.is_integer_dtype(s) and unique_ratio == 1.0 and n > 50:
            d = np.diff(np.sort(nonnull.to_numpy()))
            if (d == 1).all():
                return "id"  # a row counter
        return "numeric"
    if _is_datetime(s, name):
        return "datetime"
    # string statistics on a sample: profiling must stay cheap on wide, long tables
    text = (nonnull.sample(3000, random_state=0) if len(nonnull) > 3000 else nonnull).astype(str)
    words = text.str.count(r"\s+").mean()
    if unique_ratio > 0.95 and len(nonnull) > 20:
        if words >= 4:
            return "text"
        if looks_like_id_name(name):
            return "id"
        # short sentences (a few words of similar length, or no spaces at all) are text, not identifiers
        if _natural_language(text):
            return "text"
        if text.str.len().std() < 3:
            return "id"
        return "id" if words < 1 else "text"
    if unique_ratio > 0.5 and (words >= 6 or len(nonnull) > 20 and _natural_language(text)):
        return "text"  # mostly distinct sentences (some repeated): one-hot encoding would see unseen values
    return "categorical"


def profile_table(name: str, path: str, df: pd.DataFrame) -> TableProfile:
    cols = []
    for c in df.columns:
        s = df[c]
        nonnull = s.dropna()
        cols.append(ColumnProfile(
            name=str(c),
            dtype=str(s.dtype),
            kind=column_kind(s, str(c)),  # type: ignore[arg-type]
            missing_fraction=round(float(s.isna().mean()) if len(s) else 0.0, 4),
            n_unique=int(nonnull.nunique()),
            example_values=[str(v)[:60] for v in nonnull.unique()[:5]],
        ))
    return TableProfile(name=name, path=path, n_rows=len(df), n_columns=df.shape[1], columns=cols)


def as_numbers(s: pd.Series) -> pd.Series:
    """Text read as numbers: surrounding spaces ignored, anything else (blank, 'n/a', '--') missing."""
    return pd.to_numeric(s.astype(str).str.strip().where(s.notna(), None), errors="coerce").astype(float)


def numbers_with_odd_values(s: pd.Series) -> Optional[tuple[pd.Series, list[str]]]:
    """A text column of numbers, perhaps with a few odd entries ('n/a', '--', 'abc'): at least 80% of the values
    are numbers and the others take at most 10 distinct forms. Returns the numbers (odd entries missing) and the odd
    forms; None otherwise. Zero-led codes ('007') are codes, not numbers."""
    if s.dtype != object:
        return None
    text = s.astype(str).str.strip().where(s.notna(), "")
    given = text != ""
    if given.sum() < 10 or text[given].str.match(r"^-?0\d").any():
        return None
    nums = as_numbers(s)
    odd = text[given & nums.isna()]
    if nums[given].notna().mean() < 0.8 or odd.nunique() > 10:
        return None
    return nums, sorted(odd.unique().tolist())


def id_flaws(values: pd.Series) -> tuple[int, int]:
    """(rows without a value, values that repeat one before them) of an id column."""
    s = pd.Series(values).replace("", np.nan)
    present = s.dropna()
    return len(s) - len(present), int(key_text(present).duplicated().sum())


def nearly_unique_ids(values: pd.Series) -> bool:
    """An id column with a few flaws: at most 10% of the rows without a value and at most 5% of the others
    repeating one. Named like an id, such a column still names the rows (flawed data, not a group key: a key shared
    by several rows repeats far more often); fully unique columns pass too."""
    blanks, repeats = id_flaws(values)
    present = len(values) - blanks
    return len(values) >= 5 and present >= 0.9 * len(values) and repeats <= 0.05 * present


def key_text(values) -> pd.Series:
    """Key values as text, the way they match across files: 7, 7.0 (a float column after a blank) and '7' agree."""
    raw = pd.Series(values)
    s = raw.astype(str).str.strip().where(raw.notna(), "")  # a missing key (None, NaN) is empty everywhere
    return s.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
