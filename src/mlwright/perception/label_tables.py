"""Labels kept apart from the features: a small table of (key, outcome) whose keys are rows of a features table
(`train_features` + `train_labels` + `test_features`, or `customers` + `labels` + a template of the keys to
predict). The labels are joined onto their features table under that table's name, so the rest of perception sees
the usual layouts: a training table beside a test table, or one table whose unlabelled rows are to be predicted."""
from __future__ import annotations

from typing import Optional

import pandas as pd

from mlwright.perception.profile import key_text

MAX_LABEL_COLUMNS = 3  # besides the key: a labels table holds one outcome, or a few
MIN_KEY_MATCH = 0.9  # share of the labels' keys that must be rows of the features table


_keys = key_text


def _features_of(lname: str, L: pd.DataFrame, tables: dict[str, pd.DataFrame],
                 skip: set[str]) -> Optional[tuple[str, str, float]]:
    """(features table, key, share of label keys found there) for a labels table, or None."""
    best = None
    for fname, F in tables.items():
        if fname == lname or fname in skip:
            continue
        shared = [c for c in L.columns if c in F.columns]
        if len(shared) != 1 or F.shape[1] < 3:  # one key; the features table has features besides it
            continue
        k = shared[0]
        if not (L[k].notna().all() and L[k].is_unique and F[k].is_unique):
            continue
        match = float(_keys(L[k]).isin(set(_keys(F[k]))).mean())
        if match >= MIN_KEY_MATCH and (best is None or match > best[2]):
            best = (fname, k, match)
    return best


def attach_labels(tables: dict[str, pd.DataFrame], samples: set[str], notes: list[str]) -> dict[str, pd.DataFrame]:
    """The tables with each labels table joined onto its features table (left join: unlabelled rows keep a blank
    outcome). Joined only when that is the one reading: another table has exactly the features table's columns
    (the test features), or no other table shares the features table's columns (its unlabelled rows are the ones
    to predict)."""
    out = dict(tables)
    for lname, L in tables.items():
        if lname in samples or not 2 <= L.shape[1] <= MAX_LABEL_COLUMNS + 1 or len(L) == 0:
            continue
        found = _features_of(lname, L, out, samples | {lname})
        if found is None:
            continue
        fname, k, match = found
        F = out[fname]
        labels = [c for c in L.columns if c != k]
        if L[labels].isna().all().any():  # an empty column: a template to fill, not labels
            continue
        others = [n for n in out if n not in (fname, lname) and n not in samples]
        twins = [n for n in others if set(out[n].columns) == set(F.columns)]
        overlapping = [n for n in others if len(set(out[n].columns) & set(F.columns)) >= 0.6 * F.shape[1]]
        unlabelled = int((~_keys(F[k]).isin(set(_keys(L[k])))).sum())
        if not (twins or (not overlapping and unlabelled > 0)):
            continue
        lab = L.assign(**{k: _keys(L[k])}).set_index(k)[labels]
        joined = F.copy()
        joined[labels] = lab.reindex(_keys(F[k]).to_numpy()).to_numpy()
        out[fname] = joined
        del out[lname]
        rest = (f"the rows to predict are in {twins[0]!r}" if twins else
                f"its {unlabelled} rows without a label are the ones to predict")
        notes.append(f"labels: {lname!r} ({', '.join(map(str, labels))}) joined onto {fname!r} by {k!r} "
                     f"({match:.0%} of its keys found); {rest}")
    return out
