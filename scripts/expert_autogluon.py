"""The hand-written AutoGluon script an expert would write for a tabular task, the reference mlwright is compared
with (scripts/compare_autogluon.py): best_quality presets, 80% of the budget as AutoGluon's time limit (the rest
for importing, predicting and writing), the task's metric, probabilities where the output asks for them.

It reads the training and test tables mlwright prepared for the same task (run folder inputs/): the expert gets
mlwright's reading of the folder (joins, parsed numbers) for free, so the comparison measures only what mlwright
adds on top of one AutoGluon fit.

    python scripts/expert_autogluon.py RUN_FOLDER OUTPUT.csv --time-limit 300
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlwright.runtime.metrics import AUTOGLUON_METRICS  # the names mlwright's own AutoGluon recipe uses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_folder", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--time-limit", type=float, required=True)
    ap.add_argument("--model", type=Path, default=None, help="where AutoGluon saves (default: a temporary folder)")
    a = ap.parse_args()
    t0 = time.time()
    from autogluon.tabular import TabularPredictor

    spec = json.loads((a.run_folder / "run.json").read_text())["task"]
    train = pd.read_parquet(a.run_folder / "inputs" / "train.parquet")
    test = pd.read_parquet(a.run_folder / "inputs" / "test.parquet")
    target, features, metric = spec["target"], spec["feature_columns"], spec["metric"]
    data = train[features + [target]].copy()
    if metric == "rmsle":  # the usual way: fit log1p(target) with RMSE
        data[target] = np.log1p(data[target].clip(lower=0))
    import tempfile

    model = a.model or Path(tempfile.mkdtemp(prefix="expert_ag_"))
    predictor = TabularPredictor(label=target, problem_type=spec["problem_type"], eval_metric=AUTOGLUON_METRICS[metric],
                                 path=str(model), verbosity=1)
    predictor.fit(data, presets="best_quality", time_limit=0.8 * a.time_limit)
    X = test[features]
    id_col, out_cols = spec["output_id_column"], spec["output_columns"]
    value_col = [c for c in out_cols if c != id_col]
    out = pd.DataFrame({id_col: test[spec["id_column"]].to_numpy()})
    if spec["problem_type"] == "regression":
        p = predictor.predict(X).to_numpy(dtype=float)
        out[value_col[0]] = np.expm1(p) if metric == "rmsle" else p
    elif spec["output_kind"] == "probability" and spec["problem_type"] == "binary":
        proba = predictor.predict_proba(X)
        out[value_col[0]] = proba[[c for c in proba.columns if str(c) == spec["positive_class"]][0]].to_numpy()
    elif spec["output_kind"] == "probability":  # one column per class
        proba = predictor.predict_proba(X)
        for c in value_col:
            out[c] = proba[[k for k in proba.columns if str(k) == c][0]].to_numpy()
    else:
        out[value_col[0]] = predictor.predict(X).to_numpy()
    out.to_csv(a.output, index=False)
    print(json.dumps({"seconds": round(time.time() - t0, 1), "best_model": predictor.model_best}))


if __name__ == "__main__":
    main()
