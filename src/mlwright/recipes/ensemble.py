"""mlwright recipe: a weighted blend of earlier valid attempts (weights chosen by mlwright on their
out-of-fold predictions). The blend's out-of-fold rows are cross-fitted: each fold is blended with the weights
chosen without its rows. `predict` runs each member's own script on the new rows and blends."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

MEMBERS = PARAMS["members"]  # [{"dir": attempt folder, "weight": float, "fold_weights": [float per fold]}]
FOLDS = int(PARAMS.get("folds", 0))


def blend(frames, weights):
    total = sum(weights)
    out = frames[0] * (weights[0] / total)
    for f, w in zip(frames[1:], weights[1:]):
        out = out + f * (w / total)
    return out


def to_pred(raw):
    if PROBLEM == "regression":
        return raw["prediction"].to_numpy()
    return pd.DataFrame({c: raw["p::" + c].to_numpy() for c in CLASSES})


def fit(train, test, out_dir, model_dir):
    weights = [m["weight"] for m in MEMBERS]
    tests, oofs = [], []
    for i, m in enumerate(MEMBERS):
        if m["weight"] <= 0:
            log(f"member {m['dir']} has weight 0 on all rows (it only serves some cross-fitting folds)")
        tests.append(pd.read_csv(os.path.join(m["dir"], "test_predictions_raw.csv")))
        oofs.append(pd.read_csv(os.path.join(m["dir"], "oof_predictions.csv")).sort_values("__row__")
                    .set_index("__row__"))
        dest = os.path.join(model_dir, "members", str(i))
        shutil.copytree(os.path.join(m["dir"], "model"), os.path.join(dest, "model"), symlinks=True)
        shutil.copy2(os.path.join(m["dir"], "solution.py"), os.path.join(dest, "solution.py"))
    with open(os.path.join(model_dir, "weights.json"), "w") as f:
        json.dump(weights, f)
    rows = oofs[0].index
    for o in oofs[1:]:
        rows = rows.intersection(o.index)
    rows = rows.sort_values().to_numpy()
    frames = [o.loc[rows].reset_index(drop=True) for o in oofs]
    if FOLDS and all("fold_weights" in m for m in MEMBERS):
        fold = blend_fold_ids(rows, len(train))  # the folds mlwright chose them on
        oof = None
        for k in range(FOLDS):
            used = [(f, m["fold_weights"][k]) for f, m in zip(frames, MEMBERS) if m["fold_weights"][k] > 0]
            part = blend([f for f, _ in used], [w for _, w in used])[fold == k]
            oof = part if oof is None else pd.concat([oof, part])
        oof = oof.sort_index()
    else:
        oof = blend(frames, weights)
    log(f"blending {len(MEMBERS)} attempts with weights {weights}")
    blended_importance(out_dir, weights)
    write_outputs(out_dir, test, to_pred(blend(tests, weights)), rows, to_pred(oof.reset_index(drop=True)))


def blended_importance(out_dir, weights):
    """feature_importance.csv of the blend: each member's importances as shares of its total, weighted as the blend
    weighs the member (members without importances left out and the rest reweighted).
    Feature names follow each member's preparation, so derived columns appear as their recipe named them."""
    parts = []
    for m, w in zip(MEMBERS, weights):
        f = os.path.join(m["dir"], "feature_importance.csv")
        if w <= 0 or not os.path.isfile(f):
            continue
        imp = pd.read_csv(f)
        total = float(imp["importance"].clip(lower=0).sum())
        if total > 0:
            parts.append((imp.assign(importance=imp["importance"].clip(lower=0) / total), w))
    if not parts:
        return
    weight = sum(w for _, w in parts)
    out = pd.concat([imp.assign(importance=imp["importance"] * w / weight) for imp, w in parts])
    out = out.groupby("feature", as_index=False)["importance"].sum().sort_values("importance", ascending=False)
    out.to_csv(os.path.join(out_dir, "feature_importance.csv"), index=False)


def predict(model_dir, new):
    with open(os.path.join(model_dir, "weights.json")) as f:
        weights = json.load(f)
    used = [i for i, w in enumerate(weights) if w > 0]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "new.parquet")
        new.to_parquet(src, index=False)

        def member(i):
            d = os.path.join(model_dir, "members", str(i))
            out = os.path.join(tmp, f"raw{i}.csv")
            subprocess.run([sys.executable, os.path.join(d, "solution.py"), "predict", "--model",
                            os.path.join(d, "model"), "--input", src, "--output", out, "--raw"], check=True)
            return pd.read_csv(out)

        # the members' processes side by side (a bag of seeds is several members): most of each is its start-up
        with ThreadPoolExecutor(max_workers=max(1, min(len(used), os.cpu_count() or 1))) as pool:
            frames = list(pool.map(member, used))
    return to_pred(blend(frames, [weights[i] for i in used]))


if __name__ == "__main__":
    cli(fit, predict)
