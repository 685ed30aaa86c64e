"""mlwright recipe: a small U-Net (three levels, 16/32/64 channels) trained from scratch on CPU with
cross-entropy + soft Dice, flips as augmentation, within the time budget; the epoch with the best mean IoU on
held-out images is kept. Images are resized to one working size (the most common, at most 128 px a side); the
class scores are resized back, so every mask has its image's own size."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from mlwright.runtime.segmentation import *  # noqa: F403
import torch
import torch.nn.functional as F
from torch import nn

SEG = SPEC["segmentation"]
IMG_COL = SEG["image_column"]
MASK_COL = SEG["mask_column"]
N_CLASSES = len(SEG["classes"])
BUDGET = float(PARAMS.get("time_budget", 600))
LIGHT = bool(PARAMS.get("light", False))
WIDTH = int(PARAMS.get("width", 12 if LIGHT else 16))
MAX_SIDE = int(PARAMS.get("max_side", 96 if LIGHT else 128))
TRAIN_END = 0.62  # fraction of the budget after which no new epoch starts (then: predict, save, margin)


def threads():
    """torch's threads: one on a small machine (its spinning threads slow down tenfold when the cores are shared)."""
    return cores() if cores() >= 4 else 1


def work_size():
    w, h = int((SPEC.get("image") or {}).get("width") or 64), int((SPEC.get("image") or {}).get("height") or 64)
    s = min(1.0, MAX_SIDE / max(w, h))
    return max(8, int(round(h * s / 4)) * 4), max(8, int(round(w * s / 4)) * 4)  # (H, W), divisible by 4


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, n_classes, w=16):
        super().__init__()
        self.e1, self.e2, self.e3 = block(3, w), block(w, 2 * w), block(2 * w, 4 * w)
        self.u2, self.d2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), block(4 * w, 2 * w)
        self.u1, self.d1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), block(2 * w, w)
        self.head = nn.Conv2d(w, n_classes, 1)

    def forward(self, x):
        a = self.e1(x)
        b = self.e2(F.max_pool2d(a, 2))
        c = self.e3(F.max_pool2d(b, 2))
        b = self.d2(torch.cat([self.u2(c), b], 1))
        a = self.d1(torch.cat([self.u1(b), a], 1))
        return self.head(a)


def load_images(paths, size):
    """N x 3 x H x W tensor at the working size, and which images decoded."""
    out, ok = [], []
    for p in paths:
        img = safe_image(p)
        ok.append(img is not None)
        t = torch.zeros(1, 3, *size) if img is None else F.interpolate(
            torch.from_numpy(img).permute(2, 0, 1)[None], size=size, mode="bilinear", align_corners=False)
        out.append(t)
    return torch.cat(out), np.asarray(ok)


def load_masks(paths, size):
    return torch.from_numpy(np.stack([fit_mask_size(read_mask(p, SEG), *size) for p in paths])).long()


def soft_dice_loss(logits, y):
    p = logits.softmax(1)
    onehot = F.one_hot(y, N_CLASSES).permute(0, 3, 1, 2).float()
    inter = (p * onehot).sum((0, 2, 3))
    size = p.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + 1) / (size + 1)).mean()


def class_scores(model, x, stats):
    model.eval()
    with torch.no_grad():
        return torch.cat([model((x[i:i + 32] - stats[0]) / stats[1]) for i in range(0, len(x), 32)])


def masks_at_own_size(logits, paths, ok):
    out = []
    for lg, p, good in zip(logits, paths, ok):
        try:
            h, w = image_size(p)
        except Exception:  # noqa: BLE001
            h, w = 1, 1
        if not good:
            out.append(np.full((h, w), SEG.get("background", 0), dtype=np.int64))
            continue
        up = F.interpolate(lg[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        out.append(up.argmax(0).numpy().astype(np.int64))
    return out


def fit(train, test, out_dir, model_dir):
    torch.set_num_threads(threads())
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    size = work_size()
    paths, mpaths = train[IMG_COL].tolist(), train[MASK_COL].tolist()
    x, _ = load_images(paths, size)
    y = load_masks(mpaths, size)
    tr, va = holdout_rows(len(train))
    mean = x[tr].mean((0, 2, 3), keepdim=True)
    std = x[tr].std((0, 2, 3), keepdim=True) + 1e-3
    stats = (mean, std)
    model = UNet(N_CLASSES, WIDTH)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    truth = [read_mask(mpaths[i], SEG) for i in va]
    va_paths = [paths[i] for i in va]
    best, best_state, epoch, t_epoch = -1.0, None, 0, 0.0
    bs = 8 if len(tr) < 200 else 16
    log(f"working size {size[1]}x{size[0]}, {len(tr)} training / {len(va)} validation images")
    while epoch < 400:
        t = time.time()
        if time.time() - T0 + 1.5 * t_epoch > TRAIN_END * BUDGET:
            break
        model.train()
        order = torch.randperm(len(tr))
        for i in range(0, len(tr), bs):
            idx = torch.as_tensor(tr)[order[i:i + bs]]
            xb, yb = (x[idx] - mean) / std, y[idx]
            if torch.rand(1).item() < 0.5:
                xb, yb = xb.flip(3), yb.flip(2)
            if torch.rand(1).item() < 0.5:
                xb, yb = xb.flip(2), yb.flip(1)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb) + soft_dice_loss(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch += 1
        if epoch % 2 == 0 or epoch < 4:
            pred = masks_at_own_size(class_scores(model, x[va], stats), va_paths, np.ones(len(va), bool))
            score = mean_iou(truth, pred, N_CLASSES)
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
                oof = pred
            log(f"epoch {epoch}: loss {loss.item():.4f}, validation mean IoU {score:.4f}")
        t_epoch = time.time() - t if epoch == 1 else 0.7 * t_epoch + 0.3 * (time.time() - t)
    if best_state is None:
        stop_for_time("no epoch fitted in the time budget")
    model.load_state_dict(best_state)
    log(f"best validation mean IoU {best:.4f} after {epoch} epochs")
    torch.save({"state": best_state, "stats": stats, "size": size, "width": WIDTH}, os.path.join(model_dir, "unet.pt"))
    test_paths = test[IMG_COL].tolist()
    xt, ok = load_images(test_paths, size)
    write_mask_outputs(out_dir, SPEC, output_ids(test), masks_at_own_size(class_scores(model, xt, stats),
                                                                          test_paths, ok), va, oof)


def predict(model_dir, new):
    torch.set_num_threads(threads())
    torch.set_flush_denormal(True)
    b = torch.load(os.path.join(model_dir, "unet.pt"), weights_only=False)
    model = UNet(N_CLASSES, b["width"])
    model.load_state_dict(b["state"])
    paths = new[IMG_COL].tolist()
    x, ok = load_images(paths, tuple(b["size"]))
    return masks_at_own_size(class_scores(model, x, b["stats"]), paths, ok)


def write(path, new, pred):
    mask_table(SPEC, output_ids(new), pred).to_csv(path, index=False)


if __name__ == "__main__":
    cli(fit, predict, write=write)
