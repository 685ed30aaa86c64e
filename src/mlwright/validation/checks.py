"""Code decides success: the prediction file is checked against the TaskSpec and the test set, and the
validation score is computed from out-of-fold predictions against labels mlwright holds itself."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from mlwright.perception.dates import to_timestamps
from mlwright.perception.profile import key_text
from mlwright.schemas import TaskSpec
from mlwright.validation.metrics import (RANKING_OOF_COLUMNS, forecast_score, prediction_columns, score_predictions,
                                        score_rankings, truth)

MIN_VALIDATION_FRACTION = 0.1


class ValidationFailure(Exception):
    """The attempt's outputs break the contract; the message says how."""


def _norm_key(values) -> pd.Series:
    return key_text(values).reset_index(drop=True)


def _keys(df: pd.DataFrame, cols: list[str]) -> pd.Index:
    key = _norm_key(df[cols[0]])
    for c in cols[1:]:
        key = key + "|" + _norm_key(df[c])
    return pd.Index(key)


def _test_key_columns(spec: TaskSpec, test: pd.DataFrame) -> list[str]:
    return [c for c in spec.test_keys() if c in test.columns]


def expected_ids(spec: TaskSpec, test: pd.DataFrame) -> pd.Index:
    cols = _test_key_columns(spec, test)
    if cols:
        return _keys(test, cols)
    return pd.Index(_norm_key(np.arange(len(test))))


def check_plain_files(folder: Path, names: list[str]) -> None:
    """An attempt's outputs must be its own regular files: mlwright (perhaps root) reads, checksums and copies
    them outside the sandbox, so a link would hand it a file the attempt could not read itself."""
    for name in names:
        top = folder / name
        paths = [top] + (sorted(top.rglob("*")) if top.is_dir() and not top.is_symlink() else [])
        for p in paths:
            if p.is_symlink():
                raise ValidationFailure(f"{p.relative_to(folder)} is a link; outputs must be plain files")
            if p.exists() and not (p.is_file() or p.is_dir()):
                raise ValidationFailure(f"{p.relative_to(folder)} is not a regular file")


def check_prediction_file(spec: TaskSpec, path: Path, test: pd.DataFrame,
                          corpus: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """`corpus`: a ranking task's documents (doc_id), which the prediction file's document ids must name."""
    if not path.is_file():
        raise ValidationFailure(f"prediction file {spec.prediction_file} was not written")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "nan", "NaN", "NA", "null", "None"])
    except Exception as e:  # noqa: BLE001
        raise ValidationFailure(f"prediction file is not a readable CSV: {type(e).__name__}: {e}") from e
    if list(df.columns) != spec.output_columns:
        raise ValidationFailure(f"wrong columns: expected {spec.output_columns}, got {list(df.columns)[:20]}")
    if spec.ranking is not None:
        check_ranking_file(spec, df, test, corpus)
        return df
    if len(df) != len(test):
        raise ValidationFailure(f"wrong row count: expected {len(test)} (one per test row), got {len(df)}")
    keys = spec.key_columns  # none: the rows follow the test table's order, one per row
    if keys:
        _check_keys(spec, df, keys, test)
    value_cols = spec.value_columns
    if spec.segmentation is not None:
        _check_masks(spec, df, value_cols[0], test)
        return df
    if spec.is_multi:
        _check_multi(spec, df, value_cols)
        return df
    for c in value_cols:
        if df[c].isna().any():
            raise ValidationFailure(f"{int(df[c].isna().sum())} empty/NaN values in {c!r}")
    if spec.output_kind == "label":
        allowed = set(spec.class_labels)
        bad = ~df[value_cols[0]].str.strip().isin(allowed)
        if spec.problem_type != "regression" and bad.any():
            raise ValidationFailure(f"{int(bad.sum())} labels not seen in training, e.g. "
                                    f"{df[value_cols[0]][bad].iloc[0]!r} (allowed: {sorted(allowed)[:10]})")
    else:
        for c in value_cols:
            v = pd.to_numeric(df[c].str.strip(), errors="coerce")
            if v.isna().any():
                raise ValidationFailure(f"non-numeric values in {c!r}, e.g. {df[c][v.isna()].iloc[0]!r}")
            if not np.isfinite(v.to_numpy()).all():
                raise ValidationFailure(f"infinite values in {c!r}")
            if spec.output_kind in ("probability", "class_probabilities") and ((v < 0) | (v > 1)).any():
                raise ValidationFailure(f"probabilities outside [0, 1] in {c!r}")
            if spec.metric == "rmsle" and (v < 0).any():
                raise ValidationFailure(f"negative values in {c!r}, not allowed for RMSLE")
    return df


def _check_masks(spec: TaskSpec, df: pd.DataFrame, col: str, test: pd.DataFrame) -> None:
    """Each row's mask decodes, has its image's size and holds known classes only."""
    from mlwright.runtime.segmentation import decode_mask, image_size

    seg = spec.segmentation
    assert seg is not None
    ids = df[spec.output_id_column].astype(str).tolist() if spec.output_id_column in df.columns else None
    paths = test[seg.image_column].astype(str).tolist()
    by_id = dict(zip(test[spec.id_column].astype(str), paths)) if spec.id_column in test.columns else {}
    for i, cell in enumerate(df[col].fillna("")):
        try:
            m = decode_mask(cell)
        except ValueError as e:
            raise ValidationFailure(f"row {i} of {col!r} is not a mask ({e}): {str(cell)[:60]!r}") from None
        path = by_id.get(ids[i], "") if ids is not None and by_id else paths[i]
        if path:
            try:
                want = image_size(path)
            except OSError:
                want = None  # an image that does not decode: any size is accepted
            if want is not None and m.shape != want:
                raise ValidationFailure(f"row {i} of {col!r}: mask of {m.shape[0]}x{m.shape[1]} (height x width) for "
                                        f"an image of {want[0]}x{want[1]}; masks must have their image's size")
        if m.size and (m.min() < 0 or m.max() >= len(seg.classes)):
            raise ValidationFailure(f"row {i} of {col!r} holds class {int(m.max())}; classes are 0.."
                                    f"{len(seg.classes) - 1}")


def score_oof_masks(spec: TaskSpec, oof: pd.DataFrame, train: pd.DataFrame) -> float:
    """Validation masks (`mask`, encoded) against the training masks of rows `__row__`."""
    from mlwright.runtime.segmentation import decode_mask, read_mask
    from mlwright.validation.metrics import score_masks

    seg = spec.segmentation
    assert seg is not None
    if "mask" not in oof.columns:
        raise ValidationFailure("oof_predictions.csv lacks the mask column")
    truths, preds = [], []
    for row, cell in zip(oof["__row__"].to_numpy(), oof["mask"].fillna("")):
        t = read_mask(train[seg.mask_column].iloc[int(row)], seg.model_dump())
        try:
            p = decode_mask(cell)
        except ValueError as e:
            raise ValidationFailure(f"validation mask of row {row} is malformed: {e}") from None
        if p.shape != t.shape:
            raise ValidationFailure(f"validation mask of row {row} is {p.shape[0]}x{p.shape[1]}; its true mask is "
                                    f"{t.shape[0]}x{t.shape[1]}")
        truths.append(t)
        preds.append(p)
    return score_masks(spec, truths, preds)


def _check_multi(spec: TaskSpec, df: pd.DataFrame, value_cols: list[str]) -> None:
    """Several tags: known tags only (joined or a JSON list), or 0/1 (probabilities in [0, 1]) per tag column;
    several targets: each target's column holds its numbers or its classes."""
    import json

    ml, mo = spec.multilabel, spec.multioutput
    if ml is not None and ml.layout != "indicators":
        col = df[value_cols[0]].fillna("")
        known = set(ml.tags)
        for i, cell in enumerate(col):
            if ml.layout == "json":
                try:
                    tags = json.loads(cell)
                except ValueError:
                    raise ValidationFailure(f"row {i} of {value_cols[0]!r} is not a JSON list: {cell[:60]!r}") from None
                if not isinstance(tags, list):
                    raise ValidationFailure(f"row {i} of {value_cols[0]!r} is not a JSON list: {cell[:60]!r}")
            else:
                tags = [t for t in cell.split(ml.separator)] if cell.strip() else []
            unknown = [t for t in tags if str(t).strip() not in known]
            if unknown:
                raise ValidationFailure(f"row {i} of {value_cols[0]!r} holds tags not seen in training: "
                                        f"{unknown[:3]} (known: {sorted(known)[:10]})")
            if ml.at_least_one and not tags:
                raise ValidationFailure(f"row {i} of {value_cols[0]!r} has no tag; every training row has one")
        return
    if ml is not None:
        for c in value_cols:
            v = pd.to_numeric(df[c].str.strip(), errors="coerce")
            if v.isna().any():
                raise ValidationFailure(f"non-numeric or empty values in tag column {c!r}")
            if ml.probabilities and ((v < 0) | (v > 1)).any():
                raise ValidationFailure(f"probabilities outside [0, 1] in {c!r}")
            if not ml.probabilities and not v.isin([0, 1]).all():
                raise ValidationFailure(f"tag column {c!r} must hold 0 or 1, e.g. not "
                                        f"{df[c][~v.isin([0, 1])].iloc[0]!r}")
        return
    assert mo is not None
    for t in mo.targets:
        c = t.output_column or t.name
        if df[c].isna().any():
            raise ValidationFailure(f"{int(df[c].isna().sum())} empty/NaN values in {c!r}")
        if t.problem_type == "regression":
            v = pd.to_numeric(df[c].str.strip(), errors="coerce")
            if v.isna().any() or not np.isfinite(v.to_numpy()).all():
                raise ValidationFailure(f"non-numeric or infinite values in {c!r}")
        else:
            bad = ~df[c].str.strip().isin(set(t.class_labels))
            if bad.any():
                raise ValidationFailure(f"{int(bad.sum())} labels of {c!r} not seen in training, e.g. "
                                        f"{df[c][bad].iloc[0]!r}")


def check_ranking_file(spec: TaskSpec, df: pd.DataFrame, test: pd.DataFrame,
                       corpus: Optional[pd.DataFrame]) -> None:
    """A ranking's file: every query to rank and no other; per query min(k, corpus size) distinct documents of the
    corpus (long: ranks 1..n, scores finite and not increasing with the rank; per_query: space-separated ids);
    pairs: one finite score per given (query, document) pair."""
    r = spec.ranking
    assert r is not None
    cols = spec.output_columns
    qcol, dcol = cols[0], cols[1] if len(cols) > 1 else None
    if dcol is None:
        raise ValidationFailure("a ranking's file needs a query column and a document column")
    for c in cols:
        if df[c].isna().any() and not (r.layout == "per_query" and c == dcol):
            raise ValidationFailure(f"{int(df[c].isna().sum())} empty values in {c!r}")
    want = set(_norm_key(test["query_id"]))
    got = _norm_key(df[qcol])
    missing, unknown = want - set(got), set(got) - want
    if missing:
        raise ValidationFailure(f"{len(missing)} queries to rank are missing from the predictions, e.g. "
                                f"{sorted(missing)[0]!r}")
    if unknown:
        raise ValidationFailure(f"{len(unknown)} query ids that are not among the queries to rank, e.g. "
                                f"{sorted(unknown)[0]!r}")
    docs = set(_norm_key(corpus["doc_id"])) if corpus is not None else None
    n_docs = len(docs) if docs is not None else r.n_documents
    per_query = min(r.k, n_docs) if n_docs else r.k

    def known(ids: list[str]) -> None:
        bad = [d for d in ids if docs is not None and d not in docs]
        if bad:
            raise ValidationFailure(f"{len(bad)} document ids that are not in the corpus, e.g. {bad[0]!r}")

    if r.layout == "per_query":
        if got.duplicated().any():
            raise ValidationFailure(f"query {got[got.duplicated()].iloc[0]!r} has more than one row")
        lists = df[dcol].fillna("").astype(str).str.split()
        for q, ids in zip(got, lists):
            if len(ids) != per_query or len(set(ids)) != len(ids):
                raise ValidationFailure(f"query {q!r}: {len(ids)} document ids ({len(set(ids))} distinct); expected "
                                        f"{per_query} distinct ids, space-separated, best first")
            known(ids)
        return
    pairs = got + "|" + _norm_key(df[dcol])
    if pairs.duplicated().any():
        raise ValidationFailure(f"duplicated (query, document) pair {pairs[pairs.duplicated()].iloc[0]!r}")
    known(list(_norm_key(df[dcol])))
    numbers = {}
    for c in (r.score_column, r.rank_column):
        if c and c in df.columns:
            v = pd.to_numeric(df[c].str.strip(), errors="coerce")
            if v.isna().any() or not np.isfinite(v.to_numpy(dtype=float)).all():
                raise ValidationFailure(f"non-numeric or infinite values in {c!r}")
            numbers[c] = v.to_numpy(dtype=float)
    if r.layout == "pairs":
        if "doc_id" in test.columns:
            given = set(_norm_key(test["query_id"]) + "|" + _norm_key(test["doc_id"]))
            if set(pairs) != given:
                raise ValidationFailure(f"the (query, document) pairs differ from the pairs to score: "
                                        f"{len(given - set(pairs))} missing, {len(set(pairs) - given)} extra")
        return
    counts = got.value_counts()
    if (counts != per_query).any():
        q = counts[counts != per_query].index[0]
        raise ValidationFailure(f"query {q!r} has {int(counts[q])} documents; expected {per_query} per query "
                                f"(the top {r.k})")
    if r.rank_column in numbers:
        frame = pd.DataFrame({"q": got, "rank": numbers[r.rank_column]})
        if not frame.groupby("q")["rank"].apply(lambda s: sorted(s) == list(range(1, len(s) + 1))).all():
            raise ValidationFailure(f"ranks in {r.rank_column!r} must be 1..{per_query} within each query")
        if r.score_column in numbers:
            frame["score"] = numbers[r.score_column]
            ordered = frame.sort_values(["q", "rank"])
            if (ordered.groupby("q")["score"].diff().dropna() > 1e-9).any():
                raise ValidationFailure(f"scores in {r.score_column!r} increase with the rank within a query")


def _score_ranking_oof(spec: TaskSpec, path: Path, train: pd.DataFrame) -> tuple[float, int, pd.DataFrame]:
    """A ranking attempt's validation: the documents it retrieved for held-out training queries (query_id, doc_id,
    score), scored against their judgements (at least 10% of the training queries, and 5)."""
    oof = pd.read_csv(path, dtype={"query_id": str, "doc_id": str})
    missing = [c for c in RANKING_OOF_COLUMNS if c not in oof.columns]
    if missing:
        raise ValidationFailure(f"oof_predictions.csv lacks columns {missing} (one row per retrieved document of a "
                                "held-out training query)")
    if not np.isfinite(pd.to_numeric(oof["score"], errors="coerce").to_numpy(dtype=float)).all():
        raise ValidationFailure("validation scores contain NaN, infinite or non-numeric values")
    known = set(train["query_id"].astype(str))
    held = set(oof["query_id"].astype(str))
    if held - known:
        raise ValidationFailure(f"oof_predictions.csv names queries that are not training queries, e.g. "
                                f"{sorted(held - known)[0]!r}")
    need = max(5, int(np.ceil(MIN_VALIDATION_FRACTION * len(known))))
    if len(held) < min(need, len(known)):
        raise ValidationFailure(f"only {len(held)} held-out queries; at least {need} of the {len(known)} training "
                                "queries are needed")
    score = score_rankings(spec, train, oof)
    if not np.isfinite(score):
        raise ValidationFailure(f"validation score is not finite ({score})")
    return score, len(held), oof


def _check_keys(spec: TaskSpec, df: pd.DataFrame, keys: list[str], test: pd.DataFrame) -> None:
    want = expected_ids(spec, test)
    own = _test_key_columns(spec, test)  # a test row without an id keeps an empty one
    allowed_empty = int(test[own].isna().any(axis=1).sum()) if own else 0
    if int(df[keys].isna().any(axis=1).sum()) > allowed_empty:
        raise ValidationFailure(f"empty values in the key column(s) {keys}")
    ids = _keys(df, keys)
    if ids.duplicated().any() and not want.duplicated().any():
        raise ValidationFailure(f"duplicated ids, e.g. {ids[ids.duplicated()][0]!r}")
    missing = want.difference(ids)
    if len(missing):
        raise ValidationFailure(f"{len(missing)} test ids missing from the predictions, e.g. {missing[0]!r}")
    unknown = ids.difference(want)
    if len(unknown):
        raise ValidationFailure(f"{len(unknown)} ids that are not in the test set, e.g. {unknown[0]!r}")


def score_oof(spec: TaskSpec, path: Path, train: pd.DataFrame) -> tuple[float, int, pd.DataFrame]:
    """Score out-of-fold (or holdout) predictions against the true labels of those training rows."""
    if not path.is_file():
        raise ValidationFailure("no validation predictions (oof_predictions.csv) were written")
    if spec.ranking is not None:
        return _score_ranking_oof(spec, path, train)
    oof = pd.read_csv(path)
    y = truth(spec, train)
    if "__row__" not in oof.columns:
        raise ValidationFailure("oof_predictions.csv lacks the __row__ column")
    rows = oof["__row__"].to_numpy()
    if spec.segmentation is not None:
        if len(oof) < max(4, MIN_VALIDATION_FRACTION * len(train)):
            raise ValidationFailure(f"only {len(oof)} validation images; at least {MIN_VALIDATION_FRACTION:.0%} of "
                                    f"the {len(train)} training images are needed")
        if oof["__row__"].duplicated().any() or rows.min() < 0 or rows.max() >= len(train):
            raise ValidationFailure("oof_predictions.csv has duplicated or out-of-range __row__ values")
        return score_oof_masks(spec, oof, train), len(oof), oof
    need = prediction_columns(spec)
    missing = [c for c in need if c not in oof.columns]
    if missing:
        raise ValidationFailure(f"oof_predictions.csv lacks columns {missing}")
    rows = oof["__row__"].to_numpy()
    if oof["__row__"].duplicated().any() or rows.min() < 0 or rows.max() >= len(y):
        raise ValidationFailure("oof_predictions.csv has duplicated or out-of-range __row__ values")
    if not np.isfinite(oof[need].to_numpy(dtype=float)).all():
        raise ValidationFailure("validation predictions contain NaN or infinite values")
    if spec.timeseries:
        score = _score_forecast(spec, oof, train)
    elif len(oof) < max(10, MIN_VALIDATION_FRACTION * len(y)):
        raise ValidationFailure(f"only {len(oof)} validation rows; at least {MIN_VALIDATION_FRACTION:.0%} of the "
                                f"{len(y)} training rows are needed")
    else:
        score = score_predictions(spec, y.iloc[rows].reset_index(drop=True), oof[need].reset_index(drop=True))
    if not np.isfinite(score):
        raise ValidationFailure(f"validation score is not finite ({score})")
    return score, len(oof), oof


def _score_forecast(spec: TaskSpec, oof: pd.DataFrame, train: pd.DataFrame) -> float:
    """Forecasts are validated on the last window of each series: the rows must be each series' final
    timestamps, and the metric's scale (MASE) comes from the history before that window."""
    ts = spec.timeseries
    frame = train[[ts.item_column, ts.timestamp_column, spec.target]].copy()
    frame["__row__"] = np.arange(len(frame))
    frame["__t__"] = to_timestamps(frame[ts.timestamp_column], time_axis=True)  # timestamps as handed on
    held = set(oof["__row__"].tolist())
    frame["__held__"] = frame["__row__"].isin(held)
    for item, g in frame.sort_values("__t__").groupby(ts.item_column, sort=False):
        flags = g["__held__"].to_numpy()
        if flags.any() and not flags[int(np.argmax(flags)):].all():  # held rows must be a suffix
            raise ValidationFailure(f"validation rows of series {item!r} are not its final window")
    if frame.loc[frame["__held__"], ts.item_column].nunique() < max(1, 0.5 * frame[ts.item_column].nunique()):
        raise ValidationFailure("validation covers fewer than half of the series")
    pred = oof.set_index("__row__")["prediction"]
    return forecast_score(spec, frame, pred)


def compare_columns(spec: TaskSpec, new: pd.DataFrame) -> Optional[str]:
    missing = [c for c in spec.feature_columns if c not in new.columns]
    if missing:
        return f"new data lacks {len(missing)} feature column(s) the model needs: {missing[:10]}"
    return None
