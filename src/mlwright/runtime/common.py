# ---- mlwright common block: data loading and the output contract (shared by every tabular recipe) ----
import argparse
import json
import os
import sys
import time
from contextlib import contextmanager

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
ML = SPEC.get("multilabel")  # several tags per row: one 0/1 training column per tag (see multi_task)
MO = SPEC.get("multioutput")  # several target columns
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


PHASES: dict = {}  # seconds spent in phases the recipe names (timings.json); "model_fit" is the library's own fitting
LIMITS: dict = {}  # the time limit the recipe gave a phase's library (its fitting may end past it)


# the recipe's fits in this script (several targets fit once or twice each) and the seconds fit_time_limit gave them
FITS = {"total": 1, "done": 0, "given": 0.0}


def fit_time_limit(total, floor=0.0):
    """A library's time limit for this fit (call once per fit), of the `total` fitting seconds the script was given:
    with several tags or targets (multi_task calls fit once per target), the fitting time still unused over the fits
    still to come, so every target gets its share and the script keeps its budget. A library that ran past the
    limits of the fits before (AutoGluon finishes the bagged model it started: 8 s past a 13 s limit on 2 cores)
    gets its later limits shrunk by that measured overrun, but not below `floor` while the unshrunk share allows it."""
    left = max(1, FITS["total"] - FITS["done"])
    used = PHASES.get("model_fit", 0.0)
    share = max(0.0, float(total) - used) / left
    given = FITS["given"]
    if given > 0 and used > given:
        share = max(min(share, floor), share / (used / given))
    FITS["given"] = given + share
    return share


def fit_window(total):
    """(start, seconds): the time this fit may use of a script given `total` seconds from T0. One target: the whole
    script's; several (multi_task calls fit once per target): from now, the time still left over the fits left."""
    if FITS["total"] <= 1:
        return T0, float(total)
    now = time.time()
    return now, max(0.0, float(total) - (now - T0)) / max(1, FITS["total"] - FITS["done"])


@contextmanager
def phase(name):
    t = time.time()
    try:
        yield
    finally:
        PHASES[name] = PHASES.get(name, 0.0) + time.time() - t


def write_timings(out_dir, fit_started):
    """timings.json: where the script's seconds went, so the planner learns this run's overheads (planning/budget.py
    Overheads) instead of guessing them: before fitting (imports, reading the tables), fitting, and after."""
    now = time.time()
    with open(os.path.join(out_dir, "timings.json"), "w", encoding="utf-8") as f:
        json.dump({"script_s": now - T0, "setup_s": fit_started - T0, "fit_call_s": now - fit_started,
                   "phases": PHASES, "limits": LIMITS}, f)


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
    """pred: a 1-d array of values (regression) or a DataFrame of class probabilities (columns = CLASSES); for
    several tags or targets, their raw frame (multi_task)."""
    if ML or MO:
        return format_multi(test, pred)
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
    if ML or MO:  # already raw: `p::<tag column>`, `<target>::prediction`, `<target>::p::<class>`
        out = pred.reset_index(drop=True)
        return out if rows is None else pd.concat([pd.DataFrame({"__row__": rows}), out], axis=1)
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


def affordable_steps(seconds, n_fits, per_step):
    """Boosting steps (rounds, iterations) that n_fits fits can afford in `seconds`, rounded down to a coarse grid
    (1, 1.25, 1.6, 2, 2.5, 3.2, 4, 5, 6.4, 8 x 10^k): a plan timed on a probe would otherwise change with the
    machine's momentary load, and two runs of the same task on the same data (on a cluster's node and here) would
    not give the same model."""
    raw = seconds / (n_fits * max(per_step, 1e-6))
    if raw < 1:
        return 0
    k = 10 ** np.floor(np.log10(raw))
    return int(max(g * k for g in (1, 1.25, 1.6, 2, 2.5, 3.2, 4, 5, 6.4, 8) if g * k <= raw * (1 + 1e-9)))


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


# ---- several tags (multilabel) or several targets (multioutput): one single-target task each, fitted by the
# ---- recipe's own fit/predict with the task's globals switched to that target (the script's module globals)
_TASK_GLOBALS = ("SPEC", "TARGET", "PROBLEM", "CLASSES", "LOG_TARGET", "ML", "MO", "FEATURES", "KINDS")


def sub_tasks():
    """The single-target tasks: a binary 0/1 task per tag column, or each target with its own problem type."""
    if ML:
        return [{"name": c, "problem_type": "binary", "class_labels": ["0", "1"], "positive": "1"}
                for c in ML["columns"]]
    return [{"name": t["name"], "problem_type": t["problem_type"], "class_labels": t["class_labels"],
             "positive": t["class_labels"][-1] if t["problem_type"] == "binary" else None} for t in MO["targets"]]


class use_task:
    """`with use_task(sub, extra_features):` the recipe's code sees one target (its spec, problem, classes)."""

    def __init__(self, sub, extra=()):
        self.sub, self.extra = sub, list(extra)

    def __enter__(self):
        g = globals()
        self.saved = {k: g[k] for k in _TASK_GLOBALS}
        sub, key = self.sub, SPEC["output_id_column"] or "__key__"
        problem = sub["problem_type"]
        metric = "rmse" if problem == "regression" else "roc_auc" if problem == "binary" else "accuracy"
        spec = dict(SPEC, problem_type=problem, target=sub["name"], class_labels=sub["class_labels"],
                    positive_class=sub["positive"], metric=metric, higher_is_better=metric != "rmse",
                    output_kind="value" if problem == "regression" else "probability" if problem == "binary"
                    else "label", output_id_column=key, output_columns=[key, "value"],
                    prediction_file="prediction.csv", multilabel=None, multioutput=None,
                    feature_columns=FEATURES + self.extra,
                    column_kinds=dict(KINDS, **{c: "numeric" for c in self.extra}))
        g.update(SPEC=spec, TARGET=sub["name"], PROBLEM=problem, CLASSES=sub["class_labels"], LOG_TARGET=False,
                 ML=None, MO=None, FEATURES=spec["feature_columns"], KINDS=spec["column_kinds"])
        return self

    def __exit__(self, *exc):
        globals().update(self.saved)


def _prefixed(raw, sub):
    """A single-target raw frame in the multi-target raw layout."""
    if ML:
        out = pd.DataFrame({"p::" + sub["name"]: raw["p::1"].to_numpy(dtype=float)}, index=raw.index)
        return pd.concat([raw[["__row__"]], out], axis=1) if "__row__" in raw.columns else out
    return raw.rename(columns=lambda c: c if c == "__row__" else sub["name"] + "::" + c)


def _chain_features(raw, subs):
    """The earlier targets' predictions as numeric features of a later one (a chained, joint model)."""
    cols = [c for s in subs for c in raw.columns if c.startswith(s["name"] + "::")]
    return raw[cols].rename(columns=lambda c: "__chain__" + c).reset_index(drop=True)


def _own_score(sub, y, raw):
    t = [{"name": sub["name"], "problem_type": sub["problem_type"], "class_labels": sub["class_labels"]}]
    return target_scores(pd.DataFrame({sub["name"]: np.asarray(y)}), raw, t)[sub["name"]]


def multi_task(fit, predict):
    """fit/predict for several tags or targets from a recipe's single-target fit/predict. Each target's model is
    fitted in model/targets/<i>; with several targets (multioutput), each later target is also fitted chained
    (the earlier targets' out-of-fold predictions as features) and the better of the two on its out-of-fold rows
    is kept (model/choice.json)."""
    subs = sub_tasks()
    chain = bool(MO) and PARAMS.get("chain", True)

    def run_fit(train, test, out_dir, model_dir):
        test_parts, oof_parts, chosen, test_sep, oof_sep = [], [], [], [], []
        FITS.update(total=len(subs) + (len(subs) - 1 if chain else 0), done=0, given=0.0)
        for i, sub in enumerate(subs):
            parts = {}
            variants = [("separate", [])] + ([("chained", subs[:i])] if chain and i else [])
            for how, before in variants:
                d_out = os.path.join(out_dir, "targets", f"{i}-{how}")
                d_model = os.path.join(model_dir, "targets", f"{i}-{how}")
                os.makedirs(d_out, exist_ok=True)
                os.makedirs(d_model, exist_ok=True)
                tr, te = train, test
                extra = []
                if before:  # the earlier targets' separate models: out-of-fold rows for train, test predictions
                    prev_oof = pd.concat(oof_sep[:i], axis=1).sort_index()
                    prev_test = pd.concat(test_sep[:i], axis=1)
                    f_tr = _chain_features(prev_oof.reindex(range(len(train))), before)
                    f_te = _chain_features(prev_test, before)
                    extra = list(f_tr.columns)
                    tr = pd.concat([train.reset_index(drop=True), f_tr], axis=1)
                    te = pd.concat([test.reset_index(drop=True), f_te], axis=1)
                log(f"target {i + 1}/{len(subs)} {sub['name']!r} ({sub['problem_type']}, {how})")
                with use_task(sub, extra):
                    fit(tr, te, d_out, d_model)
                FITS["done"] += 1
                t_raw = _prefixed(pd.read_csv(os.path.join(d_out, "test_predictions_raw.csv")), sub)
                o_raw = _prefixed(pd.read_csv(os.path.join(d_out, "oof_predictions.csv")), sub).set_index("__row__")
                score = _own_score(sub, train[sub["name"]].iloc[o_raw.index].astype(
                    float if sub["problem_type"] == "regression" else str), o_raw) if MO else 0.0
                parts[how] = (t_raw, o_raw, score)
            test_sep.append(parts["separate"][0])
            oof_sep.append(parts["separate"][1])
            how = max(parts, key=lambda h: parts[h][2])
            if len(parts) > 1:
                log(f"{sub['name']!r}: separate {parts['separate'][2]:.4f}, chained {parts['chained'][2]:.4f}: "
                    f"{how} kept")
            chosen.append(how)
            test_parts.append(parts[how][0])
            oof_parts.append(parts[how][1])
        with open(os.path.join(model_dir, "choice.json"), "w") as f:
            json.dump(chosen, f)
        oof = pd.concat(oof_parts, axis=1, join="inner").sort_index()
        write_outputs(out_dir, test, pd.concat(test_parts, axis=1), oof.index.to_numpy(), oof)

    def run_predict(model_dir, new):
        with open(os.path.join(model_dir, "choice.json")) as f:
            chosen = json.load(f)
        sep, out = [], []
        for i, sub in enumerate(subs):
            with use_task(sub):  # (prefixed outside: _prefixed reads the multi-target globals)
                raw = raw_frame(predict(os.path.join(model_dir, "targets", f"{i}-separate"), new))
            sep.append(_prefixed(raw, sub))
            part = sep[-1]
            if chosen[i] == "chained":
                f_new = _chain_features(pd.concat(sep[:i], axis=1), subs[:i])
                with use_task(sub, list(f_new.columns)):
                    raw = raw_frame(predict(os.path.join(model_dir, "targets", f"{i}-chained"),
                                            pd.concat([new.reset_index(drop=True), f_new], axis=1)))
                part = _prefixed(raw, sub)
            out.append(part)
        return pd.concat(out, axis=1)

    return run_fit, run_predict


def format_multi(test, raw):
    """The user's file from raw multi-target predictions: tags joined, as a JSON list or one column per tag;
    each target's value or label in its own column."""
    cols = SPEC["output_columns"]
    key = SPEC["output_id_column"]
    out = pd.DataFrame({key or "__key__": output_ids(test)})
    value_cols = [c for c in cols if c != key]
    if ML:
        P = raw[["p::" + c for c in ML["columns"]]].to_numpy(dtype=float)
        D = tag_decisions(P, ML["threshold"], ML["at_least_one"])
        tags = ML["tags"]
        if ML["layout"] == "indicators":  # the output's tag columns are the training's, one per tag
            for j, c in enumerate(ML["columns"]):
                out[c] = np.clip(P[:, j], 0.0, 1.0) if ML["probabilities"] else D[:, j]
        else:
            rows = [[tags[j] for j in np.flatnonzero(d)] for d in D]
            out[value_cols[0]] = [json.dumps(r) if ML["layout"] == "json" else ML["separator"].join(r) for r in rows]
        return out[cols]
    for t in MO["targets"]:
        rc, c = target_raw_columns(t), t["output_column"] or t["name"]
        if t["problem_type"] == "regression":
            out[c] = raw[rc[0]].to_numpy(dtype=float)
        else:
            out[c] = np.asarray(t["class_labels"], dtype=object)[np.argmax(raw[rc].to_numpy(dtype=float), axis=1)]
    return out[cols]


def solution_args(description, raw_help, fit_options=()):
    """The command line every solution script shares: `fit --train --test [--out --model]` and
    `predict --model --input --output [--raw]`; fit_options: further optional fit arguments (name, help)."""
    ap = argparse.ArgumentParser(description=description)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--train", required=True)
    f.add_argument("--test", required=True)
    for name, text in fit_options:
        f.add_argument(name, help=text)
    f.add_argument("--out", default=".")
    f.add_argument("--model", default="model")
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--raw", action="store_true", help=raw_help)
    return ap.parse_args()


def cli(fit, predict, check_new=None, write=None):
    """`check_new(new)` returns an error message or None; `write(path, new, pred)` replaces the tabular writer
    (forecasts write their own keys). Several tags or targets: the recipe's fit/predict once per target."""
    if ML or MO:
        fit, predict = multi_task(fit, predict)
    a = solution_args("mlwright solution: fit on the training table or predict new rows",
                      "unformatted predictions (probabilities per class)")
    if a.cmd == "fit":
        log(f"cores: {cores()}")
        os.makedirs(a.model, exist_ok=True)
        train, test = load_table(a.train), load_table(a.test)
        fit_started = time.time()
        fit(train, test, a.out, a.model)
        write_timings(a.out, fit_started)
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
