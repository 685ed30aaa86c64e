"""From tables + the user's words to a TaskSpec: which table trains, which is the test set, the target,
the problem type, the metric, the id column and the exact output format."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pandas as pd

from mlwright.errors import AmbiguousTaskError, DataError
from mlwright.perception.feature_readings import learn_readings
from mlwright.perception.profile import column_kind, id_flaws, key_text, looks_like_id_name, nearly_unique_ids
from mlwright.perception.label_tables import attach_labels
from mlwright.perception.table_parts import stack_parts
from mlwright.perception.multitable import enrich
from mlwright.perception.multi_target import detect_several_targets, detect_tag_list, tag_columns
from mlwright.perception.side_files import SideNotes, name_headerless_tables
from mlwright.perception.timeseries import Forecast, detect_forecasting, forecast_history
from mlwright.perception.wide_series import detect_dates_as_columns, detect_wide, to_long
from mlwright.perception.task_text import TextHints
from mlwright.schemas import MultiLabelSpec, MultiOutputSpec, QuantityFormat, TargetSpec, TaskSpec, WideLayout
from mlwright.validation.metrics import (CLASSIFICATION_METRICS, HIGHER_IS_BETTER, MULTILABEL_METRICS,
                                         REGRESSION_METRICS)

Asker = Callable[[str, list[str]], str]  # (question, candidates) -> chosen candidate

_TRAIN_WORDS = re.compile(r"train|history|historic|past|labell?ed|known|learn|fit|dev", re.I)
_TEST_WORDS = re.compile(r"test|current|new|score|predict|unlabell?ed|holdout|inference|eval|future|apply", re.I)
_SAMPLE_WORDS = re.compile(r"sample|submission|template|example_sub", re.I)
_POSITIVE = ["1", "1.0", "yes", "true", "y", "t", "positive", "pos"]
MIN_TRAIN_ROWS = 10


@dataclass
class Inferred:
    spec: TaskSpec
    train: pd.DataFrame  # rows with a label, features + target
    test: pd.DataFrame
    time_labels: Optional[pd.DataFrame] = None  # forecasts: (timestamp, label), the user's strings for the dates
    corpus: Optional[pd.DataFrame] = None  # ranking: the documents (doc_id, document)


WARNING = "warning:"  # a note on a decision the user should check (perception emits it as a warning)

def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _is_sample_submission(name: str, df: pd.DataFrame) -> bool:
    base = name.split("/")[-1]
    return bool(_SAMPLE_WORDS.search(base)) and df.shape[1] <= 20


def _blank(s: pd.Series) -> bool:
    v = s.dropna()
    if v.empty:
        return True
    if v.dtype != object or v.iloc[:50].astype(str).str.strip().ne("").any():  # cheap on big tables
        return False
    return bool(v.astype(str).str.strip().eq("").all())


def filled_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The table without its all-empty columns: a test table or template may carry the target column blank."""
    if df.empty:
        return df
    keep = [c for c in df.columns if not _blank(df[c])]
    return df if len(keep) == df.shape[1] else df[keep]


def _pair_score(a: str, A: pd.DataFrame, b: str, B: pd.DataFrame) -> Optional[float]:
    """How plausible it is that A is the training table and B the test table; None when impossible."""
    B = filled_columns(B)
    ca, cb = set(A.columns), set(B.columns)
    shared = ca & cb
    extra = ca - cb
    if not extra or len(shared) < max(1, int(0.6 * len(cb))):
        if not extra or len(shared) < 1 or detect_dates_as_columns(A, B) is None:
            return None
        score = float(len(shared))  # wide series, dates as columns: the test holds the future dates instead
    else:
        score = float(len(shared)) - 0.5 * len(extra)
    an, bn = a.split("/")[-1], b.split("/")[-1]
    score += 5 * bool(_TRAIN_WORDS.search(an)) + 5 * bool(_TEST_WORDS.search(bn))
    score -= 5 * bool(_TEST_WORDS.search(an) and not _TRAIN_WORDS.search(an))
    return score


def _pair_reason(tables: dict[str, pd.DataFrame], train: str, test: Optional[str], hints: TextHints) -> str:
    """Why this pair: shared columns, names, the task's words, and the other tables that could have been used."""
    if test is None:
        return ""
    A, B = tables[train], filled_columns(tables[test])
    why = [f"{len(set(A.columns) & set(B.columns))} shared columns, {len(set(A.columns) - set(B.columns))} only in "
           "training"]
    for name, words in ((train, _TRAIN_WORDS), (test, _TEST_WORDS)):
        base = name.split("/")[-1].split("#")[0]
        if words.search(base.rsplit(".", 1)[0]):
            why.append(f"{base!r} is named like {'training' if words is _TRAIN_WORDS else 'test'} data")
        if hints.mentions(base):
            why.append(f"the task names {base!r}")
    others = [n for n in tables if n not in (train, test)]
    if others:
        why.append(f"other tables: {', '.join(others[:5])}")
    return " (" + "; ".join(why) + ")"


def choose_tables(tables: dict[str, pd.DataFrame], hints: TextHints,
                  forced_test: Optional[str] = None) -> tuple[str, Optional[str], Optional[str]]:
    """(train, test, sample_submission) table names."""
    if not tables:
        raise DataError("No readable tables found in the data folder.",
                        hint="Put the training data (csv, tsv, xlsx, parquet, json/jsonl or sqlite) in the folder.")
    samples = [n for n, df in tables.items() if _is_sample_submission(n, df)]
    sample = samples[0] if samples else None
    candidates = {n: df for n, df in tables.items() if n not in samples}
    if forced_test:
        forced = [n for n in tables if n == forced_test or n.split("#")[0] == forced_test
                  or n.split("/")[-1].split("#")[0] == forced_test.split("/")[-1]]
        if len(forced) != 1:
            raise DataError(f"--test {forced_test!r} matches {len(forced)} tables.", hint="Tables found: "
                            + ", ".join(tables) + ". Give the file name (or file#sheet) of the rows to predict.")
        candidates = {n: df for n, df in tables.items() if n not in samples or n == forced[0]}
    # the training table pairs with a test table; a template (sample-named) is the test only when nothing else is
    for pool in (candidates, {**candidates, **{n: tables[n] for n in samples}}):
        best, best_score = None, -np.inf
        for a, A in candidates.items():
            for b, B in pool.items():
                if a == b or forced_test and b != forced[0]:
                    continue
                s = _pair_score(a, A, b, B)
                if s is None or b in samples and _blank_rows_to_fill(A, B):
                    continue
                s += 2 * hints.mentions(a.split("/")[-1].split("#")[0]) + \
                    2 * hints.mentions(b.split("/")[-1].split("#")[0])
                if s > best_score:
                    best, best_score = (a, b), s
        if best:
            return best[0], best[1], sample
    if forced_test:
        raise DataError(f"--test {forced_test!r} cannot be the rows to predict: no other table has its columns plus "
                        "a column to predict.", hint="Check the file, or leave --test out.")
    # no pair: a single table whose missing labels mark the rows to predict, or a test table that does not match
    named_train = [n for n in candidates if _TRAIN_WORDS.search(n.split("/")[-1])]
    named_test = [n for n in candidates if _TEST_WORDS.search(n.split("/")[-1]) and n not in named_train]
    if named_train and named_test:
        tr, te = named_train[0], named_test[0]
        missing = sorted(set(tables[tr].columns) - set(tables[te].columns))
        raise DataError(
            f"The test table's columns do not match the training table's: {te} lacks {len(missing)} of "
            f"{tables[tr].shape[1]} training columns (e.g. {', '.join(missing[:8])}), and shares only "
            f"{len(set(tables[tr].columns) & set(tables[te].columns))}.",
            where=f"{tr} vs {te}",
            hint="Give the test file the same feature columns as the training file (same names).")
    biggest = max(candidates, key=lambda n: candidates[n].shape[0] * max(candidates[n].shape[1], 1))
    return biggest, None, sample


def _blank_rows_to_fill(train: pd.DataFrame, template: pd.DataFrame) -> bool:
    """The template's blank column is blank in some training rows too: those rows are the ones to predict, and the
    template only picks among them (see follow_template)."""
    blank = [c for c in template.columns if c not in filled_columns(template).columns]
    return any(c in train.columns and train[c].isna().any() for c in blank)


_FLAG_NAME = re.compile(r"^(is[_ ]?)?(split|set|subset|fold|partition|part|dataset|usage|role|sample|group|"
                        r"train(ing)?|test(ing)?)([_ ]?(set|split|flag))?$", re.I)


def split_by_flag(df: pd.DataFrame, hints: TextHints):
    """One table holding train and test rows, told apart by a split/flag column ("train"/"test", or an is_test 0/1
    flag): (train rows, test rows without the flag, the flag column, how the test rows were told) or None."""
    for c in df.columns:
        s = df[c]
        vals = s.dropna().astype(str).str.strip()
        uniq = sorted(vals.unique(), key=str)
        if not 2 <= len(uniq) <= 3 or s.isna().any():
            continue
        test_vals = [v for v in uniq if _TEST_WORDS.search(v) and not _TRAIN_WORDS.search(v)]
        train_vals = [v for v in uniq if _TRAIN_WORDS.search(v)]
        if len(test_vals) == 1 and train_vals:
            mask = vals == test_vals[0]
            how = f"{c} = {test_vals[0]!r}"
        elif _FLAG_NAME.match(str(c).strip()) and set(uniq) <= {"0", "1", "True", "False", "true", "false", "yes",
                                                                  "no", "0.0", "1.0"}:
            truthy = vals.str.lower().isin(["1", "true", "yes", "1.0"])
            is_test = bool(re.search(r"test", str(c), re.I))
            mask = truthy if is_test else ~truthy
            how = f"{c} is {'true' if is_test else 'false'}"
        else:
            continue
        mask = mask.to_numpy()
        if mask.sum() == 0 or (~mask).sum() < MIN_TRAIN_ROWS:
            continue
        train = df[~mask].drop(columns=[c]).reset_index(drop=True)
        test = df[mask].drop(columns=[c]).reset_index(drop=True)
        return train, filled_columns(test), c, how
    return None


def _target_candidates(train: pd.DataFrame, test: Optional[pd.DataFrame]) -> list[str]:
    if test is not None:
        in_test = set(test.columns)  # once, not per column (quadratic: minutes on a table of 20,000 columns)
        return [c for c in train.columns if c not in in_test]
    return [c for c in train.columns if train[c].isna().any() and train[c].notna().sum() >= MIN_TRAIN_ROWS]


_OUTPUT_WORDS = {"prediction", "predictions", "predicted", "pred", "preds", "target", "label", "labels", "class",
                 "category", "value", "score", "probability", "probabilities", "prob", "proba", "y", "yhat", "output",
                 "answer", "result", "forecast", "estimate", "expected", "outcome", "response"}


def _names_something(name: str, train: pd.DataFrame) -> bool:
    """A near column name (`price` for SalePrice, `churn status` for churn_status) or a value of the data
    ("predict `yes` or `no`", `great` = P(great))."""
    n = _norm(name)
    if any(n in _norm(str(c)) or _norm(str(c)) in n for c in train.columns if _norm(str(c))):
        return True
    return any(train[c].dtype == object and train[c].head(5000).astype(str).str.strip().str.lower().eq(
        name.lower()).any() for c in train.columns)


def _check_asked_names(hints: TextHints, train: pd.DataFrame, test: Optional[pd.DataFrame], train_name: str) -> None:
    """What the text asks to predict must be something in the data: "predict `attrition`", or "predict attrition;
    write columns customer_id,attrition", when nothing is called anything like it, is an error, never another
    column's prediction under that name. An output column counts only when the text asks to predict it (a bare
    header such as `churn` for the one candidate `left_company` is the user's name for the answer), and generic
    output words (prediction, label...) pass. Class folders pass: their label column is mlwright's own name."""
    from mlwright.perception.documents import CLASS_FOLDER_TABLE  # (documents imports this module)

    if train_name == CLASS_FOLDER_TABLE:
        return
    name = hints.named_target
    if name and not re.search(r"\.\w{2,5}$", name) and _norm(name) and not _names_something(name, train):
        raise DataError(f"The task asks to predict {name!r}, but the training table has no such column.",
                        where=train_name, hint=f"Its columns: {', '.join(map(str, list(train.columns)[:40]))}. Name "
                                               "the target with --target COLUMN, or use the column's name in the task.")
    in_test = set(test.columns) if test is not None else set()
    out = [c for c in hints.output_columns if c not in in_test]
    if len(hints.output_columns) >= 2 and out and out[0] == hints.output_columns[0] and looks_like_id_name(out[0]):
        out = out[1:]  # the key column's name, which the test table may spell differently or lack
    for oc in out:
        if not _norm(oc) or not hints.asks_to_predict(oc) or set(re.findall(r"[a-z]+", oc.lower())) & _OUTPUT_WORDS \
                or _names_something(oc, train):
            continue
        cands = _target_candidates(train, test)
        guess = (f"If {cands[0]!r} is what to predict, say so with --target {cands[0]} (the output column keeps the "
                 f"name {oc!r}); else name" if len(cands) == 1 else "Name")
        raise DataError(f"The task asks for an output column {oc!r}, but no column of the training table (nor any "
                        "value in it) is called anything like it.", where=train_name,
                        hint=f"Its columns: {', '.join(map(str, list(train.columns)[:40]))}. {guess} the column to "
                             "predict with --target COLUMN.")


def _refuse_repeated_name(col: str, role: str, repeated: dict[str, dict[str, list[str]]], table: str,
                          df: pd.DataFrame, other: Optional[str] = None) -> None:
    """A header that names the target (or the id) twice: which copy is meant cannot be told, and the other copy
    would be a feature holding the answer. A clear error, never a silent pick; identical id copies pass."""
    for name in (table.split(" (")[0], other):
        for given in (repeated.get(name) or {}).values() if name else ():
            if col not in given:
                continue
            copies = [c for c in given if c in df.columns]
            if role == "id" and len(copies) > 1 and all(df[c].equals(df[copies[0]]) for c in copies[1:]):
                return
            raise DataError(f"The {role} column {given[0]!r} appears {len(given)} times in the header of {name} "
                            f"(read as {', '.join(map(repr, given))}); mlwright cannot tell which one is meant.",
                            where=name, hint="Give each column a unique name in the file (or delete the extra copy), "
                                             "then run again.")


def choose_target(train: pd.DataFrame, test: Optional[pd.DataFrame], hints: TextHints, forced: Optional[str],
                  train_name: str, ask: Optional[Asker], notes: list[str]) -> str:
    cols = list(train.columns)
    if forced:
        match = [c for c in cols if c == forced] or [c for c in cols if _norm(c) == _norm(forced)]
        if not match:
            raise DataError(f"--target {forced!r} is not a column of the training table.", where=train_name,
                            hint=f"Choose one of: {', '.join(cols[:30])}")
        notes.append(f"target {match[0]!r}: given with --target")
        return match[0]
    _check_asked_names(hints, train, test, train_name)
    cands = _target_candidates(train, test)
    out_cols = [c for c in hints.output_columns if test is None or c not in set(test.columns)]
    # 1. an output column the user named that is a candidate (or any train column when no test table)
    for oc in out_cols:
        for c in cands or cols:
            if _norm(c) == _norm(oc):
                notes.append(f"target {c!r}: the output column named in the task, absent from the test table")
                return c
    # 1b. the rows to predict carry every column (labels present, to be ignored): the named output value column
    if test is not None and not cands and len(hints.output_columns) >= 2:
        for oc in hints.output_columns[1:]:
            for c in cols:
                if _norm(c) == _norm(oc):
                    notes.append(f"target {c!r}: the output value column named in the task")
                    return c
    # 2. a candidate the text names (any column when the rows to predict carry every column)
    named = [c for c in (cands or cols) if hints.mentions(c)]
    if len(named) > 1 and not cands:  # a key the task names for the output is not what to predict
        named = [c for c in named if not looks_like_id_name(c)] or named
    if len(named) == 1:
        notes.append(f"target {named[0]!r}: named in the task" + (" and absent from the test table" if cands else ""))
        return named[0]
    if len(cands) == 1:
        why = f"target {cands[0]!r}: the only column of the training table absent from the test table"
        if hints.asked and not any(hints.mentions(c) for c in cols):  # the words name no column at all
            why = (f"{WARNING} the task's words name no column of the data (asked: {hints.asked!r}); predicting "
                   f"{cands[0]!r}, the only column of the training table absent from the test table")
        notes.append(why)
        return cands[0]
    pool = named or cands or [c for c in cols if not looks_like_id_name(c)]
    if test is None and not cands:
        what = "Cannot tell which column to predict: no test table was found and the task names no column."
    else:
        what = f"Cannot tell which column to predict: {len(pool)} candidates."
    if ask is not None:
        choice = ask(what + " Which column is the target?", pool)
        notes.append(f"target {choice!r}: chosen by the user")
        return choice
    raise AmbiguousTaskError(
        what + f" Candidates: {', '.join(pool[:20])}.", candidates=pool, where=train_name,
        hint="Name it with --target COLUMN, or say it in the task (e.g. \"predict `COLUMN`\" or \"write "
             "predictions.csv with columns ID,COLUMN\"), or run with --interactive to be asked. If the wrong file was "
             "taken as the training or test table, name the rows to predict with --test FILE; "
             "`mlwright explain DATA_DIR --task ...` shows how the folder was read.")


def infer_problem_type(y: pd.Series, hints: TextHints, metric: Optional[str]) -> str:
    y = y.dropna()
    n_unique = y.nunique()
    if n_unique == 2:
        return "binary"
    if metric in CLASSIFICATION_METRICS:
        return "binary" if n_unique == 2 else "multiclass"
    if not pd.api.types.is_numeric_dtype(y):
        as_num = pd.to_numeric(y, errors="coerce")
        if as_num.notna().mean() > 0.99 and n_unique > 20:
            return "regression"
        return "multiclass"
    if metric in REGRESSION_METRICS:
        return "regression"
    integral = bool(np.all(np.mod(y.astype(float), 1) == 0))
    if integral and n_unique <= 10 and not hints.regression_words:
        return "multiclass"
    if integral and n_unique <= 30 and hints.classification_words and not hints.regression_words:
        return "multiclass"
    return "regression"


def choose_positive_class(classes: list[str], y: pd.Series, hints: TextHints, output_target: str,
                          notes: list[str]) -> str:
    by_norm = {_norm(c): c for c in classes}
    if _norm(output_target) in by_norm:
        notes.append(f"positive class {by_norm[_norm(output_target)]!r}: the output column is named after it")
        return by_norm[_norm(output_target)]
    m = re.search(r"probabilit\w*\s+(?:that|of)\b(.{0,120})", hints.text, re.I | re.S)
    if m:
        mentioned = [c for c in classes if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", m.group(1), re.I)]
        if len(mentioned) == 1:
            notes.append(f"positive class {mentioned[0]!r}: named after 'probability that' in the task")
            return mentioned[0]
    for p in _POSITIVE:
        for c in classes:
            if c.lower() == p:
                notes.append(f"positive class {c!r}: the conventional positive label")
                return c
    minority = str(y.astype(str).value_counts().idxmin())
    notes.append(f"positive class {minority!r}: the minority class (no other cue)")
    return minority


def choose_metric(problem_type: str, hints: TextHints, notes: list[str]) -> str:
    m = hints.metric
    if m and ((problem_type == "regression") == (m in REGRESSION_METRICS)):
        notes.append(f"metric {m}: named in the task")
        return m
    if m:
        notes.append(f"metric {m!r} named in the task does not fit a {problem_type} task; using the default")
    if problem_type == "binary":
        m = "roc_auc" if hints.wants_probabilities else "accuracy"
    elif problem_type == "multiclass":
        m = "log_loss" if hints.wants_probabilities else "accuracy"
    else:
        m = "rmse"
    notes.append(f"metric {m}: default for a {problem_type} task" + (" with probabilities" if hints.wants_probabilities
                                                                       and problem_type != "regression" else ""))
    return m


def output_format(problem_type: str, metric: str, hints: TextHints, out_id: str, out_cols: list[str],
                  class_labels: list[str], y: pd.Series, target: str, notes: list[str]):
    """(output kind, output columns, metric, positive class): how predictions are written, for every modality."""
    value_cols = [c for c in out_cols if c != out_id]
    if problem_type == "regression":
        output_kind = "value"
    elif len(value_cols) > 1 and {_norm(c) for c in value_cols} <= {_norm(c) for c in class_labels}:
        output_kind = "class_probabilities"
    elif problem_type == "binary" and (hints.wants_probabilities or metric in ("roc_auc", "log_loss")):
        output_kind = "probability"
    elif problem_type == "multiclass" and metric == "log_loss":
        output_kind = "class_probabilities"
        if len(value_cols) <= 1:
            out_cols = [out_id] + class_labels
    else:
        output_kind = "label"
    if problem_type == "multiclass" and metric == "roc_auc":
        metric = "log_loss"
        notes.append("roc_auc is defined for two classes; using log_loss for this multiclass task")
    positive = None
    if problem_type == "binary":
        positive = choose_positive_class(class_labels, y, hints, value_cols[0] if value_cols else target, notes)
    return output_kind, out_cols, metric, positive


def _key_like(train: pd.DataFrame, test: pd.DataFrame, c: str) -> bool:
    """Unique whole values in the test table, and not a feature: unique in train too and not shared with it."""
    s = test[c]
    if not s.is_unique or s.isna().any():
        return False
    if pd.api.types.is_float_dtype(s) and not np.all(np.mod(s.to_numpy(dtype=float), 1) == 0):
        return False
    if c in train.columns:
        t = train[c].dropna()
        if not t.is_unique:
            return False
        shared = len(set(t.astype(str)) & set(s.astype(str)))
        return shared <= 0.05 * len(s)
    return True


def _choose_id(train: pd.DataFrame, test: pd.DataFrame, hints: TextHints, sample: Optional[pd.DataFrame],
               target: str, notes: list[str], forced: Optional[str] = None,
               side_ids: tuple[str, ...] = ()) -> Optional[str]:
    tcols = list(test.columns)
    if forced:
        match = [c for c in tcols if c == forced] or [c for c in tcols if _norm(c) == _norm(forced)]
        if not match:
            raise DataError(f"--id {forced!r} is not a column of the test table.",
                            hint=f"Choose one of: {', '.join(map(str, tcols[:30]))}")
        notes.append(f"id column {match[0]!r}: given with --id")
        return match[0]
    for oc in hints.output_columns:
        for c in tcols:
            if _norm(c) == _norm(oc) and c != target:
                notes.append(f"id column {c!r}: the output column named in the task")
                return c
    if sample is not None:
        for c in sample.columns:
            if c in tcols:
                notes.append(f"id column {c!r}: the key of the sample/template file")
                return c
    for c in side_ids:
        if c in tcols and test[c].is_unique:
            notes.append(f"id column {c!r}: a side file describes it as the identifier")
            return c
    for c in tcols:
        if looks_like_id_name(c) and test[c].is_unique and test[c].notna().all():
            notes.append(f"id column {c!r}: named like an id and unique per test row")
            return c
    for c in tcols:
        if column_kind(test[c], c) == "id" and test[c].is_unique and test[c].dtype == object:
            notes.append(f"id column {c!r}: unique codes per test row")
            return c
    for c in tcols:  # an id with flaws (a repeat, a blank) still names the rows: kept as it is, one row each
        if looks_like_id_name(c) and nearly_unique_ids(test[c]) and column_kind(test[c], c) != "text":
            blanks, repeats = id_flaws(test[c])
            flaws = ([f"{repeats} value(s) repeat"] if repeats else []) + \
                ([f"{blanks} test row(s) have none"] if blanks else [])
            notes.append(f"id column {c!r}: named like an id, but {' and '.join(flaws)}; the ids are kept as in "
                         "the test file (one prediction per test row, in its order; a missing id stays empty)")
            return c
    # the task names an id column the test lacks (e.g. a headerless file): the test's own key stands in
    out = hints.output_columns
    keys = [c for c in tcols if _key_like(train, test, c) and column_kind(test[c], c) != "text"]
    if len(out) >= 2 and out[0] not in tcols and looks_like_id_name(out[0]):
        if keys and (len(keys) == 1 or keys[0] == tcols[0]):
            notes.append(f"id column {keys[0]!r}: the task's {out[0]!r} is not a column; {keys[0]!r} is the test "
                         "table's unique key (not a feature)")
            return keys[0]
    if keys and keys[0] == tcols[0] and len(test) >= 5:  # the first column holds a unique key, as ids usually do
        notes.append(f"id column {keys[0]!r}: the first column, unique per row and not shared with the training "
                     "rows (a key, not a feature)")
        return keys[0]
    return None


def follow_template(test: pd.DataFrame, id_col: Optional[str], sample: Optional[pd.DataFrame], sample_name: str,
                    notes: list[str]) -> pd.DataFrame:
    """A sample/template file that lists the keys to predict fixes the rows and their order."""
    if sample is None or id_col is None or id_col not in test.columns:
        return test
    cols = [c for c in sample.columns if _norm(c) == _norm(id_col)]
    if not cols or len(sample) == 0:
        return test
    want, have = key_text(sample[cols[0]]), key_text(test[id_col])
    if not want.is_unique or not have.is_unique or not set(want) <= set(have):
        if len(set(want) & set(have)) < len(want):
            notes.append(f"the template {sample_name!r} lists keys that are not all in the test table; its order is "
                         "not used")
        return test
    if list(want) == list(have):
        return test
    pos = pd.Series(np.arange(len(have)), index=have.to_numpy())
    out = test.iloc[pos[want.to_numpy()].to_numpy()].reset_index(drop=True)
    notes.append(f"rows to predict: the {len(out)} keys the template {sample_name!r} lists, in its order"
                 + (f" ({len(test) - len(out)} other test rows are not asked for)" if len(out) < len(test) else ""))
    return out


def infer_task(tables: dict[str, pd.DataFrame], hints: TextHints, forced_target: Optional[str] = None,
               ask: Optional[Asker] = None, skipped: Optional[dict[str, str]] = None,
               forced_id: Optional[str] = None, forced_test: Optional[str] = None,
               side: Optional[SideNotes] = None) -> Inferred:
    notes: list[str] = []
    side = side or SideNotes()
    if any(df.attrs.get("header") == "absent" for df in tables.values()):  # the task may list the columns too
        told, tables = SideNotes(), dict(tables)
        told.add("the task", hints.text)
        notes += name_headerless_tables(tables, {}, told)
    repeated = {n: df.attrs.get("duplicate_columns", {}) for n, df in tables.items()}
    samples = {n for n, df in tables.items() if _is_sample_submission(n, df)}
    tables = attach_labels(stack_parts(tables, samples, notes), samples, notes)
    try:
        train_name, test_name, sample_name = choose_tables(tables, hints, forced_test)
    except DataError as e:
        if skipped:
            e.what += " Unreadable files: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
            e.args = (e.render(),)
        raise
    train = tables[train_name]
    test = filled_columns(tables[test_name]) if test_name else None
    sample = tables[sample_name] if sample_name else None
    if test_name is not None and test_name == sample_name:
        notes.append(f"the template {test_name!r} lists the rows to predict")
    elif test_name is not None and test.shape[1] < tables[test_name].shape[1]:
        blank = [c for c in tables[test_name].columns if c not in test.columns]
        notes.append(f"columns {blank} of {test_name!r} are empty there (to be predicted)")
    notes.append(f"training table {train_name!r}" + (f", test table {test_name!r}" if test_name else "")
                 + _pair_reason(tables, train_name, test_name, hints))
    if test is not None:  # an output column that the test rows hold as one placeholder ("?", 0) is to be predicted
        held = [c for c in test.columns if any(_norm(c) == _norm(o) for o in hints.output_columns[1:])
                and c in train.columns and test[c].nunique() <= 1 and train[c].nunique() >= 2]
        if held:
            notes.append(f"columns {held} hold one placeholder value in the rows to predict: to be predicted")
            test = test.drop(columns=held)
    if test is None:
        flagged = split_by_flag(train, hints)
        if flagged is not None:
            train, test, flag, how = flagged
            test_name = f"{train_name} (rows where {how})"
            notes.append(f"test rows: the {len(test)} rows of {train_name!r} where {how}; {flag!r} marks the split "
                         "and is not a feature")
    if forced_target is None:
        named = [c for c in side.target_columns() if c in train.columns and (test is None or c not in test.columns)]
        if len(named) == 1 and not hints.output_columns and not any(hints.mentions(c) for c in train.columns):
            forced_target = named[0]
            notes.append(f"target {named[0]!r}: a side file describes it as the target "
                         f"({side.meanings[named[0]][:80]})")
    # a wide table's future date columns are empty in the test table: the wide detector sees them all
    raw_test = tables[test_name] if test_name in tables else test
    wide = detect_wide(train, raw_test, hints) if test is not None and not forced_target else None
    if wide is not None:
        train, test = to_long(train, raw_test, wide)
        if wide.dates_as_columns:
            notes.append(f"wide time series: one row per {wide.item!r}, {len(wide.date_columns)} date columns "
                         f"({wide.date_columns[0]} .. {wide.date_columns[-1]}); forecast in long form, written back "
                         "wide")
        else:
            notes.append(f"wide time series: {len(wide.series)} series columns by {wide.time!r} "
                         f"({', '.join(wide.series[:5])}{' ...' if len(wide.series) > 5 else ''}); forecast in long "
                         f"form ({wide.item}, {wide.time}, {wide.value}), written back wide")
        forced_target = wide.value

    if test is None and hints.forecast_words:  # a history-only table: mlwright makes the future rows
        history = forecast_history(train, hints, forced_target, notes, ask, train_name)
        if history is not None:
            return _forecast_task(history, history.target, hints, notes, train_name, history.test_name, sample_name)
    several = None if forced_target else detect_several_targets(train, test, hints,
                                                                   _target_candidates(train, test))
    if several is not None:
        targets = several.columns
        notes.append(f"targets: {several.why}" + ("; read as tags (one 0/1 column per tag)" if several.tags else ""))
        for t in targets:
            _refuse_repeated_name(t, "target", repeated, train_name, train)
        target = targets[0]
    else:
        target = choose_target(train, test, hints, forced_target, train_name, ask, notes)
        targets = [target]
    _refuse_repeated_name(target, "target", repeated, train_name, train)
    if test is not None and target in test.columns:
        notes.append(f"the rows to predict carry a {target!r} column too; its values there are ignored")
        test = test.drop(columns=[target])
    joins: list[str] = []
    aux = {n: df for n, df in tables.items() if n not in (train_name, test_name, sample_name)}
    if test is not None and aux:
        train, test, joins = enrich(train, test, aux, target, notes)
    if test is None:
        # rows without a label are the ones to predict
        mask = train[target].isna()
        if not mask.any():
            raise DataError("Found no test set: there is one table and every row has a value for "
                            f"{target!r}, so there is nothing to predict.", where=train_name,
                            hint="Add a test file with the rows to predict (same columns, no target), "
                                 "or leave the target empty in the rows to predict.")
        test = train[mask].drop(columns=[target]).reset_index(drop=True)
        test_name = f"{train_name} (rows without {target})"
        notes.append(f"test rows: the {int(mask.sum())} rows of {train_name!r} with no {target!r}")
    labeled = train[train[targets].notna().all(axis=1)].reset_index(drop=True)
    if len(labeled) < len(train):
        notes.append(f"dropped {len(train) - len(labeled)} training rows with no {' or '.join(map(repr, targets))}")
    if len(labeled) < MIN_TRAIN_ROWS:
        raise DataError(f"Only {len(labeled)} training rows have a value for {target!r}; at least "
                        f"{MIN_TRAIN_ROWS} are needed.", where=train_name, hint="Provide more labeled rows.")
    for t in targets[1:]:
        if labeled[t].nunique() < 2:
            raise DataError(f"The target {t!r} has a single value ({labeled[t].iloc[0]!r}) in all {len(labeled)} "
                            "training rows: there is nothing to learn.", where=train_name,
                            hint="Check the target columns the task names, or leave this one out.")
    y = labeled[target]
    if y.nunique() < 2:
        raise DataError(f"The target {target!r} has a single value ({y.iloc[0]!r}) in all {len(y)} training rows: "
                        "there is nothing to learn.", where=train_name,
                        hint="Check that this is the right target column and that the training data has both "
                             "outcomes; or name another column with --target.")
    # test columns must cover the training features
    in_test = set(test.columns)  # once, not per column
    extra_train = [c for c in train.columns if c not in in_test and c not in targets]
    shared = [c for c in train.columns if c in in_test]
    if not shared:
        raise DataError("The test table shares no column with the training table.",
                        where=f"{train_name} vs {test_name}",
                        hint="Give both files the same feature columns (same names).")
    for c in extra_train:
        notes.append(f"column {c!r} is in the training table only: not used as a feature (it would leak)")

    found = detect_forecasting(labeled, test, target, hints, notes) if len(targets) == 1 else None
    if found:
        return _forecast_task(found, target, hints, notes, train_name, test_name, sample_name, wide)
    if wide is not None:
        raise DataError("The table looks like wide time series (one column per series), but the test timestamps "
                        "do not continue the series.", where=train_name,
                        hint="Give the test table the future timestamps to forecast, or use the long layout "
                             "(series, timestamp, value).")

    user_metric = hints.metric
    multilabel: Optional[MultiLabelSpec] = None
    multioutput: Optional[MultiOutputSpec] = None
    if several is not None and several.tags:
        for t in targets:
            labeled[t] = labeled[t].astype(str).str.strip().str.lower().isin(["1", "1.0", "true"]).astype(int)
        multilabel = MultiLabelSpec(tags=[str(t) for t in targets], columns=list(targets), layout="indicators",
                                    probabilities=hints.wants_probabilities,
                                    at_least_one=bool(labeled[targets].sum(axis=1).gt(0).all()))
    elif several is not None:
        multioutput = MultiOutputSpec(targets=[_sub_target(labeled, t, hints, notes, train_name) for t in targets])
    else:
        multilabel = detect_tag_list(y, hints)
        if multilabel is not None:
            ind = tag_columns(y, multilabel, set(map(str, labeled.columns)))
            labeled = pd.concat([labeled, ind], axis=1)
            targets = list(multilabel.columns)
            notes.append(f"target {target!r} holds several tags per row ("
                         + ("JSON lists" if multilabel.layout == "json" else f"joined by {multilabel.separator!r}")
                         + f"): {len(multilabel.tags)} tags {multilabel.tags[:12]}; one 0/1 model per tag")
    if multilabel is not None or multioutput is not None:
        problem_type = "multilabel" if multilabel is not None else "multioutput"
        metric = _multi_metric(problem_type, hints, notes)
    else:
        problem_type = infer_problem_type(y, hints, user_metric)
    if problem_type == "regression":
        y_num = pd.to_numeric(y, errors="coerce")
        if y_num.isna().any():
            raise DataError(f"The target {target!r} looks numeric but has {int(y_num.isna().sum())} non-numeric "
                            f"values (e.g. {y[y_num.isna()].iloc[0]!r}).", where=train_name,
                            hint="Clean the target column, or say it is a classification task.")
        labeled[target] = y_num
    if problem_type not in ("multilabel", "multioutput"):
        metric = choose_metric(problem_type, hints, notes)
        notes.append(f"problem type {problem_type}: {y.nunique()} distinct target values")

    id_col = _choose_id(labeled, test, hints, sample, target, notes, forced_id, tuple(side.id_columns()))
    if id_col is not None:
        _refuse_repeated_name(id_col, "id", repeated, test_name or train_name, test, train_name)
    test = follow_template(test, id_col, sample, sample_name or "", notes)
    if id_col is not None and pd.api.types.is_float_dtype(test[id_col]):
        whole = test[id_col].dropna()
        if len(whole) and bool((np.mod(whole.to_numpy(), 1) == 0).all()):  # whole ids made floats by a blank
            test = test.assign(**{id_col: test[id_col].map(lambda v: None if pd.isna(v) else str(int(v)))})
    if id_col is not None and not test[id_col].is_unique:
        notes.append(f"id column {id_col!r} has duplicates in the test table; using it anyway as the output key")
    # output format
    out_id = id_col
    if hints.output_columns and len(hints.output_columns) >= 2:
        out_cols = list(hints.output_columns)
        ids_in_out = [c for c in out_cols if c in set(test.columns)]
        out_id = ids_in_out[0] if ids_in_out else out_cols[0]
        if id_col is None and out_id in set(test.columns):
            id_col = out_id
    elif len(hints.output_columns) == 1 and _norm(hints.output_columns[0]) == _norm(target):
        out_cols = [hints.output_columns[0]]  # no key column: one row per test row, in the test table's order
        notes.append(f"output: the single column {out_cols[0]!r} the task asks for, one row per test row in the "
                     "order of the test table")
    elif sample is not None and sample.shape[1] >= 2:
        out_cols = [str(c) for c in sample.columns]
        out_id = out_cols[0]
    else:
        out_cols = ([id_col] if id_col else ["id"]) + [target]
        out_id = out_cols[0]
    class_labels = sorted(map(str, y.astype(str).unique())) if problem_type != "regression" else []
    if multilabel is not None or multioutput is not None:
        class_labels, positive = [], None
        output_kind, out_cols = _multi_output(multilabel, multioutput, target, out_id, out_cols, hints, notes)
    else:
        output_kind, out_cols, metric, positive = output_format(problem_type, metric, hints, out_id, out_cols,
                                                                class_labels, y, target, notes)

    quantities: dict[str, QuantityFormat] = {}
    date_columns, numeric_columns = learn_readings(labeled, test, [c for c in shared if c != id_col], notes,
                                                   quantities)
    # features: shared columns, minus ids and columns that carry nothing
    dropped: dict[str, str] = {}
    features = []
    kinds: dict[str, str] = {}
    for c in shared:
        kind = kinds[c] = column_kind(labeled[c], c)
        if c == id_col:
            dropped[c] = "id column"
        elif kind == "id":
            dropped[c] = "id-like (unique per row)"
        elif kind in ("constant", "empty"):
            dropped[c] = f"{kind} in the training data"
        else:
            features.append(c)
    if not features:
        raise DataError("No usable feature columns: every column shared by train and test is an id, constant or "
                        "empty.", where=train_name, hint="Check that the test file has the feature columns.")
    for c in extra_train:
        dropped[c] = "training table only (would leak)"

    spec = TaskSpec(
        problem_type=problem_type,  # type: ignore[arg-type]
        target=target,
        metric=metric,
        higher_is_better=HIGHER_IS_BETTER[metric],
        train_table=train_name,
        test_table=test_name,
        id_column=id_col,
        prediction_file=hints.prediction_file or "predictions.csv",
        output_id_column=out_id,
        output_columns=out_cols,
        output_kind=output_kind,  # type: ignore[arg-type]
        class_labels=class_labels,
        positive_class=positive,
        feature_columns=features,
        date_columns={c: f for c, f in date_columns.items() if c in features},
        numeric_columns=[c for c in numeric_columns if c in features],
        quantity_columns={c: q for c, q in quantities.items() if c in features},
        dropped_columns=dropped,
        column_kinds={c: kinds[c] for c in features},
        ids_numbered=id_col is None,
        n_train_rows=len(labeled),
        n_test_rows=len(test),
        sample_submission=sample_name,
        modality="multitable" if joins else "text" if any(kinds[c] == "text" for c in features) else "tabular",
        joins=joins,
        notes=notes,
        multilabel=multilabel,
        multioutput=multioutput,
    )
    if spec.text_columns:
        notes.append(f"free-text columns: {spec.text_columns}")
    if id_col is None and spec.key_columns:
        notes.append(f"ids: the test rows carry no id column, so mlwright numbers them 0..{len(test) - 1} in the "
                     f"order of {test_name!r} (column {out_id!r})")
    return Inferred(spec=spec, train=labeled[features + spec.target_columns], test=test)


def _sub_target(labeled: pd.DataFrame, name: str, hints: TextHints, notes: list[str], where: str) -> TargetSpec:
    """One of several targets, with its own problem type (its column made numeric when it is a number)."""
    y = labeled[name]
    kind = infer_problem_type(y, hints, None)
    if kind == "regression":
        num = pd.to_numeric(y, errors="coerce")
        if num.isna().any():
            raise DataError(f"The target {name!r} looks numeric but has {int(num.isna().sum())} non-numeric values "
                            f"(e.g. {y[num.isna()].iloc[0]!r}).", where=where, hint="Clean that target column.")
        labeled[name] = num
    classes = sorted(map(str, y.astype(str).unique())) if kind != "regression" else []
    notes.append(f"target {name!r}: {kind}" + (f" ({len(classes)} classes)" if classes else ""))
    return TargetSpec(name=name, problem_type=kind, class_labels=classes)  # type: ignore[arg-type]


def _multi_metric(problem_type: str, hints: TextHints, notes: list[str]) -> str:
    """Several tags: micro F1 (default), macro F1 over the tags, or the tags' mean ROC AUC (asked, or when the
    probabilities are asked for); several targets: the mean of R2 (numbers) and accuracy (classes)."""
    if problem_type == "multioutput":
        if hints.metric:
            notes.append(f"metric {hints.metric!r} named in the task does not apply to several targets at once")
        notes.append("metric mean_target_score: the mean over the targets of R2 (numbers) or accuracy (classes)")
        return "mean_target_score"
    m = hints.metric
    if m == "macro_f1" and re.search(r"macro", hints.text, re.I):
        metric, why = "tag_macro_f1", "macro F1 over the tags, named in the task"
    elif m == "roc_auc" or (m is None and hints.wants_probabilities):
        metric, why = "tag_roc_auc", "the mean of the tags' ROC AUC" + (", named in the task" if m else
                                                                        " (probabilities asked for)")
    else:
        metric, why = "micro_f1", "micro F1 over every (row, tag), " + (
            "named in the task" if m == "macro_f1" else "the default for tags"
            + (f" ({m!r} named in the task does not apply to tags)" if m else ""))
    assert metric in MULTILABEL_METRICS
    notes.append(f"metric {metric}: {why}")
    return metric


def _multi_output(ml: Optional[MultiLabelSpec], mo: Optional[MultiOutputSpec], target: str, out_id: str,
                  out_cols: list[str], hints: TextHints, notes: list[str]) -> tuple[str, list[str]]:
    """(output kind, output columns) in the user's layout: the tags joined (or a JSON list) in the label column,
    or one column per tag / per target, after the key."""
    if ml is not None and ml.layout != "indicators":
        value = [c for c in out_cols if c != out_id]
        cols = [out_id, value[0] if len(value) == 1 else target]
        notes.append(f"output: {cols}, the tags of a row " + ("as a JSON list" if ml.layout == "json" else
                                                             f"joined by {ml.separator!r}") + " as in training")
        return "tags", cols
    names = list(ml.columns) if ml is not None else [t.name for t in mo.targets]  # type: ignore[union-attr]
    given = [c for c in out_cols if c != out_id]
    if len(given) == len(names) and mo is not None:  # the user's names for the targets, in the same order
        for t, c in zip(mo.targets, given):
            t.output_column = c
        names = given
    cols = [out_id] + names
    if ml is not None:
        what = "one column per tag" + (" (its probability)" if ml.probabilities else " (0/1)")
    else:
        what = "one column per target"
    notes.append(f"output: {cols}, {what}")
    return ("tag_probabilities" if ml is not None and ml.probabilities else "tags") if ml is not None \
        else "values", cols


def _forecast_task(found: Forecast, target: str, hints: TextHints, notes: list[str], train_name: str, test_name: str,
                   sample_name: Optional[str], wide: Optional[WideLayout] = None) -> Inferred:
    ts, train, test = found.spec, found.train, found.test
    if wide is not None:  # the attempts write long forecasts; the run's file is wide in the user's columns
        key = wide.item if wide.dates_as_columns else wide.time
        cols = hints.output_columns if key in hints.output_columns else []
        wide.output_columns = cols or ([] if wide.dates_as_columns else [wide.time] + wide.series)
        ts.wide = wide
        hints = hints.model_copy(update={"output_columns": []})
    train = train.copy()
    train[target] = pd.to_numeric(train[target], errors="coerce")
    train = train[train[target].notna()].reset_index(drop=True)
    metric = hints.metric if hints.metric in ("mase", "mae", "rmse", "mape", "mse") else "mase"
    notes.append(f"metric {metric}: " + ("named in the task" if metric == hints.metric else "default for forecasts"))
    keys = [c for c in (ts.item_column, ts.timestamp_column) if not c.startswith("__")]
    row_keys = [c for c in hints.output_columns if c in test.columns and c not in keys + ts.known_covariates]
    if row_keys and len(hints.output_columns) >= 2 and target in hints.output_columns:
        ts.output_columns = list(hints.output_columns)  # keyed by the rows' own id: mapped back in the run's file
        notes.append(f"output: {ts.output_columns}, keyed by the test rows' own {row_keys[0]!r}; forecasts are "
                     f"made per ({', '.join(keys)}) and written to those rows")
        hints = hints.model_copy(update={"output_columns": []})
    out_cols = hints.output_columns if len(hints.output_columns) >= 2 else keys + [target]
    missing = [k for k in keys if k not in out_cols]
    if missing:
        out_cols = keys + [c for c in out_cols if c not in keys]
        notes.append(f"output columns extended with the keys {missing}")
    spec = TaskSpec(
        problem_type="forecasting", target=target, metric=metric, higher_is_better=HIGHER_IS_BETTER[metric],
        train_table=train_name, test_table=test_name, id_column=keys[0], prediction_file=hints.prediction_file
        or "predictions.csv", output_id_column=keys[0], output_columns=out_cols, output_kind="value",
        feature_columns=ts.known_covariates, n_train_rows=len(train), n_test_rows=len(test),
        sample_submission=sample_name, modality="timeseries", timeseries=ts, notes=notes)
    cols = [ts.item_column, ts.timestamp_column, target] + ts.known_covariates
    return Inferred(spec=spec, train=train[cols], test=test, time_labels=found.labels)
