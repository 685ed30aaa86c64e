"""report.html: one self-contained page (inline CSS, plots as base64 PNG) that explains a finished run.

Every section is built on its own and any failure there becomes a short "not available" line: the report is
a nicety on top of a valid result and must never be the reason a run looks broken.
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd
from jinja2 import Environment
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlwright.journal.store import Journal
from mlwright.schemas import AttemptRecord, RunSummary, TaskSpec
from mlwright.runtime import metrics as rm
from mlwright.validation.metrics import prediction_columns, score_predictions, truth

REPORT_NAME = "report.html"
MAX_CLASSES = 20
MAX_FEATURES = 20
MAX_LEADERBOARD_ROWS = 15
MAX_SCATTER_POINTS = 5000
MAX_ERROR_CHARS = 200
MAX_PROFILE_COLUMNS = 40
MAX_PREVIEW_ROWS = 10
MAX_FORECAST_SERIES = 6
FEATURE_WORK = "feature_work.json"  # an attempt's screened feature groups (runtime/features.py writes it)
HISTORY_HORIZONS = 4  # history shown before a forecast, in forecast horizons
LEADERBOARD_COLUMNS = ["model", "score_val", "eval_metric", "pred_time_val", "fit_time", "stack_level"]


def write_report(out: Path, summary: RunSummary, journal: Journal, train: pd.DataFrame) -> Path:
    """Write `out/report.html` and return its path."""
    spec = summary.task
    attempts = _safe(journal.attempts, [])
    best_id = summary.best.attempt_id if summary.best else None
    best_rec = next((a for a in attempts if a.attempt_id == best_id), None)
    workdir = Path(best_rec.workdir) if best_rec else None
    context = {
        "summary": summary,
        "spec": spec,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "best_score": _fmt(summary.best.validation_score) if summary.best else None,
        "spec_rows": _safe(lambda: _spec_rows(spec), []) if spec else [],
        "attempts": [_attempt_row(a, best_id) for a in attempts],
        "leaderboard": _section(lambda: _leaderboard(workdir), "Leaderboard"),
        "importance": _section(lambda: _importance(workdir), "Feature importance"),
        "feature_work": _section(lambda: _feature_work(attempts), "Feature work")
        if any(a.workdir and (Path(a.workdir) / FEATURE_WORK).is_file() for a in attempts) else None,
        "validation": _section(lambda: _validation(workdir, spec, train,
                                                   summary.best.validation_score if summary.best else None),
                               "Validation plot") if spec is None or spec.ranking is None else
        _section(lambda: _ranking_validation(workdir, spec, train), "Validation plot"),
        "retrieved": _section(lambda: _retrieved(workdir, spec, train, Path(out)), "Retrieved examples")
        if spec is not None and spec.ranking is not None else None,
        "forecasts": _section(lambda: _forecasts(workdir, spec, train), "Forecasts per series")
        if spec is not None and spec.timeseries is not None else None,
        "profile": _section(lambda: _profile(spec, train), "Data profile"),
        "preview": _section(lambda: _preview(summary), "Predictions preview"),
        "timeline": _section(lambda: _timeline(attempts), "Attempts timeline"),
        "events": _safe(lambda: journal.events()[-300:], []),
        "llm": _safe(lambda: _llm(Path(out), summary), None),
    }
    path = Path(out) / REPORT_NAME
    path.write_text(_template().render(**context), encoding="utf-8")
    return path


# -- helpers ---------------------------------------------------------------------------------------------
def _template():
    # autoescape: task text, column names, errors and logs all come from the user or from scripts.
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = lambda t: time.strftime("%H:%M:%S", time.localtime(t)) if t else ""
    env.filters["plain"] = _plain
    return env.from_string(resources.files("mlwright.report").joinpath("report.html").read_text(encoding="utf-8"))


def _plain(text: str) -> str:
    """A task written in markdown, as plain words: no heading marks, emphasis or code ticks."""
    text = re.sub(r"(?m)^\s{0,3}#{1,6}\s*", "", text or "")
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), text)
    return text.replace("`", "")


def _safe(fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - see the module docstring
        return default


class _Missing(Exception):
    """An optional input is absent: said as is, without an exception type."""


def _section(fn: Callable[[], dict], name: str) -> dict:
    """A section's content, or {"missing": why} so the template prints one line instead of failing."""
    try:
        return fn()
    except _Missing as e:
        return {"missing": f"{name} not available: {e}"}
    except Exception as e:  # noqa: BLE001 - a corrupt optional file must not break the report
        return {"missing": f"{name} not available: {type(e).__name__}: {str(e)[:200]}"}


def _fmt(x: Any, digits: int = 5) -> str:
    if x is None or (isinstance(x, (float, np.floating)) and math.isnan(x)):
        return ""
    return f"{x:.{digits}g}" if isinstance(x, (float, np.floating)) else str(x)


def _short(s: str, n: int) -> str:
    # cut the middle: class/feature names often share a prefix and differ at the end
    return s if len(s) <= n else s[: n // 2 - 1] + "…" + s[-(n - n // 2):]


# what an attempt's files hold, in the words a reader of the report uses
_FILE_WORDS = {"feature_importance.csv": "feature importance", "leaderboard.csv": "leaderboard of models",
               "oof_predictions.csv": "out-of-fold predictions"}


def _file(workdir: Optional[Path], name: str) -> Path:
    if workdir is None:
        raise _Missing("no attempt succeeded")
    p = workdir / name
    if not p.is_file():
        raise _Missing(f"the best attempt's model gives no {_FILE_WORDS.get(name, name)}")
    return p


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)  # Agg directly, without pyplot: no global backend state, no GUI, thread-safe
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# -- sections --------------------------------------------------------------------------------------------
MAX_RETRIEVED_QUERIES, MAX_RETRIEVED_DOCS = 4, 5


def _spec_rows(spec: TaskSpec) -> list[tuple[str, str]]:
    rows = [
        ("Problem type", spec.problem_type),
        ("Target column", spec.target),
        ("Metric", f"{spec.metric} ({'higher' if spec.higher_is_better else 'lower'} is better)"),
        ("Training table", f"{spec.train_table} ({spec.n_train_rows} rows)"),
        ("Test table", f"{spec.test_table} ({spec.n_test_rows} rows)" if spec.test_table else "none"),
        ("ID column", spec.id_column if not spec.ids_numbered else
         "none in the data: the ids are row numbers (0..n-1, in the test file's order) that mlwright made"),
        ("Prediction file", spec.prediction_file),
        ("Output columns", ", ".join(spec.output_columns)),
        ("Output kind", spec.output_kind),
    ]
    if spec.is_classification:
        labels = spec.class_labels
        rows.append(("Classes", f"{len(labels)}: " + ", ".join(labels[:MAX_CLASSES])
                     + (" …" if len(labels) > MAX_CLASSES else "")))
    if spec.positive_class is not None:
        rows.append(("Positive class", spec.positive_class))
    if spec.sample_submission:
        rows.append(("Sample submission", spec.sample_submission))
    if spec.ranking is not None:
        r = spec.ranking
        rows += [("Queries", f"{r.queries_table} (id {r.query_id_column!r}, text {r.query_text_column!r}); "
                             f"{r.n_queries_train} judged"),
                 ("Corpus", f"{r.corpus_source} ({r.n_documents} documents, id {r.doc_id_column!r})"),
                 ("Judgements", f"{r.judgements_table}" + (f" (relevance {r.relevance_column!r})"
                                                           if r.relevance_column else " (every pair relevant)")),
                 ("Ranking output", f"{r.layout}, top {r.k} per query" if r.layout != "pairs" else "a score per pair")]
    rows.append(("Features", str(len(spec.feature_columns))))
    return rows


def _attempt_row(a: AttemptRecord, best_id: Optional[int]) -> dict:
    err = a.error or ""
    return {
        "id": a.attempt_id, "parent": "" if a.parent_id is None else a.parent_id, "kind": a.kind,
        "recipe": a.recipe, "title": a.title, "status": a.status,
        "seconds": "" if a.seconds is None else f"{a.seconds:.1f}", "budget": f"{a.time_budget_s:.0f}",
        "score": _fmt(a.score), "error": err if len(err) <= MAX_ERROR_CHARS else err[:MAX_ERROR_CHARS] + "…",
        "best": a.attempt_id == best_id, "data_note": a.data_note,
    }


def _llm(out: Path, summary: RunSummary) -> Optional[dict]:
    """The LLM's part in the run: calls, tokens and cost per role, fallbacks and why, and the planner's reasoning
    at each step (from the transcript, which the report links)."""
    from mlwright.llm.agent import extract_json
    from mlwright.llm.transcript import TRANSCRIPT, read_transcript

    u = summary.llm
    if u.provider == "none":
        return None
    roles = [(role, d.get("calls", 0), d.get("input_tokens", 0), d.get("output_tokens", 0),
              _fmt(d.get("cost_usd", 0.0), 4), d.get("failures", 0)) for role, d in sorted(u.by_role.items())]
    steps = []
    for call in read_transcript(out):
        if call.get("role") != "planner" or not call.get("answer"):
            continue
        try:
            d = extract_json(call["answer"])
        except ValueError:
            continue
        parent = f" of #{d['parent_id']}" if d.get("parent_id") is not None else ""
        steps.append({"decision": f"{d.get('action', '?')}{parent}", "plan": _short(str(d.get("plan", "")), 300),
                      "candidates": "; ".join(_short(str(c), 120) for c in d.get("candidates", [])[:3])})
    return {"roles": roles, "steps": steps,
            "transcript": TRANSCRIPT if (out / TRANSCRIPT).is_file() else None}


def _leaderboard(workdir: Optional[Path]) -> dict:
    df = pd.read_csv(_file(workdir, "leaderboard.csv"))
    if df.empty:
        raise _Missing("the best attempt's leaderboard of models is empty")
    cols = [c for c in LEADERBOARD_COLUMNS if c in df.columns] or list(df.columns[:6])
    df = df[cols].head(MAX_LEADERBOARD_ROWS)
    rows = [[_fmt(v, 4) for v in r] for r in df.itertuples(index=False)]
    return {"columns": cols, "rows": rows, "numeric": [pd.api.types.is_numeric_dtype(df[c]) for c in cols]}


def _importance(workdir: Optional[Path]) -> dict:
    df = pd.read_csv(_file(workdir, "feature_importance.csv"))
    if not {"feature", "importance"} <= set(df.columns):
        raise _Missing("the best attempt's feature importance names no features")
    df = df.assign(importance=pd.to_numeric(df["importance"], errors="coerce")).dropna(subset=["importance"])
    if df.empty:
        raise _Missing("the best attempt's feature importance holds no numbers")
    top = df.nlargest(MAX_FEATURES, "importance").iloc[::-1]  # barh draws bottom-up: largest on top
    fig = Figure(figsize=(8, 0.9 + 0.32 * len(top)))
    ax = fig.add_subplot()
    # positions, not names, on the axis: duplicated feature names must stay separate bars
    ax.barh(range(len(top)), top["importance"], color="#4c72b0")
    ax.set_yticks(range(len(top)), [_short(s, 40) for s in top["feature"].astype(str)])
    ax.set_xlabel("importance")
    ax.set_title(f"The {len(top)} most important of the model's {len(df)} inputs" if len(top) < len(df)
                 else f"The model's {len(df)} inputs")
    ax.grid(axis="x", alpha=0.3)
    return {"image": _png(fig)}


def _feature_work(attempts: list[AttemptRecord]) -> dict:
    """Per attempt that screened feature groups: each group, its columns, the screen's score without and with it,
    the change (positive: better) and whether it was kept."""
    tables = []
    for a in attempts:
        path = Path(a.workdir) / FEATURE_WORK if a.workdir else None
        if path is None or not path.is_file():
            continue
        d = json.loads(path.read_text())
        sign = 1.0 if d.get("higher_is_better", True) else -1.0
        rows = []
        for g in d["groups"]:
            before, after = g.get("score_without"), g.get("score_with")
            change = "" if before is None or after is None else f"{sign * (after - before):+.4g}"
            rows.append({"group": g["group"], "columns": _short(", ".join(map(str, g.get("columns", []))), 60),
                         "without": _fmt(before), "with": _fmt(after), "change": change,
                         "kept": "yes" if g.get("kept") else "no", "note": g.get("note", "")})
        tables.append({"attempt": f"#{a.attempt_id} {a.recipe}", "metric": d.get("metric", ""),
                       "folds": d.get("screen_folds", ""), "n_rows": d.get("screen_rows", ""), "rows": rows})
    return {"tables": tables}


def _validation(workdir: Optional[Path], spec: Optional[TaskSpec], train: pd.DataFrame,
                score: Optional[float] = None) -> dict:
    if spec is None:
        raise _Missing("no task")
    oof = pd.read_csv(_file(workdir, "oof_predictions.csv"))
    rows = oof["__row__"].to_numpy(dtype=int)
    if spec.segmentation is not None:
        return _mask_validation(spec, train, oof)
    if spec.is_multi:
        return _multi_validation(spec, truth(spec, train).iloc[rows].reset_index(drop=True),
                                 oof[prediction_columns(spec)].reset_index(drop=True))
    y_true = train[spec.target].iloc[rows].reset_index(drop=True)
    numeric = spec.problem_type in ("regression", "forecasting")
    need = ["prediction"] if numeric else [f"p::{c}" for c in spec.class_labels]
    pred = oof[need].reset_index(drop=True)
    if spec.problem_type == "forecasting":  # scored per series (the engine's number); the plot pools the windows
        title = f"{spec.metric} = {_fmt(score)} on the last {spec.timeseries.horizon} steps of each series"
    else:
        score = score_predictions(spec, y_true, pred)
        title = f"{spec.metric} = {_fmt(score)} on {len(oof)} out-of-fold rows"
    if numeric:
        fig = _scatter(y_true.to_numpy(dtype=float), pred["prediction"].to_numpy(dtype=float), title, spec.target)
        kind = "predicted against actual values, and the residuals"
    elif spec.problem_type == "binary" and spec.output_kind == "probability" and spec.positive_class is not None:
        fig = _curves(y_true.astype(str).to_numpy() == str(spec.positive_class),
                      pred[f"p::{spec.positive_class}"].to_numpy(dtype=float), title, str(spec.positive_class))
        kind = "ROC and precision-recall curves, and the calibration of the probabilities"
    else:
        fig = _confusion(y_true.astype(str).to_numpy(), pred.to_numpy(dtype=float), spec.class_labels, title)
        kind = "the confusion matrix of the predicted labels"
    return {"image": _png(fig), "caption": title, "kind": kind}


def _ranking_validation(workdir: Optional[Path], spec: TaskSpec, train: pd.DataFrame) -> dict:
    """Every ranking metric at k on the held-out queries, and how NDCG@k spreads over them."""
    from mlwright.runtime import metrics as rm
    from mlwright.validation.metrics import METRICS

    assert spec.ranking is not None
    k = spec.ranking.k
    oof = pd.read_csv(_file(workdir, "oof_predictions.csv"), dtype={"query_id": str, "doc_id": str})
    truth = rm.judgements_from_frame(train, rel_col=spec.target)
    ranked = rm.rankings_from_frame(oof)
    truth = {q: truth[q] for q in ranked if q in truth}
    names = [n for n, m in METRICS.items() if m.kind == "ranking" and m.fn is not None]
    values = [METRICS[n].fn(truth, ranked, k) for n in names]  # type: ignore[misc]
    per_query = [rm.ndcg_at_k({q: t}, ranked, k) for q, t in truth.items()]
    fig = Figure(figsize=(10, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.bar([f"{n}@{k}" for n in names], values, color="#4c72b0")
    for i, v in enumerate(values):
        ax1.text(i, v + 0.01, f"{v:.3f}", ha="center", fontsize=9)
    ax1.set_ylim(0, 1.08)
    ax1.set_title(f"{len(truth)} held-out queries")
    ax2.hist([v for v in per_query if np.isfinite(v)], bins=20, range=(0, 1), color="#dd8452")
    ax2.set_xlabel(f"ndcg@{k} per query")
    ax2.set_ylabel("queries")
    for ax in (ax1, ax2):
        ax.grid(axis="y", alpha=0.3)
    caption = ", ".join(f"{n}@{k} = {v:.4f}" for n, v in zip(names, values)) + f" on {len(truth)} held-out queries"
    return {"image": _png(fig), "caption": caption, "kind": "the ranking metrics, and NDCG per query"}


def _retrieved(workdir: Optional[Path], spec: TaskSpec, train: pd.DataFrame, out: Path) -> dict:
    """A few held-out queries with the documents the best attempt ranked first and their judged relevance."""
    from mlwright.runtime import metrics as rm

    assert spec.ranking is not None
    oof = pd.read_csv(_file(workdir, "oof_predictions.csv"), dtype={"query_id": str, "doc_id": str})
    corpus_path = out / "inputs" / "corpus.parquet"
    docs = pd.read_parquet(corpus_path).set_index("doc_id")["document"] if corpus_path.is_file() else pd.Series()
    truth = rm.judgements_from_frame(train, rel_col=spec.target)
    texts = train.assign(query_id=train["query_id"].astype(str)).drop_duplicates("query_id").set_index(
        "query_id")["query"]
    ranked = rm.rankings_from_frame(oof)
    shown = []
    for q in sorted(ranked)[:MAX_RETRIEVED_QUERIES]:
        rels = truth.get(q, {})
        rows = [(i + 1, d, _short(" ".join(str(docs.get(d, "")).split()), 110), _fmt(rels.get(d, 0.0), 3))
                for i, d in enumerate(ranked[q][:MAX_RETRIEVED_DOCS])]
        missed = [d for d, r in rels.items() if r > 0 and d not in ranked[q][:spec.ranking.k]]
        shown.append({"query": _short(str(texts.get(q, "")), 160), "id": q, "rows": rows,
                      "missed": ", ".join(missed[:5])})
    if not shown:
        raise _Missing("no held-out query was ranked")
    return {"queries": shown, "k": spec.ranking.k}


def _mask_validation(spec: TaskSpec, train: pd.DataFrame, oof: pd.DataFrame, shown: int = 6) -> dict:
    """Held-out images beside their true and predicted masks, and the IoU of each class."""
    from mlwright.runtime.metrics import class_iou
    from mlwright.runtime.segmentation import decode_mask, read_image, read_mask

    seg = spec.segmentation
    assert seg is not None
    d = seg.model_dump()
    truths = [read_mask(train[seg.mask_column].iloc[int(r)], d) for r in oof["__row__"]]
    preds = [decode_mask(c) for c in oof["mask"].fillna("")]
    n_cls = len(seg.classes)
    iou = class_iou(truths, preds, n_cls)
    score = float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0
    k = min(shown, len(oof))
    fig = Figure(figsize=(6.6, 2.2 * k))
    axes = fig.subplots(k, 3, squeeze=False)
    for i in range(k):
        row = int(oof["__row__"].iloc[i])
        panels = [(read_image(train[seg.image_column].iloc[row]), "image", {}),
                  (truths[i], "true mask", {"cmap": "tab10", "vmin": 0, "vmax": 9, "interpolation": "nearest"}),
                  (preds[i], "predicted mask", {"cmap": "tab10", "vmin": 0, "vmax": 9, "interpolation": "nearest"})]
        for ax, (a, name, kw) in zip(axes[i], panels):
            ax.imshow(a, **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=10)
    fig.tight_layout()
    per_class = ", ".join(f"{c}: {_fmt(v, 3)}" for c, v in zip(seg.classes, iou))
    caption = (f"mean IoU = {_fmt(score)} on {len(oof)} held-out images; IoU per class (mask value) {per_class}; "
               f"{k} of them shown")
    return {"image": _png(fig), "caption": caption, "kind": "held-out images, their true masks and the predicted "
                                                            "masks"}


def _forecasts(workdir: Optional[Path], spec: TaskSpec, train: pd.DataFrame) -> dict:
    """The end of a few series' history and the best attempt's forecast after it, one small plot each."""
    ts = spec.timeseries
    assert ts is not None
    pred = pd.read_csv(_file(workdir, spec.prediction_file))  # what the attempt wrote, in (item, time, value)
    item = next((c for c in (ts.item_column, spec.output_id_column) if c and c in pred.columns), None)
    value = next((c for c in (spec.target, *spec.value_columns) if c in pred.columns), None)
    if item is None or value is None or ts.timestamp_column not in pred.columns or \
            not {ts.item_column, ts.timestamp_column, spec.target} <= set(train.columns):
        raise _Missing("the forecasts are not in the long (series, time, value) layout")
    items = sorted(pred[item].astype(str).unique())
    shown = items[:MAX_FORECAST_SERIES]
    n = len(shown)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.3 * cols, 2.9 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    history = train.assign(_item=train[ts.item_column].astype(str))
    future = pred.assign(_item=pred[item].astype(str))
    for ax, name in zip(axes, shown):
        h = history[history["_item"] == name].sort_values(ts.timestamp_column).tail(HISTORY_HORIZONS * ts.horizon)
        f = future[future["_item"] == name]
        ht, ft = pd.to_datetime(h[ts.timestamp_column], errors="coerce"), pd.to_datetime(f[ts.timestamp_column],
                                                                                         errors="coerce")
        f = f.assign(_t=ft).sort_values("_t")
        ax.plot(ht, h[spec.target], color="#4c72b0", lw=1.4, label="history")
        ax.plot(f["_t"], f[value], color="#dd8452", lw=1.6, ls="--", marker=".", label="forecast")
        ax.set_title(_short(name, 30), fontsize=10)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    more = len(items) - n
    return {"image": _png(fig), "caption": f"{n} of {len(items)} series" + (f" (the first {n} by name)" if more else "")
            + f"; the last {HISTORY_HORIZONS * ts.horizon} steps of history and the {ts.horizon}-step forecast"}


def _multi_validation(spec: TaskSpec, y: pd.DataFrame, pred: pd.DataFrame) -> dict:
    """Several tags: each tag's F1 and ROC AUC; several targets: each target's R2 or accuracy (bars)."""
    score = score_predictions(spec, y, pred)
    title = f"{spec.metric} = {_fmt(score)} on {len(y)} out-of-fold rows"
    if spec.multilabel is not None:
        ml = spec.multilabel
        Y, P = y[ml.columns].to_numpy(dtype=int), pred.to_numpy(dtype=float)
        D = rm.tag_decisions(P, ml.threshold, ml.at_least_one)
        names = ml.tags
        series = {"F1": [rm.micro_f1(Y[:, [j]], P[:, [j]], ml.threshold) if D[:, j].any() or Y[:, j].any()
                         else 0.0 for j in range(len(names))], "ROC AUC": rm.tag_auc_scores(Y, P)}
        kind = "Per-tag scores: each tag's F1 (at P >= %.2f) and ROC AUC" % ml.threshold
    else:
        targets = [t.model_dump() for t in spec.multioutput.targets]  # type: ignore[union-attr]
        scores = rm.target_scores(y, pred, targets)
        names = list(scores)
        series = {"R2 (numbers) / accuracy (classes)": list(scores.values())}
        kind = "Per-target scores: R2 for a numeric target, accuracy for classes"
    shown = names[:30]
    fig = Figure(figsize=(7, 0.35 * len(shown) + 1.4))
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    for k, (label, vals) in enumerate(series.items()):
        ax.barh(np.arange(len(shown)) + k * width, np.nan_to_num(np.asarray(vals[:30], dtype=float)), height=width,
                label=label)
    ax.set_yticks(np.arange(len(shown)) + width * (len(series) - 1) / 2, [_short(str(n), 30) for n in shown])
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, float(np.nanmin([v for vs in series.values() for v in vs] + [0]))), 1.0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return {"image": _png(fig), "caption": title, "kind": kind}


def _curves(positive: np.ndarray, p: np.ndarray, title: str, label: str) -> Figure:
    """A probability task is judged by its ranking and calibration, not by a 0.5 cut-off."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fig = Figure(figsize=(13, 4.3))
    roc, pr, cal = fig.subplots(1, 3)
    fpr, tpr, _ = roc_curve(positive, p)
    roc.plot(fpr, tpr, color="#4c72b0", label=f"AUC {auc(fpr, tpr):.3f}")
    roc.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    prec, rec, _ = precision_recall_curve(positive, p)
    pr.plot(rec, prec, color="#4c72b0")
    pr.axhline(positive.mean(), color="#999", lw=1, ls="--", label=f"share of {_short(label, 15)}")
    pr.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
    frac, mean_p = calibration_curve(positive, np.clip(p, 0, 1), n_bins=10, strategy="quantile")
    cal.plot(mean_p, frac, marker="o", color="#4c72b0")
    cal.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
    cal.set(xlabel="predicted probability", ylabel="observed share", title="Calibration")
    for ax in (roc, pr, cal):
        ax.grid(alpha=0.3)
    roc.legend(loc="lower right")
    pr.legend(loc="lower left")
    fig.suptitle(title)
    return fig


def _profile(spec: Optional[TaskSpec], train: pd.DataFrame) -> dict:
    """The training table as the models saw it: each column's kind, missing share, distinct values, an example."""
    if spec is None or train is None or train.empty:
        raise _Missing("no training rows")
    targets = spec.target_columns if spec.is_multi else [spec.target]
    cols = [*targets, *spec.feature_columns][:MAX_PROFILE_COLUMNS]
    rows = []
    for c in cols:
        s = train[c] if c in train.columns else pd.Series(dtype=object)
        example = s.dropna().iloc[0] if s.notna().any() else ""
        use = "target" if c == spec.target or c in spec.target_columns else spec.column_kinds.get(c, str(s.dtype))
        rows.append([c, use,
                     f"{s.isna().mean():.0%}", str(s.nunique()), _short(str(example), 40)])
    more = len(spec.feature_columns) + 1 - len(cols)
    return {"rows": rows, "more": more, "n_rows": len(train)}


def _preview(summary: RunSummary) -> dict:
    if not summary.prediction_path or not Path(summary.prediction_path).is_file():
        raise _Missing("no prediction file")
    df = pd.read_csv(summary.prediction_path, nrows=MAX_PREVIEW_ROWS, dtype=str, keep_default_na=False)
    return {"columns": list(df.columns), "rows": df.values.tolist(), "name": Path(summary.prediction_path).name}


def _timeline(attempts: list[AttemptRecord]) -> dict:
    """When each attempt ran (side by side ones overlap), coloured by how it ended."""
    done = [a for a in attempts if a.started_at and a.ended_at]
    if not done:
        raise _Missing("no attempt ran")
    t0 = min(a.started_at for a in done)
    colors = {"succeeded": "#55a868", "running": "#ccb974"}
    fig = Figure(figsize=(9, 0.8 + 0.32 * len(done)))
    ax = fig.add_subplot()
    for i, a in enumerate(done):
        ax.barh(i, a.ended_at - a.started_at, left=a.started_at - t0, color=colors.get(a.status, "#c44e52"))
    ax.set_yticks(range(len(done)), [f"#{a.attempt_id} {_short(a.recipe, 20)}" for a in done])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first attempt started")
    ax.set_title("Attempts over time (green: succeeded, red: did not)")
    ax.grid(axis="x", alpha=0.3)
    return {"image": _png(fig)}


def _scatter(yt: np.ndarray, yp: np.ndarray, title: str, target: str) -> Figure:
    if len(yt) > MAX_SCATTER_POINTS:  # a PNG of 100k points is slow and no more informative
        keep = np.random.default_rng(0).choice(len(yt), MAX_SCATTER_POINTS, replace=False)
        yt, yp = yt[keep], yp[keep]
    fig = Figure(figsize=(12, 5.5))
    ax, res = fig.subplots(1, 2)
    ok = np.isfinite(yt) & np.isfinite(yp)
    res.hist((yp - yt)[ok], bins=40, color="#4c72b0")
    res.axvline(0, color="#c44e52", lw=1.2)
    res.set(xlabel=f"predicted - actual {target}", ylabel="rows", title="Residuals")
    res.grid(alpha=0.3)
    ax.scatter(yt, yp, s=8, alpha=0.6 if len(yt) < 2000 else 0.3, color="#4c72b0", edgecolors="none")
    lo, hi = float(np.nanmin([yt.min(), yp.min()])), float(np.nanmax([yt.max(), yp.max()]))
    ax.plot([lo, hi], [lo, hi], color="#c44e52", lw=1.2, label="y = x")
    ax.set_xlabel(f"actual {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def _confusion(yt: np.ndarray, proba: np.ndarray, classes: list[str], title: str) -> Figure:
    labels = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    shown = list(classes)
    if len(shown) > MAX_CLASSES:  # keep the most frequent true classes; a 500x500 grid is unreadable
        freq = pd.Series(yt).value_counts()
        shown = [c for c in freq.index if c in set(classes)][:MAX_CLASSES]
        title += f"\n({MAX_CLASSES} most frequent of {len(classes)} classes)"
    index = {c: i for i, c in enumerate(shown)}
    cm = np.zeros((len(shown), len(shown)), dtype=int)
    for t, p in zip(yt, labels):
        if t in index and p in index:
            cm[index[t], index[p]] += 1
    names = [_short(c, 20) for c in shown]
    side = max(4.5, 0.45 * len(shown) + 2.5)
    fig = Figure(figsize=(side + 1, side))
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(shown)), names, rotation=45 if len(shown) > 3 else 0, ha="right" if len(shown) > 3
                  else "center")
    ax.set_yticks(range(len(shown)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    if len(shown) <= 12:  # counts stay legible only on small grids
        thresh = cm.max() / 2 if cm.size else 0
        for i in range(len(shown)):
            for j in range(len(shown)):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if cm[i, j] > thresh else "black")
    return fig
