"""Column profiling: type, missingness, cardinality, id-like, datetime-like, free text."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from mlwright.schemas import ColumnProfile, TableProfile

_ID_NAME = re.compile(r"(^|[_\s\-])(id|key|uuid|guid)$|^(id|index|row_?id|unnamed: 0)$", re.I)


def looks_like_id_name(name: str) -> bool:
    return bool(_ID_NAME.search(name.strip()))


def _is_datetime(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if s.dtype != object:
        return False
    sample = s.dropna().astype(str).head(200)
    if sample.empty or sample.str.len().median() > 40 or not sample.str.contains(r"\d", regex=True).all():
        return False
    if not sample.str.contains(r"[-/:.]", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return parsed.notna().mean() > 0.95


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
    if _is_datetime(s):
        return "datetime"
    # string statistics on a sample: profiling must stay cheap on wide, long tables
    text = (nonnull.sample(3000, random_state=0) if len(nonnull) > 3000 else nonnull).astype(str)
    if unique_ratio > 0.95 and len(nonnull) > 20:
        words = text.str.count(r"\s+").mean()
        if words >= 4:
            return "text"
        if looks_like_id_name(name) or text.str.len().std() < 3:
            return "id"
        return "id" if words < 1 else "text"
    if text.str.count(r"\s+").mean() >= 6 and unique_ratio > 0.5:
        return "text"
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
