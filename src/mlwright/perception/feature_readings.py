"""How feature columns are read, decided once on the training and test rows and applied the same way to new rows
(`mlwright predict`): dates, in whatever form the user wrote them, become timestamps, numbers with a few odd entries
('n/a', '--') become numbers with those entries missing, and decorated numbers ("$1,200", "12 kg", "3+ years",
"10-20") become plain numbers (perception.quantities). The decisions live in the TaskSpec (date_columns,
numeric_columns, quantity_columns), so every recipe, LLM script and later prediction sees the same columns."""
from __future__ import annotations

import pandas as pd

from mlwright.perception.dates import detect_date_format, parse_dates
from mlwright.perception.profile import as_numbers, column_kind, numbers_with_odd_values
from mlwright.perception.quantities import learn_quantity_format, read_quantities
from mlwright.schemas import DateFormat, QuantityFormat, TaskSpec


# numbers and decorated numbers need a digit in at least 80% of their values (MIN_SHARE); a column whose sample
# has digits in fewer than this share is neither, which spares the full-column string work for most text columns
DIGIT_SHARE_FLOOR = 0.6
DIGIT_SAMPLE = 2000


def digit_share(s: pd.Series) -> float:
    """The share of a sample of the column's given values that hold a digit (1.0 for a column that is not text)."""
    if s.dtype != object:
        return 1.0
    given = s.dropna()
    if len(given) > DIGIT_SAMPLE:
        given = given.sample(DIGIT_SAMPLE, random_state=0)
    return float(given.astype(str).str.contains(r"\d", regex=True).mean()) if len(given) else 0.0


def learn_readings(train: pd.DataFrame, test: pd.DataFrame, columns: list[str], notes: list[str],
                   quantities: dict[str, QuantityFormat] | None = None) -> tuple[dict[str, DateFormat], list[str]]:
    """Convert `columns` of train and test in place where a reading applies; return what was decided (the
    decorated-number formats go into `quantities` when given)."""
    dates: dict[str, DateFormat] = {}
    numeric: list[str] = []
    for c in columns:
        both = pd.concat([train[c], test[c]], ignore_index=True)
        numeric_like = digit_share(both) >= DIGIT_SHARE_FLOOR
        found = numbers_with_odd_values(both) if numeric_like else None
        if found is not None:
            nums, odd = found
            train[c], test[c] = nums[:len(train)].to_numpy(), nums[len(train):].to_numpy()
            numeric.append(c)
            notes.append(f"column {c!r}: numbers with {len(odd)} odd form(s) ({', '.join(map(repr, odd[:5]))}), "
                         "read as missing values" if odd else f"column {c!r}: numbers written as text, read as numbers")
            continue
        if column_kind(train[c], c) == "datetime" and train[c].dtype == object:
            fmt = detect_date_format(both, c)
            if fmt is not None:  # ISO too: recipes and LLM scripts get timestamps, never date strings to parse
                train[c], test[c] = parse_dates(train[c], fmt), parse_dates(test[c], fmt)
                dates[c] = fmt
                notes.append(f"column {c!r}: dates written as {fmt.note or fmt.pattern}, read as timestamps")
                continue
        learned = learn_quantity_format(both) if quantities is not None and numeric_like else None
        if learned is not None:
            q, odd = learned
            train[c], test[c] = read_quantities(train[c], q).to_numpy(), read_quantities(test[c], q).to_numpy()
            quantities[c] = q
            example = both.dropna().astype(str).iloc[0]
            written = f"unit {q.unit!r}" if q.unit else "ranges or bounds"
            notes.append(f"column {c!r}: numbers written with {written} (e.g. {example!r}), read as numbers"
                         + (f"; {len(odd)} odd form(s) read as missing" if odd else ""))
    return dates, numeric


def read_as_learned(df: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
    """New rows read the way the run read its training rows."""
    out = df.copy()
    for c, fmt in spec.date_columns.items():
        if c in out.columns and out[c].dtype == object:
            out[c] = parse_dates(out[c], fmt)
    for c in spec.numeric_columns:
        if c in out.columns and not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = as_numbers(out[c])
    for c, q in spec.quantity_columns.items():
        if c in out.columns and not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = read_quantities(out[c], q)
    return out
