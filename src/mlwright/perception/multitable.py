"""Several related tables: find keys by column names and by value overlap, join one-to-one tables and
aggregate one-to-many tables per key onto the entity table (train and test alike). Auxiliary tables never
hold the labels, so nothing about the test labels can leak in."""
from __future__ import annotations

from itertools import combinations
from typing import Optional

import pandas as pd

from mlwright.perception.dates import looks_like_dates, to_timestamps

MIN_OVERLAP = 0.3  # share of entity rows that must find a match for a key to count
MAX_KEY_COLUMNS = 3
MAX_VALUE_JOINS = 3


def _key_frame(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    key = df[cols[0]].astype(str)
    for c in cols[1:]:
        key = key + "\x1f" + df[c].astype(str)
    return key


def _overlap(left: pd.DataFrame, lcols: list[str], right: pd.DataFrame, rcols: list[str]) -> float:
    """Share of (a sample of) the left rows whose key is found on the right."""
    if len(left) > 5000:
        left = left.sample(5000, random_state=0)
    lk = _key_frame(left, lcols)
    if len(rcols) == 1:  # distinct values first: a big table's key column casts to text once per value
        right = pd.DataFrame({rcols[0]: pd.unique(right[rcols[0]])})
    return float(lk.isin(set(_key_frame(right, rcols))).mean()) if len(lk) else 0.0


def _uniqueness(df: pd.DataFrame, cols: list[str]) -> float:
    return _key_frame(df, cols).nunique() / max(len(df), 1)


def _stem(name: str) -> str:
    return name.split("/")[-1].split("#")[-1].rsplit(".", 1)[0]


def _best_shared_key(entity: pd.DataFrame, aux: pd.DataFrame, shared: list[str]) -> Optional[list[str]]:
    """The subset of same-named columns that best identifies aux rows, among those that match entity rows."""
    best, best_u = None, -1.0
    shared = [c for c in shared if _overlap(entity, [c], aux, [c]) >= MIN_OVERLAP]  # every part must match too
    for size in range(1, min(MAX_KEY_COLUMNS, len(shared)) + 1):
        for combo in combinations(shared, size):
            cols = list(combo)
            if _overlap(entity, cols, aux, cols) < MIN_OVERLAP:
                continue
            u = _uniqueness(aux, cols)
            if u > best_u + 1e-9:
                best, best_u = cols, u
        if best_u >= 1.0:
            break
    return best


def _aggregate(aux: pd.DataFrame, key: list[str], prefix: str) -> pd.DataFrame:
    """One row per key: count, numeric mean/min/max/std and the last value (by time when there is a date),
    distinct counts of categorical columns."""
    df = aux.copy()
    df["__key__"] = _key_frame(df, key)
    value_cols = [c for c in df.columns if c not in key and c != "__key__"]
    time_cols = [c for c in value_cols if df[c].dtype == object and looks_like_dates(df[c], str(c))]
    if time_cols:
        df = df.assign(__t__=to_timestamps(df[time_cols[0]], str(time_cols[0]))).sort_values("__t__")
    g = df.groupby("__key__", sort=False)
    parts = [g.size().rename(f"{prefix}.count")]
    num = [c for c in value_cols if pd.api.types.is_numeric_dtype(df[c])]
    if num:
        stats = g[num].agg(["mean", "min", "max", "std"])
        stats.columns = [f"{prefix}.{c}.{s}" for c, s in stats.columns]
        last = g[num].last()
        last.columns = [f"{prefix}.{c}.last" for c in last.columns]
        parts += [stats, last]
    cat = [c for c in value_cols if c not in num and c not in time_cols]
    if cat:
        nun = g[cat].nunique()
        nun.columns = [f"{prefix}.{c}.nunique" for c in nun.columns]
        parts.append(nun)
    return pd.concat(parts, axis=1)


def _lookup(aux: pd.DataFrame, key: list[str], prefix: str) -> pd.DataFrame:
    df = aux.drop_duplicates(subset=key).copy()
    idx = _key_frame(df, key)
    df = df.drop(columns=key)
    df.columns = [f"{prefix}.{c}" for c in df.columns]
    df.index = idx.to_numpy()
    return df


def _attach(entity: pd.DataFrame, ecols: list[str], table: pd.DataFrame) -> pd.DataFrame:
    joined = table.reindex(_key_frame(entity, ecols).to_numpy())
    joined.index = entity.index
    return pd.concat([entity, joined], axis=1)


def enrich(train: pd.DataFrame, test: pd.DataFrame, aux: dict[str, pd.DataFrame], target: Optional[str],
           notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Train and test with the auxiliary tables' columns joined on; the joins as readable lines."""
    joins: list[str] = []
    for name, A in aux.items():
        A = A.drop(columns=[target], errors="ignore") if target else A
        prefix = _stem(name)
        shared = [c for c in A.columns if c in train.columns and c in test.columns]
        key = _best_shared_key(train, A, shared) if shared else None
        if key:
            unique = _uniqueness(A, key) >= 1.0
            table = _lookup(A, key, prefix) if unique else _aggregate(A, key, prefix)
            train, test = _attach(train, key, table), _attach(test, key, table)
            how = "joined one-to-one" if unique else f"aggregated ({len(A)} rows to {len(table)} keys)"
            joins.append(f"{name}: {how} on {key}, {table.shape[1]} columns, "
                         f"{_overlap(train, key, A, key):.0%} of training rows matched")
            continue
        # no usable shared name: a column of the entity table whose values are a unique column of the aux table
        candidates = [c for c in A.columns if A[c].dtype == object and A[c].is_unique]
        done = 0
        for ac in candidates:
            for ec in [c for c in train.columns if c in test.columns and train[c].dtype == object]:
                if done >= MAX_VALUE_JOINS or _overlap(train, [ec], A, [ac]) < 0.5:
                    continue
                table = _lookup(A, [ac], f"{ec}.{prefix}")
                train, test = _attach(train, [ec], table), _attach(test, [ec], table)
                joins.append(f"{name}: joined one-to-one on {ec} = {name}.{ac}, {table.shape[1]} columns")
                done += 1
        if not done:
            notes.append(f"table {name!r} not used: no joinable key with the training table")
    for j in joins:
        notes.append(f"multi-table: {j}")
    return train, test, joins
