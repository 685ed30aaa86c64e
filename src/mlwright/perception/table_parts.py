"""One table written as several files: `train_2022.csv` + `train_2023.csv`, `train/part-0.parquet` +
`train/part-1.parquet`, or a validation split beside the training table (`train.csv` + `valid.csv`). Parts have the
same columns and names that differ only in numbers (or name a validation split); they are stacked into one table
before the roles are decided, so every labelled row trains and no part is mistaken for a lookup table."""
from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd

PARTS_JOIN = " + "  # the stacked table's name: its parts' names joined, so the raw files stay traceable
_VALID = re.compile(r"(?<![a-z])(valid|validation|val|dev)(?![a-z])", re.I)
_TRAIN = re.compile(r"(?<![a-z])train(ing)?(?![a-z])", re.I)


def part_names(name: str) -> list[str]:
    """The table names a (possibly stacked) table was made of."""
    return name.split(PARTS_JOIN)


def _pattern(name: str) -> str:
    return re.sub(r"\d+", "#", name.lower())


def stack_parts(tables: dict[str, pd.DataFrame], samples: set[str], notes: list[str]) -> dict[str, pd.DataFrame]:
    groups: dict[tuple, list[str]] = defaultdict(list)
    for name, df in tables.items():
        if name not in samples and df.shape[1] >= 2 and len(df):
            groups[(frozenset(map(str, df.columns)), _pattern(name))].append(name)
    # a validation split beside its training table joins that group
    moves = []
    for name, df in tables.items():
        if name in samples or not _VALID.search(name.rsplit("/", 1)[-1]) or df.shape[1] < 2 or not len(df):
            continue
        own = (frozenset(map(str, df.columns)), _pattern(name))
        train = [key for key, names in groups.items() if key[0] == own[0] and key != own
                 and any(_TRAIN.search(n.rsplit("/", 1)[-1]) for n in names)]
        if len(train) == 1:
            moves.append((name, own, train[0]))
    for name, own, key in moves:
        groups[own].remove(name)
        groups[key].append(name)
    out = dict(tables)
    for (_cols, _), names in groups.items():
        if len(names) < 2:
            continue
        names = sorted(names, key=lambda n: (bool(_VALID.search(n.rsplit("/", 1)[-1])), n))
        first = tables[names[0]]
        stacked = pd.concat([tables[n][list(first.columns)] for n in names], ignore_index=True)
        for n in names:
            del out[n]
        joined = PARTS_JOIN.join(names)
        out[joined] = stacked
        notes.append(f"parts of one table: {', '.join(repr(n) for n in names)} have the same columns; stacked "
                     f"({len(stacked)} rows)")
    return out
