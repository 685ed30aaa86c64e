# ---- mlwright forecasting helpers: shared by the forecasting recipes (inlined by the recipe coder) ----
from mlwright.runtime.common import *  # noqa: F403

import pickle
import warnings

TS = SPEC.get("timeseries") or {}
ITEM, TIME = TS.get("item_column", "__series__"), TS.get("timestamp_column")
SYNTHETIC_ITEM = ITEM.startswith("__")
HORIZON = max(1, int(TS.get("horizon") or 1))
SEASON = max(1, int(TS.get("season_period") or 1))
FREQ = TS.get("freq")
METRIC = SPEC["metric"]
BUDGET = float(PARAMS.get("time_budget", 300.0))
KEYS = [SPEC["output_id_column"]] if SPEC.get("output_id_column") else []
if TIME not in KEYS:
    KEYS.append(TIME)
VALUE_COLS = [c for c in SPEC["output_columns"] if c not in KEYS]
N_CPU = min(2, cores())


def elapsed():
    return time.time() - T0


def to_time(values):
    """Timestamps as a tz-naive DatetimeIndex (NaT where unparseable); integer stamps like 20140801 or 2014 are
    dates."""
    s = pd.Series(values).reset_index(drop=True)
    if not pd.api.types.is_datetime64_any_dtype(s):
        if pd.api.types.is_numeric_dtype(s):
            s = s.map(lambda v: None if pd.isna(v) else str(int(v)) if float(v).is_integer() else str(v))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                s = pd.to_datetime(s, errors="coerce", format="mixed")
            except (ValueError, TypeError):
                s = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DatetimeIndex(s)


def item_values(df):
    if ITEM in df.columns:
        return df[ITEM].astype(str).to_numpy()
    return np.full(len(df), "series", dtype=object)


def fit_clock(times, items):
    """How timestamps become integer steps: the task's frequency grid when the stamps sit on it, calendar months
    (or quarters/years) for monthly-like steps, else the median step between consecutive stamps of a series."""
    ok = ~np.asarray(times.isna())
    t = times[ok]
    if len(t) == 0:
        return {"mode": "none"}
    origin = t.min()
    clock = {"mode": "step", "origin": origin, "freq": None, "months": 0, "step_s": 86400.0}
    if FREQ:
        try:
            grid = pd.date_range(origin, t.max(), freq=FREQ)
            if 1 <= len(grid) <= 5_000_000 and grid[0] == origin and (grid.get_indexer(t) >= 0).mean() >= 0.9:
                clock.update(mode="grid", freq=FREQ)
                return clock
        except (ValueError, TypeError, OverflowError):
            pass
    df = pd.DataFrame({"i": np.asarray(items)[ok], "t": t}).drop_duplicates().sort_values(["i", "t"])
    d = df.groupby("i")["t"].diff().dt.total_seconds()
    d = d[d > 0]
    step = float(d.median()) if len(d) else 86400.0
    for months, lo, hi in ((1, 27, 32), (3, 85, 95), (12, 360, 370)):
        if lo <= step / 86400 <= hi:
            clock.update(mode="months", months=months)
            return clock
    clock["step_s"] = step if step > 0 else 86400.0
    return clock


def positions(clock, times):
    """Integer step of each timestamp on the clock (NaN where the timestamp is missing)."""
    out = np.full(len(times), np.nan)
    ok = ~np.asarray(times.isna())
    if clock["mode"] == "none" or not ok.any():
        return out
    t, o = times[ok], clock["origin"]
    if clock["mode"] == "grid":
        n = len(pd.date_range(o, max(t.max(), o), freq=clock["freq"]))
        grid = pd.date_range(o, periods=n + 1, freq=clock["freq"])
        idx = np.clip(grid.searchsorted(t), 0, len(grid) - 1)
        prev = np.clip(idx - 1, 0, len(grid) - 1)
        tv, gi, gp = t.asi8, grid.asi8[idx], grid.asi8[prev]
        out[ok] = np.where(np.abs(tv - gp) < np.abs(gi - tv), prev, idx)
    elif clock["mode"] == "months":
        mdiff = (t.year - o.year) * 12 + (t.month - o.month)
        out[ok] = np.round(np.asarray(mdiff, dtype=float) / clock["months"])
    else:
        out[ok] = np.round((t - o).total_seconds().to_numpy() / clock["step_s"])
    return out


def build_histories(items, pos, y):
    """item -> (first step, values on the regular grid (gaps linearly interpolated), observed count)."""
    df = pd.DataFrame({"i": items, "p": pos, "y": y}).dropna()
    if df.empty:
        return {}
    df["p"] = df["p"].astype(np.int64)
    df = df.groupby(["i", "p"], sort=True)["y"].mean().reset_index()
    out = {}
    for i, g in df.groupby("i", sort=False):
        p, v = g["p"].to_numpy(), g["y"].to_numpy(dtype=float)
        span = int(p[-1] - p[0] + 1)
        if span > 20 * len(p) + 10_000:  # too sparse for a grid: the observations are taken as consecutive
            out[i] = (int(p[-1]) - len(p) + 1, v, len(p))
        else:
            out[i] = (int(p[0]), np.interp(np.arange(p[0], p[-1] + 1), p, v), len(p))
    return out


def steps_for(hist, items, pos):
    """Forecast step (1 = the first step after the history's end) of each query row; 0 for unknown items."""
    k = np.zeros(len(items), dtype=np.int64)
    last = {i: h[0] + len(h[1]) - 1 for i, h in hist.items()}
    counter = {}
    for j, (i, p) in enumerate(zip(items, pos)):
        if i not in last:
            continue
        if np.isnan(p):  # no usable timestamp: the next free steps, in row order
            counter[i] = counter.get(i, 0) + 1
            k[j] = counter[i]
        else:
            k[j] = max(1, int(p) - last[i])
    return k


class Holdout:
    """The last `horizon` rows of each long-enough series, held out to choose the model."""

    def __init__(self, frame):
        n_items = frame["i"].nunique()
        good = frame[["p", "y"]].notna().all(axis=1).groupby(frame["i"]).all()
        sizes = frame.groupby("i").size()
        min_hist = max(4, min(SEASON, 2 * HORIZON))
        h = pd.Series(0, index=sizes.index)
        h[(sizes >= HORIZON + min_hist) & good] = HORIZON
        self.relaxed = (h > 0).sum() < max(1, 0.5 * n_items)
        if self.relaxed:  # too few long series: shorter windows on the short ones
            short = (h == 0) & good & (sizes >= 2)
            h[short] = np.minimum(HORIZON, sizes[short] // 2)
        self.h = h[h > 0]
        self.frame = frame
        f = frame.sort_values(["i", "p"], kind="stable")
        rank_from_end = f.groupby("i").cumcount(ascending=False)
        held = rank_from_end.to_numpy() < f["i"].map(self.h).fillna(0).to_numpy()
        self.rows = f[held]
        rest = f[~held]
        self.hist = build_histories(rest["i"].to_numpy(), rest["p"].to_numpy(), rest["y"].to_numpy())
        self.rows = self.rows[self.rows["i"].isin(self.hist)]
        self.k = steps_for(self.hist, self.rows["i"].to_numpy(), self.rows["p"].to_numpy())
        self.H = int(self.k.max()) if len(self.k) else 0
        scales = {i: mase_scale(g["y"].to_numpy(), SEASON) for i, g in rest.groupby("i", sort=False)}
        self.items = self.rows["i"].to_numpy()
        self.y = self.rows["y"].to_numpy(dtype=float)
        self.scale = np.array([scales.get(i, 1.0) for i in self.items])
        self.n_items, self.n_total = len(self.h), n_items

    def values(self, fc):
        """The forecasts of the held rows (fc: item -> array over steps 1..H)."""
        return np.array([fc[i][k - 1] for i, k in zip(self.items, self.k)], dtype=float)

    def earlier(self):
        """The window of the same length just before this one (its rows removed from every series), or None when
        it would not hold out the same series: its scores then compare with this window's."""
        if self.relaxed:
            return None
        prev = Holdout(self.frame.drop(index=self.rows.index))
        return prev if not prev.relaxed and prev.h.equals(self.h) else None  # same series, same lengths

    def score(self, fc):
        """The task metric on the held rows (MASE: mean over series of MAE / scale, as mlwright scores it)."""
        return self.score_values(self.values(fc))

    def score_values(self, yp):
        if METRIC == "mase":
            return mase(self.y, yp, self.items, self.scale)
        lower_is_better = METRIC in ("rmse", "mse", "rmsle", "mae", "mape")  # holdout scores are minimized
        return (VALUE_METRICS[METRIC] if lower_is_better else mae)(self.y, yp)


def baseline_forecast(name, hist, H):
    """numpy forecasts for every series: naive, snaive, drift, mean (last season/window), smean (seasonal mean)."""
    out = {}
    steps = np.arange(H)
    for i, (_, a, _) in hist.items():
        n = len(a)
        m = SEASON if SEASON > 1 and n >= SEASON else 1
        if name == "snaive" and m > 1:
            f = a[n - m + steps % m]
        elif name == "drift" and n > 1:
            f = a[-1] + (a[-1] - a[0]) / (n - 1) * (steps + 1)
        elif name == "mean":
            w = m if m > 1 else min(n, max(3, min(HORIZON, 12)))
            f = np.repeat(a[-w:].mean(), H)
        elif name == "smean" and m > 1:
            k = min(3, n // m)
            f = a[n - k * m:].reshape(k, m).mean(axis=0)[steps % m]
        else:
            f = np.repeat(a[-1], H)
        out[i] = np.asarray(f, dtype=float)
    return out


def sanitize(fc, fallback, hist, nonneg):
    """Finite, plausible forecasts: non-finite or missing values come from the fallback, wild ones are clipped."""
    out = {}
    for i, fb in fallback.items():
        a = np.asarray(fc.get(i, fb), dtype=float)
        if a.shape != fb.shape:
            a = fb.copy()
        bad = ~np.isfinite(a)
        if bad.any():
            a = np.where(bad, fb, a)
        v = hist[i][1]
        span = max(float(np.ptp(v)), float(np.mean(np.abs(v))), 1e-9)
        a = np.clip(a, v.min() - 3 * span, v.max() + 3 * span)
        out[i] = np.clip(a, 0, None) if nonneg else a
    return out


def ensemble(members):
    return {i: np.mean([m[i] for m in members], axis=0) for i in members[0]}


def greedy_ensemble(windows, names, steps=20):
    """Forward selection with replacement (Caruana et al. 2004) on every backtest window at once: each step adds
    the candidate that most improves the mean window score of the average; the best prefix is kept. Returns the
    members (repeats are weights) and that score. `windows`: (Holdout, name -> forecasts) pairs."""
    vals = [{n: ho.values(c[n]) for n in names} for ho, c in windows]
    sums = [np.zeros(len(ho.y)) for ho, _ in windows]
    chosen, best, best_score = [], (), np.inf
    for _ in range(steps):
        k = len(chosen) + 1
        trial = {n: float(np.mean([ho.score_values((s + v[n]) / k) for (ho, _), s, v in zip(windows, sums, vals)]))
                 for n in names}
        n = min(trial, key=trial.get)
        chosen.append(n)
        sums = [s + v[n] for s, v in zip(sums, vals)]
        if trial[n] < best_score - 1e-12:
            best, best_score = tuple(chosen), trial[n]
    return best, best_score


def choose(scores, max_k=4):
    """The config (a tuple of candidate names, averaged) with the best holdout score: every single candidate and
    the mean of the best k for k = 2..max_k."""
    ranked = sorted(scores, key=lambda n: scores[n])
    configs = [(n,) for n in ranked] + [tuple(ranked[:k]) for k in range(2, min(max_k, len(ranked)) + 1)]
    return configs


def write_prediction(path, frame, values):
    out = pd.DataFrame(index=range(len(frame)))
    for k in KEYS:
        out[k] = frame[k].to_numpy() if k in frame.columns else ""
    for c in VALUE_COLS:
        out[c] = np.asarray(values, dtype=float)
    out[SPEC["output_columns"]].to_csv(path, index=False)


def prepare(train, test):
    """Clock, training frame (item, step, target, row) and the test rows' items and steps."""
    t_tr, t_te = to_time(train[TIME]), to_time(test[TIME])
    i_tr, i_te = item_values(train), item_values(test)
    clock = fit_clock(t_tr.append(t_te), np.concatenate([i_tr, i_te]))
    y = pd.to_numeric(train[TARGET], errors="coerce").to_numpy(dtype=float)
    frame = pd.DataFrame({"i": i_tr, "p": positions(clock, t_tr), "y": y, "row": np.arange(len(train))})
    bad_t, bad_y = int(frame["p"].isna().sum()), int(np.isnan(y).sum())
    if bad_t or bad_y:
        log(f"training rows without a usable timestamp: {bad_t}, without a target: {bad_y} (left out of the histories)")
    return clock, frame, i_te, positions(clock, t_te)


def describe(hist, label):
    lens = np.array([len(h[1]) for h in hist.values()]) if hist else np.array([0])
    gaps = sum(len(h[1]) - h[2] for h in hist.values())
    log(f"{label}: {len(hist)} series, length min {lens.min()} / median {int(np.median(lens))} / max {lens.max()}"
        f", {gaps} missing steps interpolated; season {SEASON}, horizon {HORIZON}")
    short_season = int((lens < 2 * SEASON + 2).sum()) if SEASON > 1 else 0
    if short_season:
        log(f"{short_season} series are shorter than two seasons ({2 * SEASON + 2} steps), too short for seasonal "
            "models")
    tiny = int((lens < 3).sum())
    if tiny:
        log(f"{tiny} series have fewer than 3 points: they get the naive (last value) forecast")


def forecast_rows(fc, items, k, fallback_value):
    vals = np.full(len(items), fallback_value, dtype=float)
    unknown = 0
    for j, (i, s) in enumerate(zip(items, k)):
        f = fc.get(i)
        if f is None or s < 1:
            unknown += 1
            continue
        vals[j] = f[min(s, len(f)) - 1]
    if unknown:
        log(f"{unknown} rows belong to series absent from the training data: forecast = the training median "
            f"{fallback_value:.4g}")
    return vals


def check_new_rows(new):
    if TIME not in new.columns:
        return f"new data lacks the timestamp column {TIME!r}"
    if ITEM not in new.columns and not SYNTHETIC_ITEM:
        return f"new data lacks the series column {ITEM!r}"
    return None


def main(fit, predict):
    """The common block's `fit` / `predict` sub-commands; forecasts write their own keys (item, timestamp)."""
    cli(fit, predict, check_new=check_new_rows, write=write_prediction)


def load_bundle(model_dir):
    with open(os.path.join(model_dir, "forecast.pkl"), "rb") as fh:
        return pickle.load(fh)


def bundle_predict(bundle, new, refit):
    """Forecasts for new rows from a saved bundle; steps past the stored path are forecast again by `refit`."""
    items = item_values(new)
    if SYNTHETIC_ITEM and len(bundle["hist"]) == 1:
        items = np.full(len(new), next(iter(bundle["hist"])), dtype=object)
    k = steps_for(bundle["hist"], items, positions(bundle["clock"], to_time(new[TIME])))
    fc = bundle["forecast"]
    need = int(k.max()) if len(k) else 0
    if need > bundle["H"]:
        log(f"new rows reach step {need}, past the stored {bundle['H']} steps: forecasting again")
        fc = refit(bundle, need)
    return forecast_rows(fc, items, k, bundle["fallback_value"])
# ---- end of forecasting helpers ----
