"""Apply a finished run's saved model to new rows (`mlwright predict RUN_DIR NEW_DATA --output FILE`)."""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from mlwright.catalog import MODEL_DIR, SOLUTION, load_summary
from mlwright.errors import DataError, MlwrightError
from mlwright.execution.sandbox import folders_of, run_sandboxed
from mlwright.perception.materialize import write_table
from mlwright.perception.documents import TEXT_COLUMN
from mlwright.perception.feature_readings import read_as_learned
from mlwright.perception.forecast_output import by_row_key, with_timestamps, write_dates_back
from mlwright.perception.images import new_images_frame
from mlwright.perception.readers import _decode
from mlwright.perception.scan import load_folder
from mlwright.perception.wide_series import test_long, to_wide
from mlwright.schemas import TaskSpec
from mlwright.validation.checks import compare_columns


def read_new_data(path: Path, run_dir: Path, spec: TaskSpec) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(dir=run_dir) as tmp:
        folder = load_folder(path, Path(tmp))
        if spec.modality == "image" and not folder.tables:  # a folder of new images
            frame = new_images_frame(folder, spec)
            if frame is not None:
                return frame
        if folder.documents and not folder.tables and TEXT_COLUMN in spec.feature_columns:  # new documents
            rels = sorted(folder.documents)
            return pd.DataFrame({spec.id_column or "filename": [r.split("/")[-1] for r in rels],
                                 TEXT_COLUMN: [_decode(folder.documents[r]) for r in rels]})
    tables = folder.tables
    test_table = spec.test_table
    if len(tables) == 1:
        return next(iter(tables.values()))
    if test_table and test_table in tables:
        return tables[test_table]
    raise DataError(f"{path} holds {len(tables)} tables; which one to predict is unclear: {', '.join(tables)}",
                    hint="Pass a single file as NEW_DATA.")


def predict_new(run_dir: Path, new_data: Path, output: Path, timeout_s: float = 3600) -> Path:
    run_dir = run_dir.resolve()
    summary = load_summary(run_dir)
    if summary.status != "succeeded" or summary.task is None:
        raise MlwrightError(f"Run did not succeed, so it has no model: {run_dir}", hint="Use a succeeded run.")
    spec = summary.task
    if not (run_dir / MODEL_DIR).is_dir() or not (run_dir / SOLUTION).is_file():
        raise MlwrightError(f"The run folder lacks its model or {SOLUTION}.", where=str(run_dir))
    output = output.resolve()
    if output.exists():
        raise MlwrightError(f"Output file already exists: {output}", hint="Choose a new --output file.")
    new = read_new_data(new_data, run_dir, spec)
    wide = spec.timeseries.wide if spec.timeseries else None
    wide_new = None
    if wide is not None and wide.dates_as_columns and wide.time not in new.columns:  # series x future dates
        wide_new, new = new, test_long(new, wide)
    elif wide is not None and wide.item not in new.columns:  # new timestamps in the wide layout
        if wide.time not in new.columns:
            raise DataError(f"The new data lacks the timestamp column {wide.time!r}.", where=str(new_data),
                            hint="Give the timestamps to forecast in that column.")
        wide_new, new = new, test_long(new, wide)
    ts, labels = spec.timeseries, None
    if ts is not None and ts.timestamp_column in new.columns:  # the model reads timestamps, not the user's strings
        new, labels = with_timestamps(new, ts)
    new = read_as_learned(new, spec)
    problem = compare_columns(spec, new)
    if problem:
        raise DataError(problem, where=str(new_data), hint="Give the new rows the same columns as the training data.")
    with tempfile.TemporaryDirectory(prefix="predict-", dir=run_dir) as tmp:
        work = Path(tmp)
        write_table(new, work / "new.parquet")
        images = folders_of(new[spec.image.path_column]) if spec.image and spec.image.path_column in new else []
        res = run_sandboxed([sys.executable, str(run_dir / SOLUTION), "predict", "--model", str(run_dir / MODEL_DIR),
                             "--input", str(work / "new.parquet"), "--output", str(work / "out.csv")],
                            work, timeout_s=timeout_s, ro_paths=[run_dir / SOLUTION, run_dir / MODEL_DIR, *images])
        if res.returncode != 0 or not (work / "out.csv").is_file():
            raise MlwrightError("Prediction failed: " + res.tail(1500), where=str(run_dir / SOLUTION))
        output.parent.mkdir(parents=True, exist_ok=True)
        if wide_new is not None:
            to_wide(pd.read_csv(work / "out.csv"), wide_new, wide).to_csv(output, index=False)
        elif ts is not None and ts.output_columns and all(c in new.columns or c == spec.target
                                                          for c in ts.output_columns):
            by_row_key(pd.read_csv(work / "out.csv", dtype=str, keep_default_na=False), new,
                       spec).to_csv(output, index=False)
        elif labels is not None:  # the forecast's dates as the new rows wrote them
            write_dates_back(work / "out.csv", output, ts, labels)
        else:
            shutil.move(str(work / "out.csv"), str(output))
    return output
