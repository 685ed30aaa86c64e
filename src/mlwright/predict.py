"""Apply a finished run's saved model to new rows (`mlwright predict RUN_DIR NEW_DATA --output FILE`)."""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from mlwright.catalog import MODEL_DIR, SOLUTION, load_summary
from mlwright.errors import MlwrightError
from mlwright.execution.sandbox import folders_of, run_sandboxed
from mlwright.perception.layout import Layout
from mlwright.perception.materialize import write_table


def predict_new(run_dir: Path, new_data: Path, output: Path, timeout_s: float = 3600, raw: bool = False) -> Path:
    """The run's model applied to `new_data`, written to `output` in the task's layout; `raw`: as the model gives
    them, one row per input row (`prediction`, or `p::CLASS` probabilities), for the Python API. Segmentation: the
    masks also as files in the folder `<output name>_masks` beside `output` (or the run-length table)."""
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
    layout = Layout(spec)
    rows = layout.new_rows(new_data, run_dir)
    new = rows.frame
    with tempfile.TemporaryDirectory(prefix="predict-", dir=run_dir) as tmp:
        work = Path(tmp)
        write_table(new, work / "new.parquet")
        images = folders_of(new[spec.image.path_column]) if spec.image and spec.image.path_column in new else []
        res = run_sandboxed([sys.executable, str(run_dir / SOLUTION), "predict", "--model", str(run_dir / MODEL_DIR),
                             "--input", str(work / "new.parquet"), "--output", str(work / "out.csv"),
                             *(["--raw"] if raw else [])],
                            work, timeout_s=timeout_s, ro_paths=[run_dir / SOLUTION, run_dir / MODEL_DIR, *images])
        if res.returncode != 0 or not (work / "out.csv").is_file():
            raise MlwrightError("Prediction failed: " + res.tail(1500), where=str(run_dir / SOLUTION))
        output.parent.mkdir(parents=True, exist_ok=True)
        if raw:
            shutil.copyfile(work / "out.csv", output)
        else:
            masks = output.with_name(output.stem + "_masks") if spec.segmentation else None
            if masks is not None and masks.exists():
                raise MlwrightError(f"The masks folder already exists: {masks}", hint="Choose a new --output file.")
            layout.write_user_file(work / "out.csv", output, rows, masks_dir=masks)
    return output
