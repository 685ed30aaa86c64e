"""mlwright recipe: classic image features (pixels at a small fixed size, HOG gradient histograms at two cell
sizes, intensity/color histograms) with a kernel SVM or extra trees, chosen on the first fold; k-fold
out-of-fold validation, refit on all rows, saved for `predict`. No deep learning library needed."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from concurrent.futures import ThreadPoolExecutor

import joblib
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

IMG = SPEC.get("image") or {}
PATH_COL = IMG.get("path_column") or FEATURES[0]
BUDGET = float(PARAMS.get("time_budget", 600))
LIGHT = bool(PARAMS.get("light", False))
N_FOLDS = int(PARAMS.get("n_folds", 3 if LIGHT else 5))
SEED = int(PARAMS.get("seed", 0))
SVC_MAX_ROWS = int(PARAMS.get("svc_max_rows", 6000 if LIGHT else 12000))
SOFT_END = 0.72  # fraction of the budget after which no new fit starts (the rest: predict, save, margin)


def _geometry():
    w, h = int(IMG.get("width") or 32), int(IMG.get("height") or 32)
    longest = max(w, h, 1)
    hog_side = min(max(longest, 16), 40) if longest <= 40 else 64
    pix_side = min(longest, 32) if int(IMG.get("channels") or 1) == 1 else min(longest, 16)

    def fit(side):
        s = side / longest
        return max(8, int(round(w * s))), max(8, int(round(h * s)))

    return {"hog": fit(hog_side), "pix": fit(pix_side), "color": int(IMG.get("channels") or 1) >= 3,
            "cells": (max(2, int(round(hog_side / 7))), max(4, int(round(hog_side / 4))))}


GEO = _geometry()


def _to_rgb(im):
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(im, dtype=np.float32)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        im = Image.fromarray(a.astype(np.uint8), "L")
    return im.convert("RGB")


def load_image(path):
    """The arrays one image contributes, or None when it cannot be decoded."""
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", (2 * GEO["hog"][0], 2 * GEO["hog"][1]))
            rgb = _to_rgb(im)
        gray = rgb.convert("L")
        hog_img = np.asarray(gray.resize(GEO["hog"], Image.BILINEAR) if gray.size != GEO["hog"] else gray,
                             dtype=np.float32) / 255.0
        src = rgb if GEO["color"] else gray
        pix = np.asarray(src.resize(GEO["pix"], Image.BILINEAR) if src.size != GEO["pix"] else src,
                         dtype=np.float32) / 255.0
        small = rgb.resize((32, 32), Image.BILINEAR) if GEO["color"] else None
        return hog_img, pix, small
    except Exception:  # noqa: BLE001 - an unreadable image gets a fallback prediction, not a crash
        return None


def hog(imgs, cell, n_bins=9, block=2):
    """Histograms of oriented gradients (unsigned, bilinear orientation binning, L2-Hys block norm)."""
    n, h, w = imgs.shape
    gx, gy = np.zeros_like(imgs), np.zeros_like(imgs)
    gx[:, :, 1:-1] = imgs[:, :, 2:] - imgs[:, :, :-2]
    gy[:, 1:-1, :] = imgs[:, 2:, :] - imgs[:, :-2, :]
    mag = np.hypot(gx, gy)
    b = np.mod(np.arctan2(gy, gx), np.pi) / np.pi * n_bins
    b0 = np.floor(b).astype(np.int64) % n_bins
    w1 = (b - np.floor(b)).astype(np.float32)
    b1 = (b0 + 1) % n_bins
    ch, cw = max(1, h // cell), max(1, w // cell)
    sl = (slice(None), slice(0, ch * cell), slice(0, cw * cell))
    mag, b0, b1, w1 = mag[sl], b0[sl], b1[sl], w1[sl]
    hist = np.zeros((n, ch, cw, n_bins), np.float32)
    for k in range(n_bins):
        m = mag * ((b0 == k) * (1 - w1) + (b1 == k) * w1)
        hist[..., k] = m.reshape(n, ch, cell, cw, cell).sum(axis=(2, 4))
    block = min(block, ch, cw)
    out = []
    for i in range(ch - block + 1):
        for j in range(cw - block + 1):
            v = hist[:, i:i + block, j:j + block, :].reshape(n, -1)
            v = v / np.sqrt((v ** 2).sum(1, keepdims=True) + 1e-6)
            v = np.minimum(v, 0.2)
            out.append(v / np.sqrt((v ** 2).sum(1, keepdims=True) + 1e-6))
    return np.concatenate(out, axis=1)


def _color_features(small):
    a = np.asarray(small, dtype=np.float32) / 255.0
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255.0
    feats = [a.reshape(-1, 3).mean(0), a.reshape(-1, 3).std(0)]
    for c, bins in ((0, 12), (1, 8), (2, 8)):
        feats.append(np.histogram(hsv[..., c], bins=bins, range=(0, 1))[0] / hsv[..., c].size)
    q = np.minimum((a * 4).astype(int), 3).reshape(-1, 3)
    joint = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64) / len(q)
    feats.append(joint)
    return np.concatenate(feats).astype(np.float32)


COLOR_DIM = 3 + 3 + 12 + 8 + 8 + 64  # _color_features: mean, std, H/S/V histograms, joint RGB histogram


def featurize(paths):
    """(features, readable mask) for a list of image paths."""
    with ThreadPoolExecutor(max(2, min(8, (os.cpu_count() or 2) * 2))) as ex:
        loaded = list(ex.map(load_image, [str(p) if p is not None else "" for p in paths], chunksize=32))
    if not loaded:  # no rows: the right number of columns still
        X, _ = featurize([None])
        return X[:0], np.zeros(0, dtype=bool)
    ok = np.array([x is not None for x in loaded], dtype=bool)
    n = len(loaded)
    hw, hh = GEO["hog"]
    pw, ph = GEO["pix"]
    pix_dim = pw * ph * (3 if GEO["color"] else 1)
    parts = []
    for start in range(0, n, 2000):  # chunks keep the gradient arrays small
        chunk = loaded[start:start + 2000]
        himg = np.stack([x[0] if x is not None else np.zeros((hh, hw), np.float32) for x in chunk])
        pix = np.stack([x[1].reshape(-1) if x is not None else np.zeros(pix_dim, np.float32) for x in chunk])
        hist = np.stack([np.histogram(x[0], bins=16, range=(0, 1))[0] / x[0].size if x is not None
                         else np.zeros(16) for x in chunk]).astype(np.float32)
        cols = [hog(himg, GEO["cells"][0]), hog(himg, GEO["cells"][1]), pix, hist]
        if GEO["color"]:
            cols.append(np.stack([_color_features(x[2]) if x is not None else np.zeros(COLOR_DIM, np.float32)
                                  for x in chunk]))
        parts.append(np.concatenate(cols, axis=1).astype(np.float32))
    return np.concatenate(parts, axis=0), ok


# -- models -----------------------------------------------------------------------------------------------
def make_model(kind, n_rows, n_dims):
    steps = [StandardScaler()]
    if kind == "svm":
        if n_rows * n_dims > 3e7 and n_dims > 256:
            steps.append(PCA(256, random_state=SEED))
        if PROBLEM == "regression":
            return make_pipeline(*steps, SVR(C=3.0, epsilon=0.05, cache_size=500))
        return make_pipeline(*steps, SVC(C=10.0, gamma="scale", cache_size=500, random_state=SEED))
    trees = 200 if LIGHT else 300
    jobs = min(4, os.cpu_count() or 1)
    if PROBLEM == "regression":
        return ExtraTreesRegressor(trees, max_features=0.3, min_samples_leaf=2, n_jobs=jobs, random_state=SEED)
    return ExtraTreesClassifier(trees, max_features="sqrt", n_jobs=jobs, random_state=SEED)


class Fitted:
    """A fitted model with the target scaling (regression) or the class order and temperature (SVM)."""

    def __init__(self, kind, model, y_mean=0.0, y_std=1.0):
        self.kind, self.model, self.y_mean, self.y_std, self.temperature = kind, model, y_mean, y_std, 1.0

    def raw(self, X):
        """Regression: values; classification: decision values (SVM) or probabilities (trees)."""
        if PROBLEM == "regression":
            return self.model.predict(X) * self.y_std + self.y_mean
        if self.kind == "svm":
            d = self.model.decision_function(X)
            return np.stack([-d / 2, d / 2], axis=1) if d.ndim == 1 else d
        return self.model.predict_proba(X)

    def classes(self):
        return [str(c) for c in self.model.classes_]


def fit_one(kind, X, y, max_rows=None):
    n = len(X)
    cap = int(max_rows or SVC_MAX_ROWS)
    if kind == "svm" and n > cap:  # the kernel machine grows quadratically: fit on a sample
        rng = np.random.default_rng(SEED)
        idx = np.sort(rng.choice(n, cap, replace=False))
        if PROBLEM != "regression":  # every class keeps at least a few rows
            seen = set(y.iloc[idx])
            extra = [i for c in set(y) - seen for i in np.flatnonzero(y.to_numpy() == c)[:5]]
            idx = np.sort(np.concatenate([idx, np.asarray(extra, dtype=int)])) if extra else idx
        X, y = X[idx], y.iloc[idx]
    if PROBLEM == "regression":
        yv = y.to_numpy(dtype=float)
        mean, std = float(yv.mean()), float(yv.std() or 1.0)
        return Fitted(kind, make_model(kind, len(X), X.shape[1]).fit(X, (yv - mean) / std), mean, std)
    return Fitted(kind, make_model(kind, len(X), X.shape[1]).fit(X, y.to_numpy()))


def softmax(d, t):
    z = d / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def to_proba(fitted, raw):
    if fitted.kind == "svm":
        return softmax(raw, fitted.temperature)
    return raw


def fit_temperature(raw, y_idx):
    best_t, best_ll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.01), np.log(30), 80)):
        p = softmax(raw, t)
        ll = -np.mean(np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-12, None)))
        if ll < best_ll:
            best_t, best_ll = float(t), ll
    return best_t


def quick_score(y_true, pred):
    """Higher is better: the task's metric (accuracy where it cannot be computed on these rows)."""
    try:
        return task_score(y_true, pred)
    except ValueError:  # e.g. ROC AUC on rows of one class
        labels = np.asarray(CLASSES, dtype=object)[np.argmax(pred[CLASSES].to_numpy(), axis=1)]
        return float(np.mean(labels == np.asarray(y_true, dtype=object)))


def predict_frame(fitted, X):
    raw = fitted.raw(X)
    if PROBLEM == "regression":
        return np.expm1(raw) if LOG_TARGET else raw
    return as_class_frame(to_proba(fitted, raw), fitted.classes())


def time_left():
    return SOFT_END * BUDGET - (time.time() - T0)


def sample_rows(y, n_keep):
    """A stratified (classification) or plain random sample of row positions, sorted."""
    rng = np.random.default_rng(SEED)
    n = len(y)
    if n_keep >= n:
        return np.arange(n)
    if PROBLEM == "regression":
        return np.sort(rng.choice(n, n_keep, replace=False))
    keep = []
    for _c, idx in pd.Series(np.arange(n)).groupby(y.to_numpy()):
        k = max(min(len(idx), 5), int(round(n_keep * len(idx) / n)))
        keep.append(rng.choice(idx.to_numpy(), min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


def fit(train, test, out_dir, model_dir):
    y_all = target_series(train)
    y_fit_all = np.log1p(y_all.clip(lower=0)) if LOG_TARGET else y_all
    log(f"{len(train)} training / {len(test)} test images; geometry {GEO}; budget {BUDGET:.0f}s")
    # features: every test image; the training images that fit in ~45% of the time (measured on a probe)
    paths = train[PATH_COL].tolist()
    t = time.time()
    n_probe = min(len(paths), 300)
    probe_idx = sample_rows(y_all, n_probe)
    X_probe, ok_probe = featurize([paths[i] for i in probe_idx])
    per_image = (time.time() - t) / max(len(probe_idx), 1)
    feat_time = 0.45 * SOFT_END * BUDGET - (time.time() - T0) - per_image * len(test)
    rows = np.arange(len(paths))
    if per_image * (len(paths) - len(probe_idx)) > feat_time:
        n_keep = max(len(probe_idx), int(feat_time / per_image))
        rows = sample_rows(y_all, n_keep)
        log(f"{per_image * 1000:.1f} ms per image: features for a sample of {len(rows)} of {len(paths)} "
            "training images only, to stay within the time budget")
    rest = np.setdiff1d(rows, probe_idx)
    X_rest, ok_rest = featurize([paths[i] for i in rest])
    order = np.argsort(np.concatenate([probe_idx, rest]))
    sel = np.concatenate([probe_idx, rest])[order]
    X_sel = np.concatenate([X_probe, X_rest])[order]
    ok_sel = np.concatenate([ok_probe, ok_rest])[order]
    X_test, ok_te = featurize(test[PATH_COL].tolist())
    log(f"features: {X_sel.shape[1]} per image in {time.time() - t:.1f}s ({(~ok_sel).sum()} unreadable training, "
        f"{(~ok_te).sum()} unreadable test images)")
    use = sel[ok_sel]  # positions in the training table
    X = X_sel[ok_sel]
    y, y_fit = y_all.iloc[use].reset_index(drop=True), y_fit_all.iloc[use].reset_index(drop=True)
    splits = cv_splits(X, y, N_FOLDS, SEED)
    tr, va = splits[0]
    # size the SVM from a timed fit on a sample: its cost grows about quadratically with the rows
    svm_rows = min(len(tr), SVC_MAX_ROWS)
    n_small = min(len(tr), 1000)
    if len(tr) > n_small:
        t = time.time()
        small = fit_one("svm", X[tr], y_fit.iloc[tr], max_rows=n_small)
        small.raw(X[va][:500])
        t_small = time.time() - t
        affordable = n_small * np.sqrt(max(0.05, 0.55 * time_left()) / ((len(splits) + 1.5) * 1.3 * t_small))
        svm_rows = int(max(n_small, min(svm_rows, affordable)))
        log(f"SVM on {n_small} rows took {t_small:.1f}s: fitting it on up to {svm_rows} rows")
    # fold 1 chooses the model: the SVM first (strongest on small images), extra trees when time allows
    candidates = {}
    fold_times = {}
    for kind in ("svm", "trees"):
        if kind == "trees" and candidates:
            svm_t = fold_times["svm"]  # the SVM's other folds and refit must still fit after the trees
            if time_left() < 1.3 * svm_t * (len(splits) + 0.6) + 2.0 * svm_t + 5:
                log("no time to try extra trees")
                continue
        t = time.time()
        f = fit_one(kind, X[tr], y_fit.iloc[tr], max_rows=svm_rows)
        raw = f.raw(X[va])
        fold_times[kind] = time.time() - t
        if PROBLEM == "regression":
            pred = np.expm1(raw) if LOG_TARGET else raw
        else:
            if kind == "svm":
                f.temperature = fit_temperature(raw, np.searchsorted(f.classes(), y.iloc[va].to_numpy()))
            pred = as_class_frame(to_proba(f, raw), f.classes())
        s = quick_score(y.iloc[va], pred)
        candidates[kind] = (f, raw, s)
        log(f"fold 1: {kind} {SPEC['metric']}~{s:.4f} ({fold_times[kind]:.1f}s)")
    kind = max(candidates, key=lambda k: candidates[k][2])
    pd.DataFrame([{"model": k, "score_val": round(v[2], 5), "eval_metric": SPEC["metric"],
                   "fit_time": round(fold_times[k], 2)} for k, v in candidates.items()]).sort_values(
        "score_val", ascending=False).to_csv(os.path.join(out_dir, "leaderboard.csv"), index=False)
    log(f"chosen: {kind}")
    per_fold = fold_times[kind]
    raws, rows, models = [candidates[kind][1]], [va], [candidates[kind][0]]
    for i, (tr, va) in enumerate(splits[1:], start=2):
        if time_left() < per_fold * 1.3 + per_fold * 1.6:  # this fold, then the refit on all rows
            log(f"stopping after {i - 1} folds to stay within the time budget")
            break
        t = time.time()
        f = fit_one(kind, X[tr], y_fit.iloc[tr], max_rows=svm_rows)
        raws.append(f.raw(X[va]))
        rows.append(va)
        models.append(f)
        per_fold = max(per_fold, time.time() - t)
        log(f"fold {i} done ({time.time() - t:.1f}s)")
    rows_cat = np.concatenate(rows)
    raw_oof = np.concatenate(raws, axis=0)
    if PROBLEM == "regression":
        oof = np.expm1(raw_oof) if LOG_TARGET else raw_oof
    else:
        cls = models[0].classes()
        if kind == "svm":
            t_best = fit_temperature(raw_oof, np.searchsorted(cls, y.iloc[rows_cat].to_numpy()))
            for m in models:
                m.temperature = t_best
        oof = as_class_frame(to_proba(models[0], raw_oof), cls)
    log(f"validation ({len(rows_cat)} rows): {SPEC['metric']}~{quick_score(y.iloc[rows_cat], oof):.4f}")
    # refit on every readable row when there is time, else the fold models vote
    if time_left() > per_fold * 1.5:
        cap = len(X) if svm_rows >= len(splits[0][0]) else int(svm_rows * 1.15)  # as large as the fold fits, or all
        final = fit_one(kind, X, y_fit, max_rows=cap)
        final.temperature = models[0].temperature
        finals = [final]
        log("refit on all rows")
    else:
        finals = models
        log(f"no time to refit: the {len(models)} fold model(s) are averaged")
    test_pred = average([predict_frame(m, X_test) for m in finals])
    test_pred = with_fallback(test_pred, ok_te, y_all)
    joblib.dump({"kind": kind, "models": finals, "geometry": GEO, "y": y_all}, os.path.join(model_dir, "model.joblib"))
    write_outputs(out_dir, test, test_pred, use[rows_cat], oof)


def average(preds):
    if len(preds) == 1:
        return preds[0]
    if PROBLEM == "regression":
        return np.mean(np.stack(preds), axis=0)
    out = preds[0].copy()
    for p in preds[1:]:
        out = out + p
    return out / len(preds)


def predict(model_dir, new):
    bundle = joblib.load(os.path.join(model_dir, "model.joblib"))
    X, ok = featurize(new[PATH_COL].tolist())
    pred = average([predict_frame(m, X) for m in bundle["models"]])
    return with_fallback(pred, ok, bundle["y"])


if __name__ == "__main__":
    cli(fit, predict)
