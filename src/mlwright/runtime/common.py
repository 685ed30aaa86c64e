# ---- mlwright common block: data loading and the output contract (shared by every tabular recipe) ----
import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

from mlwright.runtime.metrics import *  # noqa: F403

def load_config():
    """In-process (tests, tools): the configuration file named by MLWRIGHT_CONFIG. A rendered script has the
    task's configuration written on the next line instead."""
    path = os.environ.get("MLWRIGHT_CONFIG")
    if not path:
        sys.exit("error: mlwright.runtime needs a task configuration: set MLWRIGHT_CONFIG to a JSON file "
                 "{\"spec\": ..., \"params\": ...} (a rendered solution.py holds its own)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


CONFIG = load_config()  # <<config>>
SPEC = CONFIG["spec"]
PARAMS = CONFIG["params"]
TARGET = SPEC["target"]
FEATURES = SPEC["feature_columns"]
PROBLEM = SPEC["problem_type"]
CLASSES = SPEC["class_labels"]  # strings, sorted
LOG_TARGET = SPEC["metric"] == "rmsle"  # regression on log1p(target); predictions go back with expm1
T0 = time.time()


# exit status of a script that stops itself because its work cannot fit the time it was given: the planner does
# not retry it with less time (planning/planner.py NO_TIME_EXIT holds the same number; a test checks)
NO_TIME_EXIT = 75


def cores():
    """CPUs this attempt may use: the thread count mlwright set for it (its share of the machine when attempts run
    side by side)."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1


def stop_for_time(msg):
    print(msg, file=sys.stderr, flush=True)
    sys.exit(NO_TIME_EXIT)


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def load_table(path):
    sys.audit("mlwright.read", str(path))  # pyarrow opens files outside Python's open (execution/file_trace.py)
    if str(path).endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, low_memory=False)


def target_series(train):
    y = train[TARGET]
    return y.astype(str) if PROBLEM != "regression" else y.astype(float)


KINDS = SPEC.get("column_kinds") or {}  # how perception read each feature column


def feature_kinds(df):
    """{feature: "numeric" | "datetime" | "text" | "categorical"} for the columns of `df`. Perception's reading
    (TaskSpec.column_kinds) is the one answer to "is this free text?"; numbers and dates are already typed as such
    (perception read them). A column perception did not read (a configuration made by hand) is text when its values
    hold several words."""
    out = {}
    for c in FEATURES:
        s = df[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[c] = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[c] = "datetime"
        elif c in KINDS:
            out[c] = "text" if KINDS[c] == "text" else "categorical"
        else:
            v = s.dropna().astype(str)
            out[c] = "text" if len(v) and v.str.count(" ").mean() >= 3 else "categorical"
    return out


def columns_of(kinds, *wanted):
    return [c for c, k in kinds.items() if k in wanted]


def as_numbers(df, cols):
    """Numeric, boolean and timestamp columns as floats (timestamps: days since 1970; missing stays NaN), for
    models that take numbers only."""
    out = {}
    for c in cols:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = (s - pd.Timestamp(0)).dt.total_seconds() / 86400.0
        else:
            out[c] = pd.to_numeric(s, errors="coerce").astype(float)
    return pd.DataFrame(out, index=df.index, columns=list(cols))


def output_ids(test):
    idc = SPEC["id_column"]
    if idc and idc in test.columns:
        return test[idc].to_numpy()
    return np.arange(len(test))


def _norm(s):
    return "".join(ch for ch in str(s).lower() if ch.isalnum())


def format_predictions(test, pred):
    """pred: a 1-d array of values (regression) or a DataFrame of class probabilities (columns = CLASSES)."""
    cols = SPEC["output_columns"]
    out = pd.DataFrame({SPEC["output_id_column"] or "__key__": output_ids(test)})
    value_cols = [c for c in cols if c != SPEC["output_id_column"]]  # (forecast recipes write their own keys)
    kind = SPEC["output_kind"]
    if kind == "value":
        out[value_cols[0]] = np.asarray(pred, dtype=float)
    elif kind == "label":
        proba = pred[CLASSES]
        out[value_cols[0]] = np.asarray(CLASSES, dtype=object)[np.argmax(proba.to_numpy(), axis=1)]
    elif kind == "probability":
        out[value_cols[0]] = np.clip(pred[SPEC["positive_class"]].to_numpy(dtype=float), 0.0, 1.0)
    else:  # class_probabilities: one column per class, matched by name
        by_norm = {_norm(c): c for c in CLASSES}
        for c in value_cols:
            out[c] = np.clip(pred[by_norm[_norm(c)]].to_numpy(dtype=float), 0.0, 1.0)
    return out[cols]


def raw_frame(pred, rows=None):
    """Predictions before formatting: `prediction` (regression) or `p::<class>` columns; ensembles blend these."""
    out = pd.DataFrame({"__row__": rows}) if rows is not None else pd.DataFrame(index=range(len(pred)))
    if PROBLEM == "regression":
        out["prediction"] = np.asarray(pred, dtype=float)
    else:
        for c in CLASSES:
            out["p::" + c] = np.asarray(pred[c], dtype=float)
    return out


def write_outputs(out_dir, test, test_pred, oof_rows, oof_pred):
    """The prediction file in the task's format, and out-of-fold predictions that mlwright scores itself."""
    sub = format_predictions(test, test_pred)
    sub.to_csv(os.path.join(out_dir, SPEC["prediction_file"]), index=False)
    raw_frame(test_pred).to_csv(os.path.join(out_dir, "test_predictions_raw.csv"), index=False)
    oof = raw_frame(oof_pred, oof_rows)
    oof.to_csv(os.path.join(out_dir, "oof_predictions.csv"), index=False)
    log(f"wrote {SPEC['prediction_file']} ({len(sub)} rows) and oof_predictions.csv ({len(oof)} rows)")


def task_score(y_true, pred):
    """The task's metric on these rows, higher is better (negated where lower is): the metrics mlwright scores
    attempts with. pred: values, or class probabilities (CLASSES columns). A metric that needs more than the rows
    (MASE: the series' histories) falls back to -RMSE."""
    m = SPEC["metric"]
    sign = 1.0 if SPEC["higher_is_better"] else -1.0
    if PROBLEM == "regression":
        if m not in VALUE_METRICS:
            return -rmse(y_true, pred)
        return sign * VALUE_METRICS[m](np.asarray(y_true, dtype=float), np.asarray(pred, dtype=float))
    yt = np.asarray(y_true).astype(str)
    proba = pred[CLASSES].to_numpy(dtype=float)
    if m in PROBA_METRICS:
        return sign * PROBA_METRICS[m](yt, proba, CLASSES, SPEC.get("positive_class"))
    labels = np.asarray(CLASSES, dtype=object)[np.argmax(proba, axis=1)]
    return sign * LABEL_METRICS[m](yt, labels, CLASSES)


def cv_splits(X, y, n_folds=5, seed=0):
    """K-fold splits for regression; stratified for classes (fewer folds when the rarest class is smaller)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if PROBLEM == "regression":
        return list(KFold(n_folds, shuffle=True, random_state=seed).split(X))
    k = max(2, min(n_folds, int(pd.Series(y).value_counts().min())))
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y))


def stopping_split(rows, y, share=0.15, seed=0):
    """(fit rows, stopping rows) of a fold's training rows: boosting picks its number of rounds on the stopping
    rows, never on the rows the fold is scored on, so out-of-fold scores stay honest. Stratified for classes;
    a class seen once stays in the fit rows."""
    from sklearn.model_selection import train_test_split

    rows = np.asarray(rows)
    n_stop = max(int(round(share * len(rows))), min(20, len(rows) // 3))
    if PROBLEM == "regression":
        fit_rows, stop_rows = train_test_split(rows, test_size=n_stop, random_state=seed)
        return np.sort(fit_rows), np.sort(stop_rows)
    labels = np.asarray(y)[rows]
    counts = pd.Series(labels).value_counts()
    rare = np.isin(labels, counts.index[counts < 2])  # a class seen once is learned from, never held out
    strata = labels[~rare] if n_stop >= (counts >= 2).sum() else None
    fit_rows, stop_rows = train_test_split(rows[~rare], test_size=n_stop, random_state=seed, stratify=strata)
    return np.sort(np.concatenate([fit_rows, rows[rare]])), np.sort(stop_rows)


def rounds_for_refit(best_rounds, n_fit_rows, n_all_rows):
    """Boosting rounds for the refit on all rows: the folds' best rounds, a little more for the larger data
    (the number of useful rounds grows slowly with the rows)."""
    mean = float(np.mean(best_rounds))
    return max(1, int(round(mean * min(1.3, (n_all_rows / max(n_fit_rows, 1)) ** 0.5))))


def model_predictions(model, X):
    """A fitted scikit-learn-style model's predictions in write_outputs' form (values, or class probabilities)."""
    if PROBLEM == "regression":
        p = model.predict(X)
        return np.expm1(p) if LOG_TARGET else p
    return as_class_frame(model.predict_proba(X), model.classes_)


def as_class_frame(proba, classes):
    """Class probabilities as a DataFrame with string class names, every class of CLASSES present."""
    df = pd.DataFrame(np.asarray(proba, dtype=float), columns=[str(c) for c in classes])
    for c in CLASSES:
        if c not in df.columns:
            df[c] = 0.0
    return df[CLASSES]


def prior_prediction(y, n):
    """What predicting nothing learned looks like: the mean, or the most frequent class with probability 1."""
    if PROBLEM == "regression":
        return np.full(n, float(np.asarray(y, dtype=float).mean()))
    top = y.value_counts().idxmax()
    return pd.DataFrame({c: np.full(n, 1.0 if c == top else 0.0) for c in CLASSES})


def with_fallback(pred, ok, y):
    """Rows a model could not read (ok False: an image that cannot be decoded) get the prior prediction."""
    if ok.all():
        return pred
    prior = prior_prediction(y, len(ok))
    if PROBLEM == "regression":
        out = np.asarray(pred, dtype=float).copy()
        out[~ok] = np.asarray(prior)[~ok]
        return out
    pred = pred.copy()
    pred.loc[~ok, :] = prior.loc[~ok, :].to_numpy()
    return pred


def cli(fit, predict, check_new=None, write=None):
    """`check_new(new)` returns an error message or None; `write(path, new, pred)` replaces the tabular writer
    (forecasts write their own keys)."""
    ap = argparse.ArgumentParser(description="mlwright solution: fit on the training table or predict new rows")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--train", required=True)
    f.add_argument("--test", required=True)
    f.add_argument("--out", default=".")
    f.add_argument("--model", default="model")
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--raw", action="store_true", help="unformatted predictions (probabilities per class)")
    a = ap.parse_args()
    if a.cmd == "fit":
        log(f"cores: {cores()}")
        os.makedirs(a.model, exist_ok=True)
        fit(load_table(a.train), load_table(a.test), a.out, a.model)
    else:
        new = load_table(a.input)
        missing = [c for c in FEATURES if c not in new.columns]
        problem = check_new(new) if check_new else (
            f"new data lacks {len(missing)} feature column(s): {missing[:10]}" if missing else None)
        if problem:
            sys.exit(f"error: {problem}")
        pred = predict(a.model, new)
        if write is not None:
            write(a.output, new, pred)
        else:
            (raw_frame(pred) if a.raw else format_predictions(new, pred)).to_csv(a.output, index=False)
        log(f"wrote {a.output} ({len(new)} rows)")
# ---- end of common block ----
