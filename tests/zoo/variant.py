"""The Variant record: one raw folder layout, the words a user would type for it, and the generator's own answer
(prediction file, columns, ids, true values) that the prediction file is checked against."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

Key = tuple  # the id value(s) of one row to predict, as strings (one per id column)


@dataclass
class Variant:
    name: str
    dims: dict[str, str]                 # dimension -> value (what this variant varies, for the summary)
    write: Callable[[Path], None]        # writes the raw data folder
    task: str                            # the words the user types
    prediction_file: str                 # expected file name in the output folder
    columns: list[str]                   # expected output columns, in order
    id_columns: list[str]                # output columns holding the row key; [] = no id: rows in test order
    keys: list[Key]                      # the rows to predict (in the required order when `ordered`)
    truth: list                          # the true answer per key (same order as keys)
    problem_type: str                    # binary | multiclass | regression | forecasting
    ordered: bool = False                # a template (or, without ids, the test file) fixes the row order
    value_column: Optional[str] = None   # the output column holding the prediction (None: wide, see below)
    output: str = "label"                # label | probability | value
    positive: Optional[str] = None       # the class a probability is for
    wide_columns: list[str] = field(default_factory=list)  # wide forecasts: one output column per series;
    # then keys are (time, series) pairs and id_columns is [time column]
    train_means: dict = field(default_factory=dict)  # forecasting: key -> the naive mean forecast (to beat)

    @property
    def ids(self):
        """The expected ids: an ordered list when a template fixes the order, else a set."""
        if self.wide_columns:
            ks = list(dict.fromkeys(k[:-1] for k in self.keys))
            return ks if self.ordered else set(ks)
        return list(self.keys) if self.ordered else set(self.keys)

    @property
    def base(self) -> str:
        return self.dims.get("base", "")
