"""mlwright recipe: a small convolutional network trained from scratch on CPU with torch (a pretrained
torchvision backbone when its weights are already on the machine), random shifts and, when the classes allow
it, horizontal flips. The budget is spent, not just capped: a network per cross-validation fold (the first one's
20% holdout decides flips and sets the epochs of the others) while the time allows, so the out-of-fold predictions
cover every row when all folds fit (a blend with other attempts is then chosen on every row), then networks on
all rows (other seeds) with the time left; the test predictions average them all."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
import math
from concurrent.futures import ThreadPoolExecutor

from PIL import Image
from sklearn.model_selection import KFold, StratifiedKFold

import torch
import torch.nn as nn
import torch.nn.functional as F

IMG = SPEC.get("image") or {}
PATH_COL = IMG.get("path_column") or FEATURES[0]
BUDGET = float(PARAMS.get("time_budget", 600))
LIGHT = bool(PARAMS.get("light", False))
SEED = int(PARAMS.get("seed", 0))
HOLDOUT = float(PARAMS.get("holdout", 0.2))
FLIPS = PARAMS.get("flips")  # true or false: horizontal flips on or off; unset: decided on the holdout
MAX_EPOCHS = int(PARAMS.get("max_epochs", 15 if LIGHT else 60))  # per network
# networks after the holdout one, while each still gets nearly its epochs: one per other fold, then on all rows
MAX_MEMBERS = int(PARAMS.get("max_members", 1 if LIGHT else 8))
FOLDS = max(2, round(1 / HOLDOUT))  # the holdout is the first of these folds
MEMBER_EPOCH_SHARE = 0.6  # ... at least this share of them (fewer epochs: a weaker net that dilutes the average)
WIDTH = int(PARAMS.get("width", 24 if LIGHT else 32))  # channels of the first block (narrowed on a slow machine)
MIN_WIDTH = 16
# epochs a network from scratch needs to be good: it is narrowed (4x fewer operations a halving) until it gets them
# in time, and a refit on all rows is planned only when both it and the holdout network get them
WANT_EPOCHS = 20
END_KEEP_S, END_KEEP_SHARE = 4.0, 0.025  # of the budget kept after training: predicting, saving, a slower machine
CHANNELS = 3 if int(IMG.get("channels") or 1) >= 3 else 1
REGRESSION = PROBLEM == "regression"


def _side():
    longest = max(int(IMG.get("width") or 32), int(IMG.get("height") or 32))
    return int(min(max(longest, 16), 64 if not LIGHT else 32))


SIDE = _side()
torch.manual_seed(SEED)
np.random.seed(SEED)
torch.set_num_threads(cores())


def _to_array(path):
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", (2 * SIDE, 2 * SIDE))
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                a = np.asarray(im, dtype=np.float32)
                lo, hi = float(a.min()), float(a.max())
                im = Image.fromarray(((a - lo) / (hi - lo) * 255 if hi > lo else a * 0).astype(np.uint8), "L")
            im = im.convert("RGB" if CHANNELS == 3 else "L").resize((SIDE, SIDE), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    except Exception:  # noqa: BLE001 - an unreadable image gets the fallback prediction
        return None


def load_images(paths):
    with ThreadPoolExecutor(max(2, min(8, (os.cpu_count() or 2) * 2))) as ex:
        arrs = list(ex.map(_to_array, [str(p) if p is not None else "" for p in paths], chunksize=32))
    ok = np.array([a is not None for a in arrs], dtype=bool)
    blank = np.zeros((CHANNELS, SIDE, SIDE), np.uint8)
    return np.stack([a if a is not None else blank for a in arrs]), ok


# -- networks ---------------------------------------------------------------------------------------------
def _block(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    def __init__(self, in_ch, n_out, width=32, side=32):
        super().__init__()
        w = width
        layers = [_block(in_ch, w), _block(w, w), nn.MaxPool2d(2), nn.Dropout(0.1),
                  _block(w, 2 * w), _block(2 * w, 2 * w), nn.MaxPool2d(2), nn.Dropout(0.2),
                  _block(2 * w, 4 * w)]
        if side >= 48:
            layers += [nn.MaxPool2d(2), _block(4 * w, 4 * w)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * w, n_out))

    def forward(self, x):
        return self.head(self.features(x))


def pretrained_backbone(n_out):
    """A torchvision ResNet-18 with the ImageNet weights mlwright found on the machine (PARAMS["pretrained_weights"];
    never downloaded here); None otherwise."""
    if not PARAMS.get("pretrained", True):
        return None
    path = PARAMS.get("pretrained_weights")
    if not path:
        log(f"{PARAMS.get('pretrained_note') or 'no pretrained weights'}; training a small CNN from scratch")
        return None
    try:
        import torchvision

        net = torchvision.models.resnet18()
        net.load_state_dict(torch.load(path, map_location="cpu"))
        net.fc = nn.Linear(net.fc.in_features, n_out)
        log(f"using the pretrained ResNet-18 weights from {path}")
        return net
    except Exception as e:  # noqa: BLE001 - no torchvision, unreadable weights: fall back to training from scratch
        log(f"pretrained backbone unavailable ({type(e).__name__}: {e}); training a small CNN from scratch")
        return None


def make_net(n_out, pretrained):
    if pretrained is not None:
        return pretrained
    return SmallCNN(CHANNELS, n_out, width=WIDTH, side=SIDE)


class Prep:
    """uint8 images -> normalized float tensors (ImageNet statistics for a pretrained backbone)."""

    def __init__(self, X, pretrained):
        self.pretrained = pretrained
        if pretrained:
            self.mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None] * 255
            self.std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None] * 255
        else:
            sample = X[:5000].astype(np.float32)
            self.mean = sample.mean(axis=(0, 2, 3))[:, None, None]
            self.std = sample.std(axis=(0, 2, 3))[:, None, None] + 1e-3

    def __call__(self, xb):
        x = xb.astype(np.float32)
        if self.pretrained and x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        x = torch.from_numpy((x - self.mean) / self.std)
        if self.pretrained and x.shape[-1] < 64:
            x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        return x


def augment(x, flip):
    n, _, h, w = x.shape
    if flip:
        m = torch.rand(n) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    pad = max(1, h // 10)
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dx, dy = np.random.randint(0, 2 * pad + 1, size=2)
    return xp[:, :, dy:dy + h, dx:dx + w]


def predict_raw(net, prep, X, tta_flip=False, batch=256):
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            xb = prep(X[i:i + batch])
            o = net(xb)
            if REGRESSION:
                o = o[:, 0]
                if tta_flip:
                    o = (o + net(xb.flip(3))[:, 0]) / 2
            else:
                o = o.softmax(1)
                if tta_flip:
                    o = (o + net(xb.flip(3)).softmax(1)) / 2
            outs.append(o.numpy())
    return np.concatenate(outs, axis=0)


def average_raw(nets, prep, X, flip):
    return sum(predict_raw(n, prep, X, tta_flip=flip) for n in nets) / len(nets)


def deadline():
    """When the last training step must have ended (the predictions, estimated by predict_seconds, come after)."""
    return T0 + BUDGET - END_KEEP_S - END_KEEP_SHARE * BUDGET


def batch_size(n_rows):
    return 64 if n_rows < 5000 else 128


def step_seconds(X, y_t, idx, prep, n_out, pretrained):
    """Seconds of one training step, timed on a throwaway network (the random state is put back, so the
    networks trained afterwards are the same whether or not this ran)."""
    states = torch.get_rng_state(), np.random.get_state()
    net = make_net(n_out, pretrained_backbone(n_out) if pretrained is not None else None)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    b = idx[:batch_size(len(idx))]
    net.train()
    times = []
    for _ in range(5):  # the first steps pay for torch's lazy set-up (kernels per shape): the fastest one counts
        t = time.time()
        loss = _loss(net(prep(X[b])), y_t[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.time() - t)
    torch.set_rng_state(states[0])
    np.random.set_state(states[1])
    return min(times[1:]) / max(len(b), 1)


def epoch_seconds(image_s, n_rows):
    return image_s * batch_size(n_rows) * math.ceil(n_rows / batch_size(n_rows))


def predict_seconds(image_s, n_images, n_nets):
    """A forward pass costs about a third of a training step per image; mirrored test-time copies double it."""
    return 2 * n_nets * n_images * image_s / 3 + 1.0


def lr_at(progress, peak):
    """Linear warm-up over the first 10% of the run, then cosine decay to zero."""
    if progress < 0.1:
        return peak * (0.1 + 0.9 * progress / 0.1)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - 0.1) / 0.9)))


def train(X, y_t, idx_tr, idx_va, prep, n_out, pretrained, stop_at, flip_decided=None, max_epochs=MAX_EPOCHS):
    """Train until `max_epochs` or `stop_at`, whichever comes first: the learning-rate schedule follows the
    larger of the two progress fractions, so a slower machine gets a complete (shorter) schedule. Decides on
    horizontal flips at 30% of the run unless told."""
    net = make_net(n_out, pretrained)
    peak = 1e-3 if prep.pretrained else 3e-3
    opt = torch.optim.AdamW(net.parameters(), lr=peak, weight_decay=5e-4)
    bs = batch_size(len(idx_tr))
    steps_per_epoch = max(1, math.ceil(len(idx_tr) / bs))
    max_steps = max(1, max_epochs) * steps_per_epoch
    t_start = time.time()
    avail = max(1.0, stop_at - t_start)
    flip = bool(flip_decided) if flip_decided is not None else False
    decide = flip_decided is None and not REGRESSION and len(idx_va) > 0
    step, ep, loss = 0, 0, torch.tensor(0.0)

    def progress():
        return max(step / max_steps, (time.time() - t_start) / avail)

    while progress() < 1:
        net.train()
        perm = np.random.permutation(idx_tr)
        for i in range(0, len(perm), bs):
            p = progress()
            if p >= 1:
                break
            b = perm[i:i + bs]
            if len(b) < 2:
                continue
            for g in opt.param_groups:
                g["lr"] = lr_at(p, peak)
            loss = _loss(net(augment(prep(X[b]), flip)), y_t[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        ep += 1
        if ep == 1:
            log(f"{len(idx_tr)} training images, side {SIDE}: first epoch took {time.time() - t_start:.1f}s, "
                f"{avail:.0f}s available")
        if decide and progress() >= 0.3:
            decide = False
            pv = predict_raw(net, prep, X[idx_va])
            pf = predict_raw(net, prep, X[idx_va][:, :, :, ::-1].copy())
            yv = y_t[idx_va].numpy()
            acc, acc_f = float((pv.argmax(1) == yv).mean()), float((pf.argmax(1) == yv).mean())
            flip = acc_f >= acc - 0.03
            log(f"holdout accuracy {acc:.3f}, on mirrored images {acc_f:.3f}: horizontal flips "
                + ("on (the classes look mirror-symmetric)" if flip else "off (mirroring changes the class)"))
        if ep % 5 == 0:
            log(f"epoch {ep}, progress {min(1.0, progress()):.0%}, loss {loss.item():.4f}")
    log(f"trained {ep} epochs ({step} steps) in {time.time() - t_start:.0f}s")
    return net, flip, step / steps_per_epoch


def _loss(out, yb):
    if REGRESSION:
        return F.mse_loss(out[:, 0], yb)
    return F.cross_entropy(out, yb, label_smoothing=0.1)


def to_pred(raw, meta):
    if REGRESSION:
        v = raw * meta["y_std"] + meta["y_mean"]
        return np.expm1(v) if LOG_TARGET else v
    return as_class_frame(raw, meta["classes"])


def fit(train_df, test_df, out_dir, model_dir):
    y_all = target_series(train_df)
    log(f"{len(train_df)} training / {len(test_df)} test images; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; budget {BUDGET:.0f}s")
    X_all, ok_tr = load_images(train_df[PATH_COL].tolist())
    X_test, ok_te = load_images(test_df[PATH_COL].tolist())
    log(f"images loaded ({(~ok_tr).sum()} unreadable training, {(~ok_te).sum()} unreadable test)")
    use = np.flatnonzero(ok_tr)
    X, y = X_all[use], y_all.iloc[use].reset_index(drop=True)
    meta = {"side": SIDE, "channels": CHANNELS}
    if REGRESSION:
        yv = np.log1p(y.clip(lower=0).to_numpy(dtype=float)) if LOG_TARGET else y.to_numpy(dtype=float)
        meta["y_mean"], meta["y_std"] = float(yv.mean()), float(yv.std() or 1.0)
        y_t = torch.tensor((yv - meta["y_mean"]) / meta["y_std"], dtype=torch.float32)
        n_out = 1
    else:
        meta["classes"] = sorted(y.unique().tolist())
        y_t = torch.tensor(np.searchsorted(meta["classes"], y.to_numpy()), dtype=torch.long)
        n_out = len(meta["classes"])
    k_folds = max(2, min(FOLDS, len(X)))  # a handful of images: as many folds as images
    stratified = not REGRESSION and y.value_counts().min() >= k_folds
    splitter = (StratifiedKFold if stratified else KFold)(k_folds, shuffle=True, random_state=SEED)
    folds = list(splitter.split(np.zeros(len(X)), y if stratified else None))
    idx_tr, idx_va = folds[0]
    pretrained = pretrained_backbone(n_out)
    prep = Prep(X[idx_tr], pretrained is not None)
    global WIDTH
    while True:
        image_s = step_seconds(X, y_t, idx_tr, prep, n_out, pretrained)
        ep_tr, ep_all = epoch_seconds(image_s, len(idx_tr)), epoch_seconds(image_s, len(X))
        avail = deadline() - time.time() - predict_seconds(image_s, len(idx_va) + 2 * len(X_test), 1)
        if pretrained is not None or WIDTH // 2 < MIN_WIDTH or avail >= min(WANT_EPOCHS, MAX_EPOCHS) * ep_tr:
            break
        log(f"about {max(avail, 0) / ep_tr:.0f} epochs of width {WIDTH} fit in {avail:.0f}s: width {WIDTH // 2}")
        WIDTH //= 2
    # the holdout network takes an equal share with as many other folds' networks as get enough epochs, else
    # everything (a network on all rows needs more than another fold's: it cannot fit where that one does not)
    want_s = min(WANT_EPOCHS, MAX_EPOCHS) * ep_tr
    n_fold_nets = max([n for n in range(2, min(k_folds, 1 + MAX_MEMBERS) + 1) if avail >= n * want_s], default=1)
    first = min(avail / n_fold_nets, 1.1 * MAX_EPOCHS * ep_tr) if n_fold_nets > 1 else avail
    log(f"a training step takes {1000 * image_s:.1f} ms per image: epochs of about {ep_tr:.1f}s (holdout split) "
        f"and {ep_all:.1f}s (all rows); {first:.0f}s of {avail:.0f}s for the holdout network")
    t_start = time.time()
    net, flip, epochs = train(X, y_t, idx_tr, idx_va, prep, n_out, pretrained, t_start + first,
                              flip_decided=None if FLIPS is None else bool(FLIPS))
    train_s = time.time() - t_start
    raw_va = [predict_raw(net, prep, X[idx_va], tta_flip=flip)]
    truth = y.iloc[idx_va].to_numpy()
    if REGRESSION:
        log(f"holdout RMSE {float(np.sqrt(np.mean((to_pred(raw_va[0], meta) - truth.astype(float)) ** 2))):.4f}")
    else:
        acc = float((np.asarray(meta["classes"], dtype=object)[raw_va[0].argmax(1)] == truth).mean())
        log(f"holdout accuracy {acc:.4f} on {len(idx_va)} rows")
    # the time left trains the other folds' networks with about the holdout network's epochs (each predicts its
    # fold: out-of-fold rows), then networks on every row (other seeds); the test predictions average every network
    nets, rows_va = [net], [idx_va]
    step_s = train_s / max(epochs, 1e-3) / max(len(idx_tr), 1)  # seconds per image-epoch: measured, not probed
    want = max(1, round(epochs))
    jobs = folds[1:] + [(np.arange(len(X)), np.array([], dtype=int))] * MAX_MEMBERS
    for k, (tr, va) in enumerate(jobs[:MAX_MEMBERS], start=1):
        ep_s = step_s * len(tr)
        need, usual = max(1.0, MEMBER_EPOCH_SHARE * want) * ep_s, 1.1 * want * ep_s
        left = deadline() - time.time() - predict_seconds(image_s, len(X_test) + len(va), len(nets) + 1)
        if left < need:
            break
        # the last network that fits takes all that is left: the epochs that time holds, up to twice the cap (more
        # than the holdout network's: no harm; a cap of MAX_EPOCHS left a minute of a 600 s budget unused)
        last = k == MAX_MEMBERS or left < usual + need
        seconds = left if last else min(left, usual)
        epochs_k = min(2 * MAX_EPOCHS, max(MAX_EPOCHS, int(seconds / ep_s))) if last else want
        torch.manual_seed(SEED + k)
        np.random.seed(SEED + k)
        what = f"fold {k + 1} of {k_folds} ({len(tr)} rows)" if len(va) else f"all {len(X)} rows"
        log(f"network {k + 1} on {what} (seed {SEED + k}) for up to {seconds:.0f}s")
        nets.append(train(X, y_t, tr, va, prep, n_out, pretrained_backbone(n_out) if pretrained is not None else None,
                          time.time() + seconds, flip, max_epochs=epochs_k)[0])
        if len(va):
            raw_va.append(predict_raw(nets[-1], prep, X[va], tta_flip=flip))
            rows_va.append(va)
    idx_va = np.concatenate(rows_va)
    oof = to_pred(np.concatenate(raw_va), meta)
    if len(rows_va) > 1:
        log(f"out-of-fold predictions of {len(rows_va)} of {k_folds} folds' networks: {len(idx_va)} rows")
    test_pred = with_fallback(to_pred(average_raw(nets, prep, X_test, flip), meta), ok_te, y_all)
    meta.update(flip=flip, pretrained=pretrained is not None, width=WIDTH,
                mean=prep.mean, std=prep.std, y_prior=y_all)
    torch.save({"states": [n.state_dict() for n in nets], "arch": "resnet18" if pretrained is not None else "small"},
               os.path.join(model_dir, "model.pt"))
    import joblib

    joblib.dump(meta, os.path.join(model_dir, "meta.joblib"))
    write_outputs(out_dir, test_df, test_pred, use[idx_va], oof)


def predict(model_dir, new):
    import joblib

    meta = joblib.load(os.path.join(model_dir, "meta.joblib"))
    saved = torch.load(os.path.join(model_dir, "model.pt"), map_location="cpu")
    n_out = 1 if REGRESSION else len(meta["classes"])
    nets = []
    for state in saved.get("states") or [saved["state"]]:  # "state": a model saved with one network
        if saved["arch"] == "resnet18":
            import torchvision

            net = torchvision.models.resnet18()
            net.fc = nn.Linear(net.fc.in_features, n_out)
        else:
            net = SmallCNN(CHANNELS, n_out, width=meta["width"], side=SIDE)
        net.load_state_dict(state)
        nets.append(net)
    prep = Prep(np.zeros((1, CHANNELS, SIDE, SIDE), np.uint8), meta["pretrained"])
    prep.mean, prep.std = meta["mean"], meta["std"]
    X, ok = load_images(new[PATH_COL].tolist())
    return with_fallback(to_pred(average_raw(nets, prep, X, meta["flip"]), meta), ok, meta["y_prior"])


if __name__ == "__main__":
    cli(fit, predict)
