# ---- mlwright metrics: the one definition of each task metric (mlwright's validation imports this module;
# ---- a generated script holds its text, so an attempt ranks its candidates exactly as it will be scored) ----
import numpy as np
import pandas as pd


def _sk():
    from sklearn import metrics

    return metrics


def rmse(yt, yp):
    return float(np.sqrt(np.mean((np.asarray(yt, dtype=float) - np.asarray(yp, dtype=float)) ** 2)))


def mse(yt, yp):
    return float(np.mean((np.asarray(yt, dtype=float) - np.asarray(yp, dtype=float)) ** 2))


def rmsle(yt, yp):
    yt, yp = np.clip(np.asarray(yt, dtype=float), 0, None), np.clip(np.asarray(yp, dtype=float), 0, None)
    return float(np.sqrt(np.mean((np.log1p(yt) - np.log1p(yp)) ** 2)))


def mae(yt, yp):
    return float(np.mean(np.abs(np.asarray(yt, dtype=float) - np.asarray(yp, dtype=float))))


def mape(yt, yp):
    return float(_sk().mean_absolute_percentage_error(yt, yp))


def r2(yt, yp):
    return float(_sk().r2_score(yt, yp))


def accuracy(yt, labels, classes):
    return float(np.mean(np.asarray(labels) == np.asarray(yt)))


def balanced_accuracy(yt, labels, classes):
    return float(_sk().balanced_accuracy_score(yt, labels))


def macro_f1(yt, labels, classes):
    return float(_sk().f1_score(yt, labels, average="macro", labels=classes))


def roc_auc(yt, proba, classes, positive):
    """proba: one column per class, in `classes` order."""
    proba = np.asarray(proba, dtype=float)
    if len(classes) == 2:
        return float(_sk().roc_auc_score((np.asarray(yt) == positive).astype(int), proba[:, classes.index(positive)]))
    return float(_sk().roc_auc_score(yt, proba / proba.sum(axis=1, keepdims=True), multi_class="ovr", labels=classes))


def log_loss(yt, proba, classes, positive):
    p = np.clip(np.asarray(proba, dtype=float), 1e-15, 1)
    return float(_sk().log_loss(yt, p / p.sum(axis=1, keepdims=True), labels=classes))


def mase_scale(history, season):
    """A series' MASE scale: the in-sample seasonal-naive MAE of its history (lag 1 when it is too short); the
    mean absolute value when that is zero or undefined, and 1 when that is too."""
    h = np.asarray(history, dtype=float)
    lag = season if len(h) > season else 1
    scale = np.nanmean(np.abs(h[lag:] - h[:-lag])) if len(h) > lag else np.nan
    if not np.isfinite(scale) or scale == 0:
        scale = np.nanmean(np.abs(h)) if len(h) and np.isfinite(h).any() else np.nan
        if not np.isfinite(scale) or scale == 0:
            scale = 1.0
    return float(scale)


def mase(yt, yp, series, scale):
    """MASE: per series, the MAE of its forecasts over its scale (`scale`: mase_scale, one per row), averaged."""
    err = np.abs(np.asarray(yt, dtype=float) - np.asarray(yp, dtype=float)) / np.asarray(scale, dtype=float)
    if not np.isfinite(err).all():
        return float("nan")  # groupby's mean would skip the rows a model failed to forecast
    return float(pd.Series(err).groupby(pd.Series(series, dtype=object)).mean().mean())


# the folds mlwright cross-fits blend weights on (the blend of attempts, and an attempt's own weighted ensemble):
# a function of the training row id alone, so every member and the blend agree on them whatever rows they share
BLEND_FOLDS = 5


def blend_fold_ids(rows, n_train):
    return np.random.default_rng(0).permutation(n_train)[np.asarray(rows)] % BLEND_FOLDS


# what each metric scores besides the truth: values (regression), labels, or class probabilities
VALUE_METRICS = {"rmse": rmse, "mse": mse, "rmsle": rmsle, "mae": mae, "mape": mape, "r2": r2}
LABEL_METRICS = {"accuracy": accuracy, "balanced_accuracy": balanced_accuracy, "macro_f1": macro_f1}
PROBA_METRICS = {"roc_auc": roc_auc, "log_loss": log_loss}


# ---- several tags per row (multilabel): Y is an n x k 0/1 matrix, P the n x k probabilities of each tag ----
def tag_decisions(proba, threshold=0.5, at_least_one=False):
    """0/1 per tag: P at or above `threshold`; with `at_least_one`, a row with none keeps its most likely tag."""
    p = np.asarray(proba, dtype=float)
    out = (p >= threshold).astype(int)
    if at_least_one and len(p) and p.shape[1]:
        empty = out.sum(axis=1) == 0
        out[empty, np.argmax(p[empty], axis=1)] = 1
    return out


def micro_f1(Y, P, threshold=0.5, at_least_one=False):
    return float(_sk().f1_score(np.asarray(Y, dtype=int), tag_decisions(P, threshold, at_least_one),
                                average="micro", zero_division=0))


def tag_macro_f1(Y, P, threshold=0.5, at_least_one=False):
    return float(_sk().f1_score(np.asarray(Y, dtype=int), tag_decisions(P, threshold, at_least_one),
                                average="macro", zero_division=0))


def tag_auc_scores(Y, P):
    """ROC AUC of each tag (NaN for a tag whose rows are all 0 or all 1)."""
    Y, P = np.asarray(Y, dtype=int), np.asarray(P, dtype=float)
    out = []
    for j in range(Y.shape[1]):
        both = 0 < Y[:, j].sum() < len(Y)
        out.append(float(_sk().roc_auc_score(Y[:, j], P[:, j])) if both else float("nan"))
    return out


def tag_roc_auc(Y, P, threshold=0.5, at_least_one=False):
    """The mean of the tags' ROC AUC (tags whose rows are all 0 or all 1 left out)."""
    scores = [s for s in tag_auc_scores(Y, P) if np.isfinite(s)]
    return float(np.mean(scores)) if scores else float("nan")


TAG_METRICS = {"micro_f1": micro_f1, "tag_macro_f1": tag_macro_f1, "tag_roc_auc": tag_roc_auc}


# ---- several targets (multioutput): raw predictions hold `<target>::prediction` (numbers) or `<target>::p::<class>`
def target_raw_columns(target):
    """A target's raw prediction columns; `target`: {name, problem_type, class_labels} (a TargetSpec as a dict)."""
    if target["problem_type"] == "regression":
        return [target["name"] + "::prediction"]
    return [target["name"] + "::p::" + str(c) for c in target["class_labels"]]


def target_scores(Y, raw, targets):
    """Each target's score: R2 for numbers, accuracy for classes (both higher is better, 1 is perfect)."""
    out = {}
    for t in targets:
        cols = target_raw_columns(t)
        if t["problem_type"] == "regression":
            out[t["name"]] = r2(np.asarray(Y[t["name"]], dtype=float), np.asarray(raw[cols[0]], dtype=float))
        else:
            labels = np.asarray(t["class_labels"], dtype=object)[np.argmax(np.asarray(raw[cols], dtype=float), axis=1)]
            out[t["name"]] = accuracy(np.asarray(Y[t["name"]]).astype(str), labels, t["class_labels"])
    return out


def mean_target_score(Y, raw, targets):
    """The mean over the targets of R2 (numbers) or accuracy (classes)."""
    return float(np.mean(list(target_scores(Y, raw, targets).values())))


TARGET_METRICS = {"mean_target_score": mean_target_score}
# ---- ranking: truth = {query: {doc: relevance}}, ranked = {query: [doc, ...] best first}; each metric is the mean
# over the queries of `truth` that have a relevant document (relevance > 0), cut at the k first documents; a query
# the ranking lacks counts as an empty list (scores 0)
def _ranked_queries(truth, ranked):
    for q, rels in truth.items():
        if any(float(r) > 0 for r in rels.values()):
            yield q, {str(d): float(r) for d, r in rels.items()}, [str(d) for d in (ranked.get(q) or [])]


def _mean(values):
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def ndcg_at_k(truth, ranked, k):
    """NDCG@k with linear gains and log2 discounts, as scikit-learn's ndcg_score: the DCG of the first k documents
    retrieved over the DCG of the best possible order of the judged ones. A relevant document that was not
    retrieved earns nothing, also when fewer than k were retrieved."""
    def dcg(gains):
        g = np.asarray(gains, dtype=float)[:k]
        return float(np.sum(g / np.log2(np.arange(2, len(g) + 2))))

    def one(rels, docs):
        docs = list(dict.fromkeys(docs))
        ideal = dcg(sorted(rels.values(), reverse=True))
        return dcg([rels.get(d, 0.0) for d in docs]) / ideal if ideal > 0 else 0.0
    return _mean(one(rels, docs) for _, rels, docs in _ranked_queries(truth, ranked))


def mrr_at_k(truth, ranked, k):
    """Mean reciprocal rank of the first relevant document among the first k (0 when none is)."""
    def one(rels, docs):
        return next((1.0 / (i + 1) for i, d in enumerate(docs[:k]) if rels.get(d, 0) > 0), 0.0)
    return _mean(one(rels, docs) for _, rels, docs in _ranked_queries(truth, ranked))


def map_at_k(truth, ranked, k):
    """Mean average precision at k: per query, the precision at each relevant document among the first k, summed
    and divided by min(k, number of relevant documents)."""
    def one(rels, docs):
        hits, total = 0, 0.0
        for i, d in enumerate(list(dict.fromkeys(docs))[:k]):
            if rels.get(d, 0) > 0:
                hits += 1
                total += hits / (i + 1)
        return total / min(k, sum(r > 0 for r in rels.values()))
    return _mean(one(rels, docs) for _, rels, docs in _ranked_queries(truth, ranked))


def recall_at_k(truth, ranked, k):
    """The share of a query's relevant documents among its first k, averaged over queries."""
    def one(rels, docs):
        relevant = {d for d, r in rels.items() if r > 0}
        return len(relevant & set(docs[:k])) / len(relevant)
    return _mean(one(rels, docs) for _, rels, docs in _ranked_queries(truth, ranked))


RANKING_METRICS = {"ndcg": ndcg_at_k, "mrr": mrr_at_k, "map": map_at_k, "recall": recall_at_k}


def rankings_from_frame(frame, query_col="query_id", doc_col="doc_id", score_col="score"):
    """{query: [doc, ...]} best first from a long frame of (query, document, score)."""
    f = frame[[query_col, doc_col, score_col]].copy()
    f[query_col], f[doc_col] = f[query_col].astype(str), f[doc_col].astype(str)
    f = f.sort_values([query_col, score_col], ascending=[True, False], kind="mergesort")
    return {q: g[doc_col].tolist() for q, g in f.groupby(query_col, sort=False)}


def judgements_from_frame(frame, query_col="query_id", doc_col="doc_id", rel_col="relevance"):
    """{query: {doc: relevance}} from a long frame of judgements."""
    out = {}
    for q, d, r in zip(frame[query_col].astype(str), frame[doc_col].astype(str), frame[rel_col].astype(float)):
        out.setdefault(q, {})[d] = max(r, out.get(q, {}).get(d, r))
    return out




# ---- semantic segmentation: lists of masks (2-d arrays of class indices 0..n_classes-1), pooled over every pixel
def mask_confusion(true_masks, pred_masks, n_classes):
    """The n_classes x n_classes pixel confusion matrix (rows: truth) over all masks; shapes must agree."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(true_masks, pred_masks):
        t, p = np.asarray(t, dtype=np.int64).ravel(), np.asarray(p, dtype=np.int64).ravel()
        if t.shape != p.shape:
            raise ValueError(f"mask of {p.size} pixels where the truth has {t.size}")
        cm += np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    return cm


def class_iou(true_masks, pred_masks, n_classes):
    """Per class: intersection over union of its pixels (NaN for a class absent from truth and prediction)."""
    cm = mask_confusion(true_masks, pred_masks, n_classes).astype(float)
    inter = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def mean_iou(true_masks, pred_masks, n_classes):
    """Mean over the classes (present in truth or prediction) of the pixel IoU pooled over every image."""
    iou = class_iou(true_masks, pred_masks, n_classes)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0


def dice(true_masks, pred_masks, n_classes):
    """Mean over the classes (present in truth or prediction) of 2|A and B| / (|A| + |B|), pooled over images."""
    cm = mask_confusion(true_masks, pred_masks, n_classes).astype(float)
    inter = np.diag(cm)
    size = cm.sum(axis=0) + cm.sum(axis=1)
    d = np.where(size > 0, 2 * inter / np.maximum(size, 1), np.nan)
    return float(np.nanmean(d)) if np.isfinite(d).any() else 0.0


MASK_METRICS = {"mean_iou": mean_iou, "dice": dice}
# AutoGluon's name for each metric it can fit to (rmsle: RMSE on log1p of the target, which the fitting code applies)
AUTOGLUON_METRICS = {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy", "macro_f1": "f1_macro",
                     "roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error",
                     "rmsle": "root_mean_squared_error", "mae": "mean_absolute_error", "mse": "mean_squared_error",
                     "mape": "mean_absolute_percentage_error", "r2": "r2"}
