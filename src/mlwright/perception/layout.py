"""The one converter between the user's layout and the model's. Attempts read one row per prediction with real
timestamps and typed features, and write long forecasts with ISO dates; the user gives and gets their own layout
(a folder of images or documents, a wide series table, dates in their own strings, forecasts keyed by their row
ids). `finish` (the run's test rows) and `mlwright predict` (new rows) both go through `Layout`, so the two files
cannot disagree on how a layout is read or written back."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from mlwright.errors import DataError
from mlwright.perception.documents import TEXT_COLUMN
from mlwright.perception.feature_readings import read_as_learned
from mlwright.perception.forecast_output import (LABELS, by_row_key, user_times, with_timestamps,
                                                 write_dates_back)
from mlwright.perception.images import new_images_frame
from mlwright.perception.readers import _decode
from mlwright.perception.scan import load_folder
from mlwright.perception.segmentation import new_segmentation_frame, write_masks_back
from mlwright.perception.wide_series import first_series_rows, test_long, to_wide
from mlwright.schemas import TaskSpec


@dataclass
class ModelRows:
    """Rows to predict as the model reads them, and what it takes to write their predictions back."""

    frame: pd.DataFrame  # one row per prediction, features read as the run read them
    wide: Optional[pd.DataFrame] = None  # the user's wide table (its skeleton) when the rows came wide
    labels: Optional[pd.DataFrame] = None  # (timestamp, label): the dates as the user wrote them


def ranking_rows(spec: TaskSpec, new: pd.DataFrame, path: Path) -> pd.DataFrame:
    """New queries in the model's layout (query_id, query[, doc_id]) from the user's queries table: its query id and
    text columns as the run read them (a table of two columns, id and text, by position)."""
    from mlwright.perception.profile import key_text

    r = spec.ranking
    assert r is not None
    text_cols = r.query_text_column.split(" + ")
    if {"query_id", "query"} <= set(new.columns):
        out = new.assign(query_id=key_text(new["query_id"]))
    elif r.query_id_column in new.columns and all(c in new.columns for c in text_cols):
        out = pd.DataFrame({"query_id": key_text(new[r.query_id_column]).to_numpy(),
                            "query": new[text_cols].fillna("").astype(str).agg("\n".join, axis=1).to_numpy()})
    elif new.shape[1] == 2 and r.layout != "pairs":
        out = pd.DataFrame({"query_id": key_text(new.iloc[:, 0]).to_numpy(),
                            "query": new.iloc[:, 1].fillna("").astype(str).to_numpy()})
    else:
        raise DataError(f"The new queries lack the columns {r.query_id_column!r} and {r.query_text_column!r}.",
                        where=str(path), hint="Give the queries as a table with the query id and text columns of the "
                                              "run's queries table" + (", and the document id of each pair to score."
                                                                       if r.layout == "pairs" else "."))
    if r.layout == "pairs":
        dcol = next((c for c in (spec.output_columns[1], "doc_id") if c in new.columns), None)
        if dcol is None:
            raise DataError(f"The new pairs lack the document column {spec.output_columns[1]!r}.", where=str(path),
                            hint="Give one row per (query, document) pair to score.")
        out["doc_id"] = key_text(new[dcol]).to_numpy()
    return out


class Layout:
    def __init__(self, spec: TaskSpec):
        self.spec = spec

    def run_rows(self, inputs: Path) -> ModelRows:
        """The run's own rows to predict (inputs/test.parquet, written by perception) and their user labels."""
        ts = self.spec.timeseries
        test = pd.read_parquet(Path(inputs) / "test.parquet")
        labels = pd.read_parquet(Path(inputs) / LABELS) if (Path(inputs) / LABELS).is_file() else None
        wide = None
        if ts is not None and ts.wide is not None:
            skeleton = test.copy()
            skeleton[ts.timestamp_column] = user_times(skeleton[ts.timestamp_column], labels,
                                                       ts.date_format).to_numpy()
            wide = first_series_rows(skeleton, ts.wide)
        return ModelRows(test, wide, labels)

    def new_rows(self, path: Path, scratch: Path) -> ModelRows:
        """New data (a file or a folder) as the model reads it, checked against the training columns."""
        from mlwright.validation.checks import compare_columns

        spec, ts = self.spec, self.spec.timeseries
        new = self._read(path, scratch)
        if spec.ranking is not None:
            new = ranking_rows(spec, new, path)
        wide_layout = ts.wide if ts else None
        wide = None
        if wide_layout is not None and wide_layout.dates_as_columns and wide_layout.time not in new.columns:
            wide, new = new, test_long(new, wide_layout)  # series x future dates
        elif wide_layout is not None and wide_layout.item not in new.columns:  # new timestamps, one column a series
            if wide_layout.time not in new.columns:
                raise DataError(f"The new data lacks the timestamp column {wide_layout.time!r}.", where=str(path),
                                hint="Give the timestamps to forecast in that column.")
            wide, new = new, test_long(new, wide_layout)
        labels = None
        if ts is not None and ts.timestamp_column in new.columns:  # the model reads timestamps, not strings
            new, labels = with_timestamps(new, ts)
        new = read_as_learned(new, spec)
        problem = compare_columns(spec, new)
        if problem:
            raise DataError(problem, where=str(path), hint="Give the new rows the same columns as the training data.")
        return ModelRows(new, wide, labels)

    def _read(self, path: Path, scratch: Path) -> pd.DataFrame:
        spec = self.spec
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            folder = load_folder(path, Path(tmp))
            if spec.modality == "image" and not folder.tables:  # a folder of new images
                frame = new_segmentation_frame(folder, spec) if spec.segmentation else new_images_frame(folder, spec)
                if frame is not None:
                    return frame
            if folder.documents and not folder.tables and TEXT_COLUMN in spec.feature_columns:  # new documents
                rels = sorted(folder.documents)
                return pd.DataFrame({spec.id_column or "filename": [r.split("/")[-1] for r in rels],
                                     TEXT_COLUMN: [_decode(folder.documents[r]) for r in rels]})
        tables = folder.tables
        if len(tables) == 1:
            return next(iter(tables.values()))
        if spec.test_table and spec.test_table in tables:
            return tables[spec.test_table]
        raise DataError(f"{path} holds {len(tables)} tables; which one to predict is unclear: {', '.join(tables)}",
                        hint="Pass a single file as NEW_DATA.")

    def write_user_file(self, src: Path, dst: Path, rows: ModelRows, masks_dir: Optional[Path] = None) -> None:
        """An attempt's prediction file for `rows` as the user's file: wide when the rows came wide, keyed by the
        rows' own ids, dates as the user wrote them; other cells are copied as written. Segmentation: the masks
        as files in `masks_dir` (layout files; the table is copied) or the table of run-length encodings."""
        spec, ts = self.spec, self.spec.timeseries
        if spec.segmentation is not None:
            write_masks_back(spec, src, dst, masks_dir or dst.parent / spec.segmentation.mask_folder)
        elif ts is None:
            shutil.copyfile(src, dst)
        elif ts.wide is not None and rows.wide is not None:
            to_wide(pd.read_csv(src), rows.wide, ts.wide).to_csv(dst, index=False)
        elif ts.output_columns and all(c in rows.frame.columns or c == spec.target for c in ts.output_columns):
            by_row_key(pd.read_csv(src, dtype=str, keep_default_na=False), rows.frame, spec).to_csv(dst, index=False)
        else:
            write_dates_back(src, dst, ts, rows.labels)
