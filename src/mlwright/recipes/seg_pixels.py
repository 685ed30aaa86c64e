"""mlwright recipe: semantic segmentation without deep learning. Every pixel is described by its colour, the
mean and spread of its neighbourhood at a few scales, the gradient and its position; LightGBM learns its class
from a sample of training pixels. Validated on held-out images (whole masks), refit on all, saved for `predict`."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from mlwright.runtime.segmentation import *  # noqa: F403
import joblib
from lightgbm import LGBMClassifier
from scipy import ndimage

SEG = SPEC["segmentation"]
IMG_COL = SEG["image_column"]
MASK_COL = SEG["mask_column"]
N_CLASSES = len(SEG["classes"])
BUDGET = float(PARAMS.get("time_budget", 600))
LIGHT = bool(PARAMS.get("light", False))
MAX_PIXELS = int(PARAMS.get("max_pixels", 20000 if LIGHT else 40000))
N_TREES = int(PARAMS.get("n_estimators", 60 if LIGHT else 100))
MAX_SIDE = 256  # larger images are described at this size; their masks are scaled back up
SCALES = (2, 5, 11)


def pixel_features(img):
    """H x W x F features of an image (float32)."""
    gray = img.mean(axis=2)
    feats = [img[..., c] for c in range(3)]
    for r in SCALES:
        size = 2 * r + 1
        for c in range(3):
            feats.append(ndimage.uniform_filter(img[..., c], size=size, mode="reflect"))
        m = ndimage.uniform_filter(gray, size=size, mode="reflect")
        sq = ndimage.uniform_filter(gray * gray, size=size, mode="reflect")
        feats.append(np.sqrt(np.maximum(sq - m * m, 0)))
    feats.append(np.hypot(ndimage.sobel(gray, 0), ndimage.sobel(gray, 1)))
    h, w = gray.shape
    yy, xx = np.mgrid[:h, :w]
    feats += [yy / max(h - 1, 1), xx / max(w - 1, 1)]
    return np.stack(feats, axis=2).astype(np.float32)


def scaled(img):
    h, w = img.shape[:2]
    s = min(1.0, MAX_SIDE / max(h, w))
    if s >= 1.0:
        return img
    return ndimage.zoom(img, (s, s, 1), order=1)


def sample_pixels(paths, mask_paths, budget_pixels, seed=0):
    rng = np.random.default_rng(seed)
    per = max(50, budget_pixels // max(1, len(paths)))
    X, y = [], []
    for p, mp in zip(paths, mask_paths):
        img = safe_image(p)
        if img is None:
            continue
        f = pixel_features(scaled(img))
        m = fit_mask_size(read_mask(mp, SEG), f.shape[0], f.shape[1])
        flat, lab = f.reshape(-1, f.shape[2]), m.ravel()
        take = rng.choice(len(lab), size=min(per, len(lab)), replace=False)
        X.append(flat[take])
        y.append(lab[take])
    return np.concatenate(X), np.concatenate(y)


def predict_masks(model, paths):
    out = []
    for p in paths:
        img = safe_image(p)
        if img is None:
            try:
                h, w = image_size(p)
            except Exception:  # noqa: BLE001
                h, w = 1, 1
            out.append(np.full((h, w), SEG.get("background", 0), dtype=np.int64))
            continue
        f = pixel_features(scaled(img))
        proba = model.predict_proba(f.reshape(-1, f.shape[2]))
        cls = np.asarray(model.classes_)[np.argmax(proba, axis=1)].reshape(f.shape[:2])
        out.append(fit_mask_size(cls, img.shape[0], img.shape[1]))
    return out


def new_model(n_trees):
    return LGBMClassifier(n_estimators=n_trees, num_leaves=31, learning_rate=0.1, subsample=0.8, subsample_freq=1,
                          colsample_bytree=0.8, n_jobs=cores() if cores() >= 4 else 1, verbose=-1, random_state=0)


def fit(train, test, out_dir, model_dir):
    paths, masks = train[IMG_COL].tolist(), train[MASK_COL].tolist()
    tr, va = holdout_rows(len(train))
    t = time.time()
    X, y = sample_pixels([paths[i] for i in tr], [masks[i] for i in tr], MAX_PIXELS)
    log(f"{len(X)} training pixels from {len(tr)} images ({time.time() - t:.1f}s)")
    model = new_model(N_TREES).fit(X, y)
    oof = predict_masks(model, [paths[i] for i in va])
    truth = [read_mask(masks[i], SEG) for i in va]
    log(f"validation ({len(va)} images): mean IoU ~{mean_iou(truth, oof, N_CLASSES):.4f}, "
        f"dice ~{dice(truth, oof, N_CLASSES):.4f}")
    spent = time.time() - T0
    if spent < 0.3 * BUDGET:  # refit on every image when the first fit leaves room for it
        X, y = sample_pixels(paths, masks, MAX_PIXELS, seed=1)
        model = new_model(N_TREES).fit(X, y)
        log("refit on all images")
    joblib.dump(model, os.path.join(model_dir, "model.joblib"))
    write_mask_outputs(out_dir, SPEC, output_ids(test), predict_masks(model, test[IMG_COL].tolist()), va, oof)


def predict(model_dir, new):
    return predict_masks(joblib.load(os.path.join(model_dir, "model.joblib")), new[IMG_COL].tolist())


def write(path, new, pred):
    mask_table(SPEC, output_ids(new), pred).to_csv(path, index=False)


if __name__ == "__main__":
    cli(fit, predict, write=write)
