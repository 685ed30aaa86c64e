"""What the LLM coder is told about the data, bounded in size: each feature's kind (as perception read it),
type, missing share, distinct values and typical values; the target's balance or spread; a few example rows;
and the exact output contract. An engineer would look at exactly this before writing a line."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlwright.schemas import TaskSpec

MAX_FEATURES = 60


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _num(v: float) -> str:
    return f"{v:.4g}"


def feature_line(name: str, s: pd.Series, kind: str) -> str:
    missing = float(s.isna().mean()) if len(s) else 0.0
    head = f"- {name}: {kind}, {s.dtype}, {_pct(missing)} missing"
    v = s.dropna()
    if v.empty:
        return head
    if pd.api.types.is_bool_dtype(s):
        return head + f", true {_pct(float(v.astype(bool).mean()))}"
    if pd.api.types.is_numeric_dtype(s):
        return head + f", {v.nunique()} distinct, min {_num(v.min())}, median {_num(v.median())}, max {_num(v.max())}"
    if pd.api.types.is_datetime64_any_dtype(s):
        return head + f", {v.min()} .. {v.max()}"
    text = v.astype(str)
    if kind == "text":
        example = text.iloc[0][:120].replace("\n", " ")
        return head + f", {text.nunique()} distinct, mean {text.str.len().mean():.0f} chars, e.g. {example!r}"
    top = text.value_counts(normalize=True).head(6)
    shown = ", ".join(f"{str(k)[:30]!r} {_pct(p)}" for k, p in top.items())
    return head + f", {text.nunique()} distinct: {shown}" + (", ..." if text.nunique() > len(top) else "")


def target_line(spec: TaskSpec, y: pd.Series) -> str:
    y = y.dropna()
    if spec.is_classification:
        share = y.astype(str).value_counts(normalize=True)
        shown = ", ".join(f"{k!r} {_pct(p)}" for k, p in share.head(10).items())
        return f"Target {spec.target!r}: {len(share)} classes: {shown}" + (", ..." if len(share) > 10 else "")
    y = pd.to_numeric(y, errors="coerce").dropna()
    if y.empty:
        return f"Target {spec.target!r}"
    return (f"Target {spec.target!r}: mean {_num(y.mean())}, std {_num(y.std())}, min {_num(y.min())}, "
            f"median {_num(y.median())}, max {_num(y.max())}")


def output_contract(spec: TaskSpec) -> str:
    if spec.ranking is not None:
        r = spec.ranking
        shape = {"long": f"the top {r.k} documents of each query, one row each (rank 1 = best)",
                 "per_query": f"one row per query, its top {r.k} document ids space-separated, best first",
                 "pairs": "one score per (query, document) pair of the test rows"}[r.layout]
        return (f"Output file {spec.prediction_file!r}: columns {spec.output_columns}, {shape} (write_ranking writes "
                "it; never write it yourself).")
    if spec.segmentation is not None:
        seg = spec.segmentation
        back = (f"mlwright writes each mask back as a file of the same name in {seg.mask_folder}/"
                if seg.layout == "files" else f"mlwright writes them back as run-length encodings {seg.rle_columns}")
        return (f"Output file {spec.prediction_file!r}: columns {spec.output_columns}, one row per image to predict, "
                "its id and its mask per image (class indices at the image's own size, encoded by "
                f"write_mask_outputs / mask_table; never write it yourself); {back}.")
    what = {"label": "the predicted class label", "probability": f"the probability of class {spec.positive_class!r}",
            "class_probabilities": "one probability column per class", "value": "the predicted value",
            "tags": "the predicted tags of each row", "tag_probabilities": "one probability column per tag",
            "values": "one predicted value per target"}
    return (f"Output file {spec.prediction_file!r}: columns {spec.output_columns}, one row per test row, "
            f"{what[spec.output_kind]} (write_outputs writes it; never write it yourself).")


def segmentation_line(spec: TaskSpec, train: pd.DataFrame, sample: int = 12) -> str:
    """The images, the classes and their pixel shares in a sample of the training masks."""
    seg = spec.segmentation
    assert seg is not None
    line = (f"Segmentation: {spec.n_train_rows} training images with masks, {spec.n_test_rows} images to predict; "
            f"{len(seg.classes)} classes (index: name) " + ", ".join(f"{i}: {c!r}" for i, c in enumerate(seg.classes))
            + f"; background = class {seg.background}")
    if seg.mask_column in train.columns:
        from mlwright.runtime.segmentation import read_mask

        counts = np.zeros(len(seg.classes))
        for path in train[seg.mask_column].head(sample):
            try:
                counts += np.bincount(read_mask(path, seg.model_dump()).ravel(), minlength=len(seg.classes))
            except (OSError, ValueError):
                continue
        if counts.sum():
            shares = ", ".join(f"{i}: {_pct(c / counts.sum())}" for i, c in enumerate(counts))
            line += f"; pixel shares in {min(sample, len(train))} training masks {shares}"
    return line + f"; metric {spec.metric} on held-out training images"


def data_digest(spec: TaskSpec, train: pd.DataFrame, max_chars: int = 6000) -> str:
    target = f"Target {spec.target!r}" + (": each training image's mask file (absolute path)"
                                          if spec.segmentation is not None else "")
    lines = [f"{spec.n_train_rows} training rows, {spec.n_test_rows} test rows.",
             target_line(spec, train[spec.target]) if spec.target in train.columns and spec.segmentation is None
             else target, output_contract(spec)]
    if spec.segmentation is not None:
        lines.append(segmentation_line(spec, train))
    ts, img = spec.timeseries, spec.image
    if spec.ranking is not None:
        r = spec.ranking
        lines.append(f"Ranking: {r.n_queries_train} judged training queries (train rows: query_id, query, doc_id, "
                     f"{spec.target}{', graded' if r.graded else ''}), {r.n_documents} documents in the corpus "
                     f"(doc_id, document), metric {spec.metric}@{r.k} on held-out training queries")
    if ts is not None:
        n_series = train[ts.item_column].nunique() if ts.item_column in train.columns else 1
        lines.append(f"Series: {n_series} of them, id column {ts.item_column!r}, timestamps in {ts.timestamp_column!r}"
                     f" (frequency {ts.freq or 'irregular'}, season {ts.season_period} steps), forecast {ts.horizon}"
                     f" steps past each series' end; known covariates {ts.known_covariates}")
    if img is not None:
        size = f"{img.width}x{img.height}, {img.channels} channel(s)" if img.width else "sizes vary"
        lines.append(f"Images: column {img.path_column!r} holds each image's absolute path; {size}")
    lines.append("Features (kind as mlwright read it, dtype, missing, values):")
    shown = [c for c in spec.feature_columns if c in train.columns][:MAX_FEATURES]
    for c in shown:
        if img is not None and c == img.path_column:  # the paths' values say nothing; the Images line says the rest
            lines.append(f"- {c}: image file paths, {train[c].nunique()} distinct")
            continue
        lines.append(feature_line(c, train[c], spec.column_kinds.get(c, "feature")))
    if len(spec.feature_columns) > len(shown):
        lines.append(f"- ... and {len(spec.feature_columns) - len(shown)} more features")
    if spec.dropped_columns:
        lines.append("Not used: " + "; ".join(f"{c} ({why})" for c, why in list(spec.dropped_columns.items())[:10]))
    rows = train[[c for c in shown[:20] + [spec.target] if c in train.columns]].head(3)
    lines.append("Example rows:\n" + rows.to_csv(index=False).strip()[:1500])
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[:max_chars] + "\n(... cut)"
