"""Write the tables an attempt reads (train/test as parquet in the run folder): typed, self-contained."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed Python types become strings (missing values stay missing)."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object:
            types = {type(v) for v in s.dropna().head(5000)}
            if len(types) > 1 or (types and not types <= {str}):
                out[c] = s.map(lambda v: v if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
    return out


def write_table(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet_safe(df).to_parquet(path, index=False)
    return path
